/*
 * test_core_alloc.c — libhookd under allocation failure: every allocating function of the
 * core, made to fail at its 1st, 2nd, … allocation until it succeeds, must answer
 * HOOKD_ENOMEM (NULL, "out of memory" for the constructors), never abort, and free what it
 * had built (the ASan build of `make sanitize` reports any leak). One exception, jansson's:
 * when its lexer cannot allocate a token it reports a syntax error, so a function parsing
 * JSON may answer HOOKD_EJSON then (see core_json_error in src/core/core_alloc.h).
 *
 * The failures are injected by linking this test with -Wl,--wrap=malloc,calloc,strdup
 * (CMakeLists.txt), which reroutes the calls made by libhookd's objects, and by handing
 * jansson counting allocators (json_set_alloc_funcs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"

#include <jansson.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STEPS 10000 /* no function here needs more allocations than that */

static long allocations_left = -1; /* -1: never fail; else how many succeed before one fails */
static long failures;              /* allocations refused so far */

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
char *__wrap_strdup(const char *s);

static bool allocation_allowed(void)
{
    if (allocations_left < 0)
        return true;
    if (allocations_left == 0) {
        failures++;
        return false;
    }
    allocations_left--;
    return true;
}

void *__wrap_malloc(size_t size)
{
    return allocation_allowed() ? __real_malloc(size) : NULL;
}

void *__wrap_calloc(size_t count, size_t size)
{
    return allocation_allowed() ? __real_calloc(count, size) : NULL;
}

char *__wrap_strdup(const char *s)
{
    return allocation_allowed() ? __real_strdup(s) : NULL;
}

static void *json_counted_malloc(size_t size)
{
    return allocation_allowed() ? __real_malloc(size) : NULL;
}

/* One allocating call; returns HOOKD_OK or its error and frees whatever it produced. */
typedef int (*operation)(void);

/* Runs op with the first n allocations allowed, for n = 0, 1, … until it succeeds: every
 * earlier run must have failed with HOOKD_ENOMEM (or HOOKD_EJSON when parses_json, jansson's
 * lexer), most of them with HOOKD_ENOMEM. */
static void fail_each_allocation(operation op, bool parses_json)
{
    long n, out_of_memory = 0;
    for (n = 0; n < MAX_STEPS; n++) {
        long failures_before = failures;
        allocations_left = n;
        int rc = op();
        allocations_left = -1;
        if (rc == HOOKD_OK) {
            assert_int_equal(failures, failures_before); /* it succeeded without a refusal */
            break;
        }
        out_of_memory += rc == HOOKD_ENOMEM;
        if (rc != HOOKD_ENOMEM && !(parses_json && rc == HOOKD_EJSON))
            fail_msg("allocation %ld refused: %s instead of out of memory", n + 1,
                     hookd_strerror(rc));
    }
    assert_true(n > 0 && n < MAX_STEPS); /* it allocates, and it got through in the end */
    assert_true(out_of_memory * 2 > n);
}

static const char data[] = "{\"id\": 1, \"calendar_id\": 2, \"note\": [\"a\", {\"b\": null}]}";
static const char body[] = "{\"event\":\"events.created\",\"data\":{\"id\":1,\"calendar_id\":2}}";

static int envelope_build(void)
{
    char *out = NULL;
    size_t len;
    int rc = hookd_envelope_build("events.created", data, strlen(data), 0, &out, &len);
    assert_true((rc == HOOKD_OK) == (out != NULL));
    free(out);
    return rc;
}

static int envelope_parse(void)
{
    char *event = NULL;
    int rc = hookd_envelope_parse(body, strlen(body), &event);
    assert_true((rc == HOOKD_OK) == (event != NULL));
    free(event);
    return rc;
}

static int catalog_default(void)
{
    hookd_catalog *catalog = hookd_catalog_default();
    hookd_catalog_free(catalog);
    return catalog ? HOOKD_OK : HOOKD_ENOMEM;
}

static hookd_catalog *shared_catalog; /* built with allocations allowed */

