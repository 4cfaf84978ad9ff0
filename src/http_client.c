/*
 * http_client.c — hookd's own HTTP/1.1 client: outbound POSTs on the libevent loop, no
 * thread, nonblocking sockets (see http_client_internal.h for how its three files split the
 * work). This file: the public API, the URL parsed once and cached, the request written
 * into its pooled record (head and body in one buffer, sent with one write), a pool of idle
 * keep-alive connections per origin, the per-host and total caps with a FIFO of waiting
 * requests, one timer per request bounding the whole attempt, the outcome; and the address
 * policy every connection's address passes (http_address_is_private).
 *
 * Why not libcurl any more (issue 10, docs/BENCHMARKS.md "hookd's own HTTP client"): with
 * curl's multi-socket API a keep-alive POST cost about 77-81 k instructions of curl's own —
 * its printf writes our header lines one byte at a time, it sets up and frees a connection
 * record to find the cached one, it parses the URL again per lookup — three quarters of the
 * receiver loop's instructions per forwarded webhook and 40 % of a sender drain's. An evhttp
 * prototype did the same POST in about 40 k, but had no TLS, CONNECT or address hook. What
 * hookd needs is small: POST only, HTTP/1.1 without pipelining, no redirects, cookies, auth
 * or compression; so this client writes a request with a few memcpy into a buffer its
 * record keeps, sends it with one send(), and parses the answer in one pass
 * (http_answer.c). Measured with callgrind (300 events x 10 destinations, one keep-alive
 * nginx): about 5.6 k instructions per POST, answer parsed and connection pooled again
 * (http_client_post 3.7 k, the read side 1.9 k), against 83 k with curl; the sender's drain
 * went from 193 k to 105 k instructions per delivery, the receiver loop's per forwarded
 * webhook from 119 k to 38 k.
 */
#include "http_client_internal.h"
#include "mem.h"

#include "hookd.h"
#include "log.h"
#include "loop.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define URL_MAX 4096          /* longest URL accepted */
#define URL_CHECKED_MAX 16    /* URLs remembered as allowed (http_client's checked[]) */
#define FREE_REQUESTS_MAX 256 /* finished request records kept for reuse */
#define ORIGIN_BUCKETS 256    /* http_client's origins[] */

#ifndef HOOKD_VERSION_STRING
#define HOOKD_VERSION_STRING "0"
#endif

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

/* ---- URLs ---- */

/* A URL split in place: pointers into it, nothing allocated. */
typedef struct url_parts {
    bool https;
    const char *host; /* as written: an IPv6 literal with its brackets */
    size_t host_len;
    bool bracketed;
    uint16_t port;
    bool port_given;
    const char *target; /* from the first '/' or '?' up to '#', or NULL (then "/") */
    size_t target_len;
} url_parts;

static bool host_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_';
}

/* The authority's host and port into p. NULL or why not. */
static const char *url_authority(const char *a, size_t len, url_parts *p)
{
    if (memchr(a, '@', len))
        return "URL has credentials (user@host)";
    size_t host_end;
    if (len > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        char v6[INET6_ADDRSTRLEN + 1];
        struct in6_addr in6;
        size_t n = close ? (size_t)(close - a) - 1 : 0;
        if (!close || n == 0 || n >= sizeof v6)
            return "URL is not valid";
        memcpy(v6, a + 1, n);
        v6[n] = '\0';
        if (inet_pton(AF_INET6, v6, &in6) != 1)
            return "URL is not valid";
        host_end = (size_t)(close - a) + 1;
        p->bracketed = true;
    } else {
        host_end = 0;
        while (host_end < len && host_char(a[host_end]))
            host_end++;
    }
    if (host_end == 0)
        return "URL has no host";
    p->host = a;
    p->host_len = host_end;
    if (host_end == len)
        return NULL;
    if (a[host_end] != ':' || host_end + 1 == len || len - host_end - 1 > 5)
        return "URL is not valid";
    unsigned port = 0;
    for (size_t i = host_end + 1; i < len; i++) {
        if (a[i] < '0' || a[i] > '9')
            return "URL is not valid";
        port = port * 10 + (unsigned)(a[i] - '0');
    }
    if (port == 0 || port > 65535)
        return "URL has an invalid port";
    p->port = (uint16_t)port;
    p->port_given = true;
    return NULL;
}

/* Splits url (checked for spaces and control bytes already): scheme http or https,
 * authority, target. NULL, or why not; *scheme_ok is false for another scheme. */
