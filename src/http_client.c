/*
 * http_client.c — outbound POSTs on libcurl's multi-socket API, driven by the libevent loop
 * (the pattern of curl's hiperfifo example): curl tells us which sockets to watch and when
 * to wake it; libevent tells curl which socket is ready. One multi handle keeps connections
 * alive per host. Every new connection's resolved address passes the address policy in the
 * open-socket callback, so a DNS answer cannot steer a delivery into a refused range.
 *
 * Cost per POST (issue 10, callgrind, docs/BENCHMARKS.md "One HTTP POST"): an easy handle
 * is kept per transfer and reused with its fixed options, per-request options are set only
 * when they changed, the header list lives in the transfer's own buffers, each URL is
 * parsed once (CURLOPT_CURLU); the idle-connection cache is as large as the connection cap
 * (no connect() in steady state), a keep-alive socket stays registered between transfers
 * (no epoll_ctl per POST), and transfers beyond a plain-HTTP host's cap wait here rather
 * than inside curl. What is left, about 75–80 k instructions per keep-alive POST with
 * libcurl 7.88, is curl's own: it builds the request head with its printf one byte at a
 * time (about 90 instructions per byte, 20 k for hookd's four header lines alone), sets up
 * and frees a connection record to find the cached one, and parses the answer.
 * libevent's evhttp client does the same POST in about 40 k (prototype, measured), but has
 * no TLS without bufferevent_openssl, no CONNECT proxy, no open-socket hook for the address
 * policy and no per-answer caps of its own: not switched; a client on it would have to
 * rebuild each of those, tested, before it could replace this one.
 */
#include "http_client.h"
#include "http_proxy.h"
#include "mem.h"

#include "hookd.h"
#include "log.h"
#include "loop.h"
#include "retry.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <ifaddrs.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_CAP 4096     /* bytes of an answer's body kept */
#define HEADERS_CAP 8192      /* bytes of an answer's header lines kept (whole lines) */
#define URL_MAX 4096          /* longest URL accepted */
#define URL_CHECKED_MAX 16    /* URLs remembered as allowed */
#define FREE_TRANSFERS_MAX 64 /* idle easy handles kept for reuse */
#define ORIGIN_BUCKETS 256    /* hash buckets of the origins with transfers */

#ifndef HOOKD_VERSION_STRING
#define HOOKD_VERSION_STRING "0"
#endif

typedef struct transfer transfer;

/* A URL that passed the policy, parsed once: curl parses a transfer's URL again each time it
 * looks for a connection (a transfer waiting for a free connection to its host looks again),
 * and a CURLU handed over with CURLOPT_CURLU is copied instead of parsed, about a tenth of a
 * POST's instructions. Counted: the client's cache holds one reference, each transfer using
 * it another, so a URL dropped from the cache lives until its last transfer is done. */
typedef struct url_entry {
    char *url;
    CURLU *parsed; /* or NULL when curl's parser refused it (then CURLOPT_URL alone) */
    char *origin;  /* "host:port" (curl's per-host key), or NULL: curl alone queues */
    unsigned refs;
} url_entry;

/* A host with transfers: those handed to curl (at most max_host_connections) and those
 * waiting, oldest first. A transfer curl cannot connect yet (the host at its cap) is parked
 * inside curl, which tries to connect it again each time another ends: each try went
 * through the whole connection set-up and cache lookup (12 k instructions, a seventh of a
 * POST's) and a fan-out to many destinations on one host made about two per POST. Waiting
 * here costs a list link. Exists while it has transfers. */
typedef struct origin {
    char *key;
    size_t active;
    transfer *first;
    transfer **tail;     /* the link the next waiting one goes into */
    struct origin *next; /* the bucket's chain */
} origin;

/* A socket curl asked us to watch. When curl stops watching a keep-alive connection's
 * socket (its transfer ended) the watch is parked, still registered for reads, instead of
 * taken out of epoll: the next transfer on that connection asks for reads again, and that
 * costs nothing instead of an epoll_ctl DEL and ADD per POST. A parked watch stops waiting
 * (but stays, to be reused) when its socket becomes readable (the peer closed or spoke out
 * of turn: curl checks the connection when it next uses it) or was waiting for more than
 * reads; it goes when curl closes the socket (close_socket_cb) or opens another one with
 * the same number (open_socket_cb, a safety net). */
typedef struct sock_watch {
    curl_socket_t fd;
    struct event *ev;
    short flags; /* what ev waits for (0: nothing) */
    bool ours;   /* opened by open_socket_cb, so closed through close_socket_cb: only those
                    may be parked (curl's resolver closes its own sockets directly) */
    bool parked; /* curl no longer watches it (see above) */
    struct http_client *client;
    struct sock_watch *prev, *next; /* the client's list, freed with it */
} sock_watch;

struct http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer; /* curl's one timeout */
    bool allow_http;
    bool allow_private;
    char *ca_file;          /* copy, or NULL */
    char *user_agent;       /* copy */
    char *proxy;            /* copy, or NULL */
    struct evdns_base *dns; /* with a proxy and the address policy: http_proxy.c's resolver */
    transfer *active;       /* transfers under way (doubly linked) */
    size_t in_flight;
    transfer *free_list; /* finished transfers kept for their easy handle */
    size_t free_count;
    sock_watch *watches;
    sock_watch **by_fd; /* the watch of each socket number, or NULL */
    size_t by_fd_len;
    /* URLs that passed the policy, the oldest replaced first: a forward or a destination
     * posts to the same URL over and over, and parsing it again was 6 % of a post's CPU */
    url_entry *checked_urls[URL_CHECKED_MAX];
    size_t checked_next;
    long max_host;                   /* connections per host */
    origin *origins[ORIGIN_BUCKETS]; /* hosts with transfers (origin_find) */
};

