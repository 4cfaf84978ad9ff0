/* test_envelope.c — building the exact signed body and parsing a received one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Builds and checks the result text (and that out_len matches it). */
static void builds(const char *event, const char *data, const char *expected)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(hookd_envelope_build(event, data, strlen(data), 0, &out, &len), HOOKD_OK);
    assert_string_equal(out, expected);
    assert_int_equal(len, strlen(expected));
    free(out);
}

static int build_error(const char *event, const char *data, size_t max_len)
{
    char *out = (char *)1;
    size_t len = 99;
    int rc = hookd_envelope_build(event, data, strlen(data), max_len, &out, &len);
    assert_null(out);
    assert_int_equal(len, 0);
    return rc;
}

static void test_spec_example(void **state)
{
    (void)state;
    builds("meeting_links.scheduled", "{\"id\":1234}",
           "{\"event\":\"meeting_links.scheduled\",\"data\":{\"id\":1234}}");
}

static void test_keeps_order_and_number_bytes(void **state)
{
    (void)state;
    builds("events.created",
           "{\"z\":1.50,\"a\":1e3,\"m\":-0.0,\"big\":123456789012345678901234567890}",
           "{\"event\":\"events.created\",\"data\":{\"z\":1.50,\"a\":1e3,\"m\":-0.0,"
           "\"big\":123456789012345678901234567890}}");
    builds("e", "{\"b\":{\"y\":[3,2,1],\"x\":true},\"a\":null}",
           "{\"event\":\"e\",\"data\":{\"b\":{\"y\":[3,2,1],\"x\":true},\"a\":null}}");
}

static void test_strips_whitespace_outside_strings_only(void **state)
{
    (void)state;
    builds("e", " \n{ \"a b\" :\t\"x  y\\\" }\" ,\r\n \"c\" : [ 1 , 2 ] } \n",
           "{\"event\":\"e\",\"data\":{\"a b\":\"x  y\\\" }\",\"c\":[1,2]}}");
    /* Escapes and UTF-8 are copied as written, not normalized. */
    builds("e", "{\"s\": \"\\u00e9 \xc3\xa9 \\\\ \\/\"}",
           "{\"event\":\"e\",\"data\":{\"s\":\"\\u00e9 \xc3\xa9 \\\\ \\/\"}}");
    builds("e", "{}", "{\"event\":\"e\",\"data\":{}}");
}

static void test_event_type_rules(void **state)
{
    (void)state;
    builds("A-z_0.9", "{}", "{\"event\":\"A-z_0.9\",\"data\":{}}");
    assert_int_equal(build_error("", "{}", 0), HOOKD_EENVELOPE);
    assert_int_equal(build_error("a b", "{}", 0), HOOKD_EENVELOPE);
    assert_int_equal(build_error("a\"b", "{}", 0), HOOKD_EENVELOPE);
    assert_int_equal(build_error("caf\xc3\xa9", "{}", 0), HOOKD_EENVELOPE);
}

static void test_event_type_length(void **state)
{
    char name[130], expected[200];
    char *out = NULL;
    size_t len;
    (void)state;
    memset(name, 'a', 128);
    name[128] = '\0';
    assert_int_equal(hookd_envelope_build(name, "{}", 2, 0, &out, &len), HOOKD_OK);
    snprintf(expected, sizeof expected, "{\"event\":\"%s\",\"data\":{}}", name);
    assert_string_equal(out, expected);
    free(out);
    name[128] = 'a';
    name[129] = '\0';
    assert_int_equal(build_error(name, "{}", 0), HOOKD_EENVELOPE);
}

static void test_data_must_be_object(void **state)
{
    (void)state;
    assert_int_equal(build_error("e", "[1,2]", 0), HOOKD_EENVELOPE);
    assert_int_equal(build_error("e", "\"x\"", 0), HOOKD_EENVELOPE);
    assert_int_equal(build_error("e", "12", 0), HOOKD_EENVELOPE);
    assert_int_equal(build_error("e", "null", 0), HOOKD_EENVELOPE);
    assert_int_equal(build_error("e", "{", 0), HOOKD_EJSON);
    assert_int_equal(build_error("e", "", 0), HOOKD_EJSON);
    assert_int_equal(build_error("e", "{\"a\":1} {}", 0), HOOKD_EJSON);
    assert_int_equal(build_error("e", "{\"a\":1,}", 0), HOOKD_EJSON);
    assert_int_equal(build_error("e", "{'a':1}", 0), HOOKD_EJSON);
    assert_int_equal(build_error("e", "{\"a\":1,\"a\":2}", 0), HOOKD_EJSON);
    assert_int_equal(build_error("e", "{\"a\":\"\xff\"}", 0), HOOKD_EJSON);
}

