/*
 * test_http_client.c — http_client.h against a small evhttp server on 127.0.0.1 on the same
 * loop: answers, non-2XX, redirects not followed, timeouts, the address policy, the URL
 * policy, Retry-After, the 4 KiB cap, headers sent, and connection reuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hookd.h"
#include "http_client.h"
#include "loop.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct env {
    struct event_base *base;
    struct evhttp *http;
    int port;
    http_client *client;         /* allow_http, allow_private_addresses */
    struct evhttp_request *slow; /* a request left unanswered */
    char last_ua[128];
    char last_custom[128];
    char last_ctype[128];
    char last_webhook_id[128];
    char last_body[256];
    ev_uint16_t last_peer_port;
    struct evhttp_connection *last_conn;
} env;

static env *E;

static void reply(struct evhttp_request *req, int status, const char *body)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, status, "X", b);
    evbuffer_free(b);
}

static void copy_header(struct evhttp_request *req, const char *name, char *out, size_t len)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    snprintf(out, len, "%s", v ? v : "");
}

static void handler(struct evhttp_request *req, void *arg)
{
    env *e = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    char *peer = NULL;
    e->last_conn = evhttp_request_get_connection(req);
    evhttp_connection_get_peer(e->last_conn, &peer, &e->last_peer_port);
    copy_header(req, "User-Agent", e->last_ua, sizeof e->last_ua);
    copy_header(req, "X-Custom", e->last_custom, sizeof e->last_custom);
    copy_header(req, "Content-Type", e->last_ctype, sizeof e->last_ctype);
    copy_header(req, "X-Webhook-Id", e->last_webhook_id, sizeof e->last_webhook_id);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n >= sizeof e->last_body)
        n = sizeof e->last_body - 1;
    evbuffer_copyout(in, e->last_body, n);
    e->last_body[n] = '\0';

    if (strcmp(uri, "/ok") == 0) {
        reply(req, 200, "hello");
    } else if (strcmp(uri, "/500") == 0) {
        reply(req, 500, "boom");
    } else if (strcmp(uri, "/302") == 0) {
        evhttp_add_header(out, "Location", "/ok");
        reply(req, 302, "");
    } else if (strcmp(uri, "/slow") == 0) {
        e->slow = req; /* never answered within the client's timeout */
    } else if (strcmp(uri, "/retry") == 0) {
        evhttp_add_header(out, "Retry-After", "7");
        reply(req, 503, "later");
    } else if (strcmp(uri, "/retrydate") == 0) {
        char date[64];
        time_t when = time(NULL) + 120;
        struct tm tm;
        gmtime_r(&when, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        evhttp_add_header(out, "Retry-After", date);
        reply(req, 429, "later");
    } else if (strcmp(uri, "/big") == 0) {
        char *big = malloc(10001);
        for (int i = 0; i < 10000; i++)
            big[i] = (char)('a' + i % 26);
        big[10000] = '\0';
        reply(req, 200, big);
        free(big);
    } else {
        reply(req, 404, "no");
    }
}

typedef struct outcome {
    int calls;
    long status;
    char error[512];
    bool address_refused;
    char response[8192];
    size_t response_len;
    int64_t retry_after_ms;
    int64_t duration_ms;
} outcome;

static bool in_post;

static void on_done(void *arg, const http_result *r)
{
    outcome *o = arg;
    assert_false(in_post); /* never from within http_client_post */
    o->calls++;
    o->status = r->status;
    snprintf(o->error, sizeof o->error, "%s", r->error ? r->error : "");
    o->address_refused = r->address_refused;
    o->response_len = r->response_len;
    if (r->response_len)
        memcpy(o->response, r->response, r->response_len);
    o->retry_after_ms = r->retry_after_ms;
    o->duration_ms = r->duration_ms;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void run_until_done(outcome *o, int calls)
{
    struct event *tick = event_new(E->base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = {0, 20000};
    event_add(tick, &tv);
    int64_t deadline = loop_monotonic_ms() + 10000;
    while (o->calls < calls && loop_monotonic_ms() < deadline)
        event_base_loop(E->base, EVLOOP_ONCE);
    event_free(tick);
    assert_int_equal(o->calls, calls);
}

static int post(http_client *c, const char *path, outcome *o, int64_t timeout_ms)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", E->port, path);
    http_header h[] = {{"X-Custom", "v1"},
                       {"Content-Type", "text/evil"},
                       {"user-agent", "evil/1"},
                       {"X-Webhook-Id", "wh_1"}};
    http_request req = {.url = url,
                        .headers = h,
                        .header_count = 4,
                        .body = "{\"a\":1}xyz",
                        .body_len = 7,
                        .timeout_ms = timeout_ms};
    in_post = true;
    int rc = http_client_post(c, &req, on_done, o);
    in_post = false;
    return rc;
}

static int setup(void **state)
{
    env *e = calloc(1, sizeof *e);
    e->base = loop_new();
    e->http = evhttp_new(e->base);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(e->http, "127.0.0.1", 0);
    assert_non_null(s);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sa, &sl);
    e->port = ntohs(sa.sin_port);
    evhttp_set_gencb(e->http, handler, e);
    http_client_options opt = {.allow_http = true, .allow_private_addresses = true};
    e->client = http_client_new(e->base, &opt);
    assert_non_null(e->client);
    E = e;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    http_client_free(e->client);
    evhttp_free(e->http);
    event_base_free(e->base);
    free(e);
    return 0;
}