/* The per-request options last given to an easy handle: one that already holds a value is
 * not told again (a forward or a destination posts the same URL, headers and timeout over
 * and over). Pointers compare as values: curl only keeps them, and reads them at the next
 * start. valid is false after a refused option (then everything is set again). */
typedef struct easy_set {
    bool valid;
    CURLU *parsed;
    const char *body;
    curl_off_t body_len;
    struct curl_slist *headers;
    long timeout_ms;
} easy_set;

struct transfer {
    http_client *client;
    CURL *easy;
    http_done_fn done;
    void *arg;
    url_entry *url;  /* the request's URL, held while curl may use it */
    bool configured; /* the easy handle holds the options fixed per client (easy_configure) */
    easy_set set;    /* the per-request options the easy handle holds now */
    /* the request's header list, nodes and lines in buffers kept between transfers: curl only
     * reads CURLOPT_HTTPHEADER's list, so it need not come from curl_slist_append */
    struct curl_slist *header_nodes;
    size_t header_nodes_cap;
    char *header_text;
    size_t header_text_cap;
    char *body; /* our copy of the request body */
    size_t body_cap;
    char response[RESPONSE_CAP];
    size_t response_len;
    char answer_headers[HEADERS_CAP]; /* the answer's header lines, whole ones while they fit */
    size_t answer_headers_len;
    int64_t retry_after_ms;
    int64_t started_ms; /* monotonic */
    int64_t timeout_ms;
    char errbuf[CURL_ERROR_SIZE];
    char refused[160];             /* why the first refused address was refused */
    unsigned refused_count;        /* addresses the policy refused */
    unsigned opened_count;         /* sockets opened */
    http_proxy_check *check;       /* the destination's check under way (proxy), or NULL */
    struct curl_slist *connect_to; /* the address the check pinned (proxy), or NULL */
    CURLcode fail_code;            /* set when the transfer could not even start */
    origin *origin;                /* its host while it has one (active or waiting), or NULL */
    bool waiting;                  /* in origin's queue, not yet handed to curl */
    transfer *wait_next;           /* the queue's next */
    struct event *wait_timer;      /* its deadline while waiting (made at its first wait) */
    transfer *prev, *next;
};

/* curl allocates with its own malloc; when that fails hookd follows mem.h's rule: a message
 * and abort, from this one place. */
static void curl_out_of_memory(void) __attribute__((noreturn));

static void curl_out_of_memory(void)
{
    fputs("hookd: out of memory (libcurl)\n", stderr);
    abort();
}

/* ---- the address policy ---- */

static bool v4_is_private(uint32_t a, char *why, size_t whylen)
{
    const char *name = NULL;
    if ((a >> 24) == 127)
        name = "loopback";
    else if ((a >> 24) == 10 || (a >> 20) == 0xAC1 /* 172.16/12 */ ||
             (a >> 16) == 0xC0A8 /* 192.168/16 */)
        name = "private";
    else if ((a >> 16) == 0xA9FE) /* 169.254/16 */
        name = "link-local";
    else if ((a >> 22) == (100u << 2 | 1u)) /* 100.64/10 */
        name = "shared (CGNAT)";
    else if ((a >> 28) == 0xE) /* 224/4 */
        name = "multicast";
    else if ((a >> 24) == 0)
        name = "unspecified";
    else if (a == 0xFFFFFFFFu)
        name = "broadcast";
    else if ((a >> 28) == 0xF) /* 240/4 */
        name = "reserved";
    else if ((a >> 8) == 0xC00000) /* 192.0.0/24, IETF protocol assignments */
        name = "special-purpose";
    else if ((a >> 8) == 0xC00002 || (a >> 8) == 0xC63364 || (a >> 8) == 0xCB0071)
        name = "documentation";           /* 192.0.2/24, 198.51.100/24, 203.0.113/24 */
    else if ((a >> 17) == (0xC612u >> 1)) /* 198.18/15 */
        name = "benchmarking";
    if (name && why)
        snprintf(why, whylen, "%s", name);
    return name != NULL;
}

static uint32_t v4_from(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool v6_is_private(const uint8_t *b, char *why, size_t whylen)
{
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t siit[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const uint8_t local_nat64[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
    static const uint8_t discard[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    const char *name = NULL;
    if (memcmp(b, zero, 16) == 0)
        name = "unspecified";
    else if (memcmp(b, zero, 15) == 0 && b[15] == 1)
        name = "loopback";
    else if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 ||
             memcmp(b, zero, 12) == 0 /* IPv4-compatible ::a.b.c.d */ ||
             memcmp(b, siit, 12) == 0 /* ::ffff:0:a.b.c.d */)
        return v4_is_private(v4_from(b + 12), why, whylen);
    else if (memcmp(b, local_nat64, 6) == 0) /* 64:ff9b:1::/48 */
        name = "local-use NAT64";
    else if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) /* 2001::/32, Teredo */
        name = "Teredo";
    else if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* 2001:db8::/32 */
        name = "documentation";
    else if (memcmp(b, discard, 8) == 0) /* 100::/64 */
        name = "discard-only";
    else if (b[0] == 0x20 && b[1] == 0x02) /* 6to4: 2002:a.b.c.d::/48 */
        return v4_is_private(v4_from(b + 2), why, whylen);
    else if ((b[0] & 0xfe) == 0xfc) /* fc00::/7 */
        name = "private";
    else if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 */
        name = "link-local";
    else if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10, deprecated site-local */
        name = "private";
    else if (b[0] == 0xff)
        name = "multicast";
    if (name && why)
        snprintf(why, whylen, "%s", name);
    return name != NULL;
}

/* True when sa is one of this host's own interface addresses (any interface, up or not). */
static bool address_is_own(const struct sockaddr *sa)
{
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) != 0)
        return false; /* the ranges above still apply */
    bool own = false;
    for (struct ifaddrs *i = list; i && !own; i = i->ifa_next) {
        const struct sockaddr *a = i->ifa_addr;
        if (!a || a->sa_family != sa->sa_family)
            continue;
        if (a->sa_family == AF_INET)
            own = ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
                  ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
        else if (a->sa_family == AF_INET6)
            own = memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                         &((const struct sockaddr_in6 *)sa)->sin6_addr, 16) == 0;
    }
    freeifaddrs(list);
    return own;
}

