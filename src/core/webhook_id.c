/* webhook_id.c — webhook ids: canonical lowercase UUIDs, new ones v4 (random) or v7 (time
 * then random, for ids that sort by creation) from the CSPRNG; and the hex encoder they and
 * the signatures share. */
#include "hookd.h"

#include <openssl/rand.h>

#include <pthread.h>
#include <string.h>

/*
 * The random part of v7 ids comes from a per-thread pool refilled by one RAND_bytes call:
 * a call costs about 8 k instructions whatever its length (the DRBG's locks and cipher
 * set-up), more than the rest of an id, and a fan-out makes one id per destination. Each
 * byte is used once. A fork empties every pool, so a child never repeats its parent's bytes.
 */
#define ID_POOL 320 /* the random bytes of 32 ids */
static _Thread_local unsigned char id_pool[ID_POOL];
static _Thread_local size_t id_pool_left;
static _Thread_local unsigned id_pool_forks; /* forks when the pool was filled */
static unsigned id_forks;                    /* written only in a fork's child, alone */

static void id_pool_forked(void)
{
    id_forks++;
}

static void id_pool_watch_forks(void)
{
    (void)pthread_atfork(NULL, NULL, id_pool_forked);
}

/* n (≤ ID_POOL) fresh random bytes from this thread's pool, refilled when short. */
static int id_random(unsigned char *out, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&once, id_pool_watch_forks);
    if (id_pool_forks != id_forks)
        id_pool_left = 0;
    if (id_pool_left < n) {
        if (RAND_bytes(id_pool, ID_POOL) != 1)
            return HOOKD_EIO;
        id_pool_left = ID_POOL;
        id_pool_forks = id_forks;
    }
    unsigned char *from = id_pool + ID_POOL - id_pool_left;
    memcpy(out, from, n);
    memset(from, 0, n);
    id_pool_left -= n;
    return HOOKD_OK;
}

void hookd_hex_encode(const void *bytes, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *b = bytes;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

/* Canonical text of 16 bytes: 8-4-4-4-12 lowercase hex digits. */
static void uuid_text(const unsigned char bytes[16], char *out)
{
    static const size_t groups[5][2] = {{0, 4}, {4, 2}, {6, 2}, {8, 2}, {10, 6}};
    size_t pos = 0;
    for (size_t g = 0; g < 5; g++) {
        if (g)
            out[pos++] = '-';
        hookd_hex_encode(bytes + groups[g][0], groups[g][1], out + pos);
        pos += 2 * groups[g][1];
    }
}

int hookd_id_new(char *out)
{
    unsigned char bytes[16];

    out[0] = '\0';
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return HOOKD_EIO;
    bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40); /* version 4 */
    bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uuid_text(bytes, out);
    return HOOKD_OK;
}

int hookd_id_new_v7(int64_t unix_ms, char *out)
{
    unsigned char bytes[16];
    uint64_t ms = (uint64_t)unix_ms;

    out[0] = '\0';
    /* 48 bits of milliseconds: a larger value would wrap and sort before older ids. */
    if (unix_ms < 0 || ms >> 48 != 0)
        return HOOKD_EINVAL;
    if (id_random(bytes + 6, 10) != HOOKD_OK)
        return HOOKD_EIO;
    for (int i = 0; i < 6; i++)
        bytes[i] = (unsigned char)(ms >> (40 - 8 * i));
    bytes[6] = (unsigned char)(0x70 | (bytes[6] & 0x0f)); /* version 7 */
    bytes[8] = (unsigned char)(0x80 | (bytes[8] & 0x3f)); /* RFC 4122 variant */
    uuid_text(bytes, out);
    return HOOKD_OK;
}

bool hookd_id_valid(const char *text)
{
    if (text == NULL || strlen(text) != HOOKD_ID_LEN)
        return false;
    for (size_t i = 0; i < HOOKD_ID_LEN; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}
