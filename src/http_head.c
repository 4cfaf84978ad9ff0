/*
 * http_head.c — the strict request-head parser (see http_head.h).
 *
 * It runs on every request (the one parse of a head: http_conn.c), so it is written for one pass:
 * lines are found with memchr, each byte is classified by a few comparisons (no strchr or
 * strlen per byte), and the two framing headers are compared by length first. Measured
 * with callgrind on the receiver's ingest (docs/BENCHMARKS.md, 2026-11-30).
 */
#include "http_head.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 tchar — a letter, a digit, or one of !#$%&'*+-.^_`|~ — as a 256-bit set (bit c
 * of word c / 64): one load and a shift per byte. */
static const uint64_t tchar_set[4] = {0x03ff6cfa00000000ULL, 0x57ffffffc7fffffeULL, 0, 0};

static inline bool is_tchar(unsigned char c)
{
    return (tchar_set[c >> 6] >> (c & 63)) & 1;
}

/* True when the n bytes at s are a token (one tchar at least). */
static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* True when one of the n bytes at s is a control byte other than tab (below 0x20, or 0x7f).
 * Eight bytes at a time: a word with no byte below 0x20 and none equal to 0x7f is passed
 * whole (the classic "has a byte less than" tests); only a word that may hold one, a tab
 * perhaps, is looked at byte by byte. */
static bool has_control(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, del;
        memcpy(&x, s + i, 8);
        del = x ^ (ones * 0x7f);
        if ((((x - ones * 0x20) & ~x) | ((del - ones) & ~del)) & highs)
            break; /* a candidate: the byte loop below decides */
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return true;
    }
    return false;
}

/* A header's framing meaning, by its name: Content-Length and Transfer-Encoding. */
static const char *head_framing(http_head_parsed *p, const char *name, size_t name_len,
                                const char *value, size_t vlen)
{
    if (name_len == 14 && strcasecmp(name, "Content-Length") == 0) {
        if (p->has_length)
            return "more than one Content-Length";
        if (vlen == 0 || vlen > 15 || strspn(value, "0123456789") != vlen)
            return "Content-Length is not a plain decimal number";
        p->has_length = true;
        int64_t length = 0; /* at most 15 digits (checked): no overflow */
        for (size_t i = 0; i < vlen; i++)
            length = length * 10 + (value[i] - '0');
        p->content_length = length;
    } else if (name_len == 17 && strcasecmp(name, "Transfer-Encoding") == 0) {
        if (p->chunked || strcasecmp(value, "chunked") != 0)
            return "Transfer-Encoding other than one \"chunked\"";
        p->chunked = true;
    }
    return NULL;
}

/* One header line "name: value" of n bytes (NUL-terminated, no CRLF) into p. Returns NULL or
 * why not. */
static const char *head_header(http_head_parsed *p, char *line, size_t n, http_head_header_fn fn,
                               void *arg)
{
    /* the name is the token up to the colon: the first byte that is not a tchar must be it */
    size_t name_len = 0;
    while (name_len < n && is_tchar((unsigned char)line[name_len]))
        name_len++;
    if (name_len == 0 || name_len == n || line[name_len] != ':')
        return "a header name is not a token (whitespace before the colon?)";
    line[name_len] = '\0';
    char *value = line + name_len + 1, *end = line + n;
    while (value < end && (*value == ' ' || *value == '\t'))
        value++;
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *end = '\0';
    size_t vlen = (size_t)(end - value);
    if (has_control(value, vlen))
        return "a header value holds a control byte";
    const char *why = head_framing(p, line, name_len, value, vlen);
    if (why)
        return why;
    if (fn && !fn(arg, line, value))
        return "a header cannot be read";
    return NULL;
}

/* The request line "METHOD SP target SP HTTP/1.x". Returns NULL or why not. */
static const char *head_request_line(http_head_parsed *p, char *line, bool *http10)
{
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || !is_token(line, (size_t)(sp1 - line)) ||
        sp2 == sp1 + 1)
        return "the request line is malformed";
    *sp1 = *sp2 = '\0';
    for (const char *c = sp1 + 1; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c == 0x7f)
            return "the request target holds a control byte";
    if (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0)
        return "not HTTP/1.0 or HTTP/1.1";
    *http10 = strcmp(sp2 + 1, "HTTP/1.0") == 0;
    p->method = line;
    p->target = sp1 + 1;
    return NULL;
}

/* The line starting at line, up to end: its LF, or NULL when the LF is not after a CR (a
 * bare LF, which a proxy may read as a line end where we would not). */
static char *head_line_end(char *line, char *end)
{
    char *lf = memchr(line, '\n', (size_t)(end - line));
    return lf && lf > line && lf[-1] == '\r' ? lf : NULL;
}

const char *http_head_parse(char *text, size_t len, http_head_parsed *p, http_head_header_fn fn,
                            void *arg)
{
    if (memchr(text, '\0', len))
        return "the head holds a NUL byte";
    static const char bare_lf[] = "a line of the head does not end in CRLF";
    char *end = text + len;
    char *lf = head_line_end(text, end);
    if (!lf)
        return bare_lf;
    lf[-1] = '\0';
    bool http10 = false;
    const char *why = head_request_line(p, text, &http10);
    /* the text ends in CRLF CRLF: the loop meets the empty line at the latest there */
    for (char *line = lf + 1; !why; line = lf + 1) {
        if (!(lf = head_line_end(line, end)))
            return bare_lf;
        if (lf - 1 == line)
            break; /* the empty line: the end of the head */
        lf[-1] = '\0';
        why = head_header(p, line, (size_t)(lf - 1 - line), fn, arg);
    }
    p->http10 = http10;
    if (!why && p->chunked && (p->has_length || http10))
        why = "Transfer-Encoding with Content-Length, or in HTTP/1.0";
    return why;
}