static const char *url_split(const char *url, url_parts *p, bool *scheme_ok)
{
    memset(p, 0, sizeof *p);
    *scheme_ok = false;
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return "URL is not valid";
    size_t scheme_len = (size_t)(sep - url);
    if (scheme_len == 5 && strncasecmp(url, "https", 5) == 0)
        p->https = true;
    else if (!(scheme_len == 4 && strncasecmp(url, "http", 4) == 0))
        return "URL scheme";
    *scheme_ok = true;
    const char *a = sep + 3;
    size_t alen = strcspn(a, "/?#");
    const char *why = url_authority(a, alen, p);
    if (why)
        return why;
    if (!p->port_given)
        p->port = p->https ? 443 : 80;
    const char *t = a + alen;
    size_t tlen = strcspn(t, "#");
    if (tlen > 0) {
        p->target = t;
        p->target_len = tlen;
    }
    return NULL;
}

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
    url_parts parts;
    bool scheme_ok;
    const char *bad = url_split(url, &parts, &scheme_ok);
    if ((scheme_ok && !parts.https && !allow_http) || (!scheme_ok && strstr(url, "://"))) {
        snprintf(why, whylen, "%s",
                 allow_http ? "URL scheme must be http or https" : "URL scheme must be https");
        return HOOKD_EINVAL;
    }
    if (bad) {
        snprintf(why, whylen, "%s", bad);
        return HOOKD_EINVAL;
    }
    return 0;
}

static void url_unref(hc_url *u)
{
    if (!u || --u->refs > 0)
        return;
    free(u->url);
    free(u->host);
    free(u->authority);
    free(u->target);
    free(u->origin_key);
    free(u->head);
    free(u);
}

/* A parsed URL (its policy checked by the caller), with one reference. */
static hc_url *url_new(const char *url)
{
    url_parts p;
    bool scheme_ok;
    if (url_split(url, &p, &scheme_ok))
        return NULL;
    hc_url *u = xcalloc(1, sizeof *u);
    u->refs = 1;
    u->url = xstrdup(url);
    u->https = p.https;
    u->port = p.port;
    u->host = p.bracketed ? xstrndup(p.host + 1, p.host_len - 2) : xstrndup(p.host, p.host_len);
    struct in_addr in4;
    u->host_is_ip = p.bracketed || inet_pton(AF_INET, u->host, &in4) == 1;
    size_t alen = p.host_len + 8;
    u->authority = xmalloc(alen);
    if (p.port_given && p.port != (p.https ? 443 : 80))
        snprintf(u->authority, alen, "%.*s:%u", (int)p.host_len, p.host, (unsigned)p.port);
    else
        snprintf(u->authority, alen, "%.*s", (int)p.host_len, p.host);
    if (!p.target)
        u->target = xstrdup("/");
    else if (p.target[0] == '?') { /* "http://h?q" asks for "/?q" */
        u->target = xmalloc(p.target_len + 2);
        u->target[0] = '/';
        memcpy(u->target + 1, p.target, p.target_len);
        u->target[p.target_len + 1] = '\0';
    } else {
        u->target = xstrndup(p.target, p.target_len);
    }
    size_t klen = p.host_len + 20;
    u->origin_key = xmalloc(klen);
    snprintf(u->origin_key, klen, "%s://%.*s:%u", p.https ? "https" : "http", (int)p.host_len,
             p.host, (unsigned)p.port);
    return u;
}

/* u's requests' head up to the Content-Length value, for request_write. */
static void url_head(hc_url *u, const char *user_agent)
{
    static const char ctype[] = "\r\nContent-Type: application/json\r\nContent-Length: ";
    size_t len =
        5 + strlen(u->target) + 17 + strlen(u->authority) + 14 + strlen(user_agent) + sizeof ctype;
    u->head = xmalloc(len);
    int n = snprintf(u->head, len, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s%s", u->target,
                     u->authority, user_agent, ctype);
    u->head_len = n > 0 ? (size_t)n : 0;
}

/* url's entry when it passed the policy recently (the policy is fixed per client), or a new
 * one in place of the oldest; NULL when refused. */
static hc_url *url_get(http_client *c, const char *url)
{
    for (size_t i = 0; i < URL_CHECKED_MAX && c->checked[i]; i++)
        if (strcmp(c->checked[i]->url, url) == 0)
            return c->checked[i];
    char why[128];
    http_client_options policy = {.allow_http = c->allow_http};
    if (http_client_check_url(&policy, url, why, sizeof why) != 0)
        return NULL;
    hc_url *u = url_new(url);
    if (!u)
        return NULL;
    url_head(u, c->user_agent);
    url_unref(c->checked[c->checked_next]);
    c->checked[c->checked_next] = u;
    c->checked_next = (c->checked_next + 1) % URL_CHECKED_MAX;
    return u;
}

