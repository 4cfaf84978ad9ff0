/*
 * test_http_server.c — http_server.h against a raw socket client: binding, JSON answers and
 * the error shape, bodies, the body/header caps, the read timeout, the connection cap, and
 * the path/query helpers. The server's loop runs on a second thread; the client blocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_conn.h"
#include "http_server.h"
#include "loop.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct server server;
struct server {
    struct event_base *base;
    http_server *http;
    int port;
    pthread_t thread;
    struct event *tick;
};

/* "/later": answered from a timer 300 ms on, as the receiver answers after its commit. */
static void answer_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_reply_text(arg, 200, "text/plain", "late", 4);
}

static void handler(http_request *req, void *arg)
{
    server *s = arg;
    char *path = http_request_path(req);
    if (strcmp(path, "/later") == 0) {
        struct timeval tv = {0, 300000};
        assert_int_equal(event_base_once(s->base, -1, EV_TIMEOUT, answer_later, req, &tv), 0);
    } else if (strcmp(path, "/err") == 0) {
        http_reply_error(req, 404, "not_found", "no %s here", "thing");
    } else if (http_request_path_is(req, "/p q")) {
        http_reply_text(req, 200, "text/plain", "is", 2);
    } else if (strcmp(path, "/text") == 0) {
        http_reply_text(req, 200, "text/plain", "hello", 5);
    } else {
        size_t len = 0;
        const char *body = http_request_body(req, &len);
        char *name = http_request_query(req, "name");
        char *missing = http_request_query(req, "missing");
        json_t *v =
            json_pack("{s:s,s:s,s:i,s:s%,s:b}", "path", path, "name", name ? name : "", "len",
                      (json_int_t)len, "body", body, len, "missing_is_null", missing == NULL);
        free(name);
        free(missing);
        http_reply_json(req, 200, v);
    }
    free(path);
}

static void *server_main(void *arg)
{
    server *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static server *server_start(const http_server_limits *limits)
{
    server *s = calloc(1, sizeof *s);
    s->base = loop_new();
    char err[256] = "";
    s->http = http_server_listen(s->base, "127.0.0.1:0", limits, &s->port, err, sizeof err);
    if (!s->http)
        fail_msg("listen: %s", err);
    assert_true(s->port > 0);
    http_server_set_handler(s->http, handler, s);
    /* A timer keeps the loop alive until the test asks it to exit. */
    s->tick = event_new(s->base, -1, EV_PERSIST, keepalive_cb, NULL);
    struct timeval tv = {1, 0};
    event_add(s->tick, &tv);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
    return s;
}

/* http_server_connections belongs to the loop thread (ThreadSanitizer flags a read from the
 * test's thread): ask the loop, and wait for its answer. */
typedef struct count_query {
    server *s;
    pthread_mutex_t lock;
    pthread_cond_t done;
    int ready;  /* set by the loop thread once n is written */
    unsigned n; /* the answer */
} count_query;

static void count_cb(evutil_socket_t fd, short what, void *arg)
{
    count_query *q = arg;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&q->lock);
    q->n = http_server_connections(q->s->http);
    q->ready = 1;
    pthread_cond_signal(&q->done);
    pthread_mutex_unlock(&q->lock);
}

static unsigned live_connections(server *s)
{
    count_query q = {.s = s, .lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};
    struct timeval now = {0, 0};
    assert_int_equal(event_base_once(s->base, -1, EV_TIMEOUT, count_cb, &q, &now), 0);
    pthread_mutex_lock(&q.lock);
    while (!q.ready)
        pthread_cond_wait(&q.done, &q.lock);
    pthread_mutex_unlock(&q.lock);
    return q.n;
}

static void server_stop(server *s)
{
    event_base_loopbreak(s->base);
    pthread_join(s->thread, NULL);
    http_server_free(s->http);
    event_free(s->tick);
    event_base_free(s->base);
    free(s);
}

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void client_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* the server may close early; the answer tells */
        data += n;
        len -= (size_t)n;
    }
}

