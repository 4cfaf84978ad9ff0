/*
 * http_conn.c — one inbound connection of http_server.h: reads the socket into a flat
 * buffer, finds each request's head and parses it once (http_head.c, strict), runs the
 * front door's checks (method, the server's head check, the body cap and the process-wide
 * body budget), reads the body (de-chunked), hands the request to the server's handler and
 * writes its answer with one send. Requests on a connection are served one at a time, in
 * order: a pipelined request waits in the buffer until the one before it is answered.
 *
 * Deadlines: a head must be whole within --header-timeout of its first byte and the request
 * within --request-timeout (trickled bytes do not reset them: 408), and a connection with no
 * progress for the idle timeout is closed without a word; the handler's time is not the
 * client's. One timer per connection, re-armed only when a deadline comes sooner than the
 * one it is set for: a request that arrives whole costs no timer operation. The times are the
 * coarse monotonic clock's (loop_coarse_ms, up to a tick behind): read three times per
 * request, where a deadline in seconds needs no better; a timer that fires before the
 * clock has ticked past its deadline finds nothing due and is set again.
 *
 * A refusal is answered as JSON with Connection: close; the rest of the input is dropped
 * and the connection closed once the answer is out (or after a grace). When the client is
 * still sending (a refused body, or unread bytes after a Connection: close answer), our end
 * is shut first and the input read and dropped until the client closes or the grace is up,
 * so that its bytes do not turn the close into a reset that loses the answer; a client
 * holding slots with slow heads gets its slot back at the deadline, not later.
 *
 * A connection is torn down only from the outermost of its callbacks (busy counts them):
 * a handler answering inside the dispatch, or a write failing there, cannot free it under
 * the loop that reads it. A request with the handler when its connection goes is orphaned
 * (req->conn = NULL) and stays valid until answered.
 */
#include "http_conn.h"
#include "mem.h"

#include "http_head.h"
#include "log.h"
#include "loop.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_BODY_BUDGET ((size_t)32 * 1024 * 1024)
#define CLOSE_GRACE_MS 2000
#define MAX_CHUNK_LINE 1024
#define INPUT_FIRST 4096  /* a webhook's head and body in one read */
#define OUTPUT_KEPT 65536 /* output room kept between answers */
#define SPARE_KEPT 16384  /* an answered request's allocation kept for the next one, at most */

enum conn_state {
    C_HEAD,       /* waiting for (the rest of) a head */
    C_BODY,       /* `left` bytes of a Content-Length body to read */
    C_CHUNK_SIZE, /* a chunk-size line */
    C_CHUNK_DATA, /* `left` bytes of chunk data */
    C_CHUNK_CRLF, /* the CRLF after chunk data */
    C_TRAILER,    /* trailer lines up to the empty one */
    C_HANDLER,    /* the request is with the handler */
    C_DEAD,       /* closing: input dropped until closed */
};