/* ---- headers ---- */

/* The one list of headers a request's framing or hookd itself sets on every POST: the
 * client writes Host, User-Agent, Content-Type and Content-Length, and no Expect,
 * Transfer-Encoding, Connection, TE, Upgrade or Trailer. A caller's extra header of one of
 * these names is dropped; a destination may not configure one (http_header_reserved). */
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

/* Whether h may be written as a header line. */
static bool header_valid(const http_header *h)
{
    if (!h->name || !*h->name || !h->value)
        return false;
    for (const char *p = h->name; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == ':' || *p == 0x7f)
            return false;
    return h->value[strcspn(h->value, "\r\n")] == '\0';
}

/* Appends n bytes at *at. */
static inline char *put(char *at, const char *s, size_t n)
{
    memcpy(at, s, n);
    return at + n;
}

/* Writes the whole request into r->out (a buffer the record keeps): the head, the caller's
 * extra headers but those the transport sets, the blank line, the body. Sent as is. */
static void request_write(hc_req *r, const http_request *req)
{
    const hc_url *u = r->url;
    size_t need = u->head_len + 20 + 4 + req->body_len;
    for (size_t i = 0; i < req->header_count; i++)
        need += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 4;
    if (need > r->out_cap) {
        free(r->out);
        r->out_cap = need + 256;
        r->out = xmalloc(r->out_cap);
    }
    char *at = put(r->out, u->head, u->head_len);
    char digits[24];
    size_t nd = 0;
    for (size_t v = req->body_len; nd == 0 || v; v /= 10)
        digits[sizeof digits - ++nd] = (char)('0' + v % 10);
    at = put(at, digits + sizeof digits - nd, nd);
    at = put(at, "\r\n", 2);
    for (size_t i = 0; i < req->header_count; i++) {
        const http_header *h = &req->headers[i];
        if (header_owned_by_transport(h->name))
            continue;
        at = put(at, h->name, strlen(h->name));
        at = put(at, ": ", 2);
        at = put(at, h->value, strlen(h->value));
        at = put(at, "\r\n", 2);
    }
    at = put(at, "\r\n", 2);
    if (req->body_len)
        at = put(at, req->body, req->body_len);
    r->out_len = (size_t)(at - r->out);
}

/* ---- origins: the idle pools and the waiting requests ---- */

static hc_origin **origin_bucket(http_client *c, const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &c->origins[h % ORIGIN_BUCKETS];
}

/* The origin of key, made (from u, and the proxy's pinned address when given) when new. */
static hc_origin *origin_get(http_client *c, const char *key, const hc_url *u, const char *pinned)
{
    hc_origin **bucket = origin_bucket(c, key);
    for (hc_origin *o = *bucket; o; o = o->next)
        if (strcmp(o->key, key) == 0)
            return o;
    hc_origin *o = xcalloc(1, sizeof *o);
    o->key = xstrdup(key);
    o->https = u->https;
    o->host = xstrdup(u->host);
    o->host_is_ip = u->host_is_ip;
    o->port = u->port;
    if (c->proxy) { /* what CONNECT names: the checked address, or the host as written */
        size_t len = strlen(u->authority) + 64;
        o->tunnel = xmalloc(len);
        if (pinned)
            snprintf(o->tunnel, len, "%s:%u", pinned, (unsigned)u->port);
        else if (u->host_is_ip && strchr(u->host, ':'))
            snprintf(o->tunnel, len, "[%s]:%u", u->host, (unsigned)u->port);
        else
            snprintf(o->tunnel, len, "%s:%u", u->host, (unsigned)u->port);
    }
    o->wait_tail = &o->wait_first;
    o->next = *bucket;
    *bucket = o;
    return o;
}

/* Frees o once it has neither a connection nor a waiting request. */
static void origin_release(http_client *c, hc_origin *o)
{
    if (o->open > 0 || o->wait_first || o->reqs > 0)
        return;
    hc_origin **p = origin_bucket(c, o->key);
    while (*p != o)
        p = &(*p)->next;
    *p = o->next;
    if (o->session)
        SSL_SESSION_free(o->session);
    free(o->key);
    free(o->host);
    free(o->tunnel);
    free(o);
}