/* Reads until the server closes (or 5 s pass); returns the bytes, NUL-terminated. */
static char *client_read_all(int fd, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == cap)
            break;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static char *request(int port, const char *raw)
{
    int fd = client_connect(port);
    client_send(fd, raw, strlen(raw));
    char *answer = client_read_all(fd, NULL);
    close(fd);
    return answer;
}

static const char *body_of(const char *answer)
{
    const char *p = strstr(answer, "\r\n\r\n");
    return p ? p + 4 : "";
}

static void test_listen_addresses(void **state)
{
    (void)state;
    struct event_base *base = loop_new();
    char err[256];
    int port = -1;
    http_server *h = http_server_listen(base, ":0", NULL, &port, err, sizeof err);
    assert_non_null(h);
    assert_true(port > 0);
    http_server_free(h);
    h = http_server_listen(base, "[::1]:0", NULL, &port, err, sizeof err);
    if (h) /* IPv6 loopback may be absent in a container */
        http_server_free(h);
    const char *bad[] = {"nonsense",   "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x", "[::1]8080",
                         "1.2.3.4:-1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_null(http_server_listen(base, bad[i], NULL, NULL, err, sizeof err));
        assert_true(strlen(err) > 0);
    }
    /* A port in use. */
    h = http_server_listen(base, "127.0.0.1:0", NULL, &port, err, sizeof err);
    assert_non_null(h);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_null(http_server_listen(base, addr, NULL, NULL, err, sizeof err));
    http_server_free(h);
    event_base_free(base);
}

