/*
 * test_http_client.c — http_client.h against a small evhttp server on 127.0.0.1 on the same
 * loop: answers, non-2XX, redirects not followed, timeouts, the address policy, the URL
 * policy, Retry-After, the 4 KiB cap, headers sent, and connection reuse; and against a
 * scripted server on its own threads (plain, or TLS with test certificates made by the
 * openssl command) for the answers evhttp does not write: chunked, read until close, 1XX
 * first, a head too large, many header lines, a body too long to drain, a kept-alive
 * connection the server drops, certificates trusted, untrusted and for another name.
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
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
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
    char headers[9000];
    size_t headers_len;
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
    o->headers_len = r->response_headers_len;
    if (r->response_headers_len)
        memcpy(o->headers, r->response_headers, r->response_headers_len);
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
    /* the other slow one's timer may come due a turn of the loop after that answer */
    run_until_done(&a, 1);
    run_until_done(&b, 1);
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

/* ---- a scripted server on its own threads (blocking sockets, a thread per connection) ---- */

typedef struct script_server {
    int fd;
    int port;
    SSL_CTX *tls;    /* TLS with a test certificate, or NULL */
    int connections; /* accepted (atomic) */
    int tunnels;     /* CONNECT requests served as a proxy (atomic) */
} script_server;

typedef struct script_conn {
    script_server *server;
    int fd;
    SSL *ssl;
} script_conn;

static ssize_t script_io(script_conn *sc, bool writing, void *buf, size_t len)
{
    if (sc->ssl)
        return writing ? SSL_write(sc->ssl, buf, (int)len) : SSL_read(sc->ssl, buf, (int)len);
    return writing ? send(sc->fd, buf, len, MSG_NOSIGNAL) : recv(sc->fd, buf, len, 0);
}

static bool script_send(script_conn *sc, const char *text, size_t len)
{
    for (size_t at = 0; at < len;) {
        ssize_t n = script_io(sc, true, (char *)text + at, len - at);
        if (n <= 0)
            return false;
        at += (size_t)n;
    }
    return true;
}

/* Reads one request (head and Content-Length body) into buf; its path into path. */
static bool script_read_request(script_conn *sc, char *buf, size_t cap, char *path, size_t plen)
{
    size_t len = 0;
    char *end = NULL;
    const char *length = NULL;
    while (!end || (size_t)(end + 4 - buf) + (length ? strtoul(length + 16, NULL, 10) : 0) > len) {
        ssize_t n = script_io(sc, false, buf + len, cap - 1 - len);
        if (n <= 0)
            return false;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        length = strstr(buf, "Content-Length: ");
    }
    const char *sp = strchr(buf, ' ');
    snprintf(path, plen, "%.*s", (int)strcspn(sp + 1, " "), sp + 1);
    return true;
}

