/*
 * http_proxy.h — name resolution for the HTTP client (http_lookup: libevent's evdns on the
 * loop, cancellable), and the address policy for requests sent through a proxy (serve
 * --proxy).
 *
 * Through a proxy the client connects to the proxy, so the connect-time check of
 * http_client_conn.c only ever sees the proxy's address — which the operator chose and may
 * well be private. The destination is therefore checked here, before the attempt: its host
 * is resolved, every address it resolves to must pass the policy (one refused address
 * refuses the attempt, as a DNS answer mixing public and private addresses is how rebinding
 * attacks start), and the first one is pinned: the client asks the proxy to
 * `CONNECT ADDRESS:PORT`, so the proxy does not resolve the name again. TLS still names and
 * verifies the destination's host.
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_HTTP_PROXY_H
#define HOOKD_HTTP_PROXY_H

#include <stdbool.h>
#include <stdint.h>

struct evdns_base;
#include <event2/util.h> /* struct evutil_addrinfo may be a macro for struct addrinfo */

typedef struct http_lookup http_lookup;

/* The answer: result 0 and the addresses (which live only for the call), or an
 * EVUTIL_EAI_* code and NULL. */
typedef void (*http_lookup_fn)(void *arg, int result, const struct evutil_addrinfo *list);

/* Resolves host (bare: an IPv6 literal without brackets) for TCP on port. done is called
 * exactly once unless the lookup is cancelled first — possibly before this returns (an
 * address literal, a hosts-file name), and then NULL is returned; otherwise the pending
 * lookup, for http_lookup_cancel. */
http_lookup *http_lookup_start(struct evdns_base *dns, const char *host, uint16_t port,
                               http_lookup_fn done, void *arg);

/* Stops a pending lookup; its done is not called. Its memory goes on a later loop turn
 * (evdns reports the cancel then), so the evdns base must outlive the loop's next turns. */
void http_lookup_cancel(http_lookup *lookup);

typedef struct http_proxy_check http_proxy_check;

/* The outcome: address (the pinned one as text, an IPv6 one in brackets: what CONNECT
 * names) when every address passed; otherwise NULL and error: with refused set,
 * "address refused: ADDRESS is RANGE" (the policy); without, why the name did not resolve.
 * The strings live only for the call. */
typedef void (*http_proxy_checked_fn)(void *arg, const char *address, const char *error,
                                      bool refused);

/* Starts checking host (bare) on port. done is called exactly once unless the check is
 * cancelled first — possibly before this returns, and then NULL is returned; otherwise the
 * pending check, for http_proxy_check_cancel. */
http_proxy_check *http_proxy_check_start(struct evdns_base *dns, const char *host, uint16_t port,
                                         http_proxy_checked_fn done, void *arg);

/* Stops a pending check; its done is not called. */
void http_proxy_check_cancel(http_proxy_check *check);

/* The address of sa as text, an IPv6 one in brackets when bracket_v6. */
void http_address_text(const void *sockaddr, bool bracket_v6, char *out, size_t len);

#endif
