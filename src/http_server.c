/*
 * http_server.c — evhttp set up for hookd's inbound servers: "HOST:PORT" binding, the front
 * door every connection passes (http_guard.c), caps on connections (in all and per client
 * address), the listener's back-off when descriptors run out, and the JSON reply helpers.
 *
 * DESIGN — evhttp kept, behind a filter of our own (issue 11). libevent 2.1.12 is what
 * Debian 12 ships; measured and read there:
 *  - evhttp keeps every header as sent: two Content-Length headers are both kept and the
 *    first wins; "Transfer-Encoding : chunked" is kept under the name "Transfer-Encoding "
 *    (trailing space) and so ignored; "Content-Length: +3" is read as 3 (experiment against
 *    a bare evhttp: the smuggled second request was served).
 *  - evhttp_set_newreqcb, the hook that would let us set evhttp_request_set_header_cb on
 *    each server request (headers read, body not yet), is 2.2 only: 2.1.12's http.h has no
 *    way to reach a server request before its body is read.
 *  - its timeout is an idle timeout, reset by every byte.
 *  - an accept error other than EINTR/EAGAIN/ECONNABORTED (EMFILE) goes to the listener's
 *    error callback if one is set (evhttp_bound_socket_get_listener +
 *    evconnlistener_set_error_cb), else it is logged and the level-triggered listener
 *    spins.
 *  - evhttp_set_bevcb lets us give each connection its bufferevent, and a filtering
 *    bufferevent (bufferevent_filter_new) passes BEV_CTRL_SET_FD to the socket under it.
 * So the seams exist, one level down: http_guard.c's filter sees each head whole before
 * evhttp does, parses it strictly, runs the server's head check (token, route, size) and
 * the body budget, and keeps the per-request deadlines; the listener's error callback
 * pauses it. libmicrohttpd 0.9.75 would give per-IP limits and strict parsing too, but
 * moving three servers, their tests and the deferred answers (the receiver answers after
 * its batch commits) to a new library costs more than the filter (~400 lines), which
 * leaves evhttp's request handling, keep-alive and answers as they are.
 *
 * Keys before the body (issue 11 follow-up, decided 2026-11-30). The sender's head check
 * only sees that a bearer key is present; the key is looked up (store thread) once the body
 * is in. Refusing an unknown key before the body needs the lookup before it: a cache of
 * known digests does not do it (a made-up key is a new digest every time, and a key made
 * on another node must work on the next request), so the head would have to wait on the
 * store thread, the guard holding it unread and resuming or refusing after — a
 * suspend/resume the guard does not have yet, and a second store query per API call unless
 * the result rode along to the request. Measured instead what a made-up key can take now
 * (docs/BENCHMARKS.md, "Front door"): a body is at most 256 KiB (the API's own cap, now
 * the front door's), all bodies share the 32 MiB budget, a request is cut at
 * --request-timeout; 1,000 connections with made-up keys and unfinished 256 KiB bodies
 * moved RSS by 2 MB and made valid calls wait (503 busy, Retry-After) until they were cut.
 * So memory is bounded and the exposure is availability, bounded by --request-timeout and
 * --max-buffered-body; the lookup stays after the body, where it is authoritative.
 *
 * The connection cap. libevent 2.1's evhttp has no limit on connections and no hook on a
 * new one but the bufferevent factory (evhttp_set_bevcb), which it calls for each accepted
 * socket before the connection exists. So the factory counts the socket, keeps a reference
 * on its bufferevent and activates a check event; the check runs before any byte of the
 * connection is read (it was activated first, and active events run in order), finds the
 * evhttp_connection (the bufferevent's callback argument, which evhttp sets to it), and
 * either frees it at once (over a cap: no request can exist yet) or sets its close
 * callback to count it out.
 */
#include "http_server.h"
#include "mem.h"

#include "http_guard.h"
#include "loop.h"

