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

#include "hookd.h"

#include <jansson.h>

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

/* The code for a failed json_loadb. jansson 2.14 sets json_error_out_of_memory only in some
 * places; elsewhere an allocation failure leaves no reason at all (every syntax error has
 * one), so an empty reason counts as out of memory too. When its lexer cannot allocate a
 * token it reports a syntax error, which nothing here can tell from bad JSON: HOOKD_EJSON. */
static inline int core_json_error(const json_error_t *error)
{
    if (json_error_code(error) == json_error_out_of_memory || error->text[0] == '\0')
        return HOOKD_ENOMEM;
    return HOOKD_EJSON;
}

#endif
