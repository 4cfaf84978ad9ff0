/*
 * http_server.h — helpers around libevent's evhttp for hookd's inbound servers (the sender's
 * API, the receiver's public endpoint, the receiver's admin API): binding "HOST:PORT", caps
 * on headers, bodies and idle clients, JSON answers and the one error shape
 * {"error":{"code":…,"message":…}}.
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_HTTP_SERVER_H
#define HOOKD_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp;
struct evhttp_request;
struct evkeyvalq;

typedef struct http_server_limits {
    size_t max_body;            /* bytes; a larger Content-Length is answered 413 unread,
                                   a chunked body once its chunks pass the cap (0: 1 MiB):
                                   the front door's JSON too_large, told to the refusal
                                   hook; the handler never runs */
    size_t max_headers;         /* bytes of all headers (0: 16 KiB) */
    int64_t read_timeout_ms;    /* a client idle longer than this is dropped (0: 10 s) */
    unsigned max_connections;   /* open connections beyond this are closed at accept
                                   (0: 10000) */
    unsigned max_per_address;   /* open connections from one client address (0: 1024; a
                                   proxy on the same host is one address for all) */
    int64_t header_timeout_ms;  /* a request's head must be complete within this from its
                                   first byte, however steadily it trickles (0: 10 s) */
    int64_t request_timeout_ms; /* and its body within this from the same start (0: 60 s) */
} http_server_limits;

/* A request's head as the front door read it, before any byte of its body. */
typedef struct http_head {
    const char *method;              /* "POST" */
    const char *path;                /* decoded, without the query string */
    const char *query;               /* as sent, after the '?' (NULL when none) */
    const struct evkeyvalq *headers; /* find with evhttp_find_header */
    int64_t content_length;          /* -1 for a chunked body, 0 when none */
} http_head;

/* A refusal decided on the head: answered {"error":{"code":…,"message":…}} with status,
 * and the connection closed. */
typedef struct http_verdict {
    int status;
    const char *code;
    char message[160];
    const char *extra_header; /* one "Name: value" line without CRLF, or NULL */
} http_verdict;

/* The value of a head's header called name (ASCII case ignored), or NULL: what
 * evhttp_find_header answers, for a head check, without evhttp's per-character case
 * folding (a lookup per request on the receiver's path; names compared by length first). */
const char *http_head_header(const http_head *head, const char *name);

/* The same lookup in any header list (a request's input headers): the receiver's provider
 * asks for three headers per webhook, and evhttp_find_header folds every character of every
 * header name it passes. */
const char *http_header_find(const struct evkeyvalq *headers, const char *name);

/* The server's own check of a head (API token, route, size): returns true to read the body,
 * or false with *v filled. */
typedef bool (*http_head_fn)(void *arg, const http_head *head, http_verdict *v);

/*
 * Creates an evhttp on base listening on listen ("127.0.0.1:8080", "[::1]:9090", ":8080"),
 * with the limits applied. On failure returns NULL and writes why into err.
 * *bound_port (when not NULL) receives the port actually bound (useful with port 0).
 */
struct evhttp *http_server_listen(struct event_base *base, const char *listen,
                                  const http_server_limits *limits, int *bound_port, char *err,
                                  size_t errlen);

/* Compact JSON text of value (malloc'd, caller frees; "" for NULL). Never NULL. */
char *http_json_text(const json_t *value);

/* Answers with status and the JSON value (compact, Content-Type: application/json).
 * Takes ownership of (decrefs) value. */
void http_reply_json(struct evhttp_request *req, int status, json_t *value);

/* Answers {"error":{"code":code,"message":message}} with status. */
void http_reply_error(struct evhttp_request *req, int status, const char *code, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

/* Answers with status and a text body of the given content type. */
void http_reply_text(struct evhttp_request *req, int status, const char *content_type,
                     const char *body, size_t len);

/* The request body as one contiguous buffer (pulled up inside the evbuffer; valid until the
 * reply). *len receives its length. Returns "" for an empty body. */
const char *http_request_body(struct evhttp_request *req, size_t *len);

/* The path of the request without its query string, decoded: malloc'd, caller frees. */
char *http_request_path(struct evhttp_request *req);

/* Whether the request's path (decoded, without the query string) is path: http_request_path
 * compared, without its copy when the path has no escape to decode. */
bool http_request_path_is(struct evhttp_request *req, const char *path);

/* A query parameter's value (malloc'd, caller frees) or NULL when absent. */
char *http_request_query(struct evhttp_request *req, const char *name);

/* Splits path by '/' into at most max segments (pointers into a copy the caller frees with
 * free(segments[0]) if count > 0). "/v1/destinations/abc" → "v1","destinations","abc".
 * Empty segments are skipped; when there are more than max, the last one holds the rest
 * ("abc/x/y"), so a route matching on the count never mistakes a longer path for its own. */
size_t http_path_split(const char *path, char **segments, size_t max);

/* True when the n bytes at s are well-formed UTF-8 (no overlong forms, no surrogates). */
bool http_utf8_valid(const char *s, size_t n);

/* The API dialect's check that a head's text is UTF-8, for a head check to call: a path
 * that is not is no object (404 not_found), a query 400 invalid_parameter, an
 * Idempotency-Key 400 invalid_idempotency_key. A store (PostgreSQL) refuses such bytes,
 * which would otherwise come back as a store failure. */
bool http_head_utf8(const http_head *head, http_verdict *v);

/* Installs the server's head check (one per server made by http_server_listen). */
void http_server_set_head_check(struct evhttp *http, http_head_fn fn, void *arg);

/* Told of each refusal the front door makes on its own (framing 400, 408, 413, 431, 405 /
 * 501 methods, 503 busy): v->code names it ("too_large"). A head check's own refusals are
 * not reported: the check counts those itself. */
typedef void (*http_refusal_fn)(void *arg, const http_verdict *v);
void http_server_set_refusal_hook(struct evhttp *http, http_refusal_fn fn, void *arg);

/* For a server with no counter of its own: registers the counter family name{reason=…}
 * in registry, one per code the front door answers on its own (bad_request,
 * request_timeout, too_large, headers_too_large, method_not_allowed, not_implemented,
 * busy), and counts each such refusal there (the server's refusal hook). */
struct metrics;
void http_server_count_refusals(struct evhttp *http, struct metrics *registry, const char *name);

/* The operator's front-door flags (cli.h), over limits: each flag given replaces its field
 * (0 leaves it), and --max-buffered-body sets the process-wide budget. */
struct cli_front_door;
void http_server_apply_flags(http_server_limits *limits, const struct cli_front_door *flags);

/* The process-wide budget of body bytes buffered before an answer (0: 32 MiB). A request
 * whose declared body would pass it is answered 503 with Retry-After before it is read. */
void http_server_set_body_budget(size_t bytes);
size_t http_server_body_budget(void);

/* "Bad Request" for 400 and so on. */
const char *http_status_reason(int status);

/* Frees a server made by http_server_listen (evhttp_free plus the connection counter).
 * Plain evhttp_free also works but leaves the counter's few bytes allocated. */
void http_server_free(struct evhttp *http);

/* Connections currently open on a server made by http_server_listen (for metrics/tests). */
unsigned http_server_connections(struct evhttp *http);

#endif
