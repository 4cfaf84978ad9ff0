/* test_catalog.c — the default catalog, files that replace or extend it, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Validates and returns the code; the reason lands in why. */
static int check(const hookd_catalog *catalog, const char *event, const char *data, char *why)
{
    return hookd_catalog_validate(catalog, event, data, strlen(data), why, 256);
}

static void test_default_types(void **state)
{
    static const char *const types[] = {"meeting_links.scheduled", "events.created",
                                        "events.updated",          "events.deleted",
                                        "events.rescheduled",      "events.reassigned"};
    hookd_catalog *catalog = hookd_catalog_default();
    char why[256];
    (void)state;
    assert_non_null(catalog);
    for (size_t i = 1; i < sizeof types / sizeof types[0]; i++) {
        assert_int_equal(check(catalog, types[i], "{\"id\":1,\"calendar_id\":2}", why), HOOKD_OK);
        assert_int_equal(check(catalog, types[i], "{\"id\":1}", why), HOOKD_EDATA);
        assert_string_equal(why, "data.calendar_id is required (number)");
    }
    assert_int_equal(check(catalog, "events.exploded", "{\"id\":1}", why), HOOKD_EEVENTTYPE);
    assert_string_equal(why, "unknown event type 'events.exploded'");
    hookd_catalog_free(catalog);
}

static void test_meeting_link_fields(void **state)
{
    hookd_catalog *catalog = hookd_catalog_default();
    const char *ev = "meeting_links.scheduled";
    char why[256];
    (void)state;
    assert_int_equal(
        check(catalog, ev, "{\"id\":1,\"event_id\":2,\"calendar_id\":3,\"email\":\"a@b.c\"}", why),
        HOOKD_OK);
    assert_int_equal(check(catalog, ev,
                           "{\"id\":1,\"event_id\":2,\"calendar_id\":3,\"email\":\"a@b.c\","
                           "\"name\":\"Zo\xc3\xab\",\"contact_number\":\"+14155550123\","
                           "\"extra\":[1]}",
                           why),
                     HOOKD_OK);
    assert_int_equal(check(catalog, ev,
                           "{\"id\":1,\"event_id\":2,\"calendar_id\":3,\"email\":\"a@b.c\","
                           "\"name\":null}",
                           why),
                     HOOKD_OK);
    assert_int_equal(check(catalog, ev, "{\"id\":1,\"event_id\":2,\"calendar_id\":3}", why),
                     HOOKD_EDATA);
    assert_string_equal(why, "data.email is required (string)");
    assert_int_equal(
        check(catalog, ev, "{\"id\":\"1\",\"event_id\":2,\"calendar_id\":3,\"email\":\"a\"}", why),
        HOOKD_EDATA);
    assert_string_equal(why, "data.id must be a number");
    assert_int_equal(check(catalog, ev,
                           "{\"id\":1,\"event_id\":2,\"calendar_id\":3,\"email\":\"a\","
                           "\"name\":5}",
                           why),
                     HOOKD_EDATA);
    assert_string_equal(why, "data.name must be a string");
    hookd_catalog_free(catalog);
}

static void test_e164(void **state)
{
    static const char *const good[] = {"+14155550123", "+12", "+999999999999999"};
    static const char *const bad[] = {"14155550123",     "+04155550123", "+1", "+1234567890123456",
                                      "+1 415 555 0123", "+1-415",       "",   "+"};
    hookd_catalog *catalog = hookd_catalog_default();
    char data[256], why[256];
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(data, sizeof data,
                 "{\"id\":1,\"event_id\":2,\"calendar_id\":3,\"email\":\"a\","
                 "\"contact_number\":\"%s\"}",
                 good[i]);
        if (check(catalog, "meeting_links.scheduled", data, why) != HOOKD_OK)
            fail_msg("rejected %s: %s", good[i], why);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(data, sizeof data,
                 "{\"id\":1,\"event_id\":2,\"calendar_id\":3,\"email\":\"a\","
                 "\"contact_number\":\"%s\"}",
                 bad[i]);
        if (check(catalog, "meeting_links.scheduled", data, why) != HOOKD_EDATA)
            fail_msg("accepted '%s'", bad[i]);
        assert_string_equal(why, "data.contact_number must be an E.164 phone number such as "
                                 "+14155550123");
    }
    assert_int_equal(check(catalog, "meeting_links.scheduled",
                           "{\"id\":1,\"event_id\":2,\"calendar_id\":3,\"email\":\"a\","
                           "\"contact_number\":14155550123}",
                           why),
                     HOOKD_EDATA);
    hookd_catalog_free(catalog);
}

