/*
 * http_client_conn.c — one connection of the HTTP client (see http_client_internal.h): it
 * resolves its host (evdns; an address literal skips DNS), connects to the resolved
 * addresses in order — each one that is about to be connected passes the address policy
 * unless private addresses are allowed, refused ones are skipped — asks a proxy for a
 * CONNECT tunnel when one is configured, runs TLS for https, then writes requests and reads
 * their answers for as long as the server keeps it alive.
 *
 * Steady state costs one send and one recv per POST: the request is written as soon as it
 * starts (EV_WRITE is waited for only after EAGAIN), and the socket stays registered for
 * EV_READ (persistent) from connect to close, also while idle, so no epoll_ctl happens per
 * request; an idle connection that becomes readable was closed by its server (or spoke out
 * of turn) and is let go.
 *
 * The answer is parsed as it arrives by http_answer.c: the final answer's header lines kept
 * whole up to HC_HEADERS_CAP, 1XX answers skipped, a head over HTTP_ANSWER_HEAD_MAX fails;
 * the body by Content-Length, chunked, or until the server closes, its first
 * HC_RESPONSE_CAP bytes kept; past HTTP_ANSWER_BODY_MAX the answer ends with its status and
 * the connection is closed rather than drained.
 */
#include "http_client_internal.h"
#include "mem.h"

#include "http_answer.h"
#include "loop.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/util.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define IN_START 16384       /* a connection's first read buffer */
#define PROXY_HEAD_MAX 16384 /* a proxy's answer to CONNECT larger than this fails */

enum { IO_WAIT = -1, IO_FAIL = -2 };

static void conn_event_cb(evutil_socket_t fd, short what, void *arg);
static void conn_connect_next(hc_conn *k);

/* Sets what k's event waits for (EV_READ | EV_PERSIST, with EV_WRITE while a write waits):
 * an epoll_ctl only when that changes. */
static void conn_watch(hc_conn *k, short flags)
{
    if (k->ev_flags == flags)
        return;
    if (k->ev_flags && event_del(k->ev) != 0) {
        fputs("hookd: cannot unwatch a socket\n", stderr);
        abort();
    }
    k->ev_flags = flags;
    if (!flags)
        return;
    if (event_assign(k->ev, k->client->base, k->fd, flags, conn_event_cb, k) != 0 ||
        event_add(k->ev, NULL) != 0) {
        fputs("hookd: cannot watch a socket\n", stderr);
        abort();
    }
}

#define WATCH_READ (EV_READ | EV_PERSIST)

/* Fails k's request (which closes k): see hc_req_fail. */
static void conn_fail(hc_conn *k, bool refused, bool retryable, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static void conn_fail(hc_conn *k, bool refused, bool retryable, const char *format, ...)
{
    char text[320];
    va_list ap;
    va_start(ap, format);
    vsnprintf(text, sizeof text, format, ap);
    va_end(ap);
    hc_req_fail(k->req, text, refused, retryable);
}

/* One read or write: bytes moved, 0 at the end of the stream (reads), IO_WAIT (*want: the
 * event to wait for) or IO_FAIL (*err: errno when a system error, why). */
static ssize_t conn_io(hc_conn *k, bool writing, char *buf, size_t len, short *want, int *err,
                       char *why, size_t whylen)
{
    SSL *ssl = k->ssl ? k->ssl : k->proxy_ssl;
    *err = 0;
    if (ssl) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        ERR_clear_error();
        errno = 0;
        int rc = writing ? SSL_write(ssl, buf, n) : SSL_read(ssl, buf, n);
        if (rc > 0)
            return rc;
        int saved = errno;
        short w = hc_tls_want(ssl, rc, why, whylen);
        if (w > 0) {
            *want = w;
            return IO_WAIT;
        }
        *err = saved;
        return w == 0 && !writing ? 0 : IO_FAIL;
    }
    ssize_t n = writing ? send(k->fd, buf, len, MSG_NOSIGNAL) : recv(k->fd, buf, len, 0);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        *want = writing ? EV_WRITE : EV_READ;
        return IO_WAIT;
    }
    *err = errno;
    snprintf(why, whylen, "%s", strerror(errno));
    return IO_FAIL;
}