/* The answer to path, n requests after the connection's first; false: close after it. */
static bool script_answer(script_conn *sc, const char *path, int n)
{
    static _Thread_local char big[80000]; /* one per connection thread: each writes into it */
    if (strcmp(path, "/chunked") == 0) {
        static const char a[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
        return script_send(sc, a, sizeof a - 1);
    }
    if (strcmp(path, "/close") == 0) {
        static const char a[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close";
        script_send(sc, a, sizeof a - 1);
        return false;
    }
    if (strcmp(path, "/continue") == 0) {
        static const char a[] =
            "HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\n"
            "HTTP/1.1 201 Created\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok";
        return script_send(sc, a, sizeof a - 1);
    }
    if (strcmp(path, "/bighead") == 0 || strcmp(path, "/manyheaders") == 0) {
        size_t lines = strcmp(path, "/bighead") == 0 ? 700 : 100, at = 0;
        at += (size_t)sprintf(big, "HTTP/1.1 200 OK\r\n");
        for (size_t i = 0; i < lines; i++) /* 100 bytes per line */
            at += (size_t)sprintf(big + at, "X-Pad-%04zu: %086d\r\n", i, 0);
        at += (size_t)sprintf(big + at, "Content-Length: 2\r\n\r\nok");
        return script_send(sc, big, at);
    }
    if (strcmp(path, "/bigbody") == 0) {
        static const char a[] = "HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n";
        script_send(sc, a, sizeof a - 1);
        memset(big, 'b', sizeof big);
        for (int i = 0; i < 38 && script_send(sc, big, sizeof big); i++)
            ;
        return false;
    }
    if (strcmp(path, "/stale") == 0 && n > 0)
        return false; /* a kept-alive connection dropped as the request arrives */
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst";
    return script_send(sc, ok, sizeof ok - 1);
}

/* A CONNECT proxy's tunnel to 127.0.0.1:port: bytes copied both ways until one side
 * closes. */
static void script_tunnel(script_conn *sc, const char *target)
{
    const char *colon = strrchr(target, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    int up = socket(AF_INET, SOCK_STREAM, 0);
    static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    if (connect(up, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        !script_send(sc, established, sizeof established - 1)) {
        close(up);
        return;
    }
    char buf[16384];
    for (;;) {
        struct pollfd p[2] = {{.fd = sc->fd, .events = POLLIN}, {.fd = up, .events = POLLIN}};
        bool pending = sc->ssl && SSL_pending(sc->ssl) > 0;
        if (!pending && poll(p, 2, 10000) <= 0)
            break;
        if (pending || p[0].revents) {
            ssize_t n = script_io(sc, false, buf, sizeof buf);
            if (n <= 0 || send(up, buf, (size_t)n, MSG_NOSIGNAL) != n)
                break;
        }
        if (p[1].revents) {
            ssize_t n = recv(up, buf, sizeof buf, 0);
            if (n <= 0 || !script_send(sc, buf, (size_t)n))
                break;
        }
    }
    close(up);
}

/* The scripted servers' connection threads still running: main waits for them before it
 * returns, so that none is inside OpenSSL while OpenSSL's exit handler frees its locks
 * (ThreadSanitizer reported that race on a slow machine). */
static int script_conns_live;

static void *script_conn_run(void *arg)
{
    script_conn *sc = arg;
    char buf[4096], path[256];
    if (!sc->ssl || SSL_accept(sc->ssl) == 1)
        for (int n = 0; script_read_request(sc, buf, sizeof buf, path, sizeof path); n++) {
            if (strncmp(buf, "CONNECT ", 8) == 0) {
                __atomic_add_fetch(&sc->server->tunnels, 1, __ATOMIC_SEQ_CST);
                script_tunnel(sc, path);
                break;
            }
            if (!script_answer(sc, path, n))
                break;
        }
    if (sc->ssl)
        SSL_free(sc->ssl);
    close(sc->fd);
    free(sc);
    OPENSSL_thread_stop(); /* now, not in a destructor at the thread's exit */
    __atomic_sub_fetch(&script_conns_live, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *script_accept_run(void *arg)
{
    script_server *s = arg;
    for (;;) {
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        __atomic_add_fetch(&s->connections, 1, __ATOMIC_SEQ_CST);
        script_conn *sc = calloc(1, sizeof *sc);
        sc->server = s;
        sc->fd = fd;
        if (s->tls) {
            sc->ssl = SSL_new(s->tls);
            SSL_set_fd(sc->ssl, fd);
        }
        pthread_t t;
        __atomic_add_fetch(&script_conns_live, 1, __ATOMIC_SEQ_CST);
        if (pthread_create(&t, NULL, script_conn_run, sc) == 0)
            pthread_detach(t);
        else
            __atomic_sub_fetch(&script_conns_live, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

/* A test CA-less certificate for names (an openssl -addext subjectAltName list), made once
 * per list into /tmp; its path in cert. */
static void make_cert(const char *tag, const char *names, char *cert, char *key, size_t len)
{
    snprintf(cert, len, "/tmp/hookd-test-%d-%s.crt", (int)getpid(), tag);
    snprintf(key, len, "/tmp/hookd-test-%d-%s.key", (int)getpid(), tag);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 1 -subj /CN=hookd-test -addext subjectAltName=%s "
             ">/dev/null 2>&1",
             key, cert, names);
    assert_int_equal(system(cmd), 0);
}

/* A scripted server, TLS with a certificate for names when given. */
static script_server *script_start(const char *tag, const char *names, char *cert, size_t len)
{
    script_server *s = calloc(1, sizeof *s);
    if (names) {
        char key[256];
        make_cert(tag, names, cert, key, len);
        s->tls = SSL_CTX_new(TLS_server_method());
        assert_int_equal(SSL_CTX_use_certificate_file(s->tls, cert, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(s->tls, key, SSL_FILETYPE_PEM), 1);
        unlink(key);
    }
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s->fd, 64), 0);
    socklen_t sl = sizeof sa;
    getsockname(s->fd, (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, script_accept_run, s);
    pthread_detach(t); /* lives until the process ends, like s */
    return s;
}

static script_server *plain_server(void)
{
    static script_server *s;
    if (!s)
        s = script_start("plain", NULL, NULL, 0);
    return s;
}

static int connections(script_server *s)
{
    return __atomic_load_n(&s->connections, __ATOMIC_SEQ_CST);
}

static void post_to(http_client *c, const char *scheme, const char *host, int port,
                    const char *path, outcome *o)
{
    char url[256];
    snprintf(url, sizeof url, "%s://%s:%d%s", scheme, host, port, path);
    http_request req = {.url = url, .body = "{}", .body_len = 2, .timeout_ms = 5000};
    in_post = true;
    assert_int_equal(http_client_post(c, &req, on_done, o), 0);
    in_post = false;
    run_until_done(o, 1);
}

/* A chunked answer (extensions, trailers) is read whole, and its connection reused. */
static void test_chunked_answer(void **state)
{
    (void)state;
    script_server *s = plain_server();
    outcome a = {0}, b = {0};
    int before = connections(s);
    post_to(E->client, "http", "127.0.0.1", s->port, "/chunked", &a);
    post_to(E->client, "http", "127.0.0.1", s->port, "/chunked", &b);
    assert_string_equal(a.error, "");
    assert_int_equal(a.status, 200);
    assert_int_equal(a.response_len, 11);
    assert_memory_equal(a.response, "hello world", 11);
    assert_int_equal(b.status, 200);
    assert_int_equal(connections(s) - before, 1);
}

/* An HTTP/1.0 answer without a length ends when the server closes; the next request opens
 * a new connection. */
static void test_answer_until_close(void **state)
{
    (void)state;
    script_server *s = plain_server();
    outcome a = {0}, b = {0};
    int before = connections(s);
    post_to(E->client, "http", "127.0.0.1", s->port, "/close", &a);
    assert_string_equal(a.error, "");
    assert_int_equal(a.status, 200);
    assert_int_equal(a.response_len, 11);
    assert_memory_equal(a.response, "until close", 11);
    post_to(E->client, "http", "127.0.0.1", s->port, "/ok", &b);
    assert_int_equal(b.status, 200);
    assert_int_equal(connections(s) - before, 2);
}

/* A 100 before the final answer is skipped: the final status, headers and body count. */
static void test_informational_then_final(void **state)
{
    (void)state;
    outcome a = {0};
    post_to(E->client, "http", "127.0.0.1", plain_server()->port, "/continue", &a);
    assert_int_equal(a.status, 201);
    assert_memory_equal(a.response, "ok", 2);
    a.headers[a.headers_len] = '\0';
    assert_string_equal(a.headers, "X-Final: yes\r\nContent-Length: 2\r\n");
}

/* Header lines are kept whole up to 8 KiB; a head over 64 KiB fails the request. */
static void test_head_caps(void **state)
{
    (void)state;
    outcome many = {0}, big = {0};
    post_to(E->client, "http", "127.0.0.1", plain_server()->port, "/manyheaders", &many);
    assert_int_equal(many.status, 200);
    assert_memory_equal(many.response, "ok", 2);
    /* 81 whole lines of 100 bytes fit, then only the shorter last one */
    assert_int_equal(many.headers_len, 81 * 100 + 19);
    assert_memory_equal(many.headers, "X-Pad-0000: ", 12);
    assert_memory_equal(many.headers + 8100, "Content-Length: 2\r\n", 19);
    post_to(E->client, "http", "127.0.0.1", plain_server()->port, "/bighead", &big);
    assert_int_equal(big.status, 0);
    assert_string_equal(big.error, "the answer's head is larger than 65536 bytes");
}

/* A body past 1 MiB is not drained: the answer ends with its status and the first 4 KiB,
 * and the connection is closed. */
static void test_body_too_long_to_drain(void **state)
{
    (void)state;
    script_server *s = plain_server();
    outcome a = {0}, b = {0};
    int before = connections(s);
    post_to(E->client, "http", "127.0.0.1", s->port, "/bigbody", &a);
    assert_string_equal(a.error, "");
    assert_int_equal(a.status, 200);
    assert_int_equal(a.response_len, 4096);
    assert_int_equal(a.response[4095], 'b');
    post_to(E->client, "http", "127.0.0.1", s->port, "/ok", &b);
    assert_int_equal(b.status, 200);
    assert_int_equal(connections(s) - before, 2);
}

/* The server drops a kept-alive connection as the next request arrives (before the client
 * saw the close): the request is sent again once, on a new connection. */
static void test_stale_keep_alive_retried(void **state)
{
    (void)state;
    script_server *s = plain_server();
    outcome a = {0}, b = {0};
    int before = connections(s);
    post_to(E->client, "http", "127.0.0.1", s->port, "/stale", &a);
    assert_int_equal(a.status, 200);
    post_to(E->client, "http", "127.0.0.1", s->port, "/stale", &b);
    assert_string_equal(b.error, "");
    assert_int_equal(b.status, 200);
    assert_memory_equal(b.response, "first", 5);
    assert_int_equal(connections(s) - before, 2);
}

/* https: trusted through ca_file (by address and by name, resolved through the hosts file,
 * the connection reused), untrusted without it, refused for a certificate naming another
 * host; and through CONNECT proxies, http:// and https://. */
static void test_tls(void **state)
{
    (void)state;
    static script_server *good, *other;
    static char good_cert[256], other_cert[256];
    if (!good) {
        good = script_start("good", "IP:127.0.0.1,DNS:localhost", good_cert, sizeof good_cert);
        other = script_start("other", "DNS:other.test", other_cert, sizeof other_cert);
    }
    http_client_options trusting = {.allow_private_addresses = true, .ca_file = good_cert};
    http_client *c = http_client_new(E->base, &trusting);
    outcome a = {0}, b = {0}, named = {0};
    int before = connections(good);
    post_to(c, "https", "127.0.0.1", good->port, "/chunked", &a);
    post_to(c, "https", "127.0.0.1", good->port, "/chunked", &b);
    assert_string_equal(a.error, "");
    assert_int_equal(a.status, 200);
    assert_memory_equal(a.response, "hello world", 11);
    assert_int_equal(b.status, 200);
    assert_int_equal(connections(good) - before, 1);
    post_to(c, "https", "localhost", good->port, "/ok", &named);
    assert_string_equal(named.error, "");
    assert_int_equal(named.status, 200);
    http_client_free(c);

    http_client_options system_store = {.allow_private_addresses = true};
    c = http_client_new(E->base, &system_store);
    outcome untrusted = {0};
    post_to(c, "https", "127.0.0.1", good->port, "/ok", &untrusted);
    assert_int_equal(untrusted.status, 0);
    if (!strstr(untrusted.error, "tls error (certificate verify failed: "))
        fail_msg("error: %s", untrusted.error);
    http_client_free(c);

    http_client_options trusting_other = {.allow_private_addresses = true, .ca_file = other_cert};
    c = http_client_new(E->base, &trusting_other);
    outcome mismatch = {0};
    post_to(c, "https", "127.0.0.1", other->port, "/ok", &mismatch);
    assert_int_equal(mismatch.status, 0);
    if (!strstr(mismatch.error, "tls error (certificate verify failed: ") ||
        !strstr(mismatch.error, "mismatch"))
        fail_msg("error: %s", mismatch.error);
    http_client_free(c);

    /* through proxies: an http:// one to the https server (TLS inside the tunnel), an
     * https:// one (TLS with the proxy) to the https server (TLS inside TLS) and to the plain
     * one; each tunnel reused for a second request */
    struct {
        const char *proxy_scheme;
        script_server *proxy;
        const char *scheme;
        script_server *destination;
    } routes[] = {{"http", plain_server(), "https", good},
                  {"https", good, "https", good},
                  {"https", good, "http", plain_server()}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char proxy[64];
        snprintf(proxy, sizeof proxy, "%s://127.0.0.1:%d", routes[i].proxy_scheme,
                 routes[i].proxy->port);
        http_client_options via = {.allow_http = true,
                                   .allow_private_addresses = true,
                                   .ca_file = good_cert,
                                   .proxy = proxy};
        c = http_client_new(E->base, &via);
        int tunnels = __atomic_load_n(&routes[i].proxy->tunnels, __ATOMIC_SEQ_CST);
        for (int k = 0; k < 2; k++) {
            outcome t = {0};
            post_to(c, routes[i].scheme, "127.0.0.1", routes[i].destination->port, "/chunked", &t);
            if (t.status != 200)
                fail_msg("route %zu: %ld %s", i, t.status, t.error);
            assert_memory_equal(t.response, "hello world", 11);
        }
        assert_int_equal(__atomic_load_n(&routes[i].proxy->tunnels, __ATOMIC_SEQ_CST) - tunnels, 1);
        http_client_free(c);
    }
    unlink(good_cert);
    unlink(other_cert);
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
        cmocka_unit_test_setup_teardown(test_chunked_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_until_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_informational_then_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_too_long_to_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_keep_alive_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* The clients closed their connections: each connection thread ends within its read or
     * poll timeout (10 s at most); wait a bounded while for them. */
    for (int i = 0; i < 1200 && __atomic_load_n(&script_conns_live, __ATOMIC_SEQ_CST) > 0; i++)
        usleep(10000);
    return failed;
}