static bool address_in_ranges(const void *sockaddr, char *why, size_t whylen)
{
    const struct sockaddr *sa = sockaddr;
    if (why && whylen)
        why[0] = '\0';
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = sockaddr;
        return v4_is_private(ntohl(in->sin_addr.s_addr), why, whylen);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = sockaddr;
        return v6_is_private(in6->sin6_addr.s6_addr, why, whylen);
    }
    if (why)
        snprintf(why, whylen, "not an internet address");
    return true;
}

/* The ranges first (their names say more), then the host's own addresses. */
bool http_address_is_private(const void *sockaddr, char *why, size_t whylen)
{
    const struct sockaddr *sa = sockaddr;
    if (address_in_ranges(sockaddr, why, whylen))
        return true;
    if (!address_is_own(sa))
        return false;
    if (why)
        snprintf(why, whylen, "an address of this host");
    return true;
}

/* ---- URL policy ---- */

int http_client_check_url(const http_client_options *options, const char *url, char *why,
                          size_t whylen)
{
    bool allow_http = options && options->allow_http;
    if (!url || !*url) {
        snprintf(why, whylen, "URL is empty");
        return HOOKD_EINVAL;
    }
    if (strlen(url) > URL_MAX) {
        snprintf(why, whylen, "URL is longer than %d bytes", URL_MAX);
        return HOOKD_EINVAL;
    }
    for (const char *p = url; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            snprintf(why, whylen, "URL contains a space or control character");
            return HOOKD_EINVAL;
        }
    }
    CURLU *u = curl_url();
    if (!u)
        curl_out_of_memory();
    int rc = 0;
    char *scheme = NULL, *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        snprintf(why, whylen, "URL is not valid");
        rc = HOOKD_EINVAL;
        goto done;
    }
    bool is_https = strcasecmp(scheme, "https") == 0;
    bool is_http = strcasecmp(scheme, "http") == 0;
    if (!is_https && !(is_http && allow_http)) {
        snprintf(why, whylen, "%s",
                 allow_http ? "URL scheme must be http or https" : "URL scheme must be https");
        rc = HOOKD_EINVAL;
        goto done;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host) {
        snprintf(why, whylen, "URL has no host");
        rc = HOOKD_EINVAL;
        goto done;
    }
done:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* ---- curl callbacks ---- */

static sock_watch *watch_of(const http_client *c, curl_socket_t fd);
static sock_watch *watch_new(http_client *c, curl_socket_t fd);
static void watch_free(sock_watch *w);
static void watch_set(sock_watch *w, short flags);

static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *address)
{
    transfer *t = clientp;
    /* through a proxy the socket goes to the proxy, the operator's choice: the destination
     * was checked before the attempt (http_proxy.c) */
    if (purpose == CURLSOCKTYPE_IPCXN && !t->client->allow_private && !t->client->proxy) {
        char why[64];
        if (http_address_is_private(&address->addr, why, sizeof why)) {
            char host[INET6_ADDRSTRLEN] = "?";
            if (address->family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)&address->addr)->sin_addr, host,
                          sizeof host);
            else if (address->family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&address->addr)->sin6_addr, host,
                          sizeof host);
            if (t->refused_count++ == 0)
                snprintf(t->refused, sizeof t->refused, "address refused: %s is %s", host, why);
            return CURL_SOCKET_BAD;
        }
    }
    /* CLOEXEC: the receiver spawns handlers, which must not inherit our connections. */
    curl_socket_t fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd != CURL_SOCKET_BAD) {
        t->opened_count++;
        /* a parked watch of this number: its socket was closed without close_socket_cb */
        sock_watch *stale = watch_of(t->client, fd);
        if (stale && (stale->parked || !stale->flags))
            watch_free(stale);
        if (!watch_of(t->client, fd))
            watch_new(t->client, fd)->ours = true;
    }
    return fd;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    transfer *t = userp;
    size_t n = size * nmemb;
    size_t room = RESPONSE_CAP - t->response_len;
    size_t keep = n < room ? n : room;
    if (keep) {
        memcpy(t->response + t->response_len, data, keep);
        t->response_len += keep;
    }
    return n; /* the rest is read and dropped */
}

/* The header lines kept (whole ones while they fit), and Retry-After: delta seconds or an
 * HTTP date; a new status line (1XX) starts over. */
static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    transfer *t = userp;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        t->retry_after_ms = -1;
        t->answer_headers_len = 0;
        return n;
    }
    bool blank = n <= 2 && (n == 0 || data[0] == '\r' || data[0] == '\n');
    if (!blank && n <= HEADERS_CAP - t->answer_headers_len) {
        memcpy(t->answer_headers + t->answer_headers_len, data, n);
        t->answer_headers_len += n;
    }
    static const char name[] = "retry-after:";
    if (n <= sizeof name - 1 || strncasecmp(data, name, sizeof name - 1) != 0)
        return n;
    char value[128];
    size_t start = sizeof name - 1;
    while (start < n && (data[start] == ' ' || data[start] == '\t'))
        start++;
    size_t end = n;
    while (end > start && (data[end - 1] == '\r' || data[end - 1] == '\n' || data[end - 1] == ' ' ||
                           data[end - 1] == '\t'))
        end--;
    if (end == start || end - start >= sizeof value)
        return n;
    memcpy(value, data + start, end - start);
    value[end - start] = '\0';
    int64_t delay_ms;
    if (retry_after_parse(value, (int64_t)time(NULL) * 1000, &delay_ms) == 0)
        t->retry_after_ms = delay_ms;
    return n;
}