static void test_data_not_object(void **state)
{
    hookd_catalog *catalog = hookd_catalog_default();
    char why[256];
    (void)state;
    assert_int_equal(check(catalog, "events.created", "[1]", why), HOOKD_EENVELOPE);
    assert_string_equal(why, "data must be a JSON object");
    assert_int_equal(check(catalog, "events.created", "{\"id\":", why), HOOKD_EJSON);
    assert_non_null(strstr(why, "data is not valid JSON"));
    /* Regression (found by fuzz/fuzz_envelope): jansson skips a NUL byte after a number. */
    assert_int_equal(hookd_catalog_validate(catalog, "events.created",
                                            "{\"id\":1,\"calendar_id\":2\0}", 25, why, 256),
                     HOOKD_EJSON);
    assert_non_null(strstr(why, "data is not valid JSON"));
    hookd_catalog_free(catalog);
}

static void test_to_json(void **state)
{
    hookd_catalog *catalog = hookd_catalog_default();
    char *json = hookd_catalog_to_json(catalog);
    (void)state;
    assert_non_null(json);
    assert_non_null(strstr(json, "{\"data\":[{\"type\":\"meeting_links.scheduled\""));
    assert_non_null(strstr(json, "\"contact_number\":\"e164?\""));
    assert_non_null(strstr(json, "\"name\":\"string?\""));
    assert_non_null(strstr(json, "\"type\":\"events.reassigned\""));
    free(json);
    hookd_catalog_free(catalog);
}

/* Writes text to a fresh temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
    static char path[64];
    int fd;
    snprintf(path, sizeof path, "/tmp/hookd-catalog-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static const char custom[] =
    "{\"event_types\":[{\"type\":\"invoices.paid\",\"description\":\"paid\","
    "\"fields\":{\"amount\":\"number\",\"paid\":\"boolean\",\"lines\":\"array?\","
    "\"meta\":\"object?\"}},"
    "{\"type\":\"events.created\",\"fields\":{\"uid\":\"string\"}}]}";

static void test_load_replace(void **state)
{
    const char *path = temp_file(custom);
    char err[256], why[256];
    hookd_catalog *catalog = hookd_catalog_load_file(path, false, err, sizeof err);
    (void)state;
    unlink(path);
    assert_non_null(catalog);
    assert_int_equal(check(catalog, "invoices.paid", "{\"amount\":1,\"paid\":true}", why),
                     HOOKD_OK);
    assert_int_equal(check(catalog, "invoices.paid", "{\"amount\":1,\"paid\":1}", why),
                     HOOKD_EDATA);
    assert_string_equal(why, "data.paid must be a boolean");
    assert_int_equal(
        check(catalog, "invoices.paid", "{\"amount\":1,\"paid\":false,\"lines\":{}}", why),
        HOOKD_EDATA);
    assert_string_equal(why, "data.lines must be an array");
    assert_int_equal(check(catalog, "events.created", "{\"uid\":\"x\"}", why), HOOKD_OK);
    assert_int_equal(check(catalog, "events.updated", "{\"id\":1,\"calendar_id\":2}", why),
                     HOOKD_EEVENTTYPE);
    hookd_catalog_free(catalog);
}

static void test_load_extend(void **state)
{
    const char *path = temp_file(custom);
    char err[256], why[256];
    hookd_catalog *catalog = hookd_catalog_load_file(path, true, err, sizeof err);
    char *json;
    (void)state;
    unlink(path);
    assert_non_null(catalog);
    assert_int_equal(check(catalog, "invoices.paid", "{\"amount\":1,\"paid\":true}", why),
                     HOOKD_OK);
    /* Replaced by the file's definition. */
    assert_int_equal(check(catalog, "events.created", "{\"uid\":\"x\"}", why), HOOKD_OK);
    /* Untouched defaults remain. */
    assert_int_equal(check(catalog, "events.updated", "{\"id\":1,\"calendar_id\":2}", why),
                     HOOKD_OK);
    json = hookd_catalog_to_json(catalog);
    assert_non_null(strstr(json, "\"type\":\"invoices.paid\",\"description\":\"paid\""));
    free(json);
    hookd_catalog_free(catalog);
}