static void test_json_and_errors(void **state)
{
    (void)state;
    server *s = server_start(NULL);
    char *a = request(s->port, "GET /some%20path/x?name=v%20w&z=1 HTTP/1.1\r\nHost: x\r\n"
                               "Connection: close\r\n\r\n");
    assert_non_null(strstr(a, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(a, "Content-Type: application/json\r\n"));
    json_t *v = json_loads(body_of(a), 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "path")), "/some path/x");
    assert_string_equal(json_string_value(json_object_get(v, "name")), "v w");
    assert_true(json_is_true(json_object_get(v, "missing_is_null")));
    json_decref(v);
    free(a);

    a = request(s->port, "GET /err HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(a, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(a, "Content-Type: application/json\r\n"));
    assert_string_equal(body_of(a),
                        "{\"error\":{\"code\":\"not_found\",\"message\":\"no thing here\"}}");
    free(a);

    a = request(s->port, "GET /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(a, "Content-Type: text/plain\r\n"));
    assert_string_equal(body_of(a), "hello");
    free(a);

    /* A body, and PATCH allowed. */
    a = request(s->port, "PATCH /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "Content-Length: 11\r\n\r\n{\"a\":\"bc\"}\n");
    assert_non_null(strstr(a, "HTTP/1.1 200"));
    v = json_loads(body_of(a), 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(v, "len")), 11);
    assert_string_equal(json_string_value(json_object_get(v, "body")), "{\"a\":\"bc\"}\n");
    json_decref(v);
    free(a);

    /* Keep-alive: two requests on one connection. */
    int fd = client_connect(s->port);
    const char *two = "GET /text HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    client_send(fd, two, strlen(two));
    a = client_read_all(fd, NULL);
    close(fd);
    assert_non_null(strstr(strstr(a, "hello") + 5, "hello"));
    free(a);
    server_stop(s);
}

/* An answer carries Date and Content-Length once each, in the form evhttp wrote them, and
 * no Content-Length where evhttp wrote none (HEAD). */
static void test_answer_framing(void **state)
{
    (void)state;
    server *s = server_start(NULL);
    char *a = request(s->port, "GET /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const char *cl = strstr(a, "Content-Length: 5\r\n");
    assert_non_null(cl);
    assert_null(strstr(cl + 1, "Content-Length"));
    const char *date = strstr(a, "\r\nDate: ");
    assert_non_null(date);
    assert_null(strstr(date + 1, "\r\nDate: "));
    /* "Mon, 30 Nov 2026 16:33:37 GMT" */
    const char *value = date + 8, *end = strstr(value, "\r\n");
    assert_int_equal(end - value, 29);
    assert_memory_equal(value + 3, ", ", 2);
    assert_memory_equal(end - 4, " GMT", 4);
    free(a);

    a = request(s->port, "HEAD /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(a, "HTTP/1.1 200 OK\r\n"));
    assert_null(strstr(a, "Content-Length"));
    assert_non_null(strstr(a, "\r\nDate: "));
    free(a);

    /* the path compared decoded, without its query string */
    a = request(s->port, "GET /p%20q?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_string_equal(body_of(a), "is");
    free(a);
    server_stop(s);
}

/* http_fields_find: ASCII case ignored, the first of two, names that share a start or a
 * length not confused. */
static void test_header_find(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"Host", "h"},         {"X-Webhook-Timestamp", "t"}, {"x-webhook-signature", "s"},
        {"X-Webhook-Id", "1"}, {"x-webhook-id", "2"},
    };
    http_fields q = {.count = 5, .cap = HTTP_INLINE_FIELDS};
    q.items = q.inline_items;
    for (size_t i = 0; i < 5; i++)
        q.items[i] = (http_field){pairs[i][0], pairs[i][1], strlen(pairs[i][0])};
    assert_string_equal(http_fields_find(&q, "x-WEBHOOK-id"), "1");
    assert_string_equal(http_fields_find(&q, "X-Webhook-Signature"), "s");
    assert_string_equal(http_fields_find(&q, "X-Webhook-Timestamp"), "t");
    assert_string_equal(http_fields_find(&q, "host"), "h");
    assert_null(http_fields_find(&q, "X-Webhook-I"));
    assert_null(http_fields_find(&q, "X-Webhook-Ids"));
    assert_null(http_fields_find(&q, "X-Webhook-Timestamq"));
}

/* HTTP/1.0 answered in kind and closed unless it asked for keep-alive; Expect:
 * 100-continue answered before the body; a chunked body de-chunked; answers to pipelined
 * requests in order, the one with Connection: close the last. */
static void test_protocol(void **state)
{
    (void)state;
    server *s = server_start(NULL);
    char *a = request(s->port, "GET /text HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(a, "HTTP/1.0 200 OK\r\n"));
    assert_null(strstr(a, "Connection:"));
    assert_string_equal(body_of(a), "hello");
    free(a);

    int fd = client_connect(s->port);
    const char *ka = "GET /text HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    client_send(fd, ka, strlen(ka));
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "Connection: keep-alive\r\n"));
    client_send(fd, ka, strlen(ka)); /* still open: a second answer */
    n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    close(fd);

    fd = client_connect(s->port);
    const char *head = "POST /b HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    client_send(fd, head, strlen(head));
    n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    const char *chunks = "3\r\nabc\r\n2;x=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n";
    client_send(fd, chunks, strlen(chunks));
    a = client_read_all(fd, NULL);
    close(fd);
    json_t *v = json_loads(body_of(a), 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "body")), "abcde");
    json_decref(v);
    free(a);

    a = request(s->port, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const char *late = strstr(a, "late");
    assert_non_null(late);
    assert_non_null(strstr(late, "hello"));
    free(a);
    server_stop(s);
}

/* Requests of growing and shrinking sizes on one connection, one after the other: each is
 * read whole into the connection's reused allocation (or a larger one), whatever the one
 * before it held (a long body, a chunked body, more headers than are kept inline). */
static void test_requests_reuse(void **state)
{
    (void)state;
    server *s = server_start(NULL);
    static const size_t sizes[] = {3000, 10, 5000, 0, 7};
    char *raw = malloc(65536), *at = raw;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        at += sprintf(at, "POST /r%zu HTTP/1.1\r\nHost: x\r\n", i);
        for (size_t k = 0; i == 4 && k < 30; k++) /* past the inline headers */
            at += sprintf(at, "X-H-%zu: %zu\r\n", k, k);
        if (i == 3) { /* chunked, after a Content-Length body larger than it */
            at += sprintf(at, "Transfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n");
            continue;
        }
        at += sprintf(at, "Content-Length: %zu\r\n%s\r\n", sizes[i],
                      i == 4 ? "Connection: close\r\n" : "");
        memset(at, (int)('a' + i), sizes[i]);
        at += sizes[i];
    }
    int fd = client_connect(s->port);
    client_send(fd, raw, (size_t)(at - raw));
    char *answers = client_read_all(fd, NULL);
    close(fd);
    const char *from = answers;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *want = malloc(sizes[i] + 64);
        int n = sprintf(want, "\"body\":\"");
        memset(want + n, (int)('a' + i), sizes[i]);
        strcpy(want + n + sizes[i], "\"");
        if (i == 3)
            strcpy(want, "\"body\":\"xyz\"");
        const char *found = strstr(from, want);
        if (!found)
            fail_msg("answer %zu lacks its body", i);
        from = found + strlen(want);
        free(want);
    }
    free(answers);
    free(raw);
    server_stop(s);
}