#include "cli.h"
#include "hookd.h"
#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_MAX_HEADERS (16 * 1024)
#define DEFAULT_READ_TIMEOUT_MS 10000
#define DEFAULT_MAX_CONNECTIONS 10000
#define DEFAULT_MAX_PER_ADDRESS 1024
#define DEFAULT_HEADER_TIMEOUT_MS 10000
#define DEFAULT_REQUEST_TIMEOUT_MS 60000
#define ACCEPT_PAUSE_MS 100
#define ACCEPT_LOG_EVERY_MS 10000
#define ADDRESS_BUCKETS 256

/* The codes the front door answers on its own (http_guard.c), the labels of
 * http_server_count_refusals' counters. */
static const char *const front_door_codes[] = {
    "bad_request",        "request_timeout", "too_large", "headers_too_large",
    "method_not_allowed", "not_implemented", "busy",
};
#define FRONT_DOOR_CODES (sizeof front_door_codes / sizeof front_door_codes[0])

/* A socket accepted whose connection has not been checked against the cap yet. */
typedef struct accepted {
    struct bufferevent *bev; /* we hold one reference until the check */
    struct accepted *next;
} accepted;

/* Connections open from one client address. */
typedef struct address_count {
    struct address_count *next;
    unsigned count;
    char address[];
} address_count;

/* Per server: the connection count and what the check needs. Kept in a process-wide list
 * so that close callbacks run by a plain evhttp_free still find it alive. */
typedef struct server_state {
    struct evhttp *http;
    struct event_base *base;
    unsigned max_connections;
    unsigned live;   /* connections admitted and not yet closed */
    accepted *fresh; /* sockets waiting for the check, oldest first (the first
                        accepted are the first admitted) */
    accepted **fresh_tail;
    struct event *check; /* runs server_check on the loop */
    unsigned max_per_address;
    address_count *addresses[ADDRESS_BUCKETS];
    http_guard_config guard;           /* what each connection's front door reads */
    struct evconnlistener *paused;     /* the listener paused after an accept error */
    struct event *resume;              /* re-enables it */
    int64_t accept_logged_ms;          /* last accept error logged */
    unsigned accept_errors;            /* since then */
    metric *refused[FRONT_DOOR_CODES]; /* http_server_count_refusals' counters */
    struct server_state *next;
} server_state;

static server_state *servers;

static address_count **address_bucket(server_state *s, const char *address)
{
    unsigned h = 5381;
    for (const char *c = address; *c; c++)
        h = h * 33 + (unsigned char)*c;
    return &s->addresses[h % ADDRESS_BUCKETS];
}

/* The count of a peer's address (created at 0 when create), or NULL. */
static address_count *address_find(server_state *s, const char *address, bool create)
{
    address_count **pp = address_bucket(s, address);
    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->address, address) == 0)
            return *pp;
    if (!create)
        return NULL;
    size_t n = strlen(address);
    address_count *a = xcalloc(1, sizeof *a + n + 1);
    memcpy(a->address, address, n + 1);
    *pp = a;
    return a;
}

static void address_forget(server_state *s, struct evhttp_connection *evcon)
{
    char *address = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evcon, &address, &port);
    address_count *a = address ? address_find(s, address, false) : NULL;
    if (!a || --a->count > 0)
        return;
    for (address_count **pp = address_bucket(s, a->address); *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            free(a);
            return;
        }
    }
}

static void server_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    server_state *s = arg;
    if (s->live > 0)
        s->live--;
    address_forget(s, evcon);
}

/* True when the connection is within both caps (and then counted). */
static bool server_admit(server_state *s, struct evhttp_connection *evcon)
{
    if (s->live >= s->max_connections) {
        log_warn("http", "connection refused: %u connections open (the cap)", s->live);
        return false;
    }
    char *address = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evcon, &address, &port);
    address_count *a = address_find(s, address ? address : "", true);
    if (a->count >= s->max_per_address) {
        log_debug("http", "connection refused: %u connections open from %s", a->count, a->address);
        return false;
    }
    a->count++;
    s->live++;
    return true;
}

