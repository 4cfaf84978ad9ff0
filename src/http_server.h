/*
 * http_server.h — hookd's own HTTP/1.1 server for its inbound endpoints (the sender's API,
 * the receiver's public endpoint, the receiver's admin API): "HOST:PORT" binding, one
 * connection object per accepted socket on the event loop, the strict front door (caps on
 * headers, bodies, connections and slow clients), the request accessors the handlers use,
 * JSON answers and the one error shape {"error":{"code":…,"message":…}}.
 *
 * A request is handed to the server's handler once its body is in; the handler answers
 * (http_reply_*) at once or later, exactly once. A request stays valid until it is
 * answered, even when its client is gone (the answer is then dropped).
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

/* A server made by http_server_listen: its listener, connections and settings. */
typedef struct http_server http_server;

/* One request, from its complete body to its answer (see the file's comment). */
typedef struct http_request http_request;

/* The methods the front door lets through; any other is answered 405 or 501 there. */
typedef enum http_method {
    HTTP_GET,
    HTTP_POST,
    HTTP_PATCH,
    HTTP_DELETE,
    HTTP_PUT,
    HTTP_HEAD,
    HTTP_OPTIONS,
} http_method;

/* A head's header lines, in order (names and values into the head's text). */
typedef struct http_fields http_fields;

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
    const char *method;         /* "POST" */
    const char *path;           /* decoded, without the query string */
    const char *query;          /* as sent, after the '?' (NULL when none) */
    const http_fields *headers; /* find with http_head_header */
    int64_t content_length;     /* -1 for a chunked body, 0 when none */
} http_head;

/* A refusal decided on the head: answered {"error":{"code":…,"message":…}} with status,
 * and the connection closed. */
typedef struct http_verdict {
    int status;
    const char *code;
    char message[160];
    const char *extra_header; /* one "Name: value" line without CRLF, or NULL */
} http_verdict;

/* The value of the first header called name (ASCII case ignored) in headers, or NULL. Names
 * are compared by length first, then from the end: the receiver's provider asks for three
 * headers per webhook whose names share their start ("X-Webhook-"). */
const char *http_fields_find(const http_fields *headers, const char *name);

/* http_fields_find on a head's headers, for a head check. */
const char *http_head_header(const http_head *head, const char *name);

/* The server's own check of a head (API token, route, size): returns true to read the body,
 * or false with *v filled. */
typedef bool (*http_head_fn)(void *arg, const http_head *head, http_verdict *v);

/*
 * Creates a server on base listening on listen ("127.0.0.1:8080", "[::1]:9090", ":8080"),
 * with the limits applied. On failure returns NULL and writes why into err.
 * *bound_port (when not NULL) receives the port actually bound (useful with port 0).
 */
http_server *http_server_listen(struct event_base *base, const char *listen,
                                const http_server_limits *limits, int *bound_port, char *err,
                                size_t errlen);

/* The handler each request goes to once its body is in (until set: 404 not_found). */
typedef void (*http_handler_fn)(http_request *req, void *arg);
void http_server_set_handler(http_server *server, http_handler_fn fn, void *arg);

/* Closes the server's listening socket (a drain: connections open keep being served). */
void http_server_close_listener(http_server *server);

/* Compact JSON text of value (malloc'd, caller frees; "" for NULL). Never NULL. */
char *http_json_text(const json_t *value);

/* Answers with status and the JSON value (compact, Content-Type: application/json).
 * Takes ownership of (decrefs) value. */
void http_reply_json(http_request *req, int status, json_t *value);

/* Answers {"error":{"code":code,"message":message}} with status. */
void http_reply_error(http_request *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Answers with status and a text body of the given content type. */
void http_reply_text(http_request *req, int status, const char *content_type, const char *body,
                     size_t len);

/* The request body (de-chunked when it came in chunks; NUL-terminated, valid until the
 * reply). *len receives its length. Returns "" for an empty body. */
const char *http_request_body(http_request *req, size_t *len);

/* The path of the request without its query string, decoded: malloc'd, caller frees. */
char *http_request_path(http_request *req);

/* Whether the request's path (decoded, without the query string) is path: http_request_path
 * compared, without its copy when the path has no escape to decode. */
bool http_request_path_is(http_request *req, const char *path);

/* A query parameter's value (malloc'd, caller frees) or NULL when absent. */
char *http_request_query(http_request *req, const char *name);

/* The query string as sent (after the '?', without a fragment), or NULL when none. */
const char *http_request_query_string(const http_request *req);

/* The path as sent (not decoded, without the query string). */
const char *http_request_raw_path(const http_request *req);

/* The request's method. */
http_method http_request_method(const http_request *req);

/* The value of the request's header called name (http_fields_find), or NULL. */
const char *http_request_header(const http_request *req, const char *name);

/* The client's address ("127.0.0.1", "::1"); "" once its connection is gone. */
const char *http_request_peer(const http_request *req);

/* Adds the header "name: value" to the request's answer (before http_reply_*). Content-Type
 * is the reply's argument, not a header to add; "Connection: close" closes the connection
 * after the answer. */
void http_request_add_header(http_request *req, const char *name, const char *value);

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
void http_server_set_head_check(http_server *http, http_head_fn fn, void *arg);

/* Told of each refusal the front door makes on its own (framing 400, 408, 413, 431, 405 /
 * 501 methods, 503 busy): v->code names it ("too_large"). A head check's own refusals are
 * not reported: the check counts those itself. */
typedef void (*http_refusal_fn)(void *arg, const http_verdict *v);
void http_server_set_refusal_hook(http_server *http, http_refusal_fn fn, void *arg);

/* For a server with no counter of its own: registers the counter family name{reason=…}
 * in registry, one per code the front door answers on its own (bad_request,
 * request_timeout, too_large, headers_too_large, method_not_allowed, not_implemented,
 * busy), and counts each such refusal there (the server's refusal hook). */
struct metrics;
void http_server_count_refusals(http_server *http, struct metrics *registry, const char *name);

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

/* Frees a server made by http_server_listen and closes its connections. A request still with
 * its handler stays valid until answered (the answer is dropped). */
void http_server_free(http_server *http);

/* Connections currently open on a server made by http_server_listen (for metrics/tests). */
unsigned http_server_connections(http_server *http);

#endif