/* ---- finishing ---- */

static void list_remove(transfer *t)
{
    http_client *c = t->client;
    if (t->prev)
        t->prev->next = t->next;
    else
        c->active = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void url_entry_unref(url_entry *u)
{
    if (!u || --u->refs > 0)
        return;
    curl_url_cleanup(u->parsed);
    free(u->origin);
    free(u->url);
    free(u);
}

static void transfer_free(transfer *t)
{
    url_entry_unref(t->url);
    curl_slist_free_all(t->connect_to);
    curl_easy_cleanup(t->easy);
    if (t->wait_timer)
        event_free(t->wait_timer);
    free(t->header_nodes);
    free(t->header_text);
    free(t->body);
    free(t);
}

static void transfer_release(transfer *t)
{
    http_client *c = t->client;
    curl_slist_free_all(t->connect_to);
    t->connect_to = NULL;
    url_entry_unref(t->url);
    t->url = NULL;
    if (c->free_count < FREE_TRANSFERS_MAX) {
        t->next = c->free_list;
        c->free_list = t;
        c->free_count++;
    } else {
        transfer_free(t);
    }
}

/* Builds the result's error text for a failed transfer. */
static void describe_error(transfer *t, CURLcode code, char *out, size_t outlen)
{
    const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(code);
    long os_errno = 0;
    curl_easy_getinfo(t->easy, CURLINFO_OS_ERRNO, &os_errno);
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out, outlen, "timeout after %lld ms", (long long)t->timeout_ms);
        break;
    case CURLE_COULDNT_CONNECT:
        if (t->refused_count > 0 && t->opened_count == 0)
            snprintf(out, outlen, "%s", t->refused);
        else if (os_errno == ECONNREFUSED)
            snprintf(out, outlen, "connection refused (%s)", detail);
        else if (os_errno != 0)
            snprintf(out, outlen, "cannot connect: %s (%s)", strerror((int)os_errno), detail);
        else
            snprintf(out, outlen, "cannot connect (%s)", detail);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, outlen, "dns error (%s)", detail);
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
        snprintf(out, outlen, "tls error (%s)", detail);
        break;
    case CURLE_GOT_NOTHING:
        snprintf(out, outlen, "empty reply (the server closed the connection)");
        break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        if (os_errno == ECONNRESET || os_errno == EPIPE)
            snprintf(out, outlen, "connection reset (%s)", detail);
        else
            snprintf(out, outlen, "%s (%s)",
                     code == CURLE_RECV_ERROR ? "receive error" : "send error", detail);
        break;
    default:
        if (t->errbuf[0])
            snprintf(out, outlen, "%s: %s", curl_easy_strerror(code), t->errbuf);
        else
            snprintf(out, outlen, "%s", curl_easy_strerror(code));
        break;
    }
}

/* ---- hosts: their connection cap kept here rather than inside curl ---- */

static void transfer_add(http_client *c, transfer *t);
static void transfer_finish(transfer *t, CURLcode code);

static origin **origin_bucket(http_client *c, const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &c->origins[h % ORIGIN_BUCKETS];
}

/* key's origin, made when it has no transfer yet. */
static origin *origin_find(http_client *c, const char *key)
{
    origin **bucket = origin_bucket(c, key);
    for (origin *o = *bucket; o; o = o->next)
        if (strcmp(o->key, key) == 0)
            return o;
    origin *o = xcalloc(1, sizeof *o);
    o->key = xstrdup(key);
    o->tail = &o->first;
    o->next = *bucket;
    *bucket = o;
    return o;
}

static void origin_free_if_idle(http_client *c, origin *o)
{
    if (o->active > 0 || o->first)
        return;
    origin **p = origin_bucket(c, o->key);
    while (*p != o)
        p = &(*p)->next;
    *p = o->next;
    free(o->key);
    free(o);
}

/* A waiting transfer's whole time ran out before its host had room: the timeout it would
 * have had inside curl. */
static void wait_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    transfer_finish(arg, CURLE_OPERATION_TIMEDOUT);
}

/* Queues t behind o's other waiting transfers, with its deadline armed. */
static void origin_wait(http_client *c, origin *o, transfer *t)
{
    t->waiting = true;
    t->wait_next = NULL;
    *o->tail = t;
    o->tail = &t->wait_next;
    if (!t->wait_timer)
        t->wait_timer = loop_timer_new(c->base, false, wait_timeout_cb, t);
    int64_t left = t->timeout_ms - (loop_monotonic_ms() - t->started_ms);
    loop_timer_add(t->wait_timer, left > 0 ? left : 0);
}

/* Hands a transfer that waited to curl with the time it has left (its timeout counts from
 * http_client_post, as when curl held it). */
static void origin_resume(http_client *c, transfer *t)
{
    loop_timer_stop(t->wait_timer);
    t->waiting = false;
    int64_t left = t->timeout_ms - (loop_monotonic_ms() - t->started_ms);
    long ms = left > 1 ? (long)left : 1L;
    if (curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK ||
        curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, ms) != CURLE_OK)
        t->set.valid = false; /* the full timeout stays: still bounded */
    t->set.timeout_ms = ms;
    transfer_add(c, t);
}

/* t is done with its host: out of the queue, or its place handed to the oldest waiting. */
static void origin_leave(http_client *c, transfer *t)
{
    origin *o = t->origin;
    if (!o)
        return;
    t->origin = NULL;
    if (t->waiting) {
        transfer **p = &o->first;
        while (*p != t)
            p = &(*p)->wait_next;
        *p = t->wait_next;
        if (o->tail == &t->wait_next)
            o->tail = p;
        t->waiting = false;
        loop_timer_stop(t->wait_timer);
    } else {
        o->active--;
        transfer *next = o->first;
        if (next) {
            o->first = next->wait_next;
            if (!o->first)
                o->tail = &o->first;
            origin_resume(c, next);
        }
    }
    origin_free_if_idle(c, o);
}

