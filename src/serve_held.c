/*
 * serve_held.c — the webhooks a sender holding its SQLite store alone has claimed, in
 * memory (see serve_held.h): a chained hash table of their ids under one mutex.
 */
#include "serve_held.h"
#include "mem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HELD_BUCKETS 4096 /* the default max held is 1024 webhooks (--max-in-flight) */

typedef struct held_entry {
    struct held_entry *next;
    char id[]; /* one allocation per entry: the claim adds one per delivery */
} held_entry;

struct serve_held {
    pthread_mutex_t lock;
    held_entry *buckets[HELD_BUCKETS];
};

/* The bucket of id: ids end in random or sequential characters, so all of it is mixed,
 * eight bytes at a time. */
static held_entry **held_bucket(serve_held *h, const char *id)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t len = strlen(id);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, id + i, len - i < 8 ? len - i : 8);
        x = (x ^ w) * 0xff51afd7ed558ccdull;
        x ^= x >> 32;
    }
    return &h->buckets[x % HELD_BUCKETS];
}

/* Where id's entry is linked (*result NULL when id is not held). Under the lock. */
static held_entry **held_find(serve_held *h, const char *id)
{
    held_entry **pp = held_bucket(h, id);
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

serve_held *serve_held_new(void)
{
    serve_held *h = xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void serve_held_free(serve_held *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < HELD_BUCKETS; i++)
        while (h->buckets[i]) {
            held_entry *e = h->buckets[i];
            h->buckets[i] = e->next;
            free(e);
        }
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void serve_held_add(serve_held *h, const char *webhook_id)
{
    size_t len = strlen(webhook_id);
    held_entry *e = xmalloc(sizeof *e + len + 1);
    memcpy(e->id, webhook_id, len + 1);
    pthread_mutex_lock(&h->lock);
    held_entry **pp = held_find(h, webhook_id);
    if (*pp) {
        free(e); /* held already */
    } else {
        e->next = NULL;
        *pp = e;
    }
    pthread_mutex_unlock(&h->lock);
}

void serve_held_remove(serve_held *h, const char *webhook_id)
{
    pthread_mutex_lock(&h->lock);
    held_entry **pp = held_find(h, webhook_id);
    held_entry *e = *pp;
    if (e)
        *pp = e->next;
    pthread_mutex_unlock(&h->lock);
    free(e);
}

bool serve_held_has(void *h, const char *webhook_id)
{
    serve_held *held = h;
    pthread_mutex_lock(&held->lock);
    bool has = *held_find(held, webhook_id) != NULL;
    pthread_mutex_unlock(&held->lock);
    return has;
}
