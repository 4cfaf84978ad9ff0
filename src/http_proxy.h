/*
 * http_proxy.h — the address policy for transfers sent through an HTTP proxy (serve --proxy).
 *
 * Through a proxy curl connects to the proxy, so the connect-time check of http_client.c
 * (CURLOPT_OPENSOCKETFUNCTION) only ever sees the proxy's address — which the operator chose
 * and may well be private. The destination is therefore checked here, before the attempt:
 * its host is resolved asynchronously (libevent's evdns, on the loop), every address it
 * resolves to must pass the policy (one refused address refuses the attempt, as a DNS answer
 * mixing public and private addresses is how rebinding attacks start), and the first one is
 * pinned: the transfer gets CURLOPT_CONNECT_TO "HOST:PORT:ADDRESS:PORT" and tunnels
 * (CURLOPT_HTTPPROXYTUNNEL), so the proxy is asked to `CONNECT ADDRESS:PORT` and does not
 * resolve the name again. TLS still names and verifies the destination's host.
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_HTTP_PROXY_H
#define HOOKD_HTTP_PROXY_H

#include <stdbool.h>

struct evdns_base;

typedef struct http_proxy_check http_proxy_check;

/* The outcome: connect_to (a CURLOPT_CONNECT_TO line) when every address passed; otherwise
 * NULL and error: with refused set, "address refused: ADDRESS is RANGE" (the policy);
 * without, why the name did not resolve. The strings live only for the call. */
typedef void (*http_proxy_checked_fn)(void *arg, const char *connect_to, const char *error,
                                      bool refused);

/* Starts checking url's host. done is called exactly once unless the check is cancelled
 * first — possibly before this returns (an address literal, a hosts-file name), and then
 * NULL is returned; otherwise the pending check, for http_proxy_check_cancel. */
http_proxy_check *http_proxy_check_start(struct evdns_base *dns, const char *url,
                                         http_proxy_checked_fn done, void *arg);

/* Stops a pending check; its done is not called. */
void http_proxy_check_cancel(http_proxy_check *check);

#endif
