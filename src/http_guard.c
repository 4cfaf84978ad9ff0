/*
 * http_guard.c — the front door (see http_guard.h): a bufferevent filter that every
 * inbound connection's bytes pass through before evhttp parses them.
 *
 * The filter holds a request's head back until it is whole, parses it strictly (one
 * Content-Length of digits only, Transfer-Encoding only "chunked" and never with a
 * Content-Length, header names of token characters only, CRLF line ends, no control bytes),
 * asks the server's head check (API token, route), checks the declared body against the cap
 * and reserves it from the process-wide body budget; only then does evhttp see the head.
 * The body is then passed on as it comes, counted (chunk sizes too), so the filter always
 * knows where the next head starts: a pipelined request is checked like the first. Each
 * request has two deadlines from its first byte, one for the head and one for the whole
 * request, which trickled bytes do not reset (evhttp's own timeout is an idle timeout).
 *
 * A refusal is written straight to the socket as a JSON error with Connection: close; the
 * filter then drops whatever else arrives and, once the answer is flushed (or after a
 * grace), reports end-of-file to evhttp, whose own failure path frees the connection — the
 * one way to close that is safe while a handler still holds an earlier request.
 */
#include "http_guard.h"
#include "mem.h"

#include "http_head.h"
#include "loop.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_BODY_BUDGET ((size_t)32 * 1024 * 1024)
#define CLOSE_GRACE_MS 2000
#define CLOSE_POLL_MS 10
#define MAX_CHUNK_LINE 1024

enum guard_state {
    G_HEAD,       /* waiting for (the rest of) a head */
    G_BODY,       /* passing `left` bytes of a Content-Length body */
    G_CHUNK_SIZE, /* a chunk-size line */
    G_CHUNK_DATA, /* `left` bytes of chunk data */
    G_CHUNK_CRLF, /* the CRLF after chunk data */
    G_TRAILER,    /* trailer lines up to the empty one */
    G_DEAD,       /* refused: dropping input until closed */
};

struct http_guard {
    const http_guard_config *config;
    struct bufferevent *under; /* the socket's bufferevent */
    struct bufferevent *filter;
    struct event *timer;
    struct event *writable; /* the socket can take more of an answer (made when needed) */
    struct event *kick;     /* an answer was queued: push it through the filter */
    enum guard_state state;
    int64_t left;        /* body or chunk bytes still to pass */
    int64_t body_seen;   /* chunked: data bytes so far */
    size_t reserved;     /* budget bytes this connection holds */
    int64_t started_ms;  /* monotonic start of the current request, 0 between requests */
    int64_t close_by_ms; /* G_DEAD: close even if the answer is not flushed by then */
    int64_t armed_ms;    /* the deadline the timer is set for, 0: none */
    bool kick_pending;   /* the kick is active and has not run yet */
};

static size_t budget_cap = DEFAULT_BODY_BUDGET;
static size_t budget_used;

void http_server_set_body_budget(size_t bytes)
{
    budget_cap = bytes ? bytes : DEFAULT_BODY_BUDGET;
}

size_t http_server_body_budget(void)
{
    return budget_cap;
}

size_t http_guard_budget_used(void)
{
    return budget_used;
}

static void guard_release(http_guard *g)
{
    budget_used -= g->reserved;
    g->reserved = 0;
}

static void guard_arm(http_guard *g, int64_t at_ms)
{
    g->armed_ms = at_ms;
    int64_t wait = at_ms - loop_monotonic_ms();
    if (wait < 0)
        wait = 0;
    struct timeval tv = {.tv_sec = (time_t)(wait / 1000),
                         .tv_usec = (suseconds_t)((wait % 1000) * 1000)};
    if (event_add(g->timer, &tv) != 0)
        abort(); /* only on a corrupt event base */
}

/* Writes the refusal to the socket and starts closing. own: the guard's own refusal (told
 * to the server's refusal hook), not its head check's (which counted it). */
