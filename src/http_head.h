/*
 * http_head.h — the strict parser of an HTTP/1.x request head used by the front door
 * (http_conn.c). Pure (libc only), so that it can be fuzzed alone (fuzz/fuzz_http_head.c).
 *
 * Strict means what a proxy in front could read differently is refused: one Content-Length
 * of digits only, Transfer-Encoding only one "chunked" and never with a Content-Length or in
 * HTTP/1.0, header names of token characters only (no space before the colon, no folded
 * lines), CRLF line ends only, no NUL or other control byte in a value or in the target.
 *
 * Thread: any.
 */
#ifndef HOOKD_HTTP_HEAD_H
#define HOOKD_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_head_parsed {
    char *method; /* into the parsed text */
    char *target;
    int64_t content_length; /* 0 when none */
    bool has_length;
    bool chunked;
    bool http10; /* the request line said HTTP/1.0 */
} http_head_parsed;

/* Receives each header (value trimmed); returns false to refuse the head. */
typedef bool (*http_head_header_fn)(void *arg, const char *name, const char *value);

/*
 * Parses the head in text[0..len) — NUL-terminated at len and ending in "\r\n\r\n";
 * modified in place — into *p, calling fn (may be NULL) for each header. Returns NULL when
 * the head is acceptable, or why it is not (to answer 400).
 */
const char *http_head_parse(char *text, size_t len, http_head_parsed *p, http_head_header_fn fn,
                            void *arg);

#endif
