/*
 * fuzz_http_answer.c — the HTTP client's answer parser (src/http_answer.c) on arbitrary
 * bytes, as any server may send: never crashes, never writes past the kept buffers, and
 * what it reports holds together whichever way the bytes are split into reads.
 *
 * Input: one byte choosing the read size (1..256), then the answer's bytes, fed read by
 * read into a buffer like http_client_conn.c's (what the parser leaves stays at the front).
 * Invariants: the kept lengths stay within their caps; a complete answer has a final status
 * (200..999); the parser never asks for more once it said complete or refused; the buffer
 * never holds more than the head cap plus one read while the head is incomplete.
 */
#include "http_answer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1;
    data++;
    size--;
    static char buf[HTTP_ANSWER_HEAD_MAX + 512];
    char response[64], headers[256];
    http_answer a;
    http_answer_init(&a, response, sizeof response, headers, sizeof headers, 1700000000000LL);
    size_t len = 0;
    for (size_t at = 0; at < size;) {
        size_t n = size - at < step ? size - at : step;
        if (len + n > sizeof buf)
            abort(); /* the head cap must have stopped it before */
        memcpy(buf + len, data + at, n);
        len += n;
        at += n;
        const char *why = NULL;
        int rc = http_answer_feed(&a, buf, &len, &why);
        if (a.response_len > sizeof response || a.headers_len > sizeof headers)
            abort();
        if (rc < 0 && !why)
            abort();
        if (rc > 0 && (a.status < 200 || a.status > 999))
            abort();
        if (rc != 0)
            break;
    }
    return 0;
}
