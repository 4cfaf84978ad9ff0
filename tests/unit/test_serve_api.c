/*
 * test_serve_api.c — the pure seams of the two HTTP APIs: the sender's route table
 * (serve_api_route_match), the one dialect (api_common.h: times, page sizes, the store
 * error table), the sender's answers built from store structs (serve_api_json.h) and the
 * body scanner that keeps an event's `data` bytes (json_raw.h). No server, no store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api_common.h"
#include "hookd.h"
#include "json_raw.h"
#include "serve_access.h"
#include "serve_api.h"
#include "serve_api_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Routes "a/b/c" (split on '/') for method; *id and allow as serve_api_route_match sets. */
static int route(const char *path, serve_api_method m, const char **id, char *allow)
{
    static char copy[256];
    const char *segs[8];
    size_t n = 0;
    snprintf(copy, sizeof copy, "%s", path);
    for (char *p = copy; p && n < 8;) {
        segs[n++] = p;
        p = strchr(p, '/');
        if (p)
            *p++ = '\0';
    }
    *id = "unset";
    return serve_api_route_match(segs, n, m, id, allow, 64);
}

static void test_routes_find_actions_and_ids(void **state)
{
    (void)state;
    const char *id;
    char allow[64];
    assert_int_equal(route("destinations", SERVE_API_GET, &id, allow), SERVE_API_DESTINATION_LIST);
    assert_null(id);
    assert_int_equal(route("destinations", SERVE_API_POST, &id, allow),
                     SERVE_API_DESTINATION_CREATE);
    assert_int_equal(route("destinations/d1", SERVE_API_PATCH, &id, allow),
                     SERVE_API_DESTINATION_UPDATE);
    assert_string_equal(id, "d1");
    assert_int_equal(route("destinations/d2/secret/rotate", SERVE_API_POST, &id, allow),
                     SERVE_API_DESTINATION_ROTATE);
    assert_string_equal(id, "d2");
    assert_int_equal(route("destinations/d3/deactivate", SERVE_API_POST, &id, allow),
                     SERVE_API_DESTINATION_DEACTIVATE);
    assert_int_equal(route("events/e1", SERVE_API_GET, &id, allow), SERVE_API_EVENT_GET);
    assert_string_equal(id, "e1");
    assert_int_equal(route("webhooks/w1/retry", SERVE_API_POST, &id, allow),
                     SERVE_API_WEBHOOK_RETRY);
    assert_string_equal(id, "w1");
    assert_int_equal(route("event-types", SERVE_API_GET, &id, allow), SERVE_API_EVENT_TYPES);
}

static void test_routes_404_and_405(void **state)
{
    (void)state;
    const char *id;
    char allow[64];
    assert_int_equal(route("nothing", SERVE_API_GET, &id, allow), SERVE_API_NO_ROUTE);
    assert_int_equal(route("destinations/d1/bogus", SERVE_API_POST, &id, allow),
                     SERVE_API_NO_ROUTE);
    assert_int_equal(route("destinations/d1/secret/rotate/more", SERVE_API_POST, &id, allow),
                     SERVE_API_NO_ROUTE);
    assert_int_equal(route("webhooks/w1/retry", SERVE_API_GET, &id, allow), SERVE_API_BAD_METHOD);
    assert_string_equal(allow, "POST");
    assert_int_equal(route("destinations", SERVE_API_DELETE, &id, allow), SERVE_API_BAD_METHOD);
    assert_string_equal(allow, "GET, POST");
    assert_int_equal(route("destinations/d1", SERVE_API_OTHER, &id, allow), SERVE_API_BAD_METHOD);
    assert_string_equal(allow, "GET, PATCH, DELETE");
    assert_int_equal(route("destinations/d1/secret", SERVE_API_POST, &id, allow),
                     SERVE_API_BAD_METHOD);
    assert_string_equal(allow, "GET");
}