/* A system error that means the server dropped the connection. */
static bool err_is_reset(int err)
{
    return err == ECONNRESET || err == EPIPE || err == ECONNABORTED;
}

/* ---- writing ---- */

/* Writes buf[k->out_off..len): true once all is written; false when waiting (EV_WRITE
 * armed) or failed (k closed: *failed). */
static bool conn_write(hc_conn *k, const char *buf, size_t len, bool *failed)
{
    *failed = false;
    while (k->out_off < len) {
        short want = 0;
        int err;
        char why[256]; /* read only after a failure: not zeroed whole per POST */
        why[0] = '\0';
        ssize_t n = conn_io(k, true, (char *)buf + k->out_off, len - k->out_off, &want, &err, why,
                            sizeof why);
        if (n > 0) {
            k->out_off += (size_t)n;
            continue;
        }
        if (n == IO_WAIT) {
            conn_watch(k, (short)(WATCH_READ | (want == EV_WRITE ? EV_WRITE : 0)));
            return false;
        }
        *failed = true;
        if (err_is_reset(err))
            conn_fail(k, false, k->served > 0, "connection reset (send: %s)", why);
        else
            conn_fail(k, false, false, "send error (%s)", why);
        return false;
    }
    if (k->ev_flags != WATCH_READ)
        conn_watch(k, WATCH_READ);
    return true;
}

static void conn_send_more(hc_conn *k)
{
    bool failed;
    if (conn_write(k, k->req->out, k->req->out_len, &failed))
        k->state = HC_RECEIVING;
}

void hc_conn_send(hc_conn *k, hc_req *r)
{
    k->req = r;
    r->conn = k;
    k->state = HC_SENDING;
    k->out_off = 0;
    k->any_byte = false;
    http_answer_init(&k->answer, r->response, HC_RESPONSE_CAP, r->headers, HC_HEADERS_CAP,
                     loop_now_ms());
    conn_send_more(k);
}

/* ---- the answer (http_answer.c parses it) ---- */

/* The answer is complete: the request has its outcome; k is kept when it may be. */
static void answer_done(hc_conn *k)
{
    hc_req *r = k->req;
    const http_answer *a = &k->answer;
    k->served++;
    r->status = a->status;
    r->response_len = a->response_len;
    r->headers_len = a->headers_len;
    r->retry_after_ms = a->retry_after_ms;
    hc_req_answered(r, a->keep_alive && k->in_len == 0);
}

/* The server closed k while its answer was read. */
static void answer_eof(hc_conn *k)
{
    if (http_answer_ends_at_close(&k->answer)) {
        answer_done(k);
    } else if (!k->any_byte) {
        conn_fail(k, false, k->served > 0, "empty reply (the server closed the connection)");
    } else {
        conn_fail(k, false, false, "the server closed the connection before the answer ended");
    }
}

/* Room to read into: the buffer made or grown (a head may take HTTP_ANSWER_HEAD_MAX). */
static size_t in_room(hc_conn *k)
{
    if (!k->in) {
        k->in_cap = IN_START;
        k->in = xmalloc(k->in_cap);
    } else if (k->in_len == k->in_cap && k->in_cap < HTTP_ANSWER_HEAD_MAX) {
        k->in_cap *= 2;
        k->in = xrealloc(k->in, k->in_cap);
    }
    return k->in_cap - k->in_len;
}

static void conn_read_answer(hc_conn *k)
{
    for (;;) {
        size_t room = in_room(k);
        short want = 0;
        int err;
        char why[256];
        why[0] = '\0';
        ssize_t n = conn_io(k, false, k->in + k->in_len, room, &want, &err, why, sizeof why);
        if (n == IO_WAIT) {
            conn_watch(k, (short)(WATCH_READ | (want == EV_WRITE ? EV_WRITE : 0)));
            return;
        }
        if (n == IO_FAIL) {
            bool retry = k->served > 0 && !k->any_byte && err_is_reset(err);
            if (err_is_reset(err))
                conn_fail(k, false, retry, "connection reset (recv: %s)", why);
            else
                conn_fail(k, false, false, "receive error (%s)", why);
            return;
        }
        if (n == 0) {
            answer_eof(k);
            return;
        }
        k->any_byte = true;
        k->in_len += (size_t)n;
        const char *bad = NULL;
        int rc = http_answer_feed(&k->answer, k->in, &k->in_len, &bad);
        if (rc > 0)
            answer_done(k);
        if (rc < 0)
            conn_fail(k, false, false, "%s", bad);
        if (rc != 0)
            return;
        /* level-triggered: a short plain read means the socket is drained for now */
        if (!k->ssl && !k->proxy_ssl && (size_t)n < room)
            return;
    }
}

