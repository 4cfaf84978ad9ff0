/* retry.c — the delay before the next attempt: listed waits, ±10% jitter, Retry-After. */
#include "retry.h"

#include "hookd.h"

#include <stdlib.h>
#include <string.h>

int retry_policy_parse(retry_policy *policy, const char *text)
{
    memset(policy, 0, sizeof *policy);
    if (!text)
        return HOOKD_EINVAL;
    size_t count = 0;
    int rc = hookd_duration_list_parse(text, policy->delays_ms, RETRY_MAX_DELAYS, &count);
    if (rc != 0 || count == 0)
        return HOOKD_EINVAL;
    policy->count = count;
    for (size_t i = 0; i < count; i++)
        if (policy->delays_ms[i] > policy->longest_ms)
            policy->longest_ms = policy->delays_ms[i];
    return 0;
}

int64_t retry_delay_ms(const retry_policy *policy, int attempt, int64_t retry_after_ms,
                       double jitter)
{
    if (policy->count == 0)
        return 0;
    size_t index = attempt <= 2 ? 0 : (size_t)(attempt - 2);
    if (index >= policy->count)
        index = policy->count - 1;
    if (jitter < 0)
        jitter = 0;
    if (jitter >= 1)
        jitter = 0.999999;
    double base = (double)policy->delays_ms[index];
    int64_t delay = (int64_t)(base * (0.9 + 0.2 * jitter));
    if (retry_after_ms > delay) {
        delay = retry_after_ms;
        if (delay > policy->longest_ms)
            delay = policy->longest_ms;
    }
    return delay < 0 ? 0 : delay;
}

double retry_jitter(void)
{
    return (double)arc4random_uniform(1000000) / 1000000.0;
}
