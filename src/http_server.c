/*
 * http_server.c — hookd's inbound HTTP server (http_server.h): binding "HOST:PORT", the
 * listener (libevent's evconnlistener) and its back-off when descriptors run out, the caps
 * on connections (in all and per client address) checked at accept, and the server's
 * settings. Each admitted socket becomes a connection of http_conn.c; requests and answers
 * are http_request.c's.
 *
 * DESIGN — our own server on the event loop, not evhttp (issue 10, decided 2026-11-30).
 * Until then every connection went through a bufferevent filter of ours (the strict head
 * parse, deadlines, caps, body budget: issue 11) and then through evhttp, which parsed each
 * request a second time, made ~54 allocations per request, 4 printfs per answer and 2
 * epoll_ctl per request (it disables reading while a handler runs): ~60 % of the receiver's
 * loop-thread instructions per webhook (docs/BENCHMARKS.md, "The inbound server without
 * evhttp"). libevent 2.1.12's evhttp has no hook on a request before its body and keeps
 * ambiguous framing as sent, so the filter could not go; the double layer could. The head
 * is now parsed once, the request lives in one allocation, the answer is one send, and a
 * connection stays in epoll for its whole life. evhttp's utilities (evhttp_uridecode,
 * evhttp_parse_query_str) are still used; its server is not.
 *
 * Keys before the body (issue 11 follow-up, decided 2026-11-30). The sender's head check
 * only sees that a bearer key is present; the key is looked up (store thread) once the body
 * is in. Refusing an unknown key before the body needs the lookup before it: a cache of
 * known digests does not do it (a made-up key is a new digest every time, and a key made
 * on another node must work on the next request), so the head would have to wait on the
 * store thread — a suspend/resume the connection does not have, and a second store query
 * per API call unless the result rode along to the request. Measured instead what a
 * made-up key can take (docs/BENCHMARKS.md, "Front door"): a body is at most 256 KiB (the
 * API's own cap, now the front door's), all bodies share the 32 MiB budget, a request is
 * cut at --request-timeout. So memory is bounded and the exposure is availability, bounded
 * by --request-timeout and --max-buffered-body; the lookup stays after the body, where it
 * is authoritative.
 */
#include "http_server.h"
#include "mem.h"

#include "http_conn.h"
#include "loop.h"

#include "cli.h"
#include "hookd.h"
#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_MAX_HEADERS (16 * 1024)
#define DEFAULT_READ_TIMEOUT_MS 10000
#define DEFAULT_MAX_CONNECTIONS 10000
#define DEFAULT_MAX_PER_ADDRESS 1024
#define DEFAULT_HEADER_TIMEOUT_MS 10000
#define DEFAULT_REQUEST_TIMEOUT_MS 60000
#define ACCEPT_PAUSE_MS 100
#define ACCEPT_LOG_EVERY_MS 10000
/* Connections the kernel holds before accept: a burst of new clients waits there rather than
 * being refused (evhttp asked 128, nginx asks 511; the kernel caps it at somaxconn). */
#define LISTEN_BACKLOG 1024

/* The codes the front door answers on its own (http_conn.c), the labels of
 * http_server_count_refusals' counters. */
static const char *const front_door_codes[HTTP_FRONT_DOOR_CODES] = {
    "bad_request",        "request_timeout", "too_large", "headers_too_large",
    "method_not_allowed", "not_implemented", "busy",
};

static http_address **address_bucket(http_server *s, const char *address)
{
    unsigned h = 5381;
    for (const char *c = address; *c; c++)
        h = h * 33 + (unsigned char)*c;
    return &s->addresses[h % HTTP_ADDRESS_BUCKETS];
}

http_address *http_address_find(http_server *s, const char *address, bool create)
{
    http_address **pp = address_bucket(s, address);
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->address, address) == 0)
            return *pp;
    if (!create)
        return NULL;
    size_t n = strlen(address);
    http_address *a = xcalloc(1, sizeof *a + n + 1);
    memcpy(a->address, address, n + 1);
    *pp = a;
    return a;
}

void http_address_release(http_server *s, http_address *a)
{
    if (--a->count > 0)
        return;
    for (http_address **pp = address_bucket(s, a->address); *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            free(a);
            return;
        }
    }
}

/* True when a connection from address is within both caps. */
static bool server_admit(http_server *s, const char *address)
{
    if (s->live >= s->max_connections) {
        log_warn("http", "connection refused: %u connections open (the cap)", s->live);
        return false;
    }
    http_address *a = http_address_find(s, address, false);
    if (a && a->count >= s->max_per_address) {
        log_debug("http", "connection refused: %u connections open from %s", a->count, a->address);
        return false;
    }
    return true;
}