static void guard_reject(http_guard *g, const http_verdict *v, bool own)
{
    if (own && g->config->on_refusal)
        g->config->on_refusal(g->config->on_refusal_arg, v);
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", v->code, "message", v->message);
    char *text = http_json_text(body);
    json_decref(body);
    struct evbuffer *out = bufferevent_get_output(g->under);
    if (evbuffer_add_printf(out,
                            "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                            "Content-Length: %zu\r\nConnection: close\r\n%s%s\r\n%s",
                            v->status, http_status_reason(v->status), strlen(text),
                            v->extra_header ? v->extra_header : "", v->extra_header ? "\r\n" : "",
                            text) < 0)
        evbuffer_drain(out, evbuffer_get_length(out)); /* close without an answer */
    free(text);
    if (bufferevent_enable(g->under, EV_WRITE) != 0)
        evbuffer_drain(out, evbuffer_get_length(out));
    guard_release(g);
    g->state = G_DEAD;
    g->close_by_ms = loop_monotonic_ms() + CLOSE_GRACE_MS;
    guard_arm(g, loop_monotonic_ms() + CLOSE_POLL_MS);
}

static void guard_refuse(http_guard *g, int status, const char *code, const char *message)
{
    http_verdict v = {.status = status, .code = code};
    snprintf(v.message, sizeof v.message, "%s", message);
    guard_reject(g, &v, true);
}

static void guard_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_guard *g = arg;
    g->armed_ms = 0;
    if (g->state != G_DEAD && g->started_ms == 0)
        return; /* between requests: no deadline runs */
    if (g->state != G_DEAD) {
        guard_refuse(g, 408, "request_timeout", "the request was not received in time");
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(g->under)) > 0 &&
        loop_monotonic_ms() < g->close_by_ms) {
        guard_arm(g, loop_monotonic_ms() + CLOSE_POLL_MS);
        return;
    }
    /* evhttp frees the connection (and this guard with it) from its error callback. */
    bufferevent_trigger_event(g->filter, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
}

/* The request's body is through: its deadlines no longer apply (the handler's time is not
 * the client's; guard_deadline clears the timer). The reservation stays until the answer
 * starts (guard_output). */
static void guard_request_done(http_guard *g)
{
    g->state = G_HEAD;
    g->started_ms = 0;
}

/* After a read: the timer set for the deadline of the request under way (the head's, then
 * the whole request's), or cleared between requests. Set only when a read leaves a request
 * unfinished, so a request that arrives whole costs no timer at all. */
static void guard_deadline(http_guard *g)
{
    if (g->state == G_DEAD)
        return; /* the timer polls the answer's flush now */
    int64_t want = 0;
    if (g->started_ms != 0)
        want = g->started_ms +
               (g->state == G_HEAD ? g->config->header_timeout_ms : g->config->request_timeout_ms);
    if (want == g->armed_ms)
        return;
    if (want != 0) {
        guard_arm(g, want);
    } else {
        g->armed_ms = 0;
        if (event_del(g->timer) != 0)
            abort(); /* only on a corrupt event base */
    }
}

/* The method's verdict: true to go on, or false with *v filled. */
static bool guard_method(const char *method, http_verdict *v)
{
    static const char *const known[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(method, known[i]) == 0)
            return true;
    bool standard = strcmp(method, "TRACE") == 0 || strcmp(method, "CONNECT") == 0;
    *v = (http_verdict){.status = standard ? 405 : 501,
                        .code = standard ? "method_not_allowed" : "not_implemented",
                        .extra_header = "Allow: GET, POST, PATCH, DELETE, PUT, HEAD, OPTIONS"};
    snprintf(v->message, sizeof v->message, "method %s is not served", method);
    return false;
}

#define HEAD_NODES 32      /* headers kept without an allocation */
#define HEAD_ON_STACK 2048 /* bytes of a head parsed without an allocation */

/* A head's headers as an evkeyvalq for the head check (evhttp_find_header), made without
 * copying: each node points into the parsed text, which lives as long as the queue. The
 * first HEAD_NODES nodes are here, further ones in blocks (nodes never move: the queue
 * links them by address). Never hand it to evhttp_clear_headers, which would free them. */
typedef struct head_block {
    struct head_block *next;
    struct evkeyval nodes[HEAD_NODES];
} head_block;

typedef struct parsed_head {
    http_head_parsed head;
    struct evkeyvalq headers;
    size_t used; /* nodes taken in the current block */
    head_block first;
    head_block *extra; /* blocks beyond first, newest first */
} parsed_head;

