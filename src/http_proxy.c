/*
 * http_proxy.c — see http_proxy.h: resolve a host with evdns (http_lookup, used for every
 * name the client connects to), and for a proxy's destination check every address with
 * http_address_is_private (the one policy, http_client.c) and pin the first.
 */
#include "http_proxy.h"
#include "http_client.h"
#include "mem.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_lookup {
    struct evdns_getaddrinfo_request *request; /* NULL once answered */
    http_lookup_fn done;
    void *arg;
    bool cancelled;
};

static void lookup_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    http_lookup *l = arg;
    l->request = NULL;
    if (result != EVUTIL_EAI_CANCEL && !l->cancelled)
        l->done(l->arg, result, result == 0 ? res : NULL);
    if (res)
        evutil_freeaddrinfo(res);
    free(l);
}

http_lookup *http_lookup_start(struct evdns_base *dns, const char *host, uint16_t port,
                               http_lookup_fn done, void *arg)
{
    http_lookup *l = xcalloc(1, sizeof *l);
    l->done = done;
    l->arg = arg;
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct evdns_getaddrinfo_request *request =
        evdns_getaddrinfo(dns, host, service, &hints, lookup_cb, l);
    if (!request) /* answered already: lookup_cb has told done and freed l */
        return NULL;
    l->request = request;
    return l;
}

void http_lookup_cancel(http_lookup *lookup)
{
    if (!lookup)
        return;
    lookup->cancelled = true; /* lookup_cb frees it, on a later loop turn */
    if (lookup->request)
        evdns_getaddrinfo_cancel(lookup->request);
}

void http_address_text(const void *sockaddr, bool bracket_v6, char *out, size_t len)
{
    const struct sockaddr *sa = sockaddr;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
        snprintf(out, len, bracket_v6 ? "[%s]" : "%s", ip);
    } else {
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
        snprintf(out, len, "%s", ip);
    }
}

struct http_proxy_check {
    http_lookup *lookup;
    http_proxy_checked_fn done;
    void *arg;
    char host[256];
};

/* Every address must pass; then the first is pinned. */
static void check_answer(http_proxy_check *c, const struct evutil_addrinfo *list)
{
    char why[64], first[INET6_ADDRSTRLEN + 2] = "", text[INET6_ADDRSTRLEN + 2], line[600];
    for (const struct evutil_addrinfo *ai = list; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        http_address_text(ai->ai_addr, true, text, sizeof text);
        if (http_address_is_private(ai->ai_addr, why, sizeof why)) {
            snprintf(line, sizeof line, "address refused: %s is %s", text, why);
            c->done(c->arg, NULL, line, true);
            return;
        }
        if (!first[0])
            snprintf(first, sizeof first, "%s", text);
    }
    if (!first[0]) {
        snprintf(line, sizeof line, "%.200s has no internet address", c->host);
        c->done(c->arg, NULL, line, false);
        return;
    }
    c->done(c->arg, first, NULL, false);
}

static void checked_cb(void *arg, int result, const struct evutil_addrinfo *list)
{
    http_proxy_check *c = arg;
    if (result != 0) {
        char line[400];
        snprintf(line, sizeof line, "cannot resolve %.200s: %s", c->host,
                 evutil_gai_strerror(result));
        c->done(c->arg, NULL, line, false);
    } else {
        check_answer(c, list);
    }
    free(c);
}

http_proxy_check *http_proxy_check_start(struct evdns_base *dns, const char *host, uint16_t port,
                                         http_proxy_checked_fn done, void *arg)
{
    http_proxy_check *c = xcalloc(1, sizeof *c);
    c->done = done;
    c->arg = arg;
    snprintf(c->host, sizeof c->host, "%s", host);
    http_lookup *lookup = http_lookup_start(dns, host, port, checked_cb, c);
    if (!lookup) /* answered already: checked_cb has run and freed c */
        return NULL;
    c->lookup = lookup;
    return c;
}

void http_proxy_check_cancel(http_proxy_check *check)
{
    if (!check)
        return;
    http_lookup_cancel(check->lookup);
    free(check); /* the lookup no longer calls checked_cb */
}