static void server_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server_state *s = arg;
    accepted *list = s->fresh;
    s->fresh = NULL;
    s->fresh_tail = &s->fresh;
    while (list) {
        accepted *a = list;
        list = a->next;
        bufferevent_event_cb eventcb = NULL;
        void *cbarg = NULL;
        bufferevent_getcb(a->bev, NULL, NULL, &eventcb, &cbarg);
        /* A freed connection's bufferevent has no callbacks left: nothing to count. */
        if (eventcb && cbarg) {
            struct evhttp_connection *evcon = cbarg;
            if (server_admit(s, evcon))
                evhttp_connection_set_closecb(evcon, server_conn_closed, s);
            else
                evhttp_connection_free(evcon);
        }
        bufferevent_decref(a->bev);
        free(a);
    }
}

static struct bufferevent *server_new_bev(struct event_base *base, void *arg)
{
    server_state *s = arg;
    http_guard *guard = NULL;
    struct bufferevent *bev = http_guard_new(base, &s->guard, &guard);
    if (!bev)
        return NULL; /* evhttp makes its own */
    bufferevent_incref(bev);
    accepted *a = xcalloc(1, sizeof *a);
    a->bev = bev;
    *s->fresh_tail = a;
    s->fresh_tail = &a->next;
    event_active(s->check, EV_READ, 0);
    return bev;
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

static server_state *server_find(struct evhttp *http, server_state ***link)
{
    for (server_state **pp = &servers; *pp; pp = &(*pp)->next) {
        if ((*pp)->http == http) {
            if (link)
                *link = pp;
            return *pp;
        }
    }
    return NULL;
}

static bool listener_bound(struct evhttp *http, struct evconnlistener *lev);

/* The paused listener's time is up: accept again (unless the socket was removed since). */
static void server_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server_state *s = arg;
    struct evconnlistener *lev = s->paused;
    s->paused = NULL;
    if (lev && listener_bound(s->http, lev) && evconnlistener_enable(lev) != 0)
        log_error("http", "cannot resume accepting connections");
}

/* accept() failed with other than EINTR/EAGAIN (EMFILE, ENFILE, ENOBUFS…): the listening
 * socket stays readable, so accepting again at once would spin. Pause the listener for a
 * moment instead, and log once per interval with the count since. */
static void server_accept_error(struct evconnlistener *lev, void *arg)
{
    int err = errno;
    server_state *s = server_find(arg, NULL);
    if (!s)
        return;
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
    s->paused = lev;
    struct timeval tv = {.tv_sec = 0, .tv_usec = ACCEPT_PAUSE_MS * 1000};
    if (event_add(s->resume, &tv) != 0)
        abort(); /* only on a corrupt event base */
}

typedef struct listener_search {
    struct evconnlistener *lev;
    bool found;
} listener_search;

static void listener_match(struct evhttp_bound_socket *sock, void *arg)
{
    listener_search *q = arg;
    if (evhttp_bound_socket_get_listener(sock) == q->lev)
        q->found = true;
}

static bool listener_bound(struct evhttp *http, struct evconnlistener *lev)
{
    listener_search q = {.lev = lev};
    evhttp_foreach_bound_socket(http, listener_match, &q);
    return q.found;
}

/* libevent's own warnings, into hookd's log. One is dropped: 2.1's filter warns "too few
 * references" as it frees each connection's socket bufferevent (it takes no reference of
 * its own yet checks for two; the socket is closed all the same). */
static void server_libevent_log(int severity, const char *msg)
{
    if (strstr(msg, "with too few references"))
        return;
    if (severity >= EVENT_LOG_ERR)
        log_error("libevent", "%s", msg);
    else if (severity >= EVENT_LOG_WARN)
        log_warn("libevent", "%s", msg);
}

