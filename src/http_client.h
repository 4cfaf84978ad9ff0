/*
 * http_client.h — outbound HTTP/1.1 POSTs on the libevent loop: hookd's own client
 * (http_client.c, http_client_conn.c, http_client_tls.c; OpenSSL for https).
 *
 * Used by the sender's deliveries (serve_deliver.c), the receiver's --forward handler
 * (receive_handler.c) and `hookd send` (tools.c). No thread per request: every request is
 * driven by the one event loop on nonblocking sockets. Connections are kept alive and reused
 * per origin (scheme, host, port). Redirects are never followed. Every address a connection
 * is about to reach is checked just before connect() (after DNS), so a DNS answer that
 * changes after a URL was saved cannot reach a refused range.
 *
 * An answer is read whole (Content-Length, chunked, or until the server closes); 1XX answers
 * are skipped; its head may not exceed 64 KiB (the request fails), and past 1 MiB of body the
 * answer ends with its status (the rest is not drained: the connection is closed). A request
 * sent on a kept-alive connection that the server had closed (no byte of an answer came
 * back) is sent once more on a new connection.
 *
 * Thread: everything here is called on the loop thread only.
 */
#ifndef HOOKD_HTTP_CLIENT_H
#define HOOKD_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct http_client http_client;

typedef struct http_client_options {
    bool allow_http;              /* permit http:// as well as https:// */
    bool allow_private_addresses; /* permit loopback, private, link-local, CGNAT, multicast,
                                     unspecified (and their IPv4-mapped forms) */
    const char *ca_file;          /* extra PEM bundle to trust instead of the system's; NULL */
    long max_total_connections;   /* cap on open connections, idle ones included (0: 256);
                                     at the cap, the connection idle the longest is closed
                                     to open a new one */
    long max_host_connections;    /* per origin (0: 16); more requests wait, oldest first,
                                     their timeout counting from http_client_post */
    const char *user_agent;       /* "hookd/<version>" when NULL */
    const char *proxy;            /* http(s)://HOST:PORT every request goes through as a
                                     CONNECT tunnel, or NULL; the destination is then checked
                                     by http_proxy.c (an https:// proxy: TLS to the proxy, the
                                     destination's TLS inside the tunnel) */
} http_client_options;

typedef struct http_header {
    const char *name;
    const char *value;
} http_header;

typedef struct http_request {
    const char *url;
    const http_header *headers; /* extra headers; Content-Type: application/json is added */
    size_t header_count;
    const char *body; /* copied before http_client_post returns */
    size_t body_len;
    int64_t timeout_ms; /* the whole attempt, connect to last byte */
} http_request;

typedef struct http_result {
    long status;          /* HTTP status, 0 when no answer was received */
    int64_t duration_ms;  /* from the call to the end */
    const char *error;    /* NULL on an answer; otherwise why, e.g. "timeout after 10000 ms",
                             "address refused: 127.0.0.1 is loopback",
                             "connection refused (connect to 127.0.0.1 port 9)",
                             "dns error (…)", "tls error (certificate verify failed: …)",
                             "empty reply (the server closed the connection)" */
    bool address_refused; /* the connect-time policy refused every address */
    const char *response; /* the first 4 KiB of the answer's body (not NUL-terminated) */
    size_t response_len;
    /* the answer's header lines ("Name: value\r\n" each, as received; of the final answer,
     * not of a 1XX), whole lines up to 8 KiB (not NUL-terminated) */
    const char *response_headers;
    size_t response_headers_len;
    int64_t retry_after_ms; /* Retry-After of the answer (seconds or HTTP date), else -1 */
} http_result;

/* Called on the loop thread when the request ends. result and its strings live only for
 * the call. */
typedef void (*http_done_fn)(void *arg, const http_result *result);

/* Creates a client on base. Returns NULL (and logs why) when the proxy is not a URL or, with
 * a proxy and the address policy, the resolver cannot start. */
http_client *http_client_new(struct event_base *base, const http_client_options *options);

/*
 * Starts a POST. done is always called later (never from within this call), exactly once,
 * unless the client is freed first. Returns 0, or HOOKD_EINVAL for a URL whose scheme is not
 * allowed or an extra header with an empty name or a line break in it (then done is not
 * called). Extra headers the transport sets itself (Content-Type, Content-Length,
 * Transfer-Encoding, Host, Connection, Expect, User-Agent, TE, Upgrade, Trailer) are ignored;
 * X-Webhook-* headers pass (the callers sign them). A failed attempt has status 0 and error set
 * (even when a status line had arrived before, e.g. a timeout while reading the body).
 */
int http_client_post(http_client *client, const http_request *request, http_done_fn done,
                     void *arg);

/* Checks a URL against the scheme policy (https, or http when allowed): 0 or HOOKD_EINVAL
 * with a reason in why. Used when a destination is saved. */
int http_client_check_url(const http_client_options *options, const char *url, char *why,
                          size_t whylen);

/* Requests under way (posted, done not yet called). */
size_t http_client_in_flight(const http_client *client);

/* Aborts requests under way without calling their done, and frees the client. Not from
 * within a done callback of the same client; when a DNS lookup may be under way (a host
 * name, or a proxy), only once the loop has ended (a cancelled lookup still holds a callback
 * on the loop). */
void http_client_free(http_client *client);

/* True when a destination may not configure a header of this name (any case): the headers
 * the transport sets on every request (see http_client_post) and the protocol's X-Webhook-*
 * names. The one list: the API checks destinations' custom headers with it. */
bool http_header_reserved(const char *name);

/* True when the address (struct sockaddr *) is in a range refused without
 * allow_private_addresses; writes the range's name ("loopback", "private", …) into why. */
bool http_address_is_private(const void *sockaddr, char *why, size_t whylen);

#endif