struct http_conn {
    http_server *server;
    evutil_socket_t fd;
    http_address *address;
    char peer[64];
    struct event *on_read, *on_write, *timer;
    char *in; /* in_cap + 1 bytes: the head parser NUL-terminates what it reads */
    size_t in_off, in_len, in_cap;
    char *out;
    size_t out_off, out_len, out_cap;
    enum conn_state state;
    http_request *req;          /* being read, or with the handler */
    http_request *spare;        /* the last answered request's allocation, for the next one */
    int64_t left;               /* body or chunk bytes still to read */
    size_t reserved;            /* body budget this connection holds */
    int64_t started_ms;         /* monotonic start of the request being read, 0 between */
    int64_t active_ms;          /* last progress, read or written (the idle timeout) */
    int64_t close_by_ms;        /* C_DEAD, the answer out: closed by then */
    int64_t armed_ms;           /* what the timer is set for, 0: not set */
    unsigned busy;              /* callbacks of this connection under way */
    bool doomed;                /* to be torn down when the outermost callback returns */
    bool reading;               /* on_read is added */
    bool writing;               /* on_write is added */
    bool peer_done;             /* the client sent its end of file */
    bool closing;               /* close once the output is out */
    bool linger;                /* and read (dropping) until the client closes too */
    bool body_coming;           /* the request being read declared a body */
    bool handing;               /* req is with the handler (the state says so too, until a doom) */
    LIST_ENTRY(http_conn) link; /* in the server's list */
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

static void conn_release(http_conn *c)
{
    budget_used -= c->reserved;
    c->reserved = 0;
}

static void conn_destroy(http_conn *c)
{
    http_server *s = c->server;
    LIST_REMOVE(c, link);
    s->live--;
    http_address_release(s, c->address);
    event_free(c->on_read);
    event_free(c->on_write);
    event_free(c->timer);
    if (evutil_closesocket(c->fd) != 0)
        log_debug("http", "close: %s", strerror(errno));
    conn_release(c);
    if (c->req && c->handing)
        c->req->conn = NULL; /* its handler answers it later; the answer is dropped */
    else if (c->req)
        http_request_free(c->req);
    free(c->spare);
    free(c->in);
    free(c->out);
    free(c);
}

static void conn_doom(http_conn *c)
{
    c->doomed = true;
    c->state = C_DEAD;
}

static void conn_arm(http_conn *c, int64_t at_ms)
{
    c->armed_ms = at_ms;
    int64_t wait = at_ms - loop_coarse_ms();
    if (wait < 0)
        wait = 0;
    struct timeval tv = {.tv_sec = (time_t)(wait / 1000),
                         .tv_usec = (suseconds_t)((wait % 1000) * 1000)};
    if (event_add(c->timer, &tv) != 0)
        abort(); /* only on a corrupt event base */
}

static bool conn_reading_request(const http_conn *c)
{
    return c->state != C_HANDLER && c->state != C_DEAD;
}

/* The next moment the connection needs looking at, 0 for none. */
static int64_t conn_deadline(const http_conn *c)
{
    const http_server *s = c->server;
    if (c->state == C_DEAD) /* an answer still going out may take what a live one may */
        return c->out_off < c->out_len ? c->active_ms + s->idle_ms : c->close_by_ms;
    int64_t want = 0;
    if (c->state != C_HANDLER || c->out_off < c->out_len)
        want = c->active_ms + s->idle_ms;
    if (c->started_ms != 0 && conn_reading_request(c)) {
        int64_t by =
            c->started_ms + (c->state == C_HEAD ? s->header_timeout_ms : s->request_timeout_ms);
        if (want == 0 || by < want)
            want = by;
    }
    return want;
}

/* A timer set later than needed is re-armed; one set sooner fires, finds nothing due and
 * is set again then (conn_timer): no timer operation per request. */
static void conn_schedule(http_conn *c)
{
    int64_t want = conn_deadline(c);
    if (want == 0 || (c->armed_ms != 0 && c->armed_ms <= want))
        return;
    conn_arm(c, want);
}

static void conn_enter(http_conn *c)
{
    c->busy++;
}

static void conn_leave(http_conn *c)
{
    if (--c->busy > 0)
        return;
    if (c->doomed)
        conn_destroy(c);
    else
        conn_schedule(c);
}

char *http_conn_output(http_conn *c, size_t n)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        while (c->out_len + n > c->out_cap)
            c->out_cap = c->out_cap ? c->out_cap * 2 : 4096;
        c->out = xrealloc(c->out, c->out_cap);
    }
    return c->out + c->out_len;
}

void http_conn_output_commit(http_conn *c, size_t n)
{
    c->out_len += n;
}

static void conn_output_text(http_conn *c, const char *text, size_t n)
{
    memcpy(http_conn_output(c, n), text, n);
    http_conn_output_commit(c, n);
}

static void conn_flushed(http_conn *c)
{
    if (!c->closing)
        return;
    if (!c->linger || c->peer_done) {
        conn_doom(c);
        return;
    }
    /* our end shut: the client reads the answer, then its end of file; we read (and drop)
     * until it closes too, or the grace is up */
    if (shutdown(c->fd, SHUT_WR) != 0)
        conn_doom(c);
}

/* Writes what the output holds; the rest when the socket can take it. */
static void conn_flush(http_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            c->active_ms = loop_coarse_ms();
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->writing && event_add(c->on_write, NULL) != 0)
                abort(); /* only on a corrupt event base */
            c->writing = true;
            return;
        } else if (!(n < 0 && errno == EINTR)) {
            conn_doom(c); /* the client is gone: the answer with it */
            return;
        }
    }
    c->out_off = c->out_len = 0;
    if (c->out_cap > OUTPUT_KEPT) { /* a big answer's room is not kept for the next one */
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    if (c->writing && event_del(c->on_write) != 0)
        abort();
    c->writing = false;
    conn_flushed(c);
}