/* The server's state, its guard's settings and its event. */
static server_state *server_state_new(struct evhttp *http, struct event_base *base,
                                      const http_server_limits *lim)
{
    event_set_log_callback(server_libevent_log);
    server_state *s = xcalloc(1, sizeof *s);
    s->http = http;
    s->base = base;
    s->max_connections = lim->max_connections ? lim->max_connections : DEFAULT_MAX_CONNECTIONS;
    s->max_per_address = lim->max_per_address ? lim->max_per_address : DEFAULT_MAX_PER_ADDRESS;
    s->guard = (http_guard_config){
        .max_body = lim->max_body ? lim->max_body : DEFAULT_MAX_BODY,
        .max_headers = lim->max_headers ? lim->max_headers : DEFAULT_MAX_HEADERS,
        .header_timeout_ms =
            lim->header_timeout_ms > 0 ? lim->header_timeout_ms : DEFAULT_HEADER_TIMEOUT_MS,
        .request_timeout_ms =
            lim->request_timeout_ms > 0 ? lim->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS,
    };
    /* the whole request's deadline never comes before its head's */
    if (s->guard.request_timeout_ms < s->guard.header_timeout_ms)
        s->guard.request_timeout_ms = s->guard.header_timeout_ms;
    s->fresh_tail = &s->fresh;
    s->check = event_new(base, -1, 0, server_check, s);
    s->resume = event_new(base, -1, 0, server_resume, s);
    if (!s->check || !s->resume) {
        fprintf(stderr, "hookd: cannot create an event\n");
        abort();
    }
    s->next = servers;
    servers = s;
    return s;
}

void http_server_set_head_check(struct evhttp *http, http_head_fn fn, void *arg)
{
    server_state *s = server_find(http, NULL);
    if (s) {
        s->guard.head_check = fn;
        s->guard.head_check_arg = arg;
    }
}

void http_server_set_refusal_hook(struct evhttp *http, http_refusal_fn fn, void *arg)
{
    server_state *s = server_find(http, NULL);
    if (s) {
        s->guard.on_refusal = fn;
        s->guard.on_refusal_arg = arg;
    }
}

static void server_count_refusal(void *arg, const http_verdict *v)
{
    server_state *s = arg;
    for (size_t i = 0; i < FRONT_DOOR_CODES; i++)
        if (strcmp(v->code, front_door_codes[i]) == 0)
            metric_add(s->refused[i], 1);
}

void http_server_count_refusals(struct evhttp *http, metrics *registry, const char *name)
{
    server_state *s = server_find(http, NULL);
    if (!s)
        return;
    metrics_counters(registry, name, "reason", front_door_codes, FRONT_DOOR_CODES,
                     "Requests the front door refused before the API saw them, by reason",
                     s->refused);
    http_server_set_refusal_hook(http, server_count_refusal, s);
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

struct evhttp *http_server_listen(struct event_base *base, const char *listen,
                                  const http_server_limits *limits, int *bound_port, char *err,
                                  size_t errlen)
{
    char host[256];
    int port = 0;
    if (!listen || parse_listen(listen, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "listen address \"%s\" is not HOST:PORT", listen ? listen : "");
        return NULL;
    }
    http_server_limits lim = limits ? *limits : (http_server_limits){0};
    struct evhttp *http = evhttp_new(base);
    if (!http) {
        snprintf(err, errlen, "cannot create an HTTP server");
        return NULL;
    }
    struct evhttp_bound_socket *sock =
        evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    if (!sock) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(errno));
        evhttp_free(http);
        return NULL;
    }
    if (bound_port) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        *bound_port = port;
        if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET)
                *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    evhttp_set_max_body_size(http, (ev_ssize_t)(lim.max_body ? lim.max_body : DEFAULT_MAX_BODY));
    evhttp_set_max_headers_size(
        http, (ev_ssize_t)(lim.max_headers ? lim.max_headers : DEFAULT_MAX_HEADERS));
    int64_t timeout_ms = lim.read_timeout_ms > 0 ? lim.read_timeout_ms : DEFAULT_READ_TIMEOUT_MS;
    struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
                         .tv_usec = (suseconds_t)((timeout_ms % 1000) * 1000)};
    evhttp_set_timeout_tv(http, &tv);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PATCH |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_OPTIONS);
    evhttp_set_default_content_type(http, "application/json");

    server_state *s = server_state_new(http, base, &lim);
    evhttp_set_bevcb(http, server_new_bev, s);
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(sock), server_accept_error);
    return http;
}

void http_server_free(struct evhttp *http)
{
    if (!http)
        return;
    server_state **link = NULL;
    server_state *s = server_find(http, &link);
    evhttp_free(http); /* runs the close callbacks, which still see s */
    if (!s)
        return;
    *link = s->next;
    while (s->fresh) {
        accepted *a = s->fresh;
        s->fresh = a->next;
        bufferevent_decref(a->bev);
        free(a);
    }
    event_free(s->check);
    event_free(s->resume);
    for (size_t i = 0; i < ADDRESS_BUCKETS; i++) {
        while (s->addresses[i]) {
            address_count *a = s->addresses[i];
            s->addresses[i] = a->next;
            free(a);
        }
    }
    free(s);
}