static bool guard_keep_header(void *arg, const char *name, const char *value)
{
    parsed_head *ph = arg;
    head_block *b = ph->extra ? ph->extra : &ph->first;
    if (ph->used == HEAD_NODES) {
        head_block *more = xmalloc(sizeof *more);
        more->next = ph->extra;
        ph->extra = b = more;
        ph->used = 0;
    }
    struct evkeyval *n = &b->nodes[ph->used++];
    /* both point into the parsed text, which http_head_parse hands out as const */
    n->key = (char *)name;
    n->value = (char *)value;
    n->next.tqe_next = NULL; /* TAILQ_INSERT_TAIL, which keyvalq_struct.h does not export */
    n->next.tqe_prev = ph->headers.tqh_last;
    *ph->headers.tqh_last = n;
    ph->headers.tqh_last = &n->next.tqe_next;
    return true;
}

static void parsed_head_free(parsed_head *ph)
{
    while (ph->extra) {
        head_block *b = ph->extra;
        ph->extra = b->next;
        free(b);
    }
}

/* Every check of a parsed head, the server's last. True to pass it on (budget reserved);
 * false with *v filled, and *by_check set when the server's head check refused. */
static bool guard_admit(http_guard *g, parsed_head *ph, http_verdict *v, bool *by_check)
{
    const http_head_parsed *p = &ph->head;
    if (!guard_method(p->method, v))
        return false;
    /* the target is in guard_head's own copy of the head: cut at the query in place */
    char *query = strchr(p->target, '?');
    if (query)
        *query = '\0';
    char *decoded = NULL; /* only when there is an escape: else decoding changes nothing */
    if (strchr(p->target, '%'))
        decoded = mem_check(evhttp_uridecode(p->target, 0, NULL));
    http_head head = {.method = p->method,
                      .path = decoded ? decoded : p->target,
                      .query = query ? query + 1 : NULL,
                      .headers = &ph->headers,
                      .content_length = p->chunked ? -1 : p->content_length};
    bool ok = !g->config->head_check || g->config->head_check(g->config->head_check_arg, &head, v);
    free(decoded);
    if (!ok) {
        *by_check = true;
        return false;
    }
    size_t want = p->chunked ? g->config->max_body : (size_t)p->content_length;
    if (want > g->config->max_body) {
        *v = (http_verdict){.status = 413, .code = "too_large"};
        snprintf(v->message, sizeof v->message, "the body is over %zu bytes", g->config->max_body);
        return false;
    }
    /* a body larger than the whole budget (a --max-body above it) may go when it is alone,
     * or it would be refused forever */
    if (want > 0 && budget_used > 0 && budget_used + want > budget_cap) {
        *v = (http_verdict){.status = 503, .code = "busy", .extra_header = "Retry-After: 1"};
        snprintf(v->message, sizeof v->message, "too many request bodies in flight; retry later");
        return false;
    }
    budget_used += want;
    g->reserved = want;
    return true;
}

/* The CRLF CRLF ending a head in the n bytes at data, or NULL: found from line end to line
 * end (memchr), cheaper than a general search for a head of a dozen lines. */
static const char *head_end(const char *data, size_t n)
{
    const char *end = data + n;
    for (const char *lf = data; (lf = memchr(lf, '\n', (size_t)(end - lf))); lf++)
        if (lf > data && lf[-1] == '\r' && end - lf >= 3 && lf[1] == '\r' && lf[2] == '\n')
            return lf - 1;
    return NULL;
}

/* G_HEAD: returns true when a head was passed on (and the state moved past it). */
static bool guard_head(http_guard *g, struct evbuffer *src, struct evbuffer *dst)
{
    if (g->started_ms == 0) {
        guard_release(g);
        g->started_ms = loop_monotonic_ms();
    }
    /* the head's end within the first max_headers bytes (made contiguous: usually they
     * are already, one read's chain) */
    size_t avail = evbuffer_get_length(src);
    size_t look = avail < g->config->max_headers ? avail : g->config->max_headers;
    const char *data = (const char *)mem_check(evbuffer_pullup(src, (ev_ssize_t)look));
    const char *crlf2 = head_end(data, look);
    if (!crlf2 && look == g->config->max_headers) {
        guard_refuse(g, 431, "headers_too_large", "the request head is too large");
        return false;
    }
    if (!crlf2)
        return false;
    size_t len = (size_t)(crlf2 - data) + 4;
    char small[HEAD_ON_STACK];
    char *text = len < sizeof small ? small : xmalloc(len + 1);
    memcpy(text, data, len);
    text[len] = '\0';
    parsed_head p;
    p.head = (http_head_parsed){.content_length = 0};
    p.used = 0;
    p.extra = NULL;
    p.headers.tqh_first = NULL; /* TAILQ_INIT, which keyvalq_struct.h does not export */
    p.headers.tqh_last = &p.headers.tqh_first;
    http_verdict v = {.status = 400, .code = "bad_request"};
    const char *why = http_head_parse(text, len, &p.head, guard_keep_header, &p);
    if (why)
        snprintf(v.message, sizeof v.message, "%s", why);
    bool by_check = false;
    bool ok = !why && guard_admit(g, &p, &v, &by_check);
    parsed_head_free(&p);
    if (text != small)
        free(text);
    if (!ok) {
        guard_reject(g, &v, !by_check);
        return false;
    }
    g->body_seen = 0;
    g->left = p.head.content_length;
    /* What of a Content-Length body is here goes with its head in one move: usually the
     * whole read, whose chain then changes buffers, where the head alone is copied out. */
    size_t take = len;
    if (!p.head.chunked && g->left > 0) {
        size_t here = avail - len < (size_t)g->left ? avail - len : (size_t)g->left;
        take += here;
        g->left -= (int64_t)here;
    }
    if (evbuffer_remove_buffer(src, dst, take) != (int)take)
        abort();
    if (p.head.chunked)
        g->state = G_CHUNK_SIZE;
    else if (g->left > 0)
        g->state = G_BODY;
    else
        guard_request_done(g);
    return true;
}