static void test_time_format_and_parse(void **state)
{
    (void)state;
    char text[API_TIME_LEN + 1];
    assert_int_equal(api_time_format(1724288645123LL, text), 0);
    assert_string_equal(text, "2024-08-22T01:04:05.123Z");
    assert_int_equal(api_time_format(1724288645007LL, text), 0);
    assert_string_equal(text, "2024-08-22T01:04:05.007Z");
    assert_int_equal(api_time_format(-1, text), HOOKD_EINVAL);

    int64_t ms = 0;
    assert_int_equal(api_time_parse("2024-08-22T01:04:05.123Z", &ms), 0);
    assert_int_equal(ms, 1724288645123LL);
    assert_int_equal(api_time_parse("2024-08-22T01:04:05Z", &ms), 0);
    assert_int_equal(ms, 1724288645000LL);
    assert_int_equal(api_time_parse("2024-08-22T01:04:05.5Z", &ms), 0);
    assert_int_equal(ms, 1724288645500LL);
    assert_int_equal(api_time_parse("2024-08-22T01:04:05.123456789Z", &ms), 0);
    assert_int_equal(ms, 1724288645123LL);
    const char *bad[] = {"",
                         "yesterday",
                         "2024-08-22T01:04:05",
                         "2024-08-22T01:04:05.Z",
                         "2024-08-22T01:04:05.1234567890Z",
                         "2024-08-22T01:04:05.12aZ",
                         "2024-08-22T01:04:05,123Z",
                         "2024-08-22 01:04:05Z",
                         "2024-08-22T01:04:05.123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(api_time_parse(bad[i], &ms), HOOKD_ETIMESTAMP);

    json_t *t = api_time_json(-1);
    assert_true(json_is_null(t));
    json_decref(t);
}

static void test_limits_and_error_table(void **state)
{
    (void)state;
    long limit = 0;
    assert_int_equal(api_parse_limit("1", 100, &limit), 0);
    assert_int_equal(limit, 1);
    assert_int_equal(api_parse_limit("100", 100, &limit), 0);
    assert_int_equal(limit, 100);
    const char *bad[] = {"",   "0",  "101", "-1",   "+5",
                         " 5", "5 ", "5x",  "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(api_parse_limit(bad[i], 100, &limit), HOOKD_EINVAL);

    const char *code = NULL;
    assert_int_equal(api_store_error_status(HOOKD_ENOTFOUND, &code), 404);
    assert_string_equal(code, "not_found");
    assert_int_equal(api_store_error_status(HOOKD_ECONFLICT, &code), 409);
    assert_string_equal(code, "conflict");
    assert_int_equal(api_store_error_status(HOOKD_EINVAL, &code), 400);
    assert_string_equal(code, "invalid_parameter");
    assert_int_equal(api_store_error_status(HOOKD_ESTORE, &code), 503);
    assert_string_equal(code, "store_unavailable");
    assert_int_equal(api_store_error_status(HOOKD_EIO, &code), 503);
}

static void test_destination_json(void **state)
{
    (void)state;
    serve_store_destination d = {.id = "d1",
                                 .name = "crm",
                                 .url = "https://x.test/h",
                                 .description = NULL,
                                 .events_json = "[\"events.created\"]",
                                 .headers_json = "not json",
                                 .active = true,
                                 .created_at = 1724288645123LL,
                                 .updated_at = 1724288646000LL};
    json_t *o = serve_api_destination_json(&d);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "d1");
    assert_true(json_is_null(json_object_get(o, "description")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "events"), 0)),
                        "events.created");
    /* a stored text that does not parse shows as its empty form */
    assert_int_equal(json_object_size(json_object_get(o, "headers")), 0);
    assert_true(json_is_true(json_object_get(o, "active")));
    assert_string_equal(json_string_value(json_object_get(o, "created_at")),
                        "2024-08-22T01:04:05.123Z");
    assert_null(json_object_get(o, "secret"));
    json_decref(o);
    d.secret = "whsec_x";
    o = serve_api_destination_json(&d);
    assert_string_equal(json_string_value(json_object_get(o, "secret")), "whsec_x");
    json_decref(o);
}