/* Answers v (JSON error, Connection: close) and starts closing. own: the front door's own
 * refusal (told to the server's refusal hook), not its head check's (which counted it). */
static void conn_refuse_verdict(http_conn *c, const http_verdict *v, bool own)
{
    http_server *s = c->server;
    if (own && s->on_refusal)
        s->on_refusal(s->on_refusal_arg, v);
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", v->code, "message", v->message);
    char *text = http_json_text(body);
    json_decref(body);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n%s%s\r\n",
                     v->status, http_status_reason(v->status), strlen(text),
                     v->extra_header ? v->extra_header : "", v->extra_header ? "\r\n" : "");
    if (n > 0 && (size_t)n < sizeof head) {
        conn_output_text(c, head, (size_t)n);
        conn_output_text(c, text, strlen(text));
    }
    free(text);
    conn_release(c);
    if (c->req)
        http_request_free(c->req); /* never one with the handler: refusals come before */
    c->req = NULL;
    c->state = C_DEAD;
    c->in_off = c->in_len = 0;
    c->closing = true;
    /* a client sending a body reads the answer only once it is through: close at once and
     * its next bytes get a reset that loses the answer; a slow head gets its slot back at
     * once */
    c->linger = c->body_coming;
    c->body_coming = false;
    c->close_by_ms = loop_coarse_ms() + CLOSE_GRACE_MS;
    conn_flush(c);
}

static void conn_refuse(http_conn *c, int status, const char *code, const char *message)
{
    http_verdict v = {.status = status, .code = code};
    snprintf(v.message, sizeof v.message, "%s", message);
    conn_refuse_verdict(c, &v, true);
}

/* The method's verdict: true with *m set, or false with *v filled. */
static bool conn_method(const char *method, http_method *m, http_verdict *v)
{
    static const char *const known[] = {"GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(method, known[i]) == 0) {
            *m = (http_method)i;
            return true;
        }
    }
    bool standard = strcmp(method, "TRACE") == 0 || strcmp(method, "CONNECT") == 0;
    *v = (http_verdict){.status = standard ? 405 : 501,
                        .code = standard ? "method_not_allowed" : "not_implemented",
                        .extra_header = "Allow: GET, POST, PATCH, DELETE, PUT, HEAD, OPTIONS"};
    snprintf(v->message, sizeof v->message, "method %s is not served", method);
    return false;
}

/* A head found in the input and parsed in place, with what the checks made of it. */
typedef struct head_scan {
    char *data; /* the head in the input buffer */
    size_t len;
    http_head_parsed parsed;
    http_fields fields; /* into data */
    http_method method;
    const char *raw_path;   /* into data, or a literal "/" */
    const char *query;      /* into data, or NULL */
    char *decoded;          /* the path decoded when it has escapes (libevent's malloc) */
    const char *connection; /* the first Connection header's value, or NULL */
    const char *expect;     /* the first Expect header's value, or NULL */
} head_scan;

/* Keeps a header of the head; notes the two the connection itself reads (a lookup each
 * per request otherwise). */
static bool conn_keep_field(void *arg, const char *name, const char *value)
{
    head_scan *h = arg;
    http_fields *f = &h->fields;
    size_t n = strlen(name);
    if (n == 10 && !h->connection && strcasecmp(name, "Connection") == 0)
        h->connection = value;
    else if (n == 6 && !h->expect && strcasecmp(name, "Expect") == 0)
        h->expect = value;
    if (f->count == f->cap) {
        f->cap *= 2;
        if (f->items == f->inline_items) {
            f->items = xmalloc(f->cap * sizeof *f->items);
            memcpy(f->items, f->inline_items, sizeof f->inline_items);
        } else {
            f->items = xrealloc(f->items, f->cap * sizeof *f->items);
        }
    }
    f->items[f->count++] = (http_field){.name = name, .value = value, .name_len = n};
    return true;
}

/* The target's path and query, cut in place; a fragment is dropped, an absolute target
 * ("http://host/p") reduced to its path. */