/* G_CHUNK_SIZE and G_TRAILER: one line. Returns true when a line was passed on. */
static bool guard_chunk_line(http_guard *g, struct evbuffer *src, struct evbuffer *dst)
{
    size_t eol = 0;
    struct evbuffer_ptr at = evbuffer_search_eol(src, NULL, &eol, EVBUFFER_EOL_CRLF_STRICT);
    if (at.pos < 0) {
        if (evbuffer_get_length(src) > MAX_CHUNK_LINE)
            guard_refuse(g, 400, "bad_request", "a chunk line is too long");
        return false;
    }
    if (at.pos > MAX_CHUNK_LINE) {
        guard_refuse(g, 400, "bad_request", "a chunk line is too long");
        return false;
    }
    char line[MAX_CHUNK_LINE + 1];
    if (evbuffer_copyout(src, line, (size_t)at.pos) != at.pos)
        abort();
    line[at.pos] = '\0';
    if (g->state == G_TRAILER) {
        if (at.pos == 0)
            guard_request_done(g);
    } else {
        size_t digits = strspn(line, "0123456789abcdefABCDEF");
        if (digits == 0 || digits > 15 || (line[digits] != '\0' && line[digits] != ';')) {
            guard_refuse(g, 400, "bad_request", "a chunk size is malformed");
            return false;
        }
        g->left = strtoll(line, NULL, 16);
        g->body_seen += g->left;
        if ((size_t)g->body_seen > g->config->max_body) {
            guard_refuse(g, 413, "too_large", "the chunked body is over the cap");
            return false;
        }
        g->state = g->left == 0 ? G_TRAILER : G_CHUNK_DATA;
    }
    size_t n = (size_t)at.pos + eol;
    if (evbuffer_remove_buffer(src, dst, n) != (int)n)
        abort();
    return true;
}

/* Passes up to g->left body bytes; true when some were passed. */
static bool guard_data(http_guard *g, struct evbuffer *src, struct evbuffer *dst)
{
    size_t n = evbuffer_get_length(src);
    if ((int64_t)n > g->left)
        n = (size_t)g->left;
    if (n == 0 || evbuffer_remove_buffer(src, dst, n) != (int)n)
        return false;
    g->left -= (int64_t)n;
    if (g->left == 0) {
        if (g->state == G_BODY)
            guard_request_done(g);
        else
            g->state = G_CHUNK_CRLF;
    }
    return true;
}

static bool guard_chunk_crlf(http_guard *g, struct evbuffer *src, struct evbuffer *dst)
{
    char crlf[2];
    if (evbuffer_copyout(src, crlf, 2) != 2)
        return false;
    if (crlf[0] != '\r' || crlf[1] != '\n') {
        guard_refuse(g, 400, "bad_request", "chunk data does not end in CRLF");
        return false;
    }
    g->state = G_CHUNK_SIZE;
    return evbuffer_remove_buffer(src, dst, 2) == 2;
}