static void wait_list_update(http_client *c, hc_origin *o)
{
    bool want = o->wait_first != NULL;
    if (want == o->in_wait_list)
        return;
    o->in_wait_list = want;
    if (want) {
        o->wprev = NULL;
        o->wnext = c->waiting_origins;
        if (c->waiting_origins)
            c->waiting_origins->wprev = o;
        c->waiting_origins = o;
        return;
    }
    if (o->wprev)
        o->wprev->wnext = o->wnext;
    else
        c->waiting_origins = o->wnext;
    if (o->wnext)
        o->wnext->wprev = o->wprev;
}

/* Queues r behind o's other waiting requests (its timer keeps running). */
static void origin_wait(http_client *c, hc_origin *o, hc_req *r)
{
    r->waiting = true;
    r->wait_next = NULL;
    *o->wait_tail = r;
    o->wait_tail = &r->wait_next;
    wait_list_update(c, o);
}

/* Takes r out of its origin's queue. */
static void origin_unwait(http_client *c, hc_req *r)
{
    hc_origin *o = r->origin;
    hc_req **p = &o->wait_first;
    while (*p != r)
        p = &(*p)->wait_next;
    *p = r->wait_next;
    if (o->wait_tail == &r->wait_next)
        o->wait_tail = p;
    r->waiting = false;
    wait_list_update(c, o);
}

/* The oldest request waiting at o, out of the queue, or NULL. */
static hc_req *origin_next_waiting(http_client *c, hc_origin *o)
{
    hc_req *r = o->wait_first;
    if (r)
        origin_unwait(c, r);
    return r;
}

static void idle_remove(http_client *c, hc_conn *k)
{
    hc_conn **p = &k->origin->idle;
    while (*p != k)
        p = &(*p)->idle_next;
    *p = k->idle_next;
    if (k->lru_prev)
        k->lru_prev->lru_next = k->lru_next;
    else
        c->lru_first = k->lru_next;
    if (k->lru_next)
        k->lru_next->lru_prev = k->lru_prev;
    else
        c->lru_last = k->lru_prev;
    k->idle_next = k->lru_prev = k->lru_next = NULL;
}

/* Closes the connection idle the longest (any origin) to make room: false when none is. */
static bool idle_evict(http_client *c)
{
    hc_conn *k = c->lru_last;
    if (!k)
        return false;
    idle_remove(c, k);
    hc_conn_close(k);
    return true;
}

static void req_start(http_client *c, hc_req *r);

/* An origin waiting for room under the total cap, now that a connection closed. */
static void wake_other_origin(http_client *c)
{
    for (hc_origin *o = c->waiting_origins; o; o = o->wnext)
        if (o->open < c->max_host) {
            req_start(c, origin_next_waiting(c, o));
            return;
        }
}

void hc_conn_gone(http_client *c, hc_origin *o)
{
    o->open--;
    c->open--;
    if (c->freeing) {
        origin_release(c, o);
        return;
    }
    hc_req *next = origin_next_waiting(c, o);
    if (next)
        req_start(c, next);
    else if (c->waiting_origins)
        wake_other_origin(c);
    origin_release(c, o);
}

/* k has just carried an answer and may be used again: to the oldest request waiting at its
 * origin, or into the pool. A request waiting elsewhere for room under the total cap gets
 * that room instead (k is closed). */
static void conn_reuse(http_client *c, hc_conn *k)
{
    hc_origin *o = k->origin;
    k->req = NULL;
    k->state = HC_IDLE;
    hc_req *next = origin_next_waiting(c, o);
    if (next) {
        next->conn = k;
        hc_conn_send(k, next);
        return;
    }
    if (c->waiting_origins && c->open >= c->max_total) {
        hc_conn_close(k);
        return;
    }
    k->idle_next = o->idle;
    o->idle = k;
    k->lru_prev = NULL;
    k->lru_next = c->lru_first;
    if (c->lru_first)
        c->lru_first->lru_prev = k;
    else
        c->lru_last = k;
    c->lru_first = k;
}

/* Gives r a connection of its origin: an idle one, a new one within the caps, or a place in
 * the origin's queue. */
static void req_start(http_client *c, hc_req *r)
{
    hc_origin *o = r->origin;
    hc_conn *k = r->fresh ? NULL : o->idle;
    if (k) {
        idle_remove(c, k);
        r->conn = k;
        hc_conn_send(k, r);
        return;
    }
    if (o->open >= c->max_host || (c->open >= c->max_total && !idle_evict(c))) {
        origin_wait(c, o, r);
        return;
    }
    r->fresh = false;
    o->open++;
    c->open++;
    hc_conn_open(c, o, r);
}