/* Calls done with the outcome, then recycles the transfer. The easy handle is already out
 * of the multi (or was never in it). */
static void transfer_finish(transfer *t, CURLcode code)
{
    http_client *c = t->client;
    origin_leave(c, t);
    list_remove(t);
    c->in_flight--;
    http_result r = {0};
    char error[CURL_ERROR_SIZE + 200];
    r.duration_ms = loop_monotonic_ms() - t->started_ms;
    r.retry_after_ms = -1;
    if (code == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        r.status = status;
        r.response = t->response;
        r.response_len = t->response_len;
        r.response_headers = t->answer_headers;
        r.response_headers_len = t->answer_headers_len;
        r.retry_after_ms = t->retry_after_ms;
    } else {
        describe_error(t, code, error, sizeof error);
        r.error = error;
        r.address_refused =
            code == CURLE_COULDNT_CONNECT && t->refused_count > 0 && t->opened_count == 0;
    }
    http_done_fn done = t->done;
    void *arg = t->arg;
    t->done = NULL;
    if (done)
        done(arg, &r);
    transfer_release(t);
}

static void check_multi_info(http_client *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        transfer *t = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
        curl_multi_remove_handle(c->multi, easy);
        if (t)
            transfer_finish(t, code);
    }
}

static void socket_event_cb(evutil_socket_t fd, short what, void *arg)
{
    sock_watch *w = arg;
    http_client *c = w->client;
    if (w->parked) { /* an idle connection's socket: curl looks at it when it reuses it */
        watch_set(w, 0);
        return;
    }
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(c->multi, fd, action, &running);
    /* No timer bookkeeping here: curl says through multi_timer_cb (-1) when it wants the
     * timer gone. `running` is stale once check_multi_info has run done callbacks, which
     * may have started new transfers. */
    check_multi_info(c);
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_client *c = arg;
    int running = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(c);
}

static int multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    http_client *c = userp;
    if (timeout_ms < 0) {
        loop_timer_stop(c->timer);
        return 0;
    }
    loop_timer_add(c->timer, timeout_ms); /* 0 runs it on the next turn, never inside curl */
    return 0;
}

static void watch_free(sock_watch *w)
{
    http_client *c = w->client;
    if (w->prev)
        w->prev->next = w->next;
    else
        c->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    c->by_fd[w->fd] = NULL;
    event_free(w->ev);
    free(w);
}

/* The watch of socket fd, or NULL. */
static sock_watch *watch_of(const http_client *c, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < c->by_fd_len ? c->by_fd[fd] : NULL;
}

static sock_watch *watch_new(http_client *c, curl_socket_t fd)
{
    if ((size_t)fd >= c->by_fd_len) {
        size_t len = (size_t)fd + 64;
        c->by_fd = xrealloc(c->by_fd, len * sizeof *c->by_fd);
        memset(c->by_fd + c->by_fd_len, 0, (len - c->by_fd_len) * sizeof *c->by_fd);
        c->by_fd_len = len;
    }
    sock_watch *w = xcalloc(1, sizeof *w);
    w->fd = fd;
    w->client = c;
    w->next = c->watches;
    if (c->watches)
        c->watches->prev = w;
    c->watches = w;
    c->by_fd[fd] = w;
    w->ev = event_new(c->base, fd, 0, socket_event_cb, w);
    if (!w->ev) {
        fprintf(stderr, "hookd: cannot watch a socket\n");
        abort();
    }
    return w;
}

/* Makes w wait for flags, or for nothing with 0 (an epoll_ctl, none when it already
 * does). */
static void watch_set(sock_watch *w, short flags)
{
    if (w->flags == flags)
        return;
    if (w->flags && event_del(w->ev) != 0) {
        fprintf(stderr, "hookd: cannot unwatch a socket\n");
        abort();
    }
    w->flags = flags;
    if (!flags)
        return;
    if (event_assign(w->ev, w->client->base, w->fd, flags, socket_event_cb, w) != 0 ||
        event_add(w->ev, NULL) != 0) {
        fprintf(stderr, "hookd: cannot watch a socket\n");
        abort();
    }
}

static int multi_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    http_client *c = userp;
    sock_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            curl_multi_assign(c->multi, fd, NULL);
            if (!w->ours) {
                watch_free(w);
            } else {
                w->parked = true;
                if (w->flags != (EV_PERSIST | EV_READ))
                    watch_set(w, 0); /* a writable socket would wake us at once */
            }
        }
        return 0;
    }
    short flags = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                  ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!w) {
        w = watch_of(c, fd);
        if (!w)
            w = watch_new(c, fd);
        w->parked = false;
        curl_multi_assign(c->multi, fd, w);
    }
    watch_set(w, flags);
    return 0;
}

/* curl closes the sockets open_socket_cb opened through here (after it stopped watching
 * them): their watch goes first (closing would leave libevent holding a number the next
 * socket may reuse). */
static int close_socket_cb(void *clientp, curl_socket_t fd)
{
    sock_watch *w = watch_of(clientp, fd);
    if (w && (w->parked || !w->flags))
        watch_free(w);
    return close(fd);
}