static enum bufferevent_filter_result guard_input(struct evbuffer *src, struct evbuffer *dst,
                                                  ev_ssize_t limit,
                                                  enum bufferevent_flush_mode mode, void *ctx)
{
    (void)limit;
    (void)mode;
    http_guard *g = ctx;
    bool passed = false, more = true;
    while (more && evbuffer_get_length(src) > 0) {
        switch (g->state) {
        case G_HEAD:
            more = guard_head(g, src, dst);
            break;
        case G_BODY:
        case G_CHUNK_DATA:
            more = guard_data(g, src, dst);
            break;
        case G_CHUNK_SIZE:
        case G_TRAILER:
            more = guard_chunk_line(g, src, dst);
            break;
        case G_CHUNK_CRLF:
            more = guard_chunk_crlf(g, src, dst);
            break;
        case G_DEAD:
            evbuffer_drain(src, evbuffer_get_length(src));
            more = false;
            break;
        }
        passed = passed || more;
    }
    guard_deadline(g);
    return passed ? BEV_OK : BEV_NEED_MORE;
}

static void guard_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_guard *g = arg;
    if (bufferevent_flush(g->filter, EV_WRITE, BEV_NORMAL) < 0)
        bufferevent_trigger_event(g->filter, BEV_EVENT_ERROR | BEV_EVENT_WRITING, 0);
}

/* Output: written straight to the socket, never parked in the socket bufferevent. The
 * filter tells evhttp "written" as soon as its own output is empty, and evhttp then may
 * shut the socket down at once (Connection: close): bytes still in a buffer under the
 * filter would be lost. So what the kernel does not take stays here, and a write event
 * on the socket brings the filter back. An answer starting once its request's body is
 * through also gives the body's reservation back to the budget. */
static enum bufferevent_filter_result guard_output(struct evbuffer *src, struct evbuffer *dst,
                                                   ev_ssize_t limit,
                                                   enum bufferevent_flush_mode mode, void *ctx)
{
    (void)dst;
    (void)limit;
    (void)mode;
    http_guard *g = ctx;
    if (g->state == G_HEAD && g->started_ms == 0)
        guard_release(g);
    evutil_socket_t fd = bufferevent_getfd(g->under);
    if (evbuffer_get_length(src) == 0 || fd < 0)
        return BEV_NEED_MORE;
    int n = evbuffer_write(src, fd);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return BEV_ERROR;
    if (evbuffer_get_length(src) == 0)
        return BEV_OK;
    if (!g->writable) {
        g->writable = event_new(bufferevent_get_base(g->under), fd, EV_WRITE, guard_writable, g);
        if (!g->writable)
            abort(); /* only out of memory */
    }
    if (event_add(g->writable, NULL) != 0)
        abort();
    return BEV_NEED_MORE;
}

/* evhttp queues an answer while the filter's writing is disabled and enables it after;
 * enabling does not run the filter (libevent 2.1), so the answer would sit there. The
 * filter's output buffer tells us when bytes are queued; the kick runs once evhttp has
 * enabled writing, on the next loop turn. */
static void guard_queued(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    http_guard *g = arg;
    if (info->n_added > 0 && !g->kick_pending) {
        g->kick_pending = true; /* evhttp adds an answer in pieces: one kick for all */
        event_active(g->kick, EV_TIMEOUT, 0);
    }
}

static void guard_kicked(evutil_socket_t fd, short what, void *arg)
{
    http_guard *g = arg;
    g->kick_pending = false;
    guard_writable(fd, what, arg);
}

static void guard_free(void *ctx)
{
    http_guard *g = ctx;
    guard_release(g);
    event_free(g->timer);
    event_free(g->kick);
    if (g->writable)
        event_free(g->writable);
    free(g);
}

struct bufferevent *http_guard_new(struct event_base *base, const http_guard_config *config,
                                   http_guard **guard)
{
    struct bufferevent *under = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!under)
        return NULL;
    http_guard *g = xcalloc(1, sizeof *g);
    g->config = config;
    g->under = under;
    g->timer = event_new(base, -1, 0, guard_timer, g);
    g->kick = event_new(base, -1, 0, guard_kicked, g);
    if (!g->timer || !g->kick)
        abort(); /* only out of memory */
    g->filter = bufferevent_filter_new(under, guard_input, guard_output, BEV_OPT_CLOSE_ON_FREE,
                                       guard_free, g);
    if (!g->filter) {
        bufferevent_free(under);
        event_free(g->timer);
        free(g);
        return NULL;
    }
    if (!evbuffer_add_cb(bufferevent_get_output(g->filter), guard_queued, g))
        abort(); /* only out of memory */
    *guard = g;
    return g->filter;
}