static void head_target(head_scan *h)
{
    char *target = h->parsed.target;
    char *cut = strpbrk(target, "?#");
    h->query = NULL;
    if (cut && *cut == '?') {
        h->query = cut + 1;
        char *hash = strchr(cut + 1, '#');
        if (hash)
            *hash = '\0';
    }
    if (cut)
        *cut = '\0';
    const char *path = target;
    if (strncasecmp(target, "http://", 7) == 0 || strncasecmp(target, "https://", 8) == 0) {
        path = strchr(strstr(target, "//") + 2, '/');
        if (!path)
            path = "";
    }
    h->raw_path = *path ? path : "/";
    h->decoded = NULL;
    if (strchr(h->raw_path, '%')) /* else decoding changes nothing */
        h->decoded = mem_check(evhttp_uridecode(h->raw_path, 0, NULL));
}

/* Every check of a parsed head, the server's last. True to read the body (budget
 * reserved); false with *v filled, and *by_check set when the server's head check refused. */
static bool conn_admit(http_conn *c, head_scan *h, http_verdict *v, bool *by_check)
{
    http_server *s = c->server;
    const http_head_parsed *p = &h->parsed;
    if (!conn_method(p->method, &h->method, v))
        return false;
    head_target(h);
    http_head head = {.method = p->method,
                      .path = h->decoded ? h->decoded : h->raw_path,
                      .query = h->query,
                      .headers = &h->fields,
                      .content_length = p->chunked ? -1 : p->content_length};
    if (s->head_check && !s->head_check(s->head_check_arg, &head, v)) {
        *by_check = true;
        return false;
    }
    size_t want = p->chunked ? s->max_body : (size_t)p->content_length;
    if (want > s->max_body) {
        *v = (http_verdict){.status = 413, .code = "too_large"};
        snprintf(v->message, sizeof v->message, "the body is over %zu bytes", s->max_body);
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
    c->reserved = want;
    return true;
}

/* p moved from the input buffer to the request's copy of the head (a literal stays). */
static const char *rebase(const char *p, const head_scan *h, char *to)
{
    uintptr_t at = (uintptr_t)p, from = (uintptr_t)h->data;
    return p && at >= from && at < from + h->len ? to + (at - from) : p;
}

/* The request of an admitted head: one allocation for it, its head's text and a
 * Content-Length body; the connection's spare one when it is large enough (a malloc and a
 * free of a kilobyte or more per request otherwise). */
static http_request *conn_request_new(http_conn *c, head_scan *h)
{
    size_t body = h->parsed.chunked ? 0 : (size_t)h->parsed.content_length + 1;
    size_t size = sizeof(http_request) + h->len + 1 + body;
    http_request *req = c->spare;
    c->spare = NULL;
    if (req && req->size >= size) {
        size = req->size;
    } else {
        free(req);
        req = xmalloc(size);
    }
    /* all but the inline headers, of which those used are copied below */
    memset(req, 0, offsetof(http_request, headers));
    memset((char *)req + offsetof(http_request, body), 0,
           offsetof(http_request, text) - offsetof(http_request, body));
    req->size = size;
    memcpy(req->text, h->data, h->len);
    req->text[h->len] = '\0';
    req->conn = c;
    req->method = h->method;
    req->http10 = h->parsed.http10;
    req->raw_path = rebase(h->raw_path, h, req->text);
    req->query = rebase(h->query, h, req->text);
    req->path = h->decoded;
    req->body = body ? req->text + h->len + 1 : NULL;
    http_fields *f = &req->headers;
    f->count = h->fields.count;
    f->cap = h->fields.cap;
    f->items = h->fields.items;
    if (h->fields.items == h->fields.inline_items) {
        f->items = f->inline_items;
        memcpy(f->inline_items, h->fields.inline_items, f->count * sizeof *f->items);
    }
    for (size_t i = 0; i < f->count; i++) {
        f->items[i].name = rebase(f->items[i].name, h, req->text);
        f->items[i].value = rebase(f->items[i].value, h, req->text);
    }
    const char *connection = h->connection;
    req->close_asked = connection && strcasecmp(connection, "close") == 0;
    req->keep_alive =
        req->http10 ? connection && strcasecmp(connection, "keep-alive") == 0 : !req->close_asked;
    return req;
}

static void conn_dispatch(http_conn *c)
{
    http_request *req = c->req;
    http_server *s = c->server;
    if (req->body)
        req->body[req->body_len] = '\0';
    c->state = C_HANDLER;
    c->handing = true;
    c->started_ms = 0;
    c->body_coming = false;
    if (s->handler)
        s->handler(req, s->handler_arg);
    else
        http_reply_error(req, 404, "not_found", "no such path");
}

/* Expect: 100-continue is answered when no byte of the body is here yet; any other
 * expectation is refused (417). False when refused. */
static bool conn_expect(http_conn *c, const head_scan *h, bool body_follows)
{
    const char *expect = h->parsed.http10 ? NULL : h->expect;
    if (!expect)
        return true;
    if (strcasecmp(expect, "100-continue") != 0) {
        http_verdict v = {.status = 417, .code = "expectation_failed"};
        snprintf(v.message, sizeof v.message, "only Expect: 100-continue is served");
        conn_refuse_verdict(c, &v, false);
        return false;
    }
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (body_follows && c->in_off == c->in_len) {
        conn_output_text(c, line, sizeof line - 1);
        conn_flush(c);
    }
    return true;
}

/* The request of the head just admitted is under way: on to its body, or to the handler. */
static void conn_request_start(http_conn *c, head_scan *h)
{
    c->req = conn_request_new(c, h);
    c->in_off += h->len;
    c->left = h->parsed.content_length;
    bool body_follows = h->parsed.chunked || c->left > 0;
    if (!conn_expect(c, h, body_follows))
        return;
    if (h->parsed.chunked)
        c->state = C_CHUNK_SIZE;
    else if (c->left > 0)
        c->state = C_BODY;
    else
        conn_dispatch(c);
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

/* C_HEAD: true when a head was taken (and the state moved past it). */
static bool conn_head(http_conn *c)
{
    http_server *s = c->server;
    if (c->started_ms == 0)
        c->started_ms = loop_coarse_ms();
    head_scan h = {.data = c->in + c->in_off};
    size_t avail = c->in_len - c->in_off;
    size_t look = avail < s->max_headers ? avail : s->max_headers;
    const char *end = head_end(h.data, look);
    if (!end) {
        if (look == s->max_headers)
            conn_refuse(c, 431, "headers_too_large", "the request head is too large");
        return false;
    }
    h.len = (size_t)(end - h.data) + 4;
    h.fields.items = h.fields.inline_items;
    h.fields.cap = HTTP_INLINE_FIELDS;
    char saved = h.data[h.len]; /* in the buffer: it has a byte past its end for this */
    h.data[h.len] = '\0';
    http_verdict v = {.status = 400, .code = "bad_request"};
    const char *why = http_head_parse(h.data, h.len, &h.parsed, conn_keep_field, &h);
    h.data[h.len] = saved;
    c->body_coming = !why && (h.parsed.chunked || h.parsed.content_length > 0);
    if (why)
        snprintf(v.message, sizeof v.message, "%s", why);
    bool by_check = false;
    if (why || !conn_admit(c, &h, &v, &by_check)) {
        if (h.fields.items != h.fields.inline_items)
            free(h.fields.items);
        free(h.decoded);
        conn_refuse_verdict(c, &v, !by_check);
        return false;
    }
    conn_request_start(c, &h);
    return true;
}

/* C_BODY and C_CHUNK_DATA: takes up to `left` bytes; true when some were taken. */
static bool conn_data(http_conn *c)
{
    http_request *req = c->req;
    size_t n = c->in_len - c->in_off;
    if ((int64_t)n > c->left)
        n = (size_t)c->left;
    if (c->state == C_CHUNK_DATA && req->body_len + n + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 1024;
        while (req->body_len + n + 1 > cap)
            cap *= 2;
        req->body = xrealloc(req->body, cap);
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, c->in + c->in_off, n);
    req->body_len += n;
    c->in_off += n;
    c->left -= (int64_t)n;
    if (c->left == 0) {
        if (c->state == C_BODY)
            conn_dispatch(c);
        else
            c->state = C_CHUNK_CRLF;
    }
    return true;
}

/* The CRLF in the n bytes at data (its offset), or -1. */
static ptrdiff_t find_crlf(const char *data, size_t n)
{
    for (const char *cr = data; (cr = memchr(cr, '\r', n - (size_t)(cr - data))); cr++)
        if ((size_t)(cr - data) + 1 < n && cr[1] == '\n')
            return cr - data;
    return -1;
}

/* C_CHUNK_SIZE and C_TRAILER: one line. True when a line was taken. */
static bool conn_chunk_line(http_conn *c)
{
    const char *data = c->in + c->in_off;
    size_t avail = c->in_len - c->in_off;
    ptrdiff_t at = find_crlf(data, avail < MAX_CHUNK_LINE + 2 ? avail : MAX_CHUNK_LINE + 2);
    if (at < 0 || at > MAX_CHUNK_LINE) {
        if (at > MAX_CHUNK_LINE || avail > MAX_CHUNK_LINE + 1)
            conn_refuse(c, 400, "bad_request", "a chunk line is too long");
        return false;
    }
    char line[MAX_CHUNK_LINE + 1];
    memcpy(line, data, (size_t)at);
    line[at] = '\0';
    c->in_off += (size_t)at + 2;
    if (c->state == C_TRAILER) {
        if (at == 0)
            conn_dispatch(c);
        return true;
    }
    size_t digits = strspn(line, "0123456789abcdefABCDEF");
    if (digits == 0 || digits > 15 || (line[digits] != '\0' && line[digits] != ';')) {
        conn_refuse(c, 400, "bad_request", "a chunk size is malformed");
        return false;
    }
    c->left = strtoll(line, NULL, 16);
    if (c->req->body_len + (size_t)c->left > c->server->max_body) {
        conn_refuse(c, 413, "too_large", "the chunked body is over the cap");
        return false;
    }
    c->state = c->left == 0 ? C_TRAILER : C_CHUNK_DATA;
    return true;
}

static bool conn_chunk_crlf(http_conn *c)
{
    if (c->in_len - c->in_off < 2)
        return false;
    if (c->in[c->in_off] != '\r' || c->in[c->in_off + 1] != '\n') {
        conn_refuse(c, 400, "bad_request", "chunk data does not end in CRLF");
        return false;
    }
    c->in_off += 2;
    c->state = C_CHUNK_SIZE;
    return true;
}

/* The input, request by request, until it runs out or a request is with the handler. */
static void conn_process(http_conn *c)
{
    bool more = true;
    while (more && !c->doomed && c->in_off < c->in_len) {
        switch (c->state) {
        case C_HEAD:
            more = conn_head(c);
            break;
        case C_BODY:
        case C_CHUNK_DATA:
            more = conn_data(c);
            break;
        case C_CHUNK_SIZE:
        case C_TRAILER:
            more = conn_chunk_line(c);
            break;
        case C_CHUNK_CRLF:
            more = conn_chunk_crlf(c);
            break;
        case C_HANDLER:
            more = false;
            break;
        case C_DEAD:
            c->in_off = c->in_len;
            more = false;
            break;
        }
    }
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    /* the client's end came: what it sent is answered, and then the connection closed */
    if (c->peer_done && conn_reading_request(c)) {
        c->state = C_DEAD;
        c->closing = true;
        c->linger = false;
        c->close_by_ms = loop_coarse_ms() + CLOSE_GRACE_MS;
        conn_flush(c);
    }
}

/* Room to read into: false when the buffer is full and must wait (a request with the
 * handler while the client sends the next ones). */
static bool conn_input_room(http_conn *c)
{
    if (c->in_len < c->in_cap)
        return true;
    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
        return true;
    }
    size_t limit = c->server->max_headers + MAX_CHUNK_LINE + INPUT_FIRST;
    if (c->state == C_HANDLER || c->in_cap >= limit)
        return false;
    c->in_cap = c->in_cap * 2 < limit ? c->in_cap * 2 : limit;
    c->in = xrealloc(c->in, c->in_cap + 1);
    return true;
}

static void conn_stop_reading(http_conn *c)
{
    if (c->reading && event_del(c->on_read) != 0)
        abort(); /* only on a corrupt event base */
    c->reading = false;
}

static void conn_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    http_conn *c = arg;
    conn_enter(c);
    if (c->state == C_DEAD)
        c->in_off = c->in_len = 0; /* dropped */
    if (!conn_input_room(c)) {
        conn_stop_reading(c); /* until the handler answers */
        conn_leave(c);
        return;
    }
    ssize_t n = read(fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (n > 0) {
        c->in_len += (size_t)n;
        c->active_ms = loop_coarse_ms();
        conn_process(c);
    } else if (n == 0) {
        c->peer_done = true;
        conn_stop_reading(c);
        if (c->state == C_DEAD && (c->out_off == c->out_len || c->linger))
            conn_doom(c);
        else
            conn_process(c);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        conn_doom(c); /* reset: a request with the handler is answered into the void */
    }
    conn_leave(c);
}

static void conn_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_conn *c = arg;
    conn_enter(c);
    conn_flush(c);
    conn_leave(c);
}

