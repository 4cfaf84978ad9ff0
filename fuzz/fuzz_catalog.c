/*
 * fuzz_catalog.c — libFuzzer target for the event-type catalog: hookd_catalog_validate on
 * the default catalog (an application's event type and data, untrusted, from the API), and
 * hookd_catalog_load_file on a fuzzed catalog file (an operator's file, read at start-up).
 *
 * Input: one control byte, then "event\ndata" (even control byte: validate, data is the
 * rest) or a whole catalog file (odd: load; bit 1 chooses extend).
 *
 * Invariants checked besides the sanitizers:
 *   - validate writes a reason exactly when it fails, and its verdict does not depend on
 *     the reason buffer (none, one byte, a normal one);
 *   - a loaded catalog's hookd_catalog_to_json, written back as a file, loads again and
 *     gives the same JSON.
 */
#include "hookd.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *text)
{
    fprintf(stderr, "fuzz_catalog: %s: '%.2000s'\n", what, text);
    abort();
}

static char *copy(const uint8_t *bytes, size_t len)
{
    char *s = malloc(len + 1);
    if (s == NULL)
        abort();
    memcpy(s, bytes, len);
    s[len] = '\0';
    return s;
}

static void check_validate(const hookd_catalog *catalog, const char *event, const char *data,
                           size_t data_len)
{
    char why[256], tiny[1];
    int rc = hookd_catalog_validate(catalog, event, data, data_len, why, sizeof why);

    if ((rc == HOOKD_OK) != (why[0] == '\0'))
        die("reason written iff failed", why);
    if (hookd_catalog_validate(catalog, event, data, data_len, NULL, 0) != rc ||
        hookd_catalog_validate(catalog, event, data, data_len, tiny, sizeof tiny) != rc)
        die("verdict depends on the reason buffer", event);
    if (tiny[0] != '\0')
        die("one-byte reason buffer not terminated", event);
}

/* A memfd reached through /proc, so the loader reads a real path without touching disk. */
static const char *file_with(const uint8_t *bytes, size_t len)
{
    static int fd = -1;
    static char path[64];

    if (fd < 0) {
        fd = memfd_create("fuzz_catalog", 0);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, bytes, len, 0) != (ssize_t)len)
        abort();
    return path;
}

/* Turns to_json's {"data":[…]} into the file form {"event_types":[…]}. */
static char *as_file(const char *listing)
{
    json_t *root = json_loads(listing, 0, NULL), *file;
    char *text;

    if (root == NULL || !json_is_array(json_object_get(root, "data")))
        die("to_json output is not {\"data\":[...]}", listing);
    file = json_pack("{s:O}", "event_types", json_object_get(root, "data"));
    text = json_dumps(file, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(file);
    json_decref(root);
    if (text == NULL)
        abort();
    return text;
}

static void check_load(const uint8_t *bytes, size_t len, bool extend)
{
    char err[512];
    hookd_catalog *catalog =
        hookd_catalog_load_file(file_with(bytes, len), extend, err, sizeof err);
    hookd_catalog *again;
    char *listing, *file, *listing_again;

    if (catalog == NULL) {
        if (err[0] == '\0')
            die("failed load gave no reason", "");
        return;
    }
    listing = hookd_catalog_to_json(catalog);
    file = as_file(listing);
    again = hookd_catalog_load_file(file_with((const uint8_t *)file, strlen(file)), false, err,
                                    sizeof err);
    if (again == NULL)
        die("to_json output does not load back", err);
    listing_again = hookd_catalog_to_json(again);
    if (strcmp(listing, listing_again) != 0)
        die("catalog changed through to_json and back", listing_again);
    check_validate(catalog, "events.created", "{\"id\":1,\"calendar_id\":2}", 24);
    hookd_catalog_free(again);
    hookd_catalog_free(catalog);
    free(listing);
    free(listing_again);
    free(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hookd_catalog *catalog;
    const uint8_t *rest, *nl, *end = data + size;
    char *event, *body;

    if (catalog == NULL && (catalog = hookd_catalog_default()) == NULL)
        abort();
    if (size == 0)
        return 0;
    rest = data + 1;
    if (data[0] & 1) {
        check_load(rest, size - 1, (data[0] & 2) != 0);
        return 0;
    }
    nl = memchr(rest, '\n', (size_t)(end - rest));
    if (nl == NULL)
        nl = end;
    event = copy(rest, (size_t)(nl - rest));
    if (nl < end)
        nl++;
    body = copy(nl, (size_t)(end - nl));
    check_validate(catalog, event, body, (size_t)(end - nl));
    free(event);
    free(body);
    return 0;
}