static void server_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                          int socklen, void *arg)
{
    (void)lev;
    (void)socklen;
    http_server *s = arg;
    char address[64] = "";
    if (sa->sa_family == AF_INET)
        evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, address, sizeof address);
    else if (sa->sa_family == AF_INET6)
        evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, address,
                         sizeof address);
    if (!server_admit(s, address)) {
        evutil_closesocket(fd);
        return;
    }
    http_conn_open(s, fd, address);
}

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" into host (an address literal or name) and
 * port. */
static int parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon;
    size_t n;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':')
            return HOOKD_EINVAL;
        n = (size_t)(end - listen - 1);
        if (n == 0 || n >= hostlen)
            return HOOKD_EINVAL;
        memcpy(host, listen + 1, n);
        host[n] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon)
            return HOOKD_EINVAL;
        n = (size_t)(colon - listen);
        if (n >= hostlen || memchr(listen, ':', n))
            return HOOKD_EINVAL;
        if (n == 0) {
            snprintf(host, hostlen, "0.0.0.0");
        } else {
            memcpy(host, listen, n);
            host[n] = '\0';
        }
    }
    const char *digits = colon + 1;
    if (*digits < '0' || *digits > '9')
        return HOOKD_EINVAL;
    char *end = NULL;
    errno = 0;
    long p = strtol(digits, &end, 10);
    if (errno != 0 || *end != '\0' || p < 0 || p > 65535)
        return HOOKD_EINVAL;
    *port = (int)p;
    return 0;
}

/* The paused listener's time is up: accept again (unless it was closed since). */
static void server_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_server *s = arg;
    if (s->listener && evconnlistener_enable(s->listener) != 0)
        log_error("http", "cannot resume accepting connections");
}

/* accept() failed with other than EINTR/EAGAIN (EMFILE, ENFILE, ENOBUFS…): the listening
 * socket stays readable, so accepting again at once would spin. Pause the listener for a
 * moment instead, and log once per interval with the count since. */
static void server_accept_error(struct evconnlistener *lev, void *arg)
{
    int err = errno;
    http_server *s = arg;
    s->accept_errors++;
    int64_t now = loop_monotonic_ms();
    if (s->accept_logged_ms == 0 || now - s->accept_logged_ms >= ACCEPT_LOG_EVERY_MS) {
        log_warn("http", "cannot accept connections: %s (%u times); pausing %d ms at a time",
                 strerror(err), s->accept_errors, ACCEPT_PAUSE_MS);
        s->accept_logged_ms = now;
        s->accept_errors = 0;
    }
    if (evconnlistener_disable(lev) != 0)
        return;
    struct timeval tv = {.tv_sec = 0, .tv_usec = ACCEPT_PAUSE_MS * 1000};
    if (event_add(s->resume, &tv) != 0)
        abort(); /* only on a corrupt event base */
}

/* libevent's own warnings, into hookd's log. */
static void server_libevent_log(int severity, const char *msg)
{
    if (severity >= EVENT_LOG_ERR)
        log_error("libevent", "%s", msg);
    else if (severity >= EVENT_LOG_WARN)
        log_warn("libevent", "%s", msg);
}

/* A server's settings from limits (0: the defaults). */
static http_server *server_new(struct event_base *base, const http_server_limits *lim)
{
    event_set_log_callback(server_libevent_log);
    http_server *s = xcalloc(1, sizeof *s);
    s->base = base;
    s->max_body = lim->max_body ? lim->max_body : DEFAULT_MAX_BODY;
    s->max_headers = lim->max_headers ? lim->max_headers : DEFAULT_MAX_HEADERS;
    s->idle_ms = lim->read_timeout_ms > 0 ? lim->read_timeout_ms : DEFAULT_READ_TIMEOUT_MS;
    s->header_timeout_ms =
        lim->header_timeout_ms > 0 ? lim->header_timeout_ms : DEFAULT_HEADER_TIMEOUT_MS;
    s->request_timeout_ms =
        lim->request_timeout_ms > 0 ? lim->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS;
    /* the whole request's deadline never comes before its head's */
    if (s->request_timeout_ms < s->header_timeout_ms)
        s->request_timeout_ms = s->header_timeout_ms;
    s->max_connections = lim->max_connections ? lim->max_connections : DEFAULT_MAX_CONNECTIONS;
    s->max_per_address = lim->max_per_address ? lim->max_per_address : DEFAULT_MAX_PER_ADDRESS;
    s->resume = event_new(base, -1, 0, server_resume, s);
    if (!s->resume)
        abort(); /* only out of memory */
    return s;
}

