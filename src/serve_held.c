/*
 * serve_held.c — the webhooks a sender holding its SQLite store alone has claimed, in
 * memory (see serve_held.h): two chained hash tables under one mutex, the webhook ids and a
 * count per destination (the claim reads as many of a destination's rows as it may take
 * plus those held, so it needs the count without walking the set).
 */
#include "serve_held.h"
#include "mem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HELD_WEBHOOK_BUCKETS 4096 /* the default max held is 8 × 1024 webhooks */
#define HELD_DEST_BUCKETS 512

typedef struct held_entry {
    struct held_entry *next;
    int n;      /* destinations: webhooks held; webhooks: 1 */
    char key[]; /* one allocation per entry: the claim adds one per delivery */
} held_entry;

struct serve_held {
    pthread_mutex_t lock;
    held_entry *webhooks[HELD_WEBHOOK_BUCKETS];
    held_entry *destinations[HELD_DEST_BUCKETS];
};

/* A bucket of key among n: ids end in random or sequential characters, so all of the key
 * is mixed, eight bytes at a time. */
static size_t held_bucket(const char *key, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    size_t len = strlen(key);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, key + i, len - i < 8 ? len - i : 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return (size_t)(h % n);
}

/* The entry of key in table (n buckets); with create, made (n = 0) when missing. */
static held_entry *held_find(held_entry **table, size_t n, const char *key, bool create)
{
    held_entry **head = &table[held_bucket(key, n)];
    for (held_entry *e = *head; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    if (!create)
        return NULL;
    size_t len = strlen(key);
    held_entry *e = xmalloc(sizeof *e + len + 1);
    memcpy(e->key, key, len + 1);
    e->n = 0;
    e->next = *head;
    *head = e;
    return e;
}

/* Drops key's entry from table (n buckets). */
static void held_drop(held_entry **table, size_t n, const char *key)
{
    for (held_entry **pp = &table[held_bucket(key, n)]; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->key, key) == 0) {
            held_entry *e = *pp;
            *pp = e->next;
            free(e);
            return;
        }
}

static void held_table_free(held_entry **table, size_t n)
{
    for (size_t i = 0; i < n; i++)
        while (table[i]) {
            held_entry *e = table[i];
            table[i] = e->next;
            free(e);
        }
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
    held_table_free(h->webhooks, HELD_WEBHOOK_BUCKETS);
    held_table_free(h->destinations, HELD_DEST_BUCKETS);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void serve_held_add(serve_held *h, const char *webhook_id, const char *destination_id)
{
    pthread_mutex_lock(&h->lock);
    held_entry *w = held_find(h->webhooks, HELD_WEBHOOK_BUCKETS, webhook_id, true);
    if (w->n == 0) {
        w->n = 1;
        held_find(h->destinations, HELD_DEST_BUCKETS, destination_id, true)->n++;
    }
    pthread_mutex_unlock(&h->lock);
}

void serve_held_remove(serve_held *h, const char *webhook_id, const char *destination_id)
{
    pthread_mutex_lock(&h->lock);
    if (held_find(h->webhooks, HELD_WEBHOOK_BUCKETS, webhook_id, false)) {
        held_drop(h->webhooks, HELD_WEBHOOK_BUCKETS, webhook_id);
        held_entry *d = held_find(h->destinations, HELD_DEST_BUCKETS, destination_id, false);
        if (d && --d->n <= 0)
            held_drop(h->destinations, HELD_DEST_BUCKETS, destination_id);
    }
    pthread_mutex_unlock(&h->lock);
}

bool serve_held_has(serve_held *h, const char *webhook_id)
{
    pthread_mutex_lock(&h->lock);
    bool has = held_find(h->webhooks, HELD_WEBHOOK_BUCKETS, webhook_id, false) != NULL;
    pthread_mutex_unlock(&h->lock);
    return has;
}

int serve_held_count(serve_held *h, const char *destination_id)
{
    pthread_mutex_lock(&h->lock);
    held_entry *d = held_find(h->destinations, HELD_DEST_BUCKETS, destination_id, false);
    int n = d ? d->n : 0;
    pthread_mutex_unlock(&h->lock);
    return n;
}