/* An idle connection became readable: a TLS record the server sends unasked (a session
 * ticket) keeps it; anything else (its close, stray bytes) ends it. */
static void conn_idle_readable(hc_conn *k)
{
    if (k->ssl || k->proxy_ssl) {
        char byte;
        short want = 0;
        int err;
        char why[64];
        if (conn_io(k, false, &byte, 1, &want, &err, why, sizeof why) == IO_WAIT && want == EV_READ)
            return;
    }
    hc_conn_idle_lost(k);
}

/* ---- setting up: resolve, connect, tunnel, TLS ---- */

static void conn_ready(hc_conn *k)
{
    conn_watch(k, WATCH_READ);
    hc_conn_send(k, k->req);
}

/* Starts TLS on k: with the proxy (an https:// one, over the socket) or with the destination
 * (over the socket, or inside the proxy's TLS). The client's context is made at the first. */
static void conn_tls_start(hc_conn *k, bool with_proxy)
{
    http_client *c = k->client;
    const char *to = with_proxy ? " with the proxy" : "";
    if (!c->tls) {
        char why[256];
        c->tls = hc_tls_context(c->ca_file, why, sizeof why);
        if (!c->tls) {
            conn_fail(k, false, false, "tls error%s (%s)", to, why);
            return;
        }
    }
    const char *host = with_proxy ? c->proxy->host : k->origin->host;
    bool ip = with_proxy ? c->proxy->host_is_ip : k->origin->host_is_ip;
    SSL *ssl = hc_tls_new(c->tls, k, host, ip, with_proxy ? NULL : k->proxy_ssl);
    if (!ssl) {
        conn_fail(k, false, false, "tls error%s (the host %.200s cannot be verified)", to, host);
        return;
    }
    if (with_proxy) {
        k->proxy_ssl = ssl;
        k->state = HC_PROXY_TLS;
    } else {
        k->ssl = ssl;
        if (k->origin->session)
            SSL_set_session(ssl, k->origin->session);
        k->state = HC_TLS;
    }
    conn_event_cb(k->fd, 0, k);
}

static void conn_proxy_start(hc_conn *k)
{
    http_client *c = k->client;
    const char *t = k->origin->tunnel;
    size_t len = 2 * strlen(t) + strlen(c->user_agent) + 64;
    k->proxy_out = xmalloc(len);
    snprintf(k->proxy_out, len, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n\r\n", t, t,
             c->user_agent);
    k->out_off = 0;
    k->state = HC_PROXY_SEND;
    conn_event_cb(k->fd, 0, k);
}

/* The tunnel is up (or there is no proxy): TLS with the destination, or the request. */
static void conn_tunnel_ready(hc_conn *k)
{
    if (k->origin->https)
        conn_tls_start(k, false);
    else
        conn_ready(k);
}

/* Reads the proxy's answer to CONNECT: a 2XX opens the tunnel. */
static void conn_proxy_answer(hc_conn *k)
{
    size_t room = in_room(k);
    short want = 0;
    int err;
    char why[256] = "";
    ssize_t n = conn_io(k, false, k->in + k->in_len, room, &want, &err, why, sizeof why);
    if (n == IO_WAIT)
        return;
    if (n <= 0) {
        conn_fail(k, false, false, "the proxy closed the connection (%s)", n == 0 ? "EOF" : why);
        return;
    }
    k->in_len += (size_t)n;
    size_t end = http_answer_head_end(k->in, k->in_len);
    if (!end) {
        if (k->in_len >= PROXY_HEAD_MAX)
            conn_fail(k, false, false, "the proxy's answer to CONNECT is too large");
        return;
    }
    int status = 0;
    bool http10;
    const char *lf = memchr(k->in, '\n', end);
    if (!http_answer_status_line(k->in, (size_t)(lf - k->in), &status, &http10) || status < 200 ||
        status > 299) {
        conn_fail(k, false, false, "the proxy refused the tunnel (CONNECT answered %d)", status);
        return;
    }
    k->in_len = 0; /* the proxy says nothing more before the tunnel carries ours */
    conn_tunnel_ready(k);
}