void http_server_set_handler(http_server *s, http_handler_fn fn, void *arg)
{
    s->handler = fn;
    s->handler_arg = arg;
}

void http_server_set_head_check(http_server *s, http_head_fn fn, void *arg)
{
    s->head_check = fn;
    s->head_check_arg = arg;
}

void http_server_set_refusal_hook(http_server *s, http_refusal_fn fn, void *arg)
{
    s->on_refusal = fn;
    s->on_refusal_arg = arg;
}

static void server_count_refusal(void *arg, const http_verdict *v)
{
    http_server *s = arg;
    for (size_t i = 0; i < HTTP_FRONT_DOOR_CODES; i++)
        if (strcmp(v->code, front_door_codes[i]) == 0)
            metric_add(s->refused[i], 1);
}

void http_server_count_refusals(http_server *s, metrics *registry, const char *name)
{
    metrics_counters(registry, name, "reason", front_door_codes, HTTP_FRONT_DOOR_CODES,
                     "Requests the front door refused before the API saw them, by reason",
                     s->refused);
    http_server_set_refusal_hook(s, server_count_refusal, s);
}

void http_server_apply_flags(http_server_limits *limits, const cli_front_door *flags)
{
    if (flags->max_connections > 0)
        limits->max_connections = (unsigned)flags->max_connections;
    if (flags->max_connections_per_ip > 0)
        limits->max_per_address = (unsigned)flags->max_connections_per_ip;
    if (flags->header_timeout_ms > 0)
        limits->header_timeout_ms = flags->header_timeout_ms;
    if (flags->request_timeout_ms > 0)
        limits->request_timeout_ms = flags->request_timeout_ms;
    if (flags->max_header_size > 0)
        limits->max_headers = (size_t)flags->max_header_size;
    if (flags->max_buffered_body > 0)
        http_server_set_body_budget((size_t)flags->max_buffered_body);
}

/* A listening socket on host:port (the first address host resolves to, as evhttp bound),
 * or -1 with errno set. */
static evutil_socket_t server_bind(const char *host, int port)
{
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, service, &hints, &ai);
    if (rc != 0) {
        errno = rc == EAI_SYSTEM ? errno : EADDRNOTAVAIL;
        return -1;
    }
    evutil_socket_t fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int saved = 0;
    if (fd >= 0 &&
        (evutil_make_listen_socket_reuseable(fd) != 0 ||
         bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0)) {
        saved = errno;
        evutil_closesocket(fd);
        fd = -1;
        errno = saved;
    }
    freeaddrinfo(ai);
    return fd;
}

/* The port fd is bound to. */
static int server_port(evutil_socket_t fd, int port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return port;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return port;
}

http_server *http_server_listen(struct event_base *base, const char *listen,
                                const http_server_limits *limits, int *bound_port, char *err,
                                size_t errlen)
{
    char host[256];
    int port = 0;
    if (!listen || parse_listen(listen, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "listen address \"%s\" is not HOST:PORT", listen ? listen : "");
        return NULL;
    }
    evutil_socket_t fd = server_bind(host, port);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(errno));
        return NULL;
    }
    if (bound_port)
        *bound_port = server_port(fd, port);
    http_server_limits lim = limits ? *limits : (http_server_limits){0};
    http_server *s = server_new(base, &lim);
    s->listener = evconnlistener_new(base, server_accept, s,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (!s->listener) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(errno));
        evutil_closesocket(fd);
        http_server_free(s);
        return NULL;
    }
    evconnlistener_set_error_cb(s->listener, server_accept_error);
    return s;
}

void http_server_close_listener(http_server *s)
{
    if (s->listener)
        evconnlistener_free(s->listener);
    s->listener = NULL;
}

void http_server_free(http_server *s)
{
    if (!s)
        return;
    http_server_close_listener(s);
    http_conn_abort_all(s);
    event_free(s->resume);
    for (size_t i = 0; i < HTTP_ADDRESS_BUCKETS; i++) {
        while (s->addresses[i]) {
            http_address *a = s->addresses[i];
            s->addresses[i] = a->next;
            free(a);
        }
    }
    free(s);
}

unsigned http_server_connections(http_server *s)
{
    return s->live;
}
