/*
 * core_alloc.h — allocation inside the protocol core. Private to src/core/: these are static
 * so that libhookd defines no symbol outside the hookd_ namespace.
 *
 * A library must not abort its host, so unlike the program's mem.h these return NULL on
 * failure and every caller in src/core/ checks, frees what it built so far and returns
 * HOOKD_ENOMEM (or NULL from a constructor, as include/hookd.h documents per function).
 */
#ifndef HOOKD_CORE_ALLOC_H
#define HOOKD_CORE_ALLOC_H

#include <stdlib.h>
#include <string.h>

/* malloc; size 0 still gives a unique pointer, so NULL always means out of memory. */
static inline void *core_malloc(size_t size)
{
    return malloc(size ? size : 1);
}

/* calloc, zeroed and overflow-checked by the C library; NULL only when out of memory. */
static inline void *core_calloc(size_t count, size_t size)
{
    return calloc(count ? count : 1, size ? size : 1);
}

/* Copy of s, which must not be NULL; NULL only when out of memory. */
static inline char *core_strdup(const char *s)
{
    return strdup(s);
}

#endif