unsigned http_server_connections(struct evhttp *http)
{
    server_state *s = server_find(http, NULL);
    return s ? s->live : 0;
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status >= 500 ? "Error" : status >= 400 ? "Client Error" : "OK";
    }
}

/* The Date header's value for now (RFC 9110 IMF-fixdate, what evhttp writes), formatted once
 * a second: evhttp formats it for every answer (gmtime and a printf) unless one is there.
 * Only the loop thread answers, so one buffer does. NULL when the clock cannot be read. */
static const char *http_date_now(void)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static char text[40];
    static time_t formatted = (time_t)-1;
    time_t now = time(NULL);
    if (now == formatted)
        return text;
    struct tm tm;
    if (now == (time_t)-1 || !gmtime_r(&now, &tm) || tm.tm_year + 1900 > 9999)
        return NULL;
    snprintf(text, sizeof text, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", days + 3 * tm.tm_wday,
             tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    formatted = now;
    return text;
}

/* The decimal digits of n into out (at least 21 bytes), NUL-terminated. */
static void http_size_text(size_t n, char *out)
{
    char rev[24];
    size_t k = 0;
    do {
        rev[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    for (size_t i = 0; i < k; i++)
        out[i] = rev[k - 1 - i];
    out[k] = '\0';
}

/* Date and Content-Length set before evhttp_send_reply, which then does not format them (a
 * gmtime and two printfs per answer): the same values evhttp would write. Content-Length
 * only where evhttp writes it: an answer with a body (not 1XX, 204, 304, nor to HEAD). */
static void http_reply_framing(struct evhttp_request *req, struct evkeyvalq *headers, int status,
                               size_t len)
{
    const char *date = http_date_now();
    if (date)
        evhttp_add_header(headers, "Date", date);
    if (status < 200 || status == 204 || status == 304 ||
        evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
        return;
    char digits[24];
    http_size_text(len, digits);
    evhttp_add_header(headers, "Content-Length", digits);
}

void http_reply_text(struct evhttp_request *req, int status, const char *content_type,
                     const char *body, size_t len)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    evhttp_remove_header(headers, "Content-Type");
    if (content_type)
        evhttp_add_header(headers, "Content-Type", content_type);
    if (len && status != 204 &&
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len) != 0) {
        /* the body could not be queued: never send a status with a cut body */
        evhttp_send_error(req, 500, NULL);
        return;
    }
    http_reply_framing(req, headers, status, len);
    evhttp_send_reply(req, status, http_status_reason(status), NULL);
}

/* The text http_json_text builds, appended to by jansson's dump. */
typedef struct json_text_buf {
    char *text;
    size_t len, cap;
} json_text_buf;

static int json_text_append(const char *bytes, size_t size, void *arg)
{
    json_text_buf *b = arg;
    if (b->len + size + 1 > b->cap) {
        while (b->len + size + 1 > b->cap)
            b->cap *= 2;
        b->text = xrealloc(b->text, b->cap);
    }
    memcpy(b->text + b->len, bytes, size);
    b->len += size;
    return 0;
}

char *http_json_text(const json_t *value)
{
    /* One dump into a buffer from mem.h (it grows or aborts: no out-of-memory path left),
     * not a sizing dump and a second one: dumping is most of an API answer's cost. */
    json_text_buf b = {xmalloc(512), 0, 512};
    if (value &&
        json_dump_callback(value, json_text_append, &b, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        b.len = 0;
    b.text[b.len] = '\0';
    return b.text;
}

void http_reply_json(struct evhttp_request *req, int status, json_t *value)
{
    char *text = http_json_text(value);
    json_decref(value);
    http_reply_text(req, status, "application/json", text, strlen(text));
    free(text);
}

void http_reply_error(struct evhttp_request *req, int status, const char *code, const char *fmt,
                      ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    json_t *body =
        json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error", "message", message);
    if (!body) {
        /* Only invalid UTF-8 in the message gets here: answer without it. */
        body = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error", "message",
                         "invalid request");
    }
    http_reply_json(req, status, body);
}

const char *http_request_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = in ? evbuffer_get_length(in) : 0;
    *len = n;
    if (n == 0)
        return "";
    /* NULL only when it could not allocate the contiguous copy. */
    return mem_check(evbuffer_pullup(in, -1));
}

char *http_request_path(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    return mem_check(evhttp_uridecode(path, 0, NULL)); /* NULL only out of memory */
}

bool http_request_path_is(struct evhttp_request *req, const char *path)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!raw || !*raw)
        raw = "/";
    if (!strchr(raw, '%')) /* nothing to decode: the path is as sent */
        return strcmp(raw, path) == 0;
    char *decoded = http_request_path(req);
    bool same = strcmp(decoded, path) == 0;
    free(decoded);
    return same;
}

