/*
 * mem.h — the memory rule, written once: allocation failure is not an error a caller can
 * handle usefully, so these abort with a message (as redis and h2o do). Everything else in
 * hookd allocates through them and never checks for NULL.
 */
#ifndef HOOKD_MEM_H
#define HOOKD_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);                /* malloc; size 0 gives a unique pointer */
void *xcalloc(size_t count, size_t size);  /* calloc, zeroed; overflow-checked */
void *xrealloc(void *ptr, size_t size);    /* realloc */
char *xstrdup(const char *s);              /* copy of s; NULL gives NULL */
char *xstrndup(const char *s, size_t len); /* copy of len bytes of s, NUL-terminated */
/* p, or an abort as above when it is NULL: for what a library allocated for us (libevent's
 * buffers and strings), so that its out-of-memory path is this one too. */
void *mem_check(void *p);
/* Makes room for element number count (0-based) of an array of size-byte elements holding
 * *cap: doubles *cap (from 8) when full and returns the array, maybe moved. */
void *xgrow(void *array, size_t count, size_t *cap, size_t size);

#endif