static void test_max_len(void **state)
{
    (void)state;
    assert_int_equal(build_error("e", "{\"a\":12345}", 5), HOOKD_ETOOBIG);
    {
        char *out;
        size_t len;
        assert_int_equal(hookd_envelope_build("e", "{\"a\":1}", 7, 7, &out, &len), HOOKD_OK);
        free(out);
    }
}

static void test_parse(void **state)
{
    const char *body = "{\"event\":\"events.created\",\"data\":{\"id\":1}}";
    char *event = NULL;
    (void)state;
    assert_int_equal(hookd_envelope_parse(body, strlen(body), &event), HOOKD_OK);
    assert_string_equal(event, "events.created");
    free(event);
    assert_int_equal(hookd_envelope_parse(body, strlen(body), NULL), HOOKD_OK);
    body = "{\"data\":{},\"extra\":[1],\"event\":\"x\"}";
    assert_int_equal(hookd_envelope_parse(body, strlen(body), NULL), HOOKD_OK);
}

static void test_parse_rejects(void **state)
{
    static const struct {
        const char *body;
        int rc;
    } cases[] = {
        {"", HOOKD_EJSON},
        {"not json", HOOKD_EJSON},
        {"{\"event\":\"e\",\"data\":{}", HOOKD_EJSON},
        {"[]", HOOKD_EENVELOPE},
        {"{}", HOOKD_EENVELOPE},
        {"{\"event\":\"e\"}", HOOKD_EENVELOPE},
        {"{\"data\":{}}", HOOKD_EENVELOPE},
        {"{\"event\":1,\"data\":{}}", HOOKD_EENVELOPE},
        {"{\"event\":\"\",\"data\":{}}", HOOKD_EENVELOPE},
        {"{\"event\":\"e\",\"data\":[]}", HOOKD_EENVELOPE},
        {"{\"event\":\"e\",\"data\":null}", HOOKD_EENVELOPE},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *event = (char *)1;
        int rc = hookd_envelope_parse(cases[i].body, strlen(cases[i].body), &event);
        if (rc != cases[i].rc)
            fail_msg("'%s': got %d, want %d", cases[i].body, rc, cases[i].rc);
        assert_null(event);
    }
    /* The length is honoured: bytes after body_len are not read. */
    assert_int_equal(hookd_envelope_parse("{\"event\":\"e\",\"data\":{}}garbage", 23, NULL),
                     HOOKD_OK);
}

/* The bodies on each side of the scanner's limits (envelope.c): whether it answers or
 * jansson does, the verdict and the event are the same. */