static int catalog_to_json(void)
{
    char *text = hookd_catalog_to_json(shared_catalog);
    free(text);
    return text ? HOOKD_OK : HOOKD_ENOMEM;
}

static int catalog_validate(void)
{
    char why[256];
    return hookd_catalog_validate(shared_catalog, "events.created", data, strlen(data), why,
                                  sizeof why);
}

static char catalog_path[64]; /* a catalog file written once */

static int catalog_load_file(void)
{
    char err[256] = "";
    hookd_catalog *catalog = hookd_catalog_load_file(catalog_path, true, err, sizeof err);
    size_t path_len = strlen(catalog_path);
    hookd_catalog_free(catalog);
    if (catalog != NULL)
        return HOOKD_OK;
    if (strstr(err, "out of memory") != NULL) /* alone, or after the file's name */
        return HOOKD_ENOMEM;
    /* jansson's lexer short of memory: "<path>:<line>:<column>: <syntax error>" */
    if (strncmp(err, catalog_path, path_len) == 0 && err[path_len] == ':' &&
        err[path_len + 1] >= '0' && err[path_len + 1] <= '9')
        return HOOKD_EJSON;
    fail_msg("load failed but not for memory: %s", err);
    return HOOKD_EINVAL;
}

static int verifier(void)
{
    hookd_secret secrets[] = {{"whsec_a", 7}, {"", 0}, {"whsec_b", 7}};
    hookd_verifier *v = NULL;
    int rc = hookd_verifier_new(secrets, 3, &v);
    assert_true((rc == HOOKD_OK) == (v != NULL));
    if (rc == HOOKD_OK)
        rc = hookd_verifier_check(v, "id", "2024-08-22T01:04:05Z", "00", body, strlen(body),
                                  1724288645, 300) == HOOKD_ESIGNATURE_FORMAT
                 ? HOOKD_OK
                 : HOOKD_EINVAL;
    hookd_verifier_free(v);
    return rc;
}

static void test_verifier(void **state)
{
    (void)state;
    fail_each_allocation(verifier, false);
}

/* A signer made and used while allocations fail: made or HOOKD_ENOMEM, never a crash. */
static int signer(void)
{
    hookd_signer *s = NULL;
    int rc = hookd_signer_new("whsec_a", 7, &s);
    assert_true((rc == HOOKD_OK) == (s != NULL));
    if (rc == HOOKD_OK) {
        hookd_signed out;
        rc = hookd_signer_sign_attempt(s, "id", 1724288645, body, strlen(body), &out);
    }
    hookd_signer_free(s);
    return rc;
}

static void test_signer(void **state)
{
    (void)state;
    fail_each_allocation(signer, false);
}

static void test_envelope(void **state)
{
    (void)state;
    fail_each_allocation(envelope_build, true);
    fail_each_allocation(envelope_parse, true);
}

static void test_catalog(void **state)
{
    static const char file[] =
        "{\"event_types\":[{\"type\":\"invoices.paid\",\"description\":\"paid\","
        "\"fields\":{\"amount\":\"number\",\"lines\":\"array?\"}},"
        "{\"type\":\"events.created\",\"fields\":{\"uid\":\"string\"}}]}";
    FILE *f;
    int fd;
    (void)state;
    snprintf(catalog_path, sizeof catalog_path, "/tmp/test_core_alloc.XXXXXX");
    fd = mkstemp(catalog_path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(file, 1, sizeof file - 1, f), sizeof file - 1);
    assert_int_equal(fclose(f), 0);

    shared_catalog = hookd_catalog_default();
    assert_non_null(shared_catalog);
    fail_each_allocation(catalog_default, false);
    fail_each_allocation(catalog_to_json, false);
    fail_each_allocation(catalog_validate, true);
    fail_each_allocation(catalog_load_file, true);
    hookd_catalog_free(shared_catalog);
    unlink(catalog_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_verifier),
        cmocka_unit_test(test_signer),
        cmocka_unit_test(test_catalog),
    };
    json_set_alloc_funcs(json_counted_malloc, free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
