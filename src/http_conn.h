/*
 * http_conn.h — the inside of http_server.h, shared by its three files: http_server.c (the
 * listener, the caps on connections, the settings), http_conn.c (one connection: reading,
 * the front door's checks, framing, deadlines, writing) and http_request.c (the request
 * accessors and the answers). Nothing else in src/ includes it (the unit test does, to build
 * a header list).
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_HTTP_CONN_H
#define HOOKD_HTTP_CONN_H

#include "http_server.h"

#include <event2/util.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct event;
struct evconnlistener;
struct metric;

#define HTTP_INLINE_FIELDS 24 /* headers of a head kept without an allocation */
#define HTTP_ADDRESS_BUCKETS 256
#define HTTP_FRONT_DOOR_CODES 7

typedef struct http_field {
    const char *name;
    const char *value;
    size_t name_len;
} http_field;

struct http_fields {
    http_field *items; /* inline_items, or an array of its own once more were sent */
    size_t count, cap;
    http_field inline_items[HTTP_INLINE_FIELDS];
};

/* Connections open from one client address. */
typedef struct http_address {
    struct http_address *next;
    unsigned count;
    char address[];
} http_address;

typedef struct http_conn http_conn;
LIST_HEAD(http_conn_list, http_conn);

struct http_server {
    struct event_base *base;
    struct evconnlistener *listener; /* NULL once closed (drain) */
    http_handler_fn handler;
    void *handler_arg;
    size_t max_body;
    size_t max_headers;
    int64_t idle_ms;            /* a connection with no progress this long is closed */
    int64_t header_timeout_ms;  /* from a head's first byte to its end */
    int64_t request_timeout_ms; /* from a head's first byte to its body's end */
    unsigned max_connections;
    unsigned max_per_address;
    http_head_fn head_check; /* may be NULL */
    void *head_check_arg;
    http_refusal_fn on_refusal; /* told of the front door's own refusals; may be NULL */
    void *on_refusal_arg;
    unsigned live;               /* connections whose socket is open */
    struct http_conn_list conns; /* every connection with an open socket */
    http_address *addresses[HTTP_ADDRESS_BUCKETS];
    struct event *resume;     /* re-enables the listener paused after an accept error */
    int64_t accept_logged_ms; /* last accept error logged */
    unsigned accept_errors;   /* since then */
    struct metric *refused[HTTP_FRONT_DOOR_CODES]; /* http_server_count_refusals' counters */
};

struct http_request {
    http_conn *conn; /* NULL once the connection is gone: the answer is dropped */
    http_method method;
    bool http10;          /* an HTTP/1.0 request: answered in kind */
    bool keep_alive;      /* the client asked to keep the connection (or did not refuse) */
    bool close_asked;     /* the request said Connection: close */
    bool close_after;     /* the handler added Connection: close */
    const char *raw_path; /* into text: the target's path, not decoded */
    const char *query;    /* into text: after the '?', or NULL */
    char *path;           /* decoded, when it has escapes (owned), else NULL */
    http_fields headers;
    char *body; /* into text for a Content-Length body, else owned (chunked) */
    size_t body_len, body_cap;
    char *out_headers; /* "Name: value\r\n" lines added by the handler (owned) */
    size_t out_len, out_cap;
    size_t size; /* bytes allocated for it (its connection reuses them for the next one) */
    char text[]; /* the head as sent (parsed in place), then a Content-Length body */
};

/* The connection of an accepted socket (fd, already non-blocking), admitted by the caps
 * and counted in server->live. Address: the client's, as text. */
void http_conn_open(http_server *server, evutil_socket_t fd, const char *address);

/* Closes every connection of the server at once (the server is going). A request with its
 * handler is orphaned: it stays valid until answered, and the answer is dropped. */
void http_conn_abort_all(http_server *server);

/* The connection count of the address (the caps): made at 0 when create, else NULL. */
http_address *http_address_find(http_server *server, const char *address, bool create);
void http_address_release(http_server *server, http_address *a);

/* For http_request.c: room for n more bytes of the connection's output, which the caller
 * fills and then commits with http_conn_answered (the request is freed there). */
char *http_conn_output(http_conn *conn, size_t n);
void http_conn_output_commit(http_conn *conn, size_t n);
void http_conn_answered(http_conn *conn, http_request *req);

/* Frees a request (never a connection). */
void http_request_free(http_request *req);

/* Frees what a request owns apart from its own allocation (decoded path, chunked body,
 * header array, added headers). */
void http_request_clear(http_request *req);

/* The Date header's value for now (RFC 9110 IMF-fixdate), formatted once a second, or NULL. */
const char *http_date_now(void);

#endif