/* Connected to the address (or the proxy): on to the next step. */
static void conn_connected(hc_conn *k)
{
    http_client *c = k->client;
    int one = 1;
    (void)setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* a hint: unchecked */
    conn_watch(k, WATCH_READ);
    if (c->proxy && c->proxy->https)
        conn_tls_start(k, true);
    else if (c->proxy)
        conn_proxy_start(k);
    else
        conn_tunnel_ready(k);
}

/* Every address was tried: refused by the policy, or the last connect's error. */
static void conn_connect_failed(hc_conn *k, const char *address)
{
    if (k->refused > 0 && k->opened == 0)
        conn_fail(k, true, false, "%s", k->refused_why);
    else if (k->connect_errno == ECONNREFUSED)
        conn_fail(k, false, false, "connection refused (connect to %s)", address);
    else
        conn_fail(k, false, false, "cannot connect: %s (connect to %s)", strerror(k->connect_errno),
                  address);
}

/* Whether the policy lets a connection reach sa (refusals are counted and the first kept). */
static bool conn_address_allowed(hc_conn *k, const struct sockaddr *sa)
{
    http_client *c = k->client;
    char why[64], text[INET6_ADDRSTRLEN + 2];
    /* through a proxy the socket goes to the proxy, the operator's choice: the destination
     * was checked before (http_proxy.c) */
    if (c->allow_private || c->proxy || !http_address_is_private(sa, why, sizeof why))
        return true;
    if (k->refused++ == 0) {
        http_address_text(sa, false, text, sizeof text);
        snprintf(k->refused_why, sizeof k->refused_why, "address refused: %s is %s", text, why);
    }
    return false;
}

static void conn_connect_next(hc_conn *k)
{
    char address[INET6_ADDRSTRLEN + 16] = "?";
    while (k->addr_next < k->addr_count) {
        const struct sockaddr *sa = (const struct sockaddr *)&k->addrs[k->addr_next++];
        if (!conn_address_allowed(k, sa))
            continue;
        char ip[INET6_ADDRSTRLEN + 2];
        http_address_text(sa, false, ip, sizeof ip);
        snprintf(address, sizeof address, "%s port %u", ip,
                 (unsigned)ntohs(((const struct sockaddr_in *)sa)->sin_port));
        socklen_t len =
            sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        /* CLOEXEC: the receiver spawns handlers, which must not inherit our connections */
        k->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (k->fd < 0) {
            k->connect_errno = errno;
            continue;
        }
        k->opened++;
        if (connect(k->fd, sa, len) == 0) {
            k->state = HC_CONNECTING;
            conn_connected(k);
            return;
        }
        if (errno == EINPROGRESS) {
            k->state = HC_CONNECTING;
            conn_watch(k, EV_WRITE | EV_PERSIST);
            return;
        }
        k->connect_errno = errno;
        close(k->fd);
        k->fd = -1;
    }
    conn_connect_failed(k, address);
}

/* connect() ended: on, or the next address. */
static void conn_connect_done(hc_conn *k)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        conn_connected(k);
        return;
    }
    k->connect_errno = err;
    conn_watch(k, 0);
    close(k->fd);
    k->fd = -1;
    conn_connect_next(k);
}

/* The answer to the lookup: the addresses to try, in order. */
static void conn_resolved(void *arg, int result, const struct evutil_addrinfo *list)
{
    hc_conn *k = arg;
    k->lookup = NULL;
    const char *host = k->client->proxy ? k->client->proxy->host : k->origin->host;
    if (result != 0) {
        conn_fail(k, false, false, "dns error (cannot resolve %.200s: %s)", host,
                  evutil_gai_strerror(result));
        return;
    }
    for (const struct evutil_addrinfo *ai = list; ai && k->addr_count < HC_ADDRS_MAX;
         ai = ai->ai_next)
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            ai->ai_addrlen <= sizeof k->addrs[0])
            memcpy(&k->addrs[k->addr_count++], ai->ai_addr, ai->ai_addrlen);
    if (k->addr_count == 0) {
        conn_fail(k, false, false, "dns error (%.200s has no internet address)", host);
        return;
    }
    conn_connect_next(k);
}

