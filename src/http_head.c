/*
 * http_head.c — the strict request-head parser (see http_head.h).
 */
#include "http_head.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* True when every byte of s is a token character (RFC 9110 tchar). */
static bool is_token(const char *s, size_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c && strchr(extra, c))))
            return false;
    }
    return true;
}

/* One header line "name: value" (NUL-terminated, no CRLF) into p. Returns NULL or why not. */
static const char *head_header(http_head_parsed *p, char *line, http_head_header_fn fn, void *arg)
{
    char *colon = strchr(line, ':');
    if (!colon || !is_token(line, (size_t)(colon - line)))
        return "a header name is not a token (whitespace before the colon?)";
    *colon = '\0';
    char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t vlen = strlen(value);
    while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
        value[--vlen] = '\0';
    for (size_t i = 0; i < vlen; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return "a header value holds a control byte";
    }
    if (strcasecmp(line, "Content-Length") == 0) {
        if (p->has_length)
            return "more than one Content-Length";
        if (vlen == 0 || vlen > 15 || strspn(value, "0123456789") != vlen)
            return "Content-Length is not a plain decimal number";
        p->has_length = true;
        p->content_length = strtoll(value, NULL, 10);
    } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
        if (p->chunked || strcasecmp(value, "chunked") != 0)
            return "Transfer-Encoding other than one \"chunked\"";
        p->chunked = true;
    }
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

const char *http_head_parse(char *text, size_t len, http_head_parsed *p, http_head_header_fn fn,
                            void *arg)
{
    if (memchr(text, '\0', len))
        return "the head holds a NUL byte";
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            return "a line of the head does not end in CRLF";
    bool http10 = false;
    char *line = text;
    char *end = strstr(line, "\r\n");
    *end = '\0';
    const char *why = head_request_line(p, line, &http10);
    /* every line ends in CRLF (checked above) and the text in CRLF CRLF: strstr finds one */
    for (line = end + 2; !why && strncmp(line, "\r\n", 2) != 0; line = end + 2) {
        end = strstr(line, "\r\n");
        *end = '\0';
        why = head_header(p, line, fn, arg);
    }
    if (!why && p->chunked && (p->has_length || http10))
        why = "Transfer-Encoding with Content-Length, or in HTTP/1.0";
    return why;
}