void hc_conn_idle_lost(hc_conn *k)
{
    idle_remove(k->client, k);
    hc_conn_close(k);
}

/* ---- requests ---- */

static void req_timer_cb(evutil_socket_t fd, short what, void *arg);

static hc_req *req_get(http_client *c)
{
    hc_req *r = c->free_reqs;
    if (r) {
        c->free_reqs = r->next;
        c->free_count--;
    } else {
        r = xcalloc(1, sizeof *r);
        r->timer = loop_timer_new(c->base, false, req_timer_cb, r);
    }
    r->client = c;
    r->origin = NULL;
    r->conn = NULL;
    r->check = NULL;
    r->waiting = r->retried = r->fresh = r->failed = r->refused = false;
    r->error[0] = '\0';
    r->status = 0;
    r->response_len = r->headers_len = 0;
    r->retry_after_ms = -1;
    r->next = c->active;
    r->prev = NULL;
    if (c->active)
        c->active->prev = r;
    c->active = r;
    c->in_flight++;
    return r;
}

/* Binds r to o (which lives while requests are bound to it). */
static void req_bind(hc_req *r, hc_origin *o)
{
    r->origin = o;
    o->reqs++;
}

/* Unbinds r from its origin, which goes if nothing else holds it. */
static void req_unbind(http_client *c, hc_req *r)
{
    hc_origin *o = r->origin;
    if (!o)
        return;
    r->origin = NULL;
    o->reqs--;
    origin_release(c, o);
}

static void req_free(hc_req *r)
{
    event_free(r->timer);
    free(r->out);
    free(r);
}

/* Out of the active list; kept for reuse (its buffers with it) or freed. */
static void req_recycle(http_client *c, hc_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->active = r->next;
    if (r->next)
        r->next->prev = r->prev;
    c->in_flight--;
    url_unref(r->url);
    r->url = NULL;
    req_unbind(c, r);
    if (c->free_count >= FREE_REQUESTS_MAX) {
        req_free(r);
        return;
    }
    r->next = c->free_reqs;
    c->free_reqs = r;
    c->free_count++;
}

/* Lets go of whatever r holds (its place in a queue, its check, its connection: closed)
 * before r ends unfinished. */
static void req_detach(hc_req *r)
{
    http_client *c = r->client;
    loop_timer_stop(r->timer);
    if (r->check) {
        http_proxy_check_cancel(r->check);
        r->check = NULL;
    }
    if (r->waiting)
        origin_unwait(c, r);
    if (r->conn) {
        hc_conn *k = r->conn;
        r->conn = NULL;
        k->req = NULL;
        hc_conn_close(k);
    }
}

/* Calls done with r's outcome and recycles r. */
static void req_end(http_client *c, hc_req *r)
{
    http_result res = {0};
    res.duration_ms = loop_monotonic_ms() - r->started_ms;
    res.retry_after_ms = -1;
    if (r->failed) {
        res.error = r->error;
        res.address_refused = r->refused;
    } else {
        res.status = r->status;
        res.response = r->response;
        res.response_len = r->response_len;
        res.response_headers = r->headers;
        res.response_headers_len = r->headers_len;
        res.retry_after_ms = r->retry_after_ms;
    }
    http_done_fn done = r->done;
    void *arg = r->arg;
    done(arg, &res);
    req_recycle(c, r);
}

void hc_req_answered(hc_req *r, bool keep)
{
    http_client *c = r->client;
    hc_conn *k = r->conn;
    loop_timer_stop(r->timer);
    r->conn = NULL;
    k->req = NULL;
    if (keep)
        conn_reuse(c, k);
    else
        hc_conn_close(k);
    req_end(c, r);
}

void hc_req_fail(hc_req *r, const char *text, bool refused, bool retryable)
{
    http_client *c = r->client;
    req_detach(r);
    if (retryable && !r->retried) { /* a kept-alive connection the server had closed */
        r->retried = true;
        r->fresh = true;
        int64_t left = r->timeout_ms - (loop_monotonic_ms() - r->started_ms);
        loop_timer_add(r->timer, left > 0 ? left : 0);
        req_start(c, r);
        return;
    }
    r->failed = true;
    r->refused = refused;
    snprintf(r->error, sizeof r->error, "%s", text);
    loop_timer_add(r->timer, 0); /* done on the next turn, never within http_client_post */
}

