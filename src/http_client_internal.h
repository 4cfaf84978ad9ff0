/*
 * http_client_internal.h — what the three files of hookd's HTTP/1.1 client share; not for
 * other modules (their contract is http_client.h).
 *
 *   http_client.c       the public API: URLs and headers checked, the request written into
 *                       its record, per-origin pools of idle connections, the per-host and
 *                       total caps with their FIFO of waiting requests, timeouts, outcomes;
 *                       and the address policy.
 *   http_client_conn.c  one connection: resolve, connect (the address policy per address),
 *                       CONNECT through a proxy, TLS, write a request, read its answer
 *                       (parsed by http_answer.c, pure, fuzzed), stay idle.
 *   http_client_tls.c   OpenSSL: the client's SSL_CTX, one SSL per connection (SNI, name
 *                       check, ALPN, session resumption) and the BIO that runs TLS inside
 *                       TLS (an https:// proxy's tunnel).
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_HTTP_CLIENT_INTERNAL_H
#define HOOKD_HTTP_CLIENT_INTERNAL_H

#include "http_answer.h"
#include "http_client.h"
#include "http_proxy.h"

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/util.h> /* struct evutil_addrinfo may be a macro for struct addrinfo */

struct event;
struct evdns_base;

#define HC_RESPONSE_CAP 4096 /* bytes of an answer's body kept */
#define HC_HEADERS_CAP 8192  /* bytes of an answer's header lines kept (whole lines) */
#define HC_ADDRS_MAX 8       /* resolved addresses tried, in order */

typedef struct hc_conn hc_conn;
typedef struct hc_req hc_req;

/* A URL that passed the scheme policy, parsed once. Counted: the client's cache holds one
 * reference and each request using it one more. */
typedef struct hc_url {
    char *url;
    bool https;
    char *host;      /* without an IPv6 literal's brackets */
    bool host_is_ip; /* an address literal: no DNS, no SNI, the certificate names the IP */
    uint16_t port;
    char *authority;  /* the Host header: host as written (brackets kept), ":port" unless the
                         scheme's default */
    char *target;     /* path and query ("/" at least) */
    char *origin_key; /* "scheme://host:port": the pool the URL's connections go to */
    char *head;       /* every request's head up to the Content-Length value (request line, Host,
                         User-Agent, Content-Type): written once per URL, not per request */
    size_t head_len;
    unsigned refs;
} hc_url;

/* Where connections go: scheme, host and port (and, through a checking proxy, the address
 * the proxy is asked to tunnel to). Holds the idle connections and the requests waiting for
 * one; exists while it has a connection or a waiting request. */
typedef struct hc_origin {
    char *key;
    bool https;
    char *host; /* for DNS, SNI and the certificate check */
    bool host_is_ip;
    uint16_t port;
    char *tunnel;                    /* through a proxy: "ADDRESS:PORT" to CONNECT to, else NULL */
    size_t open;                     /* its connections, connecting, busy or idle */
    size_t reqs;                     /* requests bound to it (hc_req.origin) */
    hc_conn *idle;                   /* its idle connections, the most recently used first */
    hc_req *wait_first;              /* requests waiting for a connection, oldest first */
    hc_req **wait_tail;              /* the link the next waiting one goes into */
    struct hc_origin *wprev, *wnext; /* the client's list of origins with waiting requests */
    bool in_wait_list;
    SSL_SESSION *session;   /* the last TLS session the server gave, offered for resumption */
    struct hc_origin *next; /* the hash bucket's chain */
} hc_origin;

typedef enum hc_state {
    HC_RESOLVING,  /* looking the host (or the proxy's) up */
    HC_CONNECTING, /* connect() under way */
    HC_PROXY_TLS,  /* TLS handshake with an https:// proxy */
    HC_PROXY_SEND, /* writing CONNECT */
    HC_PROXY_RECV, /* reading the proxy's answer to CONNECT */
    HC_TLS,        /* TLS handshake with the destination */
    HC_IDLE,       /* in its origin's pool */
    HC_SENDING,    /* writing a request */
    HC_RECEIVING   /* reading its answer */
} hc_state;

struct hc_conn {
    http_client *client;
    hc_origin *origin;
    hc_req *req; /* the request it carries or is being set up for; NULL when idle */
    hc_state state;
    int fd;
    struct event *ev; /* EV_READ | EV_PERSIST from connected to closed; EV_WRITE added only
                         while a write waits for room */
    short ev_flags;
    SSL *ssl;       /* TLS with the destination, or NULL */
    SSL *proxy_ssl; /* TLS with an https:// proxy (the destination's TLS runs inside), or NULL */
    http_lookup *lookup; /* the DNS lookup under way, or NULL */
    struct sockaddr_storage addrs[HC_ADDRS_MAX];
    size_t addr_count, addr_next;
    unsigned refused;      /* addresses the policy refused */
    unsigned opened;       /* sockets connect() was tried on */
    char refused_why[160]; /* the first refusal */
    int connect_errno;     /* the last connect()'s error */
    unsigned served;       /* answers read on it: above 0 it is a reused connection */
    size_t out_off;        /* bytes of the request (or CONNECT) written */
    char *proxy_out;       /* the CONNECT request while it is written */
    char *in;              /* bytes read and not yet parsed */
    size_t in_len, in_cap;
    http_answer answer;           /* the answer being read */
    bool any_byte;                /* a byte of it arrived */
    hc_conn *idle_next;           /* the origin's idle stack */
    hc_conn *lru_prev, *lru_next; /* the client's idle list, the most recent first */
};