static void test_webhook_and_event_json(void **state)
{
    (void)state;
    serve_store_webhook hooks[2] = {
        {.id = "w1",
         .event_id = "e1",
         .destination_id = "d1",
         .status = "failed",
         .attempt_count = 5,
         .next_attempt_at = -1,
         .created_at = 1000,
         .updated_at = 2000},
        {.id = "w2",
         .event_id = "e1",
         .destination_id = "d2",
         .status = "pending",
         .attempt_count = 0,
         .next_attempt_at = 1500,
         .created_at = 1000,
         .updated_at = 1000},
    };
    serve_store_request r = {0};
    r.event.id = "e1";
    r.event.type = "events.created";
    r.event.body = "{\"event\":\"events.created\",\"data\":{\"id\":1}}";
    r.event.body_len = strlen(r.event.body);
    r.event.created_at = 1000;
    r.webhooks = hooks;
    r.webhook_count = 2;

    json_t *w = serve_api_webhook_json(&hooks[0]);
    assert_true(json_is_null(json_object_get(w, "next_attempt_at")));
    assert_int_equal(json_integer_value(json_object_get(w, "attempt_count")), 5);
    assert_string_equal(json_string_value(json_object_get(w, "updated_at")),
                        "1970-01-01T00:00:02.000Z");
    json_decref(w);

    json_t *ev = serve_api_event_json(&r);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "data"), "id")), 1);
    assert_int_equal(json_array_size(json_object_get(ev, "webhooks")), 2);
    json_decref(ev);

    char *text = serve_api_event_answer_text(&r);
    assert_string_equal(text, "{\"id\":\"e1\",\"event\":\"events.created\",\"created_at\":"
                              "\"1970-01-01T00:00:01.000Z\",\"webhooks\":[{\"id\":\"w1\","
                              "\"destination_id\":\"d1\"},{\"id\":\"w2\",\"destination_id\":"
                              "\"d2\"}]}");
    free(text);
    /* a text JSON must escape takes jansson's way, with the same layout */
    r.event.id = "e\"1";
    r.webhook_count = 1;
    text = serve_api_event_answer_text(&r);
    assert_string_equal(text, "{\"id\":\"e\\\"1\",\"event\":\"events.created\",\"created_at\":"
                              "\"1970-01-01T00:00:01.000Z\",\"webhooks\":[{\"id\":\"w1\","
                              "\"destination_id\":\"d1\"}]}");
    free(text);
    r.event.id = "e1";
    r.webhook_count = 0;
    text = serve_api_event_answer_text(&r);
    assert_string_equal(text, "{\"id\":\"e1\",\"event\":\"events.created\",\"created_at\":"
                              "\"1970-01-01T00:00:01.000Z\",\"webhooks\":[]}");
    free(text);
    r.webhook_count = 2;

    r.next = NULL;
    json_t *page = serve_api_webhook_list_json(&r);
    assert_true(json_is_null(json_object_get(page, "next")));
    assert_int_equal(json_array_size(json_object_get(page, "data")), 2);
    json_decref(page);
}

static void test_attempts_json(void **state)
{
    (void)state;
    serve_store_attempt attempts[2] = {
        {.rec = {.n = 1, .started_at = 1000, .duration_ms = 12, .error = "refused"},
         .status_code = -1},
        {.rec = {.n = 2, .started_at = 2000, .duration_ms = 7},
         .status_code = 200,
         .response = "ok"},
    };
    serve_store_request r = {0};
    r.webhook = (serve_store_webhook){.id = "w1", .status = "succeeded", .next_attempt_at = -1};
    r.attempts = attempts;
    r.attempt_count = 2;
    json_t *o = serve_api_webhook_detail_json(&r);
    json_t *list = json_object_get(o, "attempts");
    assert_int_equal(json_array_size(list), 2);
    json_t *a1 = json_array_get(list, 0), *a2 = json_array_get(list, 1);
    assert_true(json_is_null(json_object_get(a1, "status_code")));
    assert_string_equal(json_string_value(json_object_get(a1, "error")), "refused");
    assert_true(json_is_null(json_object_get(a1, "response")));
    assert_int_equal(json_integer_value(json_object_get(a2, "status_code")), 200);
    assert_int_equal(json_integer_value(json_object_get(a2, "duration_ms")), 7);
    assert_string_equal(json_string_value(json_object_get(a2, "started_at")),
                        "1970-01-01T00:00:02.000Z");
    json_decref(o);
}

/* The member's raw text, or NULL when json_raw_member does not find it. */
static char *raw(const char *text, const char *key)
{
    static char out[256];
    const char *v = NULL;
    size_t len = 0;
    if (!json_raw_member(text, strlen(text), key, &v, &len))
        return NULL;
    snprintf(out, sizeof out, "%.*s", (int)len, v);
    return out;
}