static void test_load_errors(void **state)
{
    static const struct {
        const char *text, *message;
    } cases[] = {
        {"{", "1:1"},
        {"[]", "expected {\"event_types\":[…]}"},
        {"{\"event_types\":{}}", "expected {\"event_types\":[…]}"},
        {"{\"event_types\":[1]}", "event_types[0] must be an object"},
        {"{\"event_types\":[{\"type\":\"a b\"}]}", "event_types[0].type must be a name"},
        {"{\"event_types\":[{}]}", "event_types[0].type must be a name"},
        {"{\"event_types\":[{\"type\":\"a\",\"description\":3}]}",
         "event_types[0].description must be a string"},
        {"{\"event_types\":[{\"type\":\"a\"},{\"type\":\"b\",\"fields\":[]}]}",
         "event_types[1].fields must be an object"},
        {"{\"event_types\":[{\"type\":\"a\",\"fields\":{\"x\":\"integer\"}}]}",
         "event_types[0].fields.x must be one of number, string, e164, boolean, object, array"},
        {"{\"event_types\":[{\"type\":\"a\",\"fields\":{\"x\":7}}]}",
         "event_types[0].fields.x must be one of"},
        {"{\"event_types\":[{\"type\":\"a\"},{\"type\":\"a\"}]}", "event type 'a' appears twice"},
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = temp_file(cases[i].text);
        hookd_catalog *catalog = hookd_catalog_load_file(path, false, err, sizeof err);
        unlink(path);
        if (catalog != NULL)
            fail_msg("accepted %s", cases[i].text);
        if (strstr(err, cases[i].message) == NULL)
            fail_msg("for %s: got '%s', want '%s'", cases[i].text, err, cases[i].message);
    }
    {
        /* Duplicates within the file are refused when extending too. */
        const char *path = temp_file("{\"event_types\":[{\"type\":\"events.created\"},"
                                     "{\"type\":\"events.created\"}]}");
        assert_null(hookd_catalog_load_file(path, true, err, sizeof err));
        unlink(path);
        assert_non_null(strstr(err, "event type 'events.created' appears twice"));
    }
    assert_null(hookd_catalog_load_file("/nonexistent/catalog.json", false, err, sizeof err));
    assert_non_null(strstr(err, "No such file or directory"));
}

static void test_empty_catalog_file(void **state)
{
    const char *path = temp_file("{\"event_types\":[]}");
    char err[256], why[256];
    hookd_catalog *catalog = hookd_catalog_load_file(path, false, err, sizeof err);
    char *json;
    (void)state;
    unlink(path);
    assert_non_null(catalog);
    assert_int_equal(check(catalog, "events.created", "{}", why), HOOKD_EEVENTTYPE);
    json = hookd_catalog_to_json(catalog);
    assert_string_equal(json, "{\"data\":[]}");
    free(json);
    hookd_catalog_free(catalog);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_types),
        cmocka_unit_test(test_meeting_link_fields),
        cmocka_unit_test(test_e164),
        cmocka_unit_test(test_data_not_object),
        cmocka_unit_test(test_to_json),
        cmocka_unit_test(test_load_replace),
        cmocka_unit_test(test_load_extend),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_empty_catalog_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