static void conn_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_conn *c = arg;
    http_server *s = c->server;
    c->armed_ms = 0;
    conn_enter(c);
    int64_t now = loop_coarse_ms();
    bool idle = c->state != C_HANDLER || c->out_off < c->out_len;
    if (c->state == C_DEAD) {
        if (now >= conn_deadline(c))
            conn_doom(c);
    } else if (c->started_ms != 0 && conn_reading_request(c) &&
               now >= c->started_ms +
                          (c->state == C_HEAD ? s->header_timeout_ms : s->request_timeout_ms)) {
        conn_refuse(c, 408, "request_timeout", "the request was not received in time");
    } else if (idle && now >= c->active_ms + s->idle_ms) {
        conn_doom(c); /* evhttp's idle timeout, kept: closed without a word */
    }
    conn_leave(c);
}

void http_conn_answered(http_conn *c, http_request *req)
{
    conn_enter(c);
    c->req = NULL;
    c->handing = false;
    conn_release(c);
    bool close = req->close_asked || req->close_after || (req->http10 && !req->keep_alive);
    http_request_clear(req);
    if (!close && req->size <= SPARE_KEPT) { /* the next request on it reuses the bytes */
        free(c->spare);
        c->spare = req;
    } else {
        free(req);
    }
    if (close) {
        c->state = C_DEAD;
        c->closing = true;
        c->linger = c->in_off < c->in_len; /* unread bytes: a reset could lose the answer */
        c->close_by_ms = loop_coarse_ms() + CLOSE_GRACE_MS;
    } else {
        c->state = C_HEAD;
    }
    conn_flush(c);
    if (!close && !c->doomed) {
        if (!c->reading && !c->peer_done) {
            if (event_add(c->on_read, NULL) != 0)
                abort(); /* only on a corrupt event base */
            c->reading = true;
        }
        if (c->busy == 1) /* else the dispatch loop under us goes on by itself */
            conn_process(c);
    }
    conn_leave(c);
}