/* ---- the client ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void curl_init_global(void)
{
    curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT);
}

http_client *http_client_new(struct event_base *base, const http_client_options *options)
{
    pthread_once(&curl_once, curl_init_global);
    if (curl_init_code != CURLE_OK) {
        log_error("http", "curl cannot start: %s", curl_easy_strerror(curl_init_code));
        return NULL;
    }
    http_client_options opt = options ? *options : (http_client_options){0};
    http_client *c = xcalloc(1, sizeof *c);
    c->base = base;
    c->multi = curl_multi_init();
    if (!c->multi) {
        log_error("http", "curl_multi_init failed");
        free(c);
        return NULL;
    }
    c->allow_http = opt.allow_http;
    c->allow_private = opt.allow_private_addresses;
    c->ca_file = opt.ca_file ? xstrdup(opt.ca_file) : NULL;
    c->user_agent = xstrdup(opt.user_agent ? opt.user_agent : "hookd/" HOOKD_VERSION_STRING);
    c->proxy = opt.proxy ? xstrdup(opt.proxy) : NULL;
    c->timer = loop_timer_new(base, false, timer_event_cb, c);
    long total = opt.max_total_connections > 0 ? opt.max_total_connections : 256L;
    c->max_host = opt.max_host_connections > 0 ? opt.max_host_connections : 16L;
    /* The idle-connection cache holds as many as may be open: curl's default is 4 × the easy
     * handles added at that moment, which shrinks as transfers end, so a burst's pooled
     * connections were closed and opened again (about 85 connect() per second under
     * --forward, issue 10). */
    bool set = curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, multi_socket_cb) == CURLM_OK &&
               curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) == CURLM_OK &&
               curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb) == CURLM_OK &&
               curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) == CURLM_OK &&
               curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total) == CURLM_OK &&
               curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, total) == CURLM_OK &&
               curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->max_host) == CURLM_OK;
    if (!set) {
        log_error("http", "curl refused a multi-handle option");
        http_client_free(c);
        return NULL;
    }
    if (c->proxy && !c->allow_private) { /* http_proxy.c resolves and checks destinations */
        c->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                          EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!c->dns) {
            log_error("http", "cannot start the resolver (/etc/resolv.conf) --proxy needs");
            http_client_free(c);
            return NULL;
        }
    }
    return c;
}

/* The one list of headers a request's framing or hookd itself sets on every POST: curl
 * writes Content-Length, Host, Transfer-Encoding, Connection, TE, Upgrade and Trailer;
 * http_client_post writes Content-Type, Expect and User-Agent. A caller's extra header of
 * one of these names is dropped; a destination may not configure one (http_header_reserved). */
static bool header_owned_by_transport(const char *name)
{
    static const char *const owned[] = {
        "content-type", "content-length", "transfer-encoding", "host",
        "connection",   "expect",         "user-agent",        "te",
        "upgrade",      "trailer"};
    /* each owned name starts with one of these letters: the protocols' own headers
     * (webhook-*, x-webhook-*), asked about twice per POST, skip the ten comparisons */
    if (!name[0] || !strchr("cCtThHeEuU", name[0]))
        return false;
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        if (strcasecmp(name, owned[i]) == 0)
            return true;
    return false;
}

bool http_header_reserved(const char *name)
{
    /* X-Webhook-Id, -Timestamp, -Signature (and -Event, which --forward adds), and Standard
     * Webhooks' webhook-id, -timestamp, -signature, are the protocols': the callers set them
     * per attempt, never a destination's configuration. */
    return header_owned_by_transport(name) || strncasecmp(name, "x-webhook-", 10) == 0 ||
           strncasecmp(name, "webhook-", 8) == 0;
}

static bool header_valid(const http_header *h)
{
    if (!h->name || !*h->name || !h->value)
        return false;
    for (const char *p = h->name; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == ':' || *p == 0x7f)
            return false;
    for (const char *p = h->value; *p; p++)
        if (*p == '\r' || *p == '\n')
            return false;
    return true;
}

struct curl_slist *http_header_list_add(struct curl_slist *list, const char *line)
{
    struct curl_slist *l = curl_slist_append(list, line);
    if (!l)
        curl_out_of_memory();
    return l;
}

static transfer *transfer_get(http_client *c)
{
    transfer *t = c->free_list;
    if (t) {
        c->free_list = t->next;
        c->free_count--;
    } else {
        t = xcalloc(1, sizeof *t);
        t->easy = curl_easy_init();
        if (!t->easy) {
            fprintf(stderr, "hookd: curl_easy_init failed\n");
            abort();
        }
    }
    t->client = c;
    t->next = t->prev = NULL;
    t->response_len = 0;
    t->answer_headers_len = 0;
    t->retry_after_ms = -1;
    t->errbuf[0] = '\0';
    t->refused[0] = '\0';
    t->refused_count = 0;
    t->opened_count = 0;
    t->check = NULL;
    t->fail_code = CURLE_OK;
    t->origin = NULL;
    t->waiting = false;
    return t;
}

/* A transfer curl refused to start: report it on the next loop turn. */
static void deferred_fail_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    transfer *t = arg;
    transfer_finish(t, t->fail_code);
}

/* Copies the request's body into the transfer's buffer (kept between transfers). */
static void transfer_copy_body(transfer *t, const http_request *req)
{
    if (req->body_len + 1 > t->body_cap) {
        free(t->body);
        t->body_cap = req->body_len + 1;
        t->body = xmalloc(t->body_cap);
    }
    if (req->body_len)
        memcpy(t->body, req->body, req->body_len);
    t->body[req->body_len] = '\0';
}

/* Our headers, then the caller's, minus those the transport sets itself, into the
 * transfer's own nodes and line buffer (no allocation once they are large enough). */
