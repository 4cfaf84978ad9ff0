/*
 * http_answer.h — the HTTP client's parser of an answer, fed bytes as they arrive: the
 * status line and headers (1XX answers skipped; the final answer's header lines kept whole
 * into a caller's buffer; Retry-After read), then the body by Content-Length, chunked, or
 * until the server closes (its first bytes kept into another buffer; no body for 1XX, 204,
 * 304). Pure (libc, and retry.c's Retry-After parser), so that it can be fuzzed alone
 * (fuzz/fuzz_http_answer.c); http_client_conn.c feeds it.
 *
 * Thread: any (one answer per struct).
 */
#ifndef HOOKD_HTTP_ANSWER_H
#define HOOKD_HTTP_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_ANSWER_HEAD_MAX 65536         /* a head larger than this is refused */
#define HTTP_ANSWER_BODY_MAX (1024 * 1024) /* body bytes parsed before the answer is cut */

/* How the body ends. */
typedef enum http_answer_body {
    HTTP_ANSWER_NONE,   /* 204, 304, or Content-Length: 0 */
    HTTP_ANSWER_LENGTH, /* Content-Length */
    HTTP_ANSWER_CHUNKED,
    HTTP_ANSWER_CLOSE /* until the server closes */
} http_answer_body;

typedef struct http_answer {
    /* where the answer is kept (set by http_answer_init) */
    char *response; /* the body's first response_cap bytes */
    size_t response_cap;
    char *headers; /* the final answer's header lines, whole ones while they fit */
    size_t headers_cap;
    int64_t now_ms; /* the wall clock (Unix ms), for a Retry-After date */
    /* the outcome */
    int status;
    size_t response_len, headers_len;
    int64_t retry_after_ms; /* -1 when none */
    bool keep_alive;        /* the connection may carry another request */
    /* the state */
    bool in_body;
    http_answer_body body;
    int64_t left;      /* Content-Length bytes, or the current chunk's, still to come */
    int chunk_state;   /* chunked: 0 size line, 1 data, 2 CRLF after data, 3 trailers */
    int64_t body_read; /* body bytes parsed */
} http_answer;

/* Starts an answer, kept into response[response_cap] and headers[headers_cap]. */
void http_answer_init(http_answer *a, char *response, size_t response_cap, char *headers,
                      size_t headers_cap, int64_t now_ms);

/*
 * Parses buf[0..*len): what it used leaves the front of buf (*len shrinks; a partial line
 * stays for the next call, appended to). Returns 1 when the answer is complete (keep_alive
 * false when its body was cut at HTTP_ANSWER_BODY_MAX, or bytes follow it), 0 when more is
 * needed, -1 when the bytes are not an acceptable answer (why set).
 */
int http_answer_feed(http_answer *a, char *buf, size_t *len, const char **why);

/* True when the server's close ends the answer (a body read until close). */
bool http_answer_ends_at_close(const http_answer *a);

/* The end of a head at the start of buf (just past its empty line; lines end in CRLF or a
 * bare LF), or 0 when it has not all arrived. */
size_t http_answer_head_end(const char *buf, size_t len);

/* "HTTP/1.x NNN ..." (line without its line end) into *status and *http10; false when it is
 * not a status line. */
bool http_answer_status_line(const char *line, size_t len, int *status, bool *http10);

#endif