static void test_json_raw_member(void **state)
{
    (void)state;
    assert_string_equal(raw("{\"event\":\"x\",\"data\":{\"b\": 1.50, \"a\":\"\\u00e9\"}}", "data"),
                        "{\"b\": 1.50, \"a\":\"\\u00e9\"}");
    assert_string_equal(raw(" {\n \"data\" :\t[1, {\"k\":\"]}\\\"\"}] , \"z\":0}", "data"),
                        "[1, {\"k\":\"]}\\\"\"}]");
    assert_string_equal(raw("{\"note\":\"\\\"data\\\":1\",\"data\":true}", "data"), "true");
    assert_string_equal(raw("{\"data\":-12e3}", "data"), "-12e3");
    assert_null(raw("{\"d\\u0061ta\":{}}", "data"));
    assert_null(raw("{\"other\":{}}", "data"));
    assert_null(raw("[\"data\"]", "data"));
    /* unterminated or cut text: no answer, and no read past the end (ASan runs catch it) */
    assert_null(raw("{\"data\\", "data"));
    assert_null(raw("{\"data\":", "data"));
    assert_null(raw("{\"x\":\"abc", "data"));
}

/* Every routed action declares a permission; the ones SPEC §6 names, and "*" holds all. */
static void test_route_permissions(void **state)
{
    (void)state;
    assert_int_equal(serve_api_route_permission(SERVE_API_DESTINATION_ACTIVATE),
                     SERVE_PERM_DESTINATIONS_ACTIVATE);
    assert_int_equal(serve_api_route_permission(SERVE_API_DESTINATION_DEACTIVATE),
                     SERVE_PERM_DESTINATIONS_ACTIVATE);
    assert_int_equal(serve_api_route_permission(SERVE_API_DESTINATION_ROTATE),
                     SERVE_PERM_DESTINATIONS_SECRET);
    assert_int_equal(serve_api_route_permission(SERVE_API_DESTINATION_RECOVER),
                     SERVE_PERM_WEBHOOKS_RETRY);
    assert_int_equal(serve_api_route_permission(SERVE_API_KEY_DELETE),
                     SERVE_PERM_ACCESS_KEYS_MANAGE);
    assert_int_equal(serve_api_route_permission(SERVE_API_EVENT_TYPES), SERVE_PERM_NONE);
    for (int a = 0; a < SERVE_API_ACTION_COUNT; a++) {
        unsigned need = serve_api_route_permission((serve_api_action)a);
        assert_true(need == SERVE_PERM_NONE || serve_permission_name(need) != NULL);
    }
    json_t *v = json_loads("[\"destinations.read\", \"events.create\"]", 0, NULL);
    unsigned mask = 0;
    size_t bad = 9;
    assert_true(serve_permissions_parse(v, &mask, &bad));
    assert_int_equal(mask, SERVE_PERM_DESTINATIONS_READ | SERVE_PERM_EVENTS_CREATE);
    assert_false(serve_permissions_hold(mask, SERVE_PERM_DESTINATIONS_CREATE));
    json_decref(v);
    v = json_loads("[\"events.read\", \"events.fly\"]", 0, NULL);
    assert_false(serve_permissions_parse(v, &mask, &bad));
    assert_int_equal(bad, 1);
    json_decref(v);
    unsigned star = serve_permissions_from_text("[\"*\"]");
    assert_true(serve_permissions_hold(star, SERVE_PERM_ALL | SERVE_PERM_STAR));
    assert_false(serve_permissions_hold(SERVE_PERM_ALL, SERVE_PERM_STAR));
    assert_true(serve_account_id_valid("acme_1-x"));
    assert_false(serve_account_id_valid("Acme"));
    assert_false(serve_account_id_valid(""));
    assert_false(serve_account_id_valid("a:b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_find_actions_and_ids),
        cmocka_unit_test(test_routes_404_and_405),
        cmocka_unit_test(test_route_permissions),
        cmocka_unit_test(test_time_format_and_parse),
        cmocka_unit_test(test_limits_and_error_table),
        cmocka_unit_test(test_destination_json),
        cmocka_unit_test(test_webhook_and_event_json),
        cmocka_unit_test(test_attempts_json),
        cmocka_unit_test(test_json_raw_member),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