static void transfer_headers(transfer *t, const http_request *req)
{
    static char content_type[] = "Content-Type: application/json";
    static char no_expect[] = "Expect:"; /* no 100-continue round trip */
    size_t count = 2, text = 0;
    for (size_t i = 0; i < req->header_count; i++)
        if (!header_owned_by_transport(req->headers[i].name)) {
            count++;
            text += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 3;
        }
    if (count > t->header_nodes_cap) {
        t->header_nodes_cap = count + 8;
        t->header_nodes = xrealloc(t->header_nodes, t->header_nodes_cap * sizeof *t->header_nodes);
    }
    if (text > t->header_text_cap) {
        t->header_text_cap = text + 256;
        t->header_text = xrealloc(t->header_text, t->header_text_cap);
    }
    struct curl_slist *n = t->header_nodes;
    n[0].data = content_type;
    n[1].data = no_expect;
    size_t k = 2, at = 0;
    for (size_t i = 0; i < req->header_count; i++) {
        const http_header *h = &req->headers[i];
        if (header_owned_by_transport(h->name))
            continue;
        size_t name_len = strlen(h->name), value_len = strlen(h->value);
        char *line = t->header_text + at;
        memcpy(line, h->name, name_len);
        memcpy(line + name_len, ": ", 2);
        memcpy(line + name_len + 2, h->value, value_len + 1);
        at += name_len + value_len + 3;
        n[k++].data = line;
    }
    for (size_t i = 0; i < k; i++)
        n[i].next = i + 1 < k ? &n[i + 1] : NULL;
}

/* The options fixed for the client's life, set once per easy handle: a reused handle keeps
 * them (curl_easy_reset and setting them again was a sixth of a POST's own cost). CURLE_OK,
 * or the first option curl refused (then the transfer must not start: a refused protocol or
 * proxy option would weaken the policy). */
static CURLcode easy_configure(http_client *c, transfer *t)
{
    CURL *e = t->easy;
    CURLcode rc = CURLE_OK;
#define SET(option, value)                                                                         \
    if (rc == CURLE_OK)                                                                            \
    rc = curl_easy_setopt(e, option, value)
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_PROTOCOLS_STR, c->allow_http ? "http,https" : "https");
    SET(CURLOPT_NOSIGNAL, 1L);
    /* never a proxy from the environment (http_proxy, no_proxy): the address check must
     * see the destination itself; --proxy tunnels, so the proxy is asked to CONNECT to the
     * address checked before (http_proxy.h) */
    SET(CURLOPT_PROXY, c->proxy ? c->proxy : "");
    SET(CURLOPT_NOPROXY, "");
    if (c->proxy)
        SET(CURLOPT_HTTPPROXYTUNNEL, 1L);
    SET(CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
    SET(CURLOPT_OPENSOCKETDATA, t);
    SET(CURLOPT_CLOSESOCKETFUNCTION, close_socket_cb);
    SET(CURLOPT_CLOSESOCKETDATA, c);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_HEADERFUNCTION, header_cb);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_ERRORBUFFER, t->errbuf);
    SET(CURLOPT_PRIVATE, (char *)t);
    if (c->ca_file)
        SET(CURLOPT_CAINFO, c->ca_file);
#undef SET
    return rc;
}

/* Sets the easy handle up for this request: the client's fixed options once, then what
 * changed since its last request. CURLE_OK, or the first option curl refused. */
static CURLcode transfer_setup(http_client *c, transfer *t, const http_request *req)
{
    CURL *e = t->easy;
    CURLcode rc = CURLE_OK;
    if (!t->configured) {
        rc = easy_configure(c, t);
        t->configured = rc == CURLE_OK;
    }
    easy_set now = {true,
                    t->url->parsed,
                    t->body,
                    (curl_off_t)req->body_len,
                    t->header_nodes,
                    (long)t->timeout_ms};
    const easy_set *was = &t->set;
#define SET(option, value)                                                                         \
    if (rc == CURLE_OK)                                                                            \
    rc = curl_easy_setopt(e, option, value)
    /* every time: curl keeps the previous transfer's URL string as this one's (what it
     * reports) until told; the connection itself is made from the CURLU */
    SET(CURLOPT_URL, req->url);
    if (!was->valid || was->parsed != now.parsed)
        SET(CURLOPT_CURLU, now.parsed);
    if (!was->valid || was->body_len != now.body_len)
        SET(CURLOPT_POSTFIELDSIZE_LARGE, now.body_len);
    if (!was->valid || was->body != now.body)
        SET(CURLOPT_POSTFIELDS, now.body);
    if (!was->valid || was->headers != now.headers)
        SET(CURLOPT_HTTPHEADER, now.headers);
    if (!was->valid || was->timeout_ms != now.timeout_ms) {
        SET(CURLOPT_TIMEOUT_MS, now.timeout_ms);
        SET(CURLOPT_CONNECTTIMEOUT_MS, now.timeout_ms);
    }
    if (c->dns) /* the previous request's pinned address is gone (transfer_checked sets it) */
        SET(CURLOPT_CONNECT_TO, (struct curl_slist *)NULL);
#undef SET
    t->set = now;
    t->set.valid = rc == CURLE_OK;
    return rc;
}

/* A transfer that cannot start is reported like any failure, on the next loop turn. */
static void transfer_fail_later(http_client *c, transfer *t, CURLcode code)
{
    t->fail_code = code;
    struct timeval zero = {0, 0};
    if (event_base_once(c->base, -1, EV_TIMEOUT, deferred_fail_cb, t, &zero) != 0) {
        fprintf(stderr, "hookd: cannot schedule a callback\n");
        abort();
    }
}

/* Hands the transfer to curl. */
static void transfer_add(http_client *c, transfer *t)
{
    if (t->origin)
        t->origin->active++;
    CURLMcode mc = curl_multi_add_handle(c->multi, t->easy);
    if (mc != CURLM_OK) {
        log_error("http", "curl_multi_add_handle: %s", curl_multi_strerror(mc));
        transfer_fail_later(c, t, CURLE_FAILED_INIT);
    }
}

