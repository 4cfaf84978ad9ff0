/* test_panel.c — the admin panels' framework (panel.h) without a server: HTML escaping,
 * the form parser (escapes, '+', repeated names, the caps, refused bytes), the CSRF check
 * and the assets' lookup. Sessions and answers are exercised in a real browser by
 * tests/blackbox/test_panel_serve.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "panel.h"
#include "panel_assets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_escaping(void **state)
{
    (void)state;
    panel_html *h = panel_html_new();
    panel_html_raw(h, "<p title=\"");
    panel_html_attr(h, "a\"b'c");
    panel_html_raw(h, "\">");
    panel_html_text(h, "<script>alert(1)</script> & more");
    panel_html_textf(h, " %s", "<b>");
    panel_html_text(h, NULL);
    size_t len = 0;
    const char *out = panel_html_data(h, &len);
    assert_string_equal(out, "<p title=\"a&quot;b&#39;c\">&lt;script&gt;alert(1)&lt;/script&gt; "
                             "&amp; more &lt;b&gt;");
    assert_int_equal(len, strlen(out));
    panel_html_free(h);
}

static void test_form_parse(void **state)
{
    (void)state;
    panel_form f;
    const char *body = "name=Meet+Bit&url=https%3A%2F%2Fx.example%2Fh&events=a.b&events=c.d&"
                       "empty=&flag&&note=line%0Atwo%C3%A9";
    assert_int_equal(panel_form_parse(&f, body, strlen(body)), 0);
    assert_string_equal(panel_form_get(&f, "name"), "Meet Bit");
    assert_string_equal(panel_form_get(&f, "url"), "https://x.example/h");
    assert_string_equal(panel_form_get_nth(&f, "events", 0), "a.b");
    assert_string_equal(panel_form_get_nth(&f, "events", 1), "c.d");
    assert_null(panel_form_get_nth(&f, "events", 2));
    assert_string_equal(panel_form_get(&f, "empty"), "");
    assert_string_equal(panel_form_get(&f, "flag"), "");
    assert_string_equal(panel_form_get(&f, "note"), "line\ntwo\xc3\xa9");
    assert_null(panel_form_get(&f, "missing"));
    panel_form_free(&f);
    /* a request body is not NUL-terminated: only len bytes are read */
    char *raw = malloc(7);
    memcpy(raw, "a=1&b=2", 7);
    assert_int_equal(panel_form_parse(&f, raw, 7), 0);
    assert_string_equal(panel_form_get(&f, "b"), "2");
    assert_int_equal(f.count, 2);
    panel_form_free(&f);
    free(raw);
}

static void test_form_refused(void **state)
{
    (void)state;
    panel_form f;
    const char *bad[] = {"a=%zz", "a=%4", "a=%00", "a=%ff%fe", "%00=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(panel_form_parse(&f, bad[i], strlen(bad[i])), 400);
        assert_int_equal(f.count, 0);
        panel_form_free(&f);
    }
    size_t n = PANEL_FORM_MAX_FIELDS + 1;
    char *many = malloc(n * 4 + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(many + i * 4, "a=1&", 4);
    many[n * 4] = '\0';
    assert_int_equal(panel_form_parse(&f, many, strlen(many)), 400);
    panel_form_free(&f);
    assert_int_equal(panel_form_parse(&f, many, PANEL_FORM_MAX_BODY + 1), 413);
    panel_form_free(&f);
    free(many);
}

static void test_csrf(void **state)
{
    (void)state;
    panel_session s;
    memset(&s, 0, sizeof s);
    memset(s.csrf, 'a', PANEL_TOKEN_HEX);
    char body[PANEL_TOKEN_HEX + 16];
    snprintf(body, sizeof body, "csrf=%s", s.csrf);
    panel_form f;
    assert_int_equal(panel_form_parse(&f, body, strlen(body)), 0);
    assert_true(panel_csrf_ok(&s, &f));
    assert_false(panel_csrf_ok(NULL, &f));
    panel_form_free(&f);
    body[10] = 'b'; /* one digit off */
    assert_int_equal(panel_form_parse(&f, body, strlen(body)), 0);
    assert_false(panel_csrf_ok(&s, &f));
    panel_form_free(&f);
    assert_int_equal(panel_form_parse(&f, "csrf=aaaa", 9), 0); /* a prefix is not the token */
    assert_false(panel_csrf_ok(&s, &f));
    panel_form_free(&f);
    assert_int_equal(panel_form_parse(&f, "x=1", 3), 0);
    assert_false(panel_csrf_ok(&s, &f));
    panel_form_free(&f);
}

static void test_assets(void **state)
{
    (void)state;
    const panel_asset *css = panel_asset_find("panel.css");
    assert_non_null(css);
    assert_true(strstr(css->body, ":focus-visible") != NULL);
    assert_non_null(panel_asset_find("panel.js"));
    assert_null(panel_asset_find("../panel.css"));
    assert_int_equal(strlen(panel_assets_version()), 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),     cmocka_unit_test(test_form_parse),
        cmocka_unit_test(test_form_refused), cmocka_unit_test(test_csrf),
        cmocka_unit_test(test_assets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