/* A client gone before its asynchronous answer: the request stays valid until answered,
 * the answer is dropped, and the server serves on (under ASan: no use after free). */
static void test_answer_after_client_left(void **state)
{
    (void)state;
    server *s = server_start(NULL);
    for (int i = 0; i < 3; i++) {
        int fd = client_connect(s->port);
        const char *raw = "GET /later HTTP/1.1\r\nHost: x\r\n\r\n";
        client_send(fd, raw, strlen(raw));
        if (i == 2) { /* a reset rather than an end of file */
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fd);
    }
    usleep(500000); /* the three answers went into the void */
    char *a = request(s->port, "GET /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_string_equal(body_of(a), "hello");
    free(a);
    assert_int_equal(live_connections(s), 0);
    server_stop(s);
}

static void test_body_cap(void **state)
{
    (void)state;
    http_server_limits lim = {.max_body = 1000};
    server *s = server_start(&lim);
    /* A large Content-Length is refused before the body is sent. */
    int fd = client_connect(s->port);
    const char *head = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
    client_send(fd, head, strlen(head));
    char *a = client_read_all(fd, NULL);
    close(fd);
    assert_non_null(strstr(a, "HTTP/1.1 413"));
    assert_non_null(strstr(a, "Connection: close"));
    free(a);

    /* Exactly the cap is fine. */
    char *req = malloc(2000);
    int n = snprintf(req, 2000,
                     "POST /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Length: 1000\r\n\r\n");
    memset(req + n, 'a', 1000);
    req[n + 1000] = '\0';
    a = request(s->port, req);
    assert_non_null(strstr(a, "HTTP/1.1 200"));
    assert_non_null(strstr(a, "\"len\":1000"));
    free(a);
    free(req);

    /* A chunked body is cut at the cap. */
    fd = client_connect(s->port);
    head = "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    client_send(fd, head, strlen(head));
    char chunk[600];
    n = snprintf(chunk, sizeof chunk, "200\r\n");
    memset(chunk + n, 'b', 512);
    memcpy(chunk + n + 512, "\r\n", 2);
    for (int i = 0; i < 3; i++)
        client_send(fd, chunk, (size_t)n + 514);
    a = client_read_all(fd, NULL);
    close(fd);
    assert_non_null(strstr(a, "HTTP/1.1 413"));
    assert_null(strstr(a, "200 OK"));
    free(a);
    server_stop(s);
}

static void test_header_cap(void **state)
{
    (void)state;
    http_server_limits lim = {.max_headers = 1024};
    server *s = server_start(&lim);
    char *req = malloc(8192);
    int n = snprintf(req, 8192, "GET /text HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'h', 4000);
    snprintf(req + n + 4000, 100, "\r\nConnection: close\r\n\r\n");
    char *a = request(s->port, req);
    assert_null(strstr(a, "200 OK"));
    free(a);
    free(req);
    server_stop(s);
}

static void test_read_timeout(void **state)
{
    (void)state;
    http_server_limits lim = {.read_timeout_ms = 300};
    server *s = server_start(&lim);
    int64_t t0 = loop_monotonic_ms();
    int fd = client_connect(s->port);
    client_send(fd, "GET /text HTTP/1.1\r\n", 20); /* and then nothing */
    char *a = client_read_all(fd, NULL);
    int64_t waited = loop_monotonic_ms() - t0;
    close(fd);
    free(a);
    assert_true(waited >= 250);
    assert_true(waited < 4000);
    server_stop(s);
}

/* Trickled bytes do not keep a request alive: the head, then the whole request, each has a
 * deadline from the request's first byte; the answer is a JSON 408. */
static void test_request_deadlines(void **state)
{
    (void)state;
    http_server_limits lim = {
        .read_timeout_ms = 5000, .header_timeout_ms = 400, .request_timeout_ms = 800};
    server *s = server_start(&lim);
    const char *heads[] = {"GET /text HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa",
                           "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"};
    for (int k = 0; k < 2; k++) {
        int64_t t0 = loop_monotonic_ms();
        int fd = client_connect(s->port);
        const char *h = heads[k];
        size_t sent = 0;
        if (k == 1) {
            client_send(fd, h, strlen(h));
            h = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        }
        /* one byte each 50 ms: never idle for long, and never done in time */
        while (sent < 30 && loop_monotonic_ms() - t0 < 3000) {
            if (send(fd, h + sent, 1, MSG_NOSIGNAL) != 1)
                break;
            sent++;
            usleep(50 * 1000);
        }
        char *a = client_read_all(fd, NULL);
        int64_t waited = loop_monotonic_ms() - t0;
        close(fd);
        assert_non_null(strstr(a, "HTTP/1.1 408"));
        assert_non_null(strstr(a, "\"code\":\"request_timeout\""));
        assert_true(waited >= (k == 0 ? 350 : 750));
        assert_true(waited < 2500);
        free(a);
    }
    server_stop(s);
}

static void test_connection_cap(void **state)
{
    (void)state;
    http_server_limits lim = {.max_connections = 2};
    server *s = server_start(&lim);
    int a = client_connect(s->port);
    int b = client_connect(s->port);
    for (int i = 0; i < 200 && live_connections(s) < 2; i++)
        usleep(5000);
    assert_int_equal(live_connections(s), 2);
    /* The third is closed at once: the read sees EOF, not a timeout. */
    int c = client_connect(s->port);
    int64_t t0 = loop_monotonic_ms();
    char buf[16];
    ssize_t r = recv(c, buf, sizeof buf, 0);
    assert_true(r <= 0);
    assert_true(loop_monotonic_ms() - t0 < 2000);
    close(c);
    /* The first two still work. */
    const char *get = "GET /text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    client_send(a, get, strlen(get));
    char *ans = client_read_all(a, NULL);
    assert_non_null(strstr(ans, "hello"));
    free(ans);
    close(a);
    /* Once one has closed, a new one is served. */
    for (int i = 0; i < 200 && live_connections(s) > 1; i++)
        usleep(5000);
    ans = request(s->port, get);
    assert_non_null(strstr(ans, "hello"));
    free(ans);
    close(b);
    server_stop(s);
}

static void test_path_split(void **state)
{
    (void)state;
    char *seg[4];
    size_t n = http_path_split("/v1/destinations/abc", seg, 4);
    assert_int_equal(n, 3);
    assert_string_equal(seg[0], "v1");
    assert_string_equal(seg[1], "destinations");
    assert_string_equal(seg[2], "abc");
    free(seg[0]);
    n = http_path_split("//v1//x/", seg, 4);
    assert_int_equal(n, 2);
    assert_string_equal(seg[0], "v1");
    assert_string_equal(seg[1], "x");
    free(seg[0]);
    assert_int_equal(http_path_split("/", seg, 4), 0);
    assert_int_equal(http_path_split("", seg, 4), 0);
    n = http_path_split("/a/b/c/d/e", seg, 3);
    assert_int_equal(n, 3);
    assert_string_equal(seg[2], "c/d/e");
    free(seg[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_addresses),  cmocka_unit_test(test_json_and_errors),
        cmocka_unit_test(test_body_cap),          cmocka_unit_test(test_header_cap),
        cmocka_unit_test(test_read_timeout),      cmocka_unit_test(test_connection_cap),
        cmocka_unit_test(test_request_deadlines), cmocka_unit_test(test_path_split),
        cmocka_unit_test(test_answer_framing),    cmocka_unit_test(test_header_find),
        cmocka_unit_test(test_protocol),          cmocka_unit_test(test_answer_after_client_left),
        cmocka_unit_test(test_requests_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