char *http_request_query(struct evhttp_request *req, const char *name)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!query)
        return NULL;
    struct evkeyvalq params;
    memset(&params, 0, sizeof params); /* evhttp_parse_query_str initialises it */
    char *result = NULL;
    if (evhttp_parse_query_str(query, &params) == 0) {
        const char *value = evhttp_find_header(&params, name);
        result = xstrdup(value);
    }
    evhttp_clear_headers(&params);
    return result;
}

bool http_utf8_valid(const char *s, size_t n)
{
    const unsigned char *b = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = b[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return false;
        unsigned cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((b[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (b[i + k] & 0x3f);
        }
        static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static inline unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

const char *http_head_header(const http_head *head, const char *name)
{
    return http_header_find(head->headers, name);
}

const char *http_header_find(const struct evkeyvalq *headers, const char *name)
{
    /* The first letter, the length, then from the end: the receiver's names share their
     * start ("X-Webhook-"), and two of them their length, but not their last letters. */
    size_t n = strlen(name);
    for (const struct evkeyval *kv = headers->tqh_first; kv; kv = kv->next.tqe_next) {
        if (ascii_lower((unsigned char)kv->key[0]) != ascii_lower((unsigned char)name[0]) ||
            strlen(kv->key) != n)
            continue;
        size_t i = n;
        while (i > 0 && ascii_lower((unsigned char)kv->key[i - 1]) ==
                            ascii_lower((unsigned char)name[i - 1]))
            i--;
        if (i == 0)
            return kv->value;
    }
    return NULL;
}

bool http_head_utf8(const http_head *head, http_verdict *v)
{
    if (!http_utf8_valid(head->path, strlen(head->path))) {
        *v = (http_verdict){.status = 404, .code = "not_found"};
        snprintf(v->message, sizeof v->message, "no such path (not UTF-8)");
        return false;
    }
    char *query = head->query ? evhttp_uridecode(head->query, 1, NULL) : NULL;
    bool query_ok = !query || http_utf8_valid(query, strlen(query));
    free(query);
    if (!query_ok) {
        *v = (http_verdict){.status = 400, .code = "invalid_parameter"};
        snprintf(v->message, sizeof v->message, "the query string is not UTF-8");
        return false;
    }
    const char *key = evhttp_find_header(head->headers, "Idempotency-Key");
    if (key && !http_utf8_valid(key, strlen(key))) {
        *v = (http_verdict){.status = 400, .code = "invalid_idempotency_key"};
        snprintf(v->message, sizeof v->message, "the Idempotency-Key header is not UTF-8");
        return false;
    }
    return true;
}

size_t http_path_split(const char *path, char **segments, size_t max)
{
    if (!path || max == 0)
        return 0;
    while (*path == '/')
        path++;
    if (!*path)
        return 0;
    char *copy = xstrdup(path); /* segments[0] == copy: the caller frees it */
    size_t count = 0;
    char *p = copy;
    while (*p) {
        segments[count++] = p;
        char *slash = strchr(p, '/');
        if (!slash || count == max)
            break; /* the last slot keeps whatever remains, slashes included */
        *slash = '\0';
        p = slash + 1;
        while (*p == '/')
            p++;
    }
    return count;
}