static void req_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    hc_req *r = arg;
    if (!r->failed) { /* the deadline */
        req_detach(r);
        r->failed = true;
        snprintf(r->error, sizeof r->error, "timeout after %lld ms", (long long)r->timeout_ms);
    }
    req_end(r->client, r);
}

/* The destination's check (through a proxy): on to its origin's pool, or fail as a refused
 * address or a DNS error would without a proxy. May run within http_client_post. */
static void req_checked(void *arg, const char *address, const char *error, bool refused)
{
    hc_req *r = arg;
    http_client *c = r->client;
    r->check = NULL;
    if (!address) {
        hc_req_fail(r, error, refused, false);
        return;
    }
    char key[URL_MAX + 128];
    snprintf(key, sizeof key, "%s@%s", r->url->origin_key, address);
    req_bind(r, origin_get(c, key, r->url, address));
    req_start(c, r);
}

int http_client_post(http_client *c, const http_request *req, http_done_fn done, void *arg)
{
    hc_url *u = url_get(c, req->url);
    if (!u)
        return HOOKD_EINVAL;
    for (size_t i = 0; i < req->header_count; i++)
        if (!header_valid(&req->headers[i]))
            return HOOKD_EINVAL;
    hc_req *r = req_get(c);
    u->refs++;
    r->url = u;
    r->done = done;
    r->arg = arg;
    r->started_ms = loop_monotonic_ms();
    r->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 10000;
    request_write(r, req);
    loop_timer_add(r->timer, r->timeout_ms);
    if (c->proxy_check) {
        r->check = http_proxy_check_start(c->dns, u->host, u->port, req_checked, r);
        return 0;
    }
    req_bind(r, origin_get(c, u->origin_key, u, NULL));
    req_start(c, r);
    return 0;
}

size_t http_client_in_flight(const http_client *c)
{
    return c->in_flight;
}

/* ---- the client ---- */

struct evdns_base *hc_client_dns(http_client *c)
{
    if (!c->dns) {
        /* /etc/resolv.conf and /etc/hosts; quiet when no lookup is under way */
        c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                             EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!c->dns)
            log_error("http", "cannot start the resolver (/etc/resolv.conf)");
    }
    return c->dns;
}

http_client *http_client_new(struct event_base *base, const http_client_options *options)
{
    http_client_options opt = options ? *options : (http_client_options){0};
    http_client *c = xcalloc(1, sizeof *c);
    c->base = base;
    c->allow_http = opt.allow_http;
    c->allow_private = opt.allow_private_addresses;
    c->ca_file = opt.ca_file ? xstrdup(opt.ca_file) : NULL;
    c->user_agent = xstrdup(opt.user_agent ? opt.user_agent : "hookd/" HOOKD_VERSION_STRING);
    c->max_total = opt.max_total_connections > 0 ? (size_t)opt.max_total_connections : 256;
    c->max_host = opt.max_host_connections > 0 ? (size_t)opt.max_host_connections : 16;
    if (opt.proxy) {
        c->proxy = url_new(opt.proxy);
        if (!c->proxy) {
            log_error("http", "--proxy is not an http:// or https:// URL");
            http_client_free(c);
            return NULL;
        }
        /* without the policy the proxy is asked for the host by name */
        c->proxy_check = !c->allow_private;
    }
    if (c->proxy_check && !hc_client_dns(c)) {
        log_error("http", "--proxy needs the resolver to check destinations");
        http_client_free(c);
        return NULL;
    }
    return c;
}

void http_client_free(http_client *c)
{
    if (!c)
        return;
    c->freeing = true;
    while (c->active) {
        hc_req *r = c->active;
        req_detach(r);
        c->active = r->next;
        url_unref(r->url);
        req_unbind(c, r);
        req_free(r);
    }
    while (c->lru_first)
        idle_evict(c);
    while (c->free_reqs) {
        hc_req *r = c->free_reqs;
        c->free_reqs = r->next;
        req_free(r);
    }
    for (size_t i = 0; i < URL_CHECKED_MAX; i++)
        url_unref(c->checked[i]);
    url_unref(c->proxy);
    if (c->tls)
        SSL_CTX_free(c->tls);
    if (c->dns) /* cancelled lookups' callbacks never run: the loop has ended */
        evdns_base_free(c->dns, 0);
    free(c->ca_file);
    free(c->user_agent);
    free(c);
}