static void test_parse_scanner_edges(void **state)
{
    static const struct {
        const char *body;
        int rc;
        const char *event;
    } cases[] = {
        {" {\"event\" : \"a.b\" ,\n\"data\":{\"x\":[1,-0.5,true,false,null,\"s\\n\"]}}\r\n",
         HOOKD_OK, "a.b"},
        {"{\"data\":{},\"event\":\"e\",\"extra\":[[{}]]}", HOOKD_OK, "e"},
        {"{\"event\":\"e\\u002e\",\"data\":{}}", HOOKD_OK, "e."}, /* \u: jansson decodes */
        {"{\"event\":\"\\\"q\",\"data\":{}}", HOOKD_OK, "\"q"},   /* escaped event */
        {"{\"event\":\"caf\xc3\xa9\",\"data\":{}}", HOOKD_OK, "caf\xc3\xa9"}, /* UTF-8 */
        {"{\"event\":\"e\",\"data\":{\"n\":1e3}}", HOOKD_OK, "e"},            /* exponent */
        {"{\"event\":\"e\",\"data\":{\"n\":1e400}}", HOOKD_EJSON, NULL},      /* overflows */
        {"{\"event\":\"e\",\"data\":{\"a\":1,\"b\":{\"c\":1,\"c\":2}}}", HOOKD_EJSON, NULL},
        {"{\"event\":\"e\",\"data\":{\"a\":1,\"\\u0061\":2}}", HOOKD_EJSON, NULL},
        {"{\"event\":\"e\",\"event\":\"f\",\"data\":{}}", HOOKD_EJSON, NULL},
        {"{\"event\":\"e\",\"data\":{\"n\":01}}", HOOKD_EJSON, NULL},
        {"{\"event\":\"e\",\"data\":{\"n\":1.}}", HOOKD_EJSON, NULL},
        {"{\"event\":\"e\",\"data\":{\"n\":truex}}", HOOKD_EJSON, NULL},
        {"{\"event\":\"e\",\"data\":{\"s\":\"\\x\"}}", HOOKD_EJSON, NULL},
        {"{\"event\":\"e\",\"data\":{\"s\":\"\t\"}}", HOOKD_EJSON, NULL},
        {"{\"event\":\"e\",\"data\":{},}", HOOKD_EJSON, NULL},
        {"{\"event\":\"e\",\"data\":[]}", HOOKD_EENVELOPE, NULL},
        {"{\"event\":\"\",\"data\":{}}", HOOKD_EENVELOPE, NULL},
        {"{\"event\":1,\"data\":{}}", HOOKD_EENVELOPE, NULL},
        {"[{\"event\":\"e\",\"data\":{}}]", HOOKD_EENVELOPE, NULL},
        {"{\"event\":\"e\",\"data\":{}} x", HOOKD_EJSON, NULL},
        {"{\"event\":\"e\",\"data\":{\"s\":\"\xff\"}}", HOOKD_EJSON, NULL}, /* not UTF-8 */
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *event = NULL;
        int rc = hookd_envelope_parse(cases[i].body, strlen(cases[i].body), &event);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): %s", i, cases[i].body, hookd_strerror(rc));
        if (cases[i].event)
            assert_string_equal(event, cases[i].event);
        else
            assert_null(event);
        free(event);
    }
    /* 17 keys in one object (the scanner stops at 16) and 70 levels (it stops at 64) */
    char many[512] = "{\"event\":\"e\",\"data\":{";
    for (int k = 0; k < 17; k++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"k%d\":%d", k ? "," : "", k,
                 k);
    strcat(many, "}}");
    assert_int_equal(hookd_envelope_parse(many, strlen(many), NULL), HOOKD_OK);
    char deep[512] = "{\"event\":\"e\",\"data\":{\"d\":";
    for (int k = 0; k < 70; k++)
        strcat(deep, "[");
    for (int k = 0; k < 70; k++)
        strcat(deep, "]");
    strcat(deep, "}}");
    assert_int_equal(hookd_envelope_parse(deep, strlen(deep), NULL), HOOKD_OK);
}

static void test_build_then_parse(void **state)
{
    char *out, *event;
    size_t len;
    (void)state;
    assert_int_equal(hookd_envelope_build("events.updated", "{ \"id\" : 7 }", 12, 0, &out, &len),
                     HOOKD_OK);
    assert_int_equal(hookd_envelope_parse(out, len, &event), HOOKD_OK);
    assert_string_equal(event, "events.updated");
    free(event);
    free(out);
}

/* Regression (found by fuzz/fuzz_envelope): jansson skips a raw NUL byte right after a
 * number or literal, so {"id":1\0} used to build into a body with a NUL byte in it. */
static void test_nul_byte_rejected(void **state)
{
    static const char data[] = "{ \"id\":1\0}",
                      body[] = "{\"event\":\"x\",\"data\":{\"a\":true\0}}";
    char *out = (char *)1, *event = (char *)1;
    size_t len = 99;
    (void)state;
    assert_int_equal(hookd_envelope_build("events.created", data, sizeof data - 1, 0, &out, &len),
                     HOOKD_EJSON);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(hookd_envelope_parse(body, sizeof body - 1, &event), HOOKD_EJSON);
    assert_null(event);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_keeps_order_and_number_bytes),
        cmocka_unit_test(test_strips_whitespace_outside_strings_only),
        cmocka_unit_test(test_event_type_rules),
        cmocka_unit_test(test_event_type_length),
        cmocka_unit_test(test_data_must_be_object),
        cmocka_unit_test(test_max_len),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_parse_scanner_edges),
        cmocka_unit_test(test_build_then_parse),
        cmocka_unit_test(test_nul_byte_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
