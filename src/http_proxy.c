/*
 * http_proxy.c — see http_proxy.h: resolve a destination's host with evdns, check every
 * address with http_address_is_private (the one policy, http_client.c), and pin the first.
 */
#include "http_proxy.h"
#include "http_client.h"
#include "mem.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_proxy_check {
    struct evdns_getaddrinfo_request *request; /* NULL once answered */
    http_proxy_checked_fn done;
    void *arg;
    bool cancelled;
    char *host; /* as in the URL (IPv6 with its brackets) */
    char *port;
};

/* The address as text, IPv6 in brackets (the form CURLOPT_CONNECT_TO wants). */
static void address_text(const struct sockaddr *sa, char *out, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
        snprintf(out, len, "[%s]", ip);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
        snprintf(out, len, "%s", ip);
    }
}

/* Every address must pass; then the first is pinned. */
static void check_answer(http_proxy_check *c, const struct evutil_addrinfo *list)
{
    char why[64], first[INET6_ADDRSTRLEN + 2] = "", text[INET6_ADDRSTRLEN + 2], line[600];
    for (const struct evutil_addrinfo *ai = list; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        address_text(ai->ai_addr, text, sizeof text);
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
    snprintf(line, sizeof line, "%s:%s:%s:%s", c->host, c->port, first, c->port);
    c->done(c->arg, line, NULL, false);
}

static void check_free(http_proxy_check *c)
{
    free(c->host);
    free(c->port);
    free(c);
}

static void resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    http_proxy_check *c = arg;
    c->request = NULL;
    if (result == EVUTIL_EAI_CANCEL || c->cancelled) {
        if (res)
            evutil_freeaddrinfo(res);
        check_free(c);
        return;
    }
    if (result != 0) {
        char line[400];
        snprintf(line, sizeof line, "cannot resolve %.200s: %s", c->host,
                 evutil_gai_strerror(result));
        c->done(c->arg, NULL, line, false);
    } else {
        check_answer(c, res);
    }
    if (res)
        evutil_freeaddrinfo(res);
    check_free(c);
}

/* url's host (brackets kept for IPv6) and port (the scheme's default when absent). */
static bool url_host_port(const char *url, char **host, char **port)
{
    CURLU *u = curl_url();
    if (!u) {
        fputs("hookd: out of memory (libcurl)\n", stderr); /* mem.h's rule */
        abort();
    }
    char *h = NULL, *p = NULL;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok) {
        *host = xstrdup(h);
        *port = xstrdup(p);
    }
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return ok;
}

http_proxy_check *http_proxy_check_start(struct evdns_base *dns, const char *url,
                                         http_proxy_checked_fn done, void *arg)
{
    http_proxy_check *c = xcalloc(1, sizeof *c);
    c->done = done;
    c->arg = arg;
    if (!url_host_port(url, &c->host, &c->port)) {
        done(arg, NULL, "URL is not valid", false);
        check_free(c);
        return NULL;
    }
    /* the resolver wants the bare address of an IPv6 literal */
    size_t len = strlen(c->host);
    char *name = c->host[0] == '[' && len > 2 ? xstrndup(c->host + 1, len - 2) : xstrdup(c->host);
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct evdns_getaddrinfo_request *request =
        evdns_getaddrinfo(dns, name, c->port, &hints, resolved_cb, c);
    free(name);
    if (!request) /* answered already: resolved_cb has told done and freed c */
        return NULL;
    c->request = request;
    return c;
}

void http_proxy_check_cancel(http_proxy_check *check)
{
    if (!check)
        return;
    check->cancelled = true; /* resolved_cb frees it, now or on a later loop turn */
    if (check->request)
        evdns_getaddrinfo_cancel(check->request);
}