static void test_ok_and_headers(void **state)
{
    (void)state;
    outcome o = {0};
    assert_int_equal(post(E->client, "/ok", &o, 5000), 0);
    assert_int_equal(http_client_in_flight(E->client), 1);
    run_until_done(&o, 1);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.error, "");
    assert_int_equal(o.response_len, 5);
    assert_memory_equal(o.response, "hello", 5);
    assert_int_equal(o.retry_after_ms, -1);
    assert_true(o.duration_ms >= 0);
    assert_int_equal(http_client_in_flight(E->client), 0);
    assert_string_equal(E->last_ua, "hookd/" HOOKD_VERSION_STRING);
    assert_string_equal(E->last_custom, "v1");
    assert_string_equal(E->last_ctype, "application/json");
    assert_string_equal(E->last_webhook_id, "wh_1"); /* the protocol's headers pass */
    assert_string_equal(E->last_body, "{\"a\":1}");

    /* The connection is kept alive and reused. */
    ev_uint16_t first = E->last_peer_port;
    outcome o2 = {0};
    assert_int_equal(post(E->client, "/ok", &o2, 5000), 0);
    run_until_done(&o2, 1);
    assert_int_equal(o2.status, 200);
    assert_int_equal(E->last_peer_port, first);
}

/* The server closes an idle keep-alive connection: the next POST gets a new connection and
 * its answer (the idle socket, still watched for reads, is let go when the close arrives). */
static void test_idle_connection_closed_by_server(void **state)
{
    (void)state;
    outcome a = {0}, b = {0};
    assert_int_equal(post(E->client, "/ok", &a, 5000), 0);
    run_until_done(&a, 1);
    assert_int_equal(a.status, 200);
    ev_uint16_t first = E->last_peer_port;
    evhttp_connection_free(E->last_conn); /* closes the server's end */
    for (int i = 0; i < 20; i++) {        /* the client sees the close while idle */
        event_base_loop(E->base, EVLOOP_NONBLOCK);
        usleep(5000);
    }
    assert_int_equal(post(E->client, "/ok", &b, 5000), 0);
    run_until_done(&b, 1);
    assert_int_equal(b.status, 200);
    assert_string_equal(b.error, "");
    assert_int_not_equal(E->last_peer_port, first);
}

static void test_statuses(void **state)
{
    (void)state;
    outcome a = {0}, b = {0};
    assert_int_equal(post(E->client, "/500", &a, 5000), 0);
    assert_int_equal(post(E->client, "/302", &b, 5000), 0);
    run_until_done(&a, 1);
    run_until_done(&b, 1);
    assert_int_equal(a.status, 500);
    assert_string_equal(a.error, "");
    assert_memory_equal(a.response, "boom", 4);
    assert_int_equal(b.status, 302); /* not followed */
}

static void test_timeout(void **state)
{
    (void)state;
    outcome o = {0};
    int64_t t0 = loop_monotonic_ms();
    assert_int_equal(post(E->client, "/slow", &o, 300), 0);
    run_until_done(&o, 1);
    int64_t took = loop_monotonic_ms() - t0;
    assert_int_equal(o.status, 0);
    assert_string_equal(o.error, "timeout after 300 ms");
    assert_false(o.address_refused);
    assert_true(took >= 250 && took < 3000);
    assert_true(o.duration_ms >= 250);
}

