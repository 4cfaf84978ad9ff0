/*
 * core_alloc.h — allocation inside the protocol core. Private to src/core/: these are static
 * so that libhookd defines no symbol outside the hookd_ namespace. Allocation failure aborts
 * with a message, as the rest of hookd does (see include/hookd.h on HOOKD_ENOMEM).
 */
#ifndef HOOKD_CORE_ALLOC_H
#define HOOKD_CORE_ALLOC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void *core_check(void *p)
{
    if (p == NULL) {
        fputs("hookd: out of memory\n", stderr);
        abort();
    }
    return p;
}

static inline void *core_malloc(size_t size)
{
    return core_check(malloc(size ? size : 1));
}

static inline void *core_calloc(size_t count, size_t size)
{
    return core_check(calloc(count ? count : 1, size ? size : 1));
}

static inline char *core_strdup(const char *s)
{
    return s ? core_check(strdup(s)) : NULL;
}

#endif
