/*
 * retry.h — the sender's delay policy: how long to wait before the next attempt of a webhook.
 *
 * The waits come from --retry-delays (the waits before attempts 2..N; the list's last value
 * repeats when --max-attempts asks for more), each jittered by up to ±10% so that webhooks
 * failing together do not come back together. A Retry-After on a 429 or 503 answer lengthens
 * the next wait, never beyond the longest delay in the list; retry_after_parse reads that
 * header (http_client.c hands it the value, fuzz/fuzz_retry_after.c feeds it anything).
 *
 * Pure computation, no state beyond the policy itself: safe from any thread.
 */
#ifndef HOOKD_RETRY_H
#define HOOKD_RETRY_H

#include <stddef.h>
#include <stdint.h>

#define RETRY_MAX_DELAYS 32 /* items accepted in --retry-delays */

typedef struct retry_policy {
    int64_t delays_ms[RETRY_MAX_DELAYS]; /* waits before attempts 2, 3, … */
    size_t count;                        /* how many of delays_ms are set (≥ 1) */
    int64_t longest_ms;                  /* the largest of delays_ms: Retry-After's cap */
} retry_policy;

/* The default list of SPEC §3: 30s,5m,30m,2h. */
#define RETRY_DEFAULT_DELAYS "30s,5m,30m,2h"

/* Parses a list like "30s,5m,30m,2h" into policy. 0 or HOOKD_EINVAL (empty list, a bad
 * item, more than RETRY_MAX_DELAYS items). */
int retry_policy_parse(retry_policy *policy, const char *text);

/*
 * The wait in milliseconds before attempt number `attempt` (2 for the first retry) of a
 * round. jitter is a uniform draw in [0, 1): 0.5 gives the listed delay exactly, 0 gives
 * -10%, just under 1 gives +10%. retry_after_ms is the Retry-After of the failed answer when
 * it was a 429 or 503 (else -1): a longer wait than the jittered delay is taken, capped at
 * policy->longest_ms. Never negative.
 */
int64_t retry_delay_ms(const retry_policy *policy, int attempt, int64_t retry_after_ms,
                       double jitter);

/* The longest Retry-After taken from an answer; a larger one is cut to it. */
#define RETRY_AFTER_MAX_MS (366LL * 24 * 3600 * 1000)

/*
 * Parses a Retry-After value (RFC 9110 §10.2.3) received when the clock read now_ms (Unix
 * ms) into *delay_ms: delta-seconds (1*DIGIT), or an HTTP-date in any of its three forms
 * (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT",
 * asctime "Sun Nov  6 08:49:37 1994"), whose distance from now_ms is the delay; a date in
 * the past gives 0. Surrounding spaces and tabs are ignored; the result is capped at
 * RETRY_AFTER_MAX_MS, so no input overflows. 0, or HOOKD_EINVAL when value is NULL or
 * neither form (then *delay_ms is -1, "no Retry-After").
 */
int retry_after_parse(const char *value, int64_t now_ms, int64_t *delay_ms);

/* A uniform draw in [0, 1) from the OS's random source, for retry_delay_ms's jitter. */
double retry_jitter(void);

#endif