void http_conn_abort_all(http_server *s)
{
    http_conn *next = NULL;
    for (http_conn *c = LIST_FIRST(&s->conns); c; c = next) {
        next = LIST_NEXT(c, link);
        conn_doom(c);
        if (c->busy == 0) /* a busy one goes when its callback returns */
            conn_destroy(c);
    }
}

const char *http_request_peer(const http_request *req)
{
    return req->conn ? req->conn->peer : "";
}

void http_conn_open(http_server *s, evutil_socket_t fd, const char *address)
{
    http_conn *c = xcalloc(1, sizeof *c);
    c->server = s;
    c->fd = fd;
    c->address = http_address_find(s, address, true);
    c->address->count++;
    snprintf(c->peer, sizeof c->peer, "%s", address);
    c->on_read = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_readable, c);
    c->on_write = event_new(s->base, fd, EV_WRITE | EV_PERSIST, conn_writable, c);
    c->timer = event_new(s->base, -1, 0, conn_timer, c);
    if (!c->on_read || !c->on_write || !c->timer || event_add(c->on_read, NULL) != 0)
        abort(); /* only out of memory */
    c->reading = true;
    c->in_cap = INPUT_FIRST;
    c->in = xmalloc(c->in_cap + 1);
    c->active_ms = loop_coarse_ms();
    LIST_INSERT_HEAD(&s->conns, c, link);
    s->live++;
    conn_schedule(c);
}
