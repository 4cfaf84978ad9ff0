/*
 * fuzz_http_head.c — the front door's request-head parser (src/http_head.c) on arbitrary
 * bytes: never crashes, and whatever it accepts is unambiguous (a token method, a target
 * without control bytes, never Content-Length together with chunked, a length of at most
 * 15 digits, every header name a token).
 */
#include "http_head.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!strchr("!#$%&'*+-.^_`|~", *s) &&
            !((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return false;
    return true;
}

static bool header_seen(void *arg, const char *name, const char *value)
{
    (void)value;
    if (!token(name))
        abort();
    (*(size_t *)arg)++;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the front door hands the parser the bytes up to the first CRLF CRLF */
    const uint8_t *end = memmem(data, size, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t len = (size_t)(end - data) + 4;
    char *text = malloc(len + 1);
    memcpy(text, data, len);
    text[len] = '\0';
    http_head_parsed p = {.content_length = 0};
    size_t headers = 0;
    if (http_head_parse(text, len, &p, header_seen, &headers) == NULL) {
        if (!token(p.method) || !*p.target || (p.chunked && p.has_length) || p.content_length < 0 ||
            p.content_length > 999999999999999LL)
            abort();
        for (const char *c = p.target; *c; c++)
            if ((unsigned char)*c <= 0x20 || *c == 0x7f)
                abort();
    }
    free(text);
    return 0;
}