/* More transfers than a host's cap: the extra ones wait for a connection (at most the cap
 * open), a waiting one still ends at its own timeout, counted from its post, and one that
 * gets a connection in time completes. */
static void test_host_cap_queue(void **state)
{
    (void)state;
    http_client_options opt = {
        .allow_http = true, .allow_private_addresses = true, .max_host_connections = 2};
    http_client *capped = http_client_new(E->base, &opt);
    assert_non_null(capped);
    outcome a = {0}, b = {0}, waits_too_long = {0}, waits = {0};
    int64_t t0 = loop_monotonic_ms();
    assert_int_equal(post(capped, "/slow", &a, 800), 0);
    assert_int_equal(post(capped, "/slow", &b, 800), 0);
    assert_int_equal(post(capped, "/ok", &waits_too_long, 300), 0);
    assert_int_equal(post(capped, "/ok", &waits, 5000), 0);
    assert_int_equal(http_client_in_flight(capped), 4);
    run_until_done(&waits_too_long, 1);
    int64_t took = loop_monotonic_ms() - t0;
    assert_int_equal(waits_too_long.status, 0);
    assert_string_equal(waits_too_long.error, "timeout after 300 ms");
    assert_true(took >= 250 && took < 750); /* before the two slow ones end */
    assert_int_equal(a.calls + b.calls + waits.calls, 0);
    run_until_done(&waits, 1);
    assert_int_equal(waits.status, 200); /* got a connection when a slow one timed out */
    assert_int_equal(a.calls + b.calls, 2);
    assert_string_equal(a.error, "timeout after 800 ms");
    assert_string_equal(b.error, "timeout after 800 ms");
    assert_true(loop_monotonic_ms() - t0 >= 750);
    assert_int_equal(http_client_in_flight(capped), 0);
    /* and freed with transfers waiting: nothing is called back, nothing leaks */
    outcome c = {0}, d = {0}, e = {0};
    assert_int_equal(post(capped, "/slow", &c, 5000), 0);
    assert_int_equal(post(capped, "/slow", &d, 5000), 0);
    assert_int_equal(post(capped, "/ok", &e, 5000), 0);
    event_base_loop(E->base, EVLOOP_NONBLOCK);
    http_client_free(capped);
    assert_int_equal(c.calls + d.calls + e.calls, 0);
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* A port nobody listens on: bind one, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(sa.sin_port));
    outcome o = {0};
    http_request req = {.url = url, .body = "{}", .body_len = 2, .timeout_ms = 2000};
    assert_int_equal(http_client_post(E->client, &req, on_done, &o), 0);
    run_until_done(&o, 1);
    assert_int_equal(o.status, 0);
    if (!strstr(o.error, "connection refused"))
        fail_msg("error: %s", o.error);
    assert_false(o.address_refused);
}

static void test_private_refused(void **state)
{
    (void)state;
    http_client_options opt = {.allow_http = true};
    http_client *strict = http_client_new(E->base, &opt);
    outcome o = {0};
    assert_int_equal(post(strict, "/ok", &o, 2000), 0);
    run_until_done(&o, 1);
    assert_int_equal(o.status, 0);
    assert_true(o.address_refused);
    assert_string_equal(o.error, "address refused: 127.0.0.1 is loopback");

    /* Freeing a client with a transfer under way: done is not called. */
    outcome never = {0};
    assert_int_equal(post(strict, "/slow", &never, 2000), 0);
    http_client_free(strict);
    assert_int_equal(never.calls, 0);
}