/* An address literal as k's one address; false when host is not one. */
static bool conn_literal(hc_conn *k, const char *host, uint16_t port)
{
    struct sockaddr_in *in = (struct sockaddr_in *)&k->addrs[0];
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&k->addrs[0];
    memset(&k->addrs[0], 0, sizeof k->addrs[0]);
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
    } else {
        return false;
    }
    k->addr_count = 1;
    return true;
}

void hc_conn_open(http_client *c, hc_origin *o, hc_req *r)
{
    hc_conn *k = xcalloc(1, sizeof *k);
    k->client = c;
    k->origin = o;
    k->req = r;
    r->conn = k;
    k->fd = -1;
    k->state = HC_RESOLVING;
    k->ev = event_new(c->base, -1, 0, conn_event_cb, k);
    if (!k->ev) {
        fputs("hookd: cannot watch a socket\n", stderr);
        abort();
    }
    /* through a proxy the connection goes to the proxy */
    const char *host = c->proxy ? c->proxy->host : o->host;
    uint16_t port = c->proxy ? c->proxy->port : o->port;
    if (conn_literal(k, host, port)) {
        conn_connect_next(k);
        return;
    }
    struct evdns_base *dns = hc_client_dns(c);
    if (!dns) {
        conn_fail(k, false, false, "dns error (the resolver cannot start)");
        return;
    }
    http_lookup *lookup = http_lookup_start(dns, host, port, conn_resolved, k);
    if (lookup) /* else answered already, and k may be gone */
        k->lookup = lookup;
}

void hc_conn_close(hc_conn *k)
{
    http_lookup_cancel(k->lookup);
    conn_watch(k, 0);
    event_free(k->ev);
    if (k->ssl)
        SSL_free(k->ssl); /* before the proxy's, which its BIO reads through */
    if (k->proxy_ssl)
        SSL_free(k->proxy_ssl);
    if (k->fd >= 0)
        close(k->fd);
    free(k->in);
    free(k->proxy_out);
    http_client *c = k->client;
    hc_origin *o = k->origin;
    free(k);
    hc_conn_gone(c, o);
}

/* A TLS handshake step on ssl; then next. */
static void conn_handshake(hc_conn *k, SSL *ssl, bool proxy, void (*next)(hc_conn *))
{
    short want = 0;
    char why[256] = "";
    int rc = hc_tls_handshake(ssl, &want, why, sizeof why);
    if (rc > 0) {
        conn_watch(k, WATCH_READ);
        next(k);
    } else if (rc == 0) {
        conn_watch(k, (short)(WATCH_READ | (want == EV_WRITE ? EV_WRITE : 0)));
    } else {
        conn_fail(k, false, false, "tls error%s (%s)", proxy ? " with the proxy" : "", why);
    }
}

/* Writes the CONNECT request, then waits for the proxy's answer. */
static void conn_proxy_send(hc_conn *k)
{
    bool failed;
    if (!conn_write(k, k->proxy_out, strlen(k->proxy_out), &failed))
        return;
    free(k->proxy_out);
    k->proxy_out = NULL;
    k->state = HC_PROXY_RECV;
}

static void conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hc_conn *k = arg;
    switch (k->state) {
    case HC_RESOLVING:
        break;
    case HC_CONNECTING:
        conn_connect_done(k);
        break;
    case HC_PROXY_TLS:
        conn_handshake(k, k->proxy_ssl, true, conn_proxy_start);
        break;
    case HC_PROXY_SEND:
        conn_proxy_send(k);
        break;
    case HC_PROXY_RECV:
        conn_proxy_answer(k);
        break;
    case HC_TLS:
        conn_handshake(k, k->ssl, false, conn_ready);
        break;
    case HC_IDLE:
        conn_idle_readable(k);
        break;
    case HC_SENDING:
        conn_send_more(k);
        break;
    case HC_RECEIVING:
        conn_read_answer(k);
        break;
    }
}