struct hc_req {
    http_client *client;
    hc_url *url;
    hc_origin *origin; /* once known (after the proxy's check), else NULL */
    hc_conn *conn;     /* the connection carrying it or being set up for it, or NULL */
    http_done_fn done;
    void *arg;
    char *out; /* the whole request: head, then body */
    size_t out_len, out_cap;
    int64_t started_ms; /* monotonic */
    int64_t timeout_ms;
    struct event *timer; /* the deadline; also fires at once to report a failure */
    http_proxy_check *check;
    bool waiting; /* in its origin's queue */
    hc_req *wait_next;
    bool retried; /* already sent again after a reused connection failed */
    bool fresh;   /* must go on a new connection (the retry) */
    bool failed;  /* the outcome is a failure, reported when the timer fires */
    bool refused; /* ... by the address policy */
    char error[320];
    int status;
    char response[HC_RESPONSE_CAP];
    size_t response_len;
    char headers[HC_HEADERS_CAP];
    size_t headers_len;
    int64_t retry_after_ms;
    hc_req *prev, *next; /* the client's requests under way, or the free list */
};

struct http_client {
    struct event_base *base;
    bool allow_http;
    bool allow_private;
    char *user_agent;
    char *ca_file;
    hc_url *proxy;          /* --proxy, parsed, or NULL */
    bool proxy_check;       /* resolve and check each destination before tunnelling to it */
    struct evdns_base *dns; /* made at the first name to resolve (or at start for the check) */
    SSL_CTX *tls;           /* made at the first https connection */
    hc_req *active;         /* requests under way */
    size_t in_flight;
    hc_req *free_reqs; /* finished request records kept with their buffers */
    size_t free_count;
    hc_url *checked[16]; /* URLs that passed the policy, the oldest replaced first */
    size_t checked_next;
    hc_origin *origins[256];
    hc_origin *waiting_origins;    /* origins with waiting requests */
    hc_conn *lru_first, *lru_last; /* idle connections, the most recently used first */
    size_t open;                   /* connections open */
    bool freeing;                  /* in http_client_free: no request is started any more */
    size_t max_host, max_total;
};

/* ---- http_client.c, for the connections ---- */

/* The answer in req's buffers is complete: the request succeeded. k goes back to the pool
 * when keep is true, else is closed. Calls done. */
void hc_req_answered(hc_req *req, bool keep);

/* The request failed with text (refused: the address policy refused every address); its
 * connection is closed, and done is called from the request's timer on the next loop turn.
 * A reused connection's failure before the answer's first byte (retryable) sends the request
 * once more on a new connection instead. */
void hc_req_fail(hc_req *req, const char *text, bool refused, bool retryable);

/* The client's resolver, made on first use; NULL (logged) when it cannot start. */
struct evdns_base *hc_client_dns(http_client *c);

/* The idle connection k became readable (closed by the server, or it spoke out of turn):
 * out of the pool, closed. */
void hc_conn_idle_lost(hc_conn *k);

/* k was closed: its origin and the client count one connection less, and a waiting request
 * may now open one. */
void hc_conn_gone(http_client *c, hc_origin *o);

/* ---- http_client_conn.c ---- */

/* Opens a connection of origin o for req (resolve, connect, tunnel, TLS), then writes req.
 * Failures go to hc_req_fail. */
void hc_conn_open(http_client *c, hc_origin *o, hc_req *req);

/* Writes req on the idle (or just set-up) connection k. */
void hc_conn_send(hc_conn *k, hc_req *req);

/* Closes k without a word to its request (which the caller handles); then hc_conn_gone. */
void hc_conn_close(hc_conn *k);

/* ---- http_client_tls.c ---- */

/* The client's TLS context: TLS 1.2 or later, peers verified against ca_file, or the system's
 * store when NULL, ALPN http/1.1, client sessions kept per origin. NULL with why. */
SSL_CTX *hc_tls_context(const char *ca_file, char *why, size_t whylen);

/* An SSL for k towards host (SNI unless an IP literal; the certificate must name host),
 * over k's socket, or inside outer (an https:// proxy's TLS) when given. The origin's
 * session is offered. */
SSL *hc_tls_new(SSL_CTX *ctx, hc_conn *k, const char *host, bool host_is_ip, SSL *outer);

/* Runs one step of ssl's handshake: 1 done, 0 wants to wait (*want = EV_READ or EV_WRITE),
 * -1 failed (why written). */
int hc_tls_handshake(SSL *ssl, short *want, char *why, size_t whylen);

/* After SSL_read/SSL_write returned rc <= 0: EV_READ or EV_WRITE to wait for, 0 when the
 * peer closed cleanly, -1 on an error (why written). */
short hc_tls_want(SSL *ssl, int rc, char *why, size_t whylen);

#endif