static void test_url_policy(void **state)
{
    (void)state;
    http_client_options https_only = {.allow_private_addresses = true};
    http_client *c = http_client_new(E->base, &https_only);
    outcome o = {0};
    assert_int_equal(post(c, "/ok", &o, 1000), HOOKD_EINVAL);
    http_client_free(c);
    assert_int_equal(o.calls, 0);

    char why[128];
    assert_int_equal(http_client_check_url(&https_only, "https://example.com/x", why, sizeof why),
                     0);
    assert_int_equal(http_client_check_url(&https_only, "http://example.com/x", why, sizeof why),
                     HOOKD_EINVAL);
    assert_string_equal(why, "URL scheme must be https");
    http_client_options http_ok = {.allow_http = true};
    assert_int_equal(http_client_check_url(&http_ok, "http://example.com/x", why, sizeof why), 0);
    const char *bad[] = {"ftp://example.com/", "not a url",          "https://",   "",
                         "https://a b/",       "file:///etc/passwd", "gopher://x/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(http_client_check_url(&http_ok, bad[i], why, sizeof why), HOOKD_EINVAL);

    /* A header carrying a line break is refused. */
    http_header h[] = {{"X-A", "b\r\nX-Injected: 1"}};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", E->port);
    http_request req = {.url = url, .headers = h, .header_count = 1, .timeout_ms = 1000};
    assert_int_equal(http_client_post(E->client, &req, on_done, &o), HOOKD_EINVAL);
}

static void test_retry_after(void **state)
{
    (void)state;
    outcome a = {0}, b = {0};
    assert_int_equal(post(E->client, "/retry", &a, 5000), 0);
    assert_int_equal(post(E->client, "/retrydate", &b, 5000), 0);
    run_until_done(&a, 1);
    run_until_done(&b, 1);
    assert_int_equal(a.status, 503);
    assert_int_equal(a.retry_after_ms, 7000);
    assert_int_equal(b.status, 429);
    assert_true(b.retry_after_ms >= 110000 && b.retry_after_ms <= 121000);
}

static void test_response_cap(void **state)
{
    (void)state;
    outcome o = {0};
    assert_int_equal(post(E->client, "/big", &o, 5000), 0);
    run_until_done(&o, 1);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.error, "");
    assert_int_equal(o.response_len, 4096);
    assert_int_equal(o.response[4095], 'a' + 4095 % 26);
}

static void test_address_ranges(void **state)
{
    (void)state;
    struct {
        const char *addr;
        const char *why; /* NULL: allowed */
    } cases[] = {
        {"127.0.0.1", "loopback"},
        {"127.255.0.9", "loopback"},
        {"10.1.2.3", "private"},
        {"172.16.0.1", "private"},
        {"172.31.255.255", "private"},
        {"172.32.0.1", NULL},
        {"192.168.1.1", "private"},
        {"169.254.169.254", "link-local"},
        {"100.64.0.1", "shared (CGNAT)"},
        {"100.128.0.1", NULL},
        {"224.0.0.1", "multicast"},
        {"0.0.0.0", "unspecified"},
        {"255.255.255.255", "broadcast"},
        {"8.8.8.8", NULL},
        {"::1", "loopback"},
        {"::", "unspecified"},
        {"fc00::1", "private"},
        {"fd12:3456::1", "private"},
        {"fe80::1", "link-local"},
        {"ff02::1", "multicast"},
        {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:10.0.0.1", "private"},
        {"::ffff:8.8.8.8", NULL},
        {"64:ff9b::a00:1", "private"},
        {"2002:7f00:1::", "loopback"},
        {"2606:4700::1111", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sockaddr_storage ss = {0};
        if (strchr(cases[i].addr, ':')) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            in6->sin6_family = AF_INET6;
            assert_int_equal(inet_pton(AF_INET6, cases[i].addr, &in6->sin6_addr), 1);
        } else {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            in->sin_family = AF_INET;
            assert_int_equal(inet_pton(AF_INET, cases[i].addr, &in->sin_addr), 1);
        }
        char why[64];
        bool refused = http_address_is_private(&ss, why, sizeof why);
        if (cases[i].why) {
            if (!refused)
                fail_msg("%s should be refused", cases[i].addr);
            assert_string_equal(why, cases[i].why);
        } else if (refused) {
            fail_msg("%s should be allowed (got %s)", cases[i].addr, why);
        }
    }
}

/* The one reserved list: the transport's own headers and the protocol's, in any case. */
static void test_header_reserved(void **state)
{
    (void)state;
    static const char *const reserved[] = {"Content-Type",
                                           "content-length",
                                           "HOST",
                                           "Transfer-Encoding",
                                           "Connection",
                                           "Expect",
                                           "User-Agent",
                                           "TE",
                                           "Upgrade",
                                           "Trailer",
                                           "X-Webhook-Id",
                                           "x-webhook-timestamp",
                                           "X-WEBHOOK-SIGNATURE",
                                           "X-Webhook-Event"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (!http_header_reserved(reserved[i]))
            fail_msg("%s should be reserved", reserved[i]);
    static const char *const allowed[] = {"Authorization", "X-Custom", "X-Webhook", "Hostname",
                                          "X-Request-Id"};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (http_header_reserved(allowed[i]))
            fail_msg("%s should be allowed", allowed[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_ranges),
        cmocka_unit_test(test_header_reserved),
        cmocka_unit_test_setup_teardown(test_ok_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_closed_by_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_cap_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_response_cap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
