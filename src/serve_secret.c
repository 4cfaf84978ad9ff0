/*
 * serve_secret.c — destination formats and secrets (see serve_secret.h). The previous
 * secrets are a small JSON list in one column rather than a table: a rotation reads and
 * writes the destination's row anyway, and the claim copies the list with the row.
 */
#include "serve_secret.h"

#include "hookd.h"
#include "http_server.h"
#include "mem.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define MEETBIT_SECRET_BYTES 24  /* random bytes of a meetbit secret, shown as hex */
#define STANDARD_SECRET_BYTES 32 /* random bytes of a Standard Webhooks key (SPEC §8) */

/* Wipes and frees one entry's secret. */
static void serve_secret_list_free_one(serve_secret_old *entry)
{
    OPENSSL_cleanse(entry->secret, strlen(entry->secret));
    free(entry->secret);
    entry->secret = NULL;
}

bool serve_format_valid(const char *format)
{
    return format && (strcmp(format, SERVE_FORMAT_MEETBIT) == 0 ||
                      strcmp(format, SERVE_FORMAT_STANDARD) == 0);
}

bool serve_format_standard(const char *format)
{
    return format && strcmp(format, SERVE_FORMAT_STANDARD) == 0;
}

int serve_secret_new(const char *format, char *out)
{
    unsigned char bytes[STANDARD_SECRET_BYTES];
    bool standard = serve_format_standard(format);
    size_t n = standard ? STANDARD_SECRET_BYTES : MEETBIT_SECRET_BYTES;
    size_t prefix = sizeof HOOKD_STANDARD_SECRET_PREFIX - 1;
    out[0] = '\0';
    if (RAND_bytes(bytes, (int)n) != 1)
        return HOOKD_EIO;
    memcpy(out, HOOKD_STANDARD_SECRET_PREFIX, prefix);
    int rc = HOOKD_OK;
    if (standard)
        rc = hookd_base64_encode(bytes, n, out + prefix);
    else
        hookd_hex_encode(bytes, n, out + prefix);
    OPENSSL_cleanse(bytes, sizeof bytes);
    return rc;
}

void serve_secret_parse(const char *text, int64_t now, serve_secret_old **list, size_t *count)
{
    *list = NULL;
    *count = 0;
    json_t *array = text && *text ? json_loads(text, 0, NULL) : NULL;
    size_t i, cap = 0;
    json_t *entry;
    json_array_foreach(array, i, entry)
    {
        const char *secret = json_string_value(json_object_get(entry, "secret"));
        json_t *expires = json_object_get(entry, "expires_at");
        if (!secret || !json_is_integer(expires) || json_integer_value(expires) <= now)
            continue;
        *list = xgrow(*list, *count, &cap, sizeof **list);
        (*list)[(*count)++] =
            (serve_secret_old){xstrdup(secret), (int64_t)json_integer_value(expires)};
    }
    json_decref(array);
}

char *serve_secret_text(const serve_secret_old *list, size_t count)
{
    if (count == 0)
        return NULL;
    json_t *array = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(array, json_pack("{s:s,s:I}", "secret", list[i].secret, "expires_at",
                                               (json_int_t)list[i].expires_at));
    char *text = http_json_text(array);
    json_decref(array);
    return text;
}

char *serve_secret_rotated(const char *replaced, const serve_secret_old *old, size_t old_count,
                           int64_t now, int64_t grace_ms)
{
    if (grace_ms <= 0)
        return NULL;
    serve_secret_old kept[SERVE_SECRET_MAX_PREVIOUS];
    size_t n = 0;
    kept[n++] = (serve_secret_old){(char *)replaced, now + grace_ms};
    for (size_t i = 0; i < old_count && n < SERVE_SECRET_MAX_PREVIOUS; i++)
        if (old[i].expires_at > now)
            kept[n++] = old[i];
    return serve_secret_text(kept, n);
}

void serve_secret_prune(serve_secret_old *list, size_t *count, int64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++) {
        if (list[i].expires_at > now)
            list[kept++] = list[i];
        else
            serve_secret_list_free_one(&list[i]);
    }
    *count = kept;
}

void serve_secret_list_free(serve_secret_old *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        serve_secret_list_free_one(&list[i]);
    free(list);
}