/* Hands the transfer to curl, or queues it while its host has all the connections it may. */
static void transfer_start(http_client *c, transfer *t)
{
    if (t->url->origin) {
        t->origin = origin_find(c, t->url->origin);
        if (t->origin->active >= (size_t)c->max_host) {
            origin_wait(c, t->origin, t);
            return;
        }
    }
    transfer_add(c, t);
}

/* The destination's check (through a proxy): pin the checked address, or fail as a refused
 * address or a DNS error would without a proxy. May run within http_client_post. */
static void transfer_checked(void *arg, const char *connect_to, const char *error, bool refused)
{
    transfer *t = arg;
    t->check = NULL;
    if (connect_to) {
        t->connect_to = http_header_list_add(NULL, connect_to);
        CURLcode rc = curl_easy_setopt(t->easy, CURLOPT_CONNECT_TO, t->connect_to);
        if (rc == CURLE_OK)
            transfer_start(t->client, t);
        else
            transfer_fail_later(t->client, t, rc);
    } else if (refused) {
        snprintf(t->refused, sizeof t->refused, "%s", error);
        t->refused_count = 1;
        transfer_fail_later(t->client, t, CURLE_COULDNT_CONNECT);
    } else {
        snprintf(t->errbuf, sizeof t->errbuf, "%s", error);
        transfer_fail_later(t->client, t, CURLE_COULDNT_RESOLVE_HOST);
    }
}

/* The URL's entry when it passed the policy recently (the policy is fixed per client). */
static url_entry *url_checked(const http_client *c, const char *url)
{
    for (size_t i = 0; i < URL_CHECKED_MAX && c->checked_urls[i]; i++)
        if (strcmp(c->checked_urls[i]->url, url) == 0)
            return c->checked_urls[i];
    return NULL;
}

/* "host:port" of a parsed URL (how curl groups connections for its per-host cap), or
 * NULL. */
static char *url_origin(CURLU *parsed)
{
    char *host = NULL, *port = NULL, *key = NULL;
    if (curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(parsed, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        size_t len = strlen(host) + strlen(port) + 2;
        key = xmalloc(len);
        snprintf(key, len, "%s:%s", host, port);
    }
    curl_free(host);
    curl_free(port);
    return key;
}

/* Checks url against the policy and remembers it, parsed, in place of the oldest. */
static url_entry *url_check(http_client *c, const char *url)
{
    char why[128];
    http_client_options policy = {.allow_http = c->allow_http};
    if (http_client_check_url(&policy, url, why, sizeof why) != 0)
        return NULL;
    url_entry *u = xcalloc(1, sizeof *u);
    u->url = xstrdup(url);
    u->refs = 1;
    u->parsed = curl_url();
    if (!u->parsed)
        curl_out_of_memory();
    if (curl_url_set(u->parsed, CURLUPART_URL, url, 0) != CURLUE_OK) {
        curl_url_cleanup(u->parsed);
        u->parsed = NULL;
    } else if (!c->proxy && strncasecmp(url, "http://", 7) == 0) {
        /* plain HTTP/1.1: one transfer per connection, so the cap on connections is one on
         * transfers; https may multiplex (HTTP/2) and a proxy is curl's host: curl counts */
        u->origin = url_origin(u->parsed);
    }
    url_entry_unref(c->checked_urls[c->checked_next]);
    c->checked_urls[c->checked_next] = u;
    c->checked_next = (c->checked_next + 1) % URL_CHECKED_MAX;
    return u;
}

int http_client_post(http_client *c, const http_request *req, http_done_fn done, void *arg)
{
    url_entry *u = url_checked(c, req->url);
    if (!u)
        u = url_check(c, req->url);
    if (!u)
        return HOOKD_EINVAL;
    for (size_t i = 0; i < req->header_count; i++)
        if (!header_valid(&req->headers[i]))
            return HOOKD_EINVAL;

    transfer *t = transfer_get(c);
    u->refs++;
    t->url = u;
    t->done = done;
    t->arg = arg;
    t->started_ms = loop_monotonic_ms();
    t->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 10000;
    transfer_copy_body(t, req);
    transfer_headers(t, req);

    t->next = c->active;
    if (c->active)
        c->active->prev = t;
    c->active = t;
    c->in_flight++;

    CURLcode setup = transfer_setup(c, t, req);
    if (setup != CURLE_OK) {
        log_error("http", "curl refused an option: %s", curl_easy_strerror(setup));
        transfer_fail_later(c, t, setup);
        return 0;
    }
    if (c->dns)
        t->check = http_proxy_check_start(c->dns, req->url, transfer_checked, t);
    else
        transfer_start(c, t);
    return 0;
}

size_t http_client_in_flight(const http_client *c)
{
    return c->in_flight;
}

void http_client_free(http_client *c)
{
    if (!c)
        return;
    while (c->active) {
        transfer *t = c->active;
        list_remove(t);
        http_proxy_check_cancel(t->check);
        curl_multi_remove_handle(c->multi, t->easy);
        transfer_free(t);
    }
    while (c->free_list) {
        transfer *t = c->free_list;
        c->free_list = t->next;
        transfer_free(t);
    }
    curl_multi_cleanup(c->multi);
    while (c->watches)
        watch_free(c->watches);
    free(c->by_fd);
    event_free(c->timer);
    free(c->ca_file);
    free(c->user_agent);
    free(c->proxy);
    if (c->dns) /* the cancelled checks' callbacks never run: the loop has ended */
        evdns_base_free(c->dns, 0);
    for (size_t i = 0; i < URL_CHECKED_MAX; i++)
        url_entry_unref(c->checked_urls[i]);
    for (size_t i = 0; i < ORIGIN_BUCKETS; i++)
        while (c->origins[i]) {
            origin *o = c->origins[i];
            c->origins[i] = o->next;
            free(o->key);
            free(o);
        }
    free(c);
}
