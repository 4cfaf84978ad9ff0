/*
 * serve_signers.c — the sender's cache of keyed signers (see serve_signers.h): a fixed
 * direct-mapped table, the slot chosen by a hash of the destination id and the secret's
 * place. A lookup compares the id, place, format and secret; anything different replaces
 * the slot's entry, wiping the old secret.
 */
#include "serve_signers.h"

#include "mem.h"

#include <openssl/crypto.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct signer_entry {
    char *destination_id;
    size_t which;
    bool standard;
    char *secret; /* a copy, to notice a rotation; wiped when the entry goes */
    size_t secret_len;
    hookd_signer *signer;
} signer_entry;

struct serve_signers {
    signer_entry slots[SERVE_SIGNERS_SLOTS];
};

serve_signers *serve_signers_new(void)
{
    return xcalloc(1, sizeof(serve_signers));
}

static void entry_clear(signer_entry *e)
{
    if (e->secret) {
        OPENSSL_cleanse(e->secret, e->secret_len);
        free(e->secret);
    }
    hookd_signer_free(e->signer);
    free(e->destination_id);
    memset(e, 0, sizeof *e);
}

void serve_signers_free(serve_signers *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < SERVE_SIGNERS_SLOTS; i++)
        entry_clear(&s->slots[i]);
    free(s);
}

/* FNV-1a of the id, then the place: a destination's secrets land in neighbouring slots. */
static size_t slot_of(const char *destination_id, size_t which)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)destination_id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (h + which) % SERVE_SIGNERS_SLOTS;
}

static bool entry_matches(const signer_entry *e, const char *destination_id, size_t which,
                          bool standard, const char *secret, size_t secret_len)
{
    return e->signer && e->which == which && e->standard == standard &&
           e->secret_len == secret_len && strcmp(e->destination_id, destination_id) == 0 &&
           memcmp(e->secret, secret, secret_len) == 0;
}

hookd_signer *serve_signers_get(serve_signers *s, const char *destination_id, size_t which,
                                bool standard, const char *secret, int *rc)
{
    size_t secret_len = strlen(secret);
    signer_entry *e = &s->slots[slot_of(destination_id, which)];
    *rc = HOOKD_OK;
    if (entry_matches(e, destination_id, which, standard, secret, secret_len))
        return e->signer;
    entry_clear(e);
    hookd_signer *signer = NULL;
    *rc = standard ? hookd_signer_new_standard(secret, secret_len, &signer)
                   : hookd_signer_new(secret, secret_len, &signer);
    if (*rc != HOOKD_OK)
        return NULL; /* not cached: the attempt fails with the reason, as before */
    e->destination_id = xstrdup(destination_id);
    e->which = which;
    e->standard = standard;
    e->secret = xstrndup(secret, secret_len);
    e->secret_len = secret_len;
    e->signer = signer;
    return signer;
}
