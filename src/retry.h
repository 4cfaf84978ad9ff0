/*
 * retry.h — the sender's delay policy: how long to wait before the next attempt of a webhook.
 *
 * The waits come from --retry-delays (the waits before attempts 2..N; the list's last value
 * repeats when --max-attempts asks for more), each jittered by up to ±10% so that webhooks
 * failing together do not come back together. A Retry-After on a 429 or 503 answer lengthens
 * the next wait, never beyond the longest delay in the list.
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

/* A uniform draw in [0, 1) from the OS's random source, for retry_delay_ms's jitter. */
double retry_jitter(void);

#endif
