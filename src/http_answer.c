/*
 * http_answer.c — the client's answer parser (see http_answer.h). One pass over the bytes as
 * they arrive: lines found with memchr, the framing headers compared by length first, the
 * body copied only while the caller's buffer has room.
 */
#include "http_answer.h"
#include "retry.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

void http_answer_init(http_answer *a, char *response, size_t response_cap, char *headers,
                      size_t headers_cap, int64_t now_ms)
{
    memset(a, 0, sizeof *a);
    a->response = response;
    a->response_cap = response_cap;
    a->headers = headers;
    a->headers_cap = headers_cap;
    a->now_ms = now_ms;
    a->retry_after_ms = -1;
}

size_t http_answer_head_end(const char *buf, size_t len)
{
    const char *at = buf, *end = buf + len;
    while (at < end) {
        const char *lf = memchr(at, '\n', (size_t)(end - at));
        if (!lf)
            return 0;
        if (lf + 1 < end && lf[1] == '\n')
            return (size_t)(lf + 2 - buf);
        if (lf + 2 < end && lf[1] == '\r' && lf[2] == '\n')
            return (size_t)(lf + 3 - buf);
        at = lf + 1;
    }
    return 0;
}

bool http_answer_status_line(const char *line, size_t len, int *status, bool *http10)
{
    if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
        line[8] != ' ')
        return false;
    int s = 0;
    for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return false;
        s = s * 10 + (line[i] - '0');
    }
    if (len > 12 && line[12] != ' ' && line[12] != '\r')
        return false;
    *status = s;
    *http10 = line[7] == '0';
    return s >= 100;
}

/* True when the comma-separated value holds token (any case). */
static bool value_has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tl && strncasecmp(v + start, token, tl) == 0)
            return true;
    }
    return false;
}

/* What the head says about framing, gathered line by line. */
typedef struct head_info {
    int64_t length;
    bool has_length;
    bool chunked;
    bool other_coding; /* a Transfer-Encoding not ending in chunked: read until close */
    bool close;
    bool keep_alive;
} head_info;

/* A Content-Length value; false when not digits or when it differs from an earlier one. */
static bool head_length(head_info *h, const char *v, size_t vl)
{
    if (vl == 0 || vl > 18)
        return false;
    int64_t n = 0;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        n = n * 10 + (v[i] - '0');
    }
    if (h->has_length && n != h->length)
        return false;
    h->length = n;
    h->has_length = true;
    return true;
}

/* One header line (name: value, without its line end). false: the head is refused. */
static bool head_field(http_answer *a, head_info *h, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return true; /* a folded or broken line: kept, means nothing */
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    if (nl == 14 && strncasecmp(line, "content-length", 14) == 0)
        return head_length(h, v, vl);
    if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
        const char *last = v;
        for (const char *p = v; p < end; p++)
            if (*p == ',')
                last = p + 1;
        while (last < end && (*last == ' ' || *last == '\t'))
            last++;
        h->chunked = (size_t)(end - last) == 7 && strncasecmp(last, "chunked", 7) == 0;
        h->other_coding = !h->chunked;
    } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
        h->close = h->close || value_has_token(v, vl, "close");
        h->keep_alive = h->keep_alive || value_has_token(v, vl, "keep-alive");
    } else if (nl == 11 && strncasecmp(line, "retry-after", 11) == 0 && vl < 128) {
        char value[128];
        int64_t delay_ms;
        memcpy(value, v, vl);
        value[vl] = '\0';
        if (retry_after_parse(value, a->now_ms, &delay_ms) == 0)
            a->retry_after_ms = delay_ms;
    }
    return true;
}

/* Parses the head in buf[0..len) (its end found): the status, the kept header lines, the
 * framing. NULL, or why it is refused. */
static const char *answer_head(http_answer *a, const char *buf, size_t len)
{
    const char *at = buf, *end = buf + len;
    const char *lf = memchr(at, '\n', len);
    bool http10;
    if (!lf || !http_answer_status_line(at, (size_t)(lf - at), &a->status, &http10))
        return "the answer is not HTTP/1.x";
    a->headers_len = 0; /* a 1XX's lines are not the answer's */
    a->retry_after_ms = -1;
    head_info h = {0};
    for (at = lf + 1; at < end; at = lf + 1) {
        lf = memchr(at, '\n', (size_t)(end - at));
        size_t n = (size_t)(lf - at) + 1; /* with its line end */
        size_t bare = n - 1 - (n >= 2 && lf[-1] == '\r');
        if (bare == 0)
            break;
        if (!head_field(a, &h, at, bare))
            return "the answer's Content-Length is invalid";
        if (n <= a->headers_cap - a->headers_len) {
            memcpy(a->headers + a->headers_len, at, n);
            a->headers_len += n;
        }
    }
    int s = a->status;
    if (s == 204 || s == 304 || s < 200)
        a->body = HTTP_ANSWER_NONE;
    else if (h.chunked)
        a->body = HTTP_ANSWER_CHUNKED;
    else if (h.other_coding || !h.has_length)
        a->body = HTTP_ANSWER_CLOSE;
    else
        a->body = h.length > 0 ? HTTP_ANSWER_LENGTH : HTTP_ANSWER_NONE;
    a->left = h.length;
    a->keep_alive = a->body != HTTP_ANSWER_CLOSE && !h.close && (!http10 || h.keep_alive);
    return NULL;
}

static void body_keep(http_answer *a, const char *data, size_t n)
{
    a->body_read += (int64_t)n;
    size_t room = a->response_cap - a->response_len;
    size_t take = n < room ? n : room;
    memcpy(a->response + a->response_len, data, take);
    a->response_len += take;
}

/* A chunk's size line (without its LF): false when malformed. */
static bool chunk_size(http_answer *a, const char *p, size_t line)
{
    int64_t size = 0;
    size_t i = 0;
    for (; i < line && i < 15 && isxdigit((unsigned char)p[i]); i++)
        size = size * 16 + (p[i] <= '9' ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
    if (i == 0 || (i < line && p[i] != ';' && p[i] != '\r' && p[i] != ' '))
        return false;
    a->left = size;
    a->chunk_state = size > 0 ? 1 : 3;
    return true;
}

/* The chunked body: how much of data[0..n) it used (a partial line waits), -1 when
 * malformed. */
static ptrdiff_t body_chunked(http_answer *a, const char *data, size_t n, bool *done)
{
    size_t used = 0;
    while (used < n && !*done) {
        const char *p = data + used;
        size_t left = n - used;
        if (a->chunk_state == 1) { /* data */
            size_t take = (int64_t)left < a->left ? left : (size_t)a->left;
            body_keep(a, p, take);
            a->left -= (int64_t)take;
            used += take;
            if (a->left == 0)
                a->chunk_state = 2;
            continue;
        }
        const char *lf = memchr(p, '\n', left);
        if (!lf)
            return left > 1024 ? -1 : (ptrdiff_t)used;
        size_t line = (size_t)(lf - p);
        used += line + 1;
        bool empty = line == 0 || (line == 1 && p[0] == '\r');
        if (a->chunk_state == 2) { /* the line end after a chunk's data */
            if (!empty)
                return -1;
            a->chunk_state = 0;
        } else if (a->chunk_state == 0) {
            if (!chunk_size(a, p, line))
                return -1;
        } else if (empty) { /* the trailers' end */
            *done = true;
        }
    }
    return (ptrdiff_t)used;
}

/* The body bytes in data[0..n): how many were used (-1: malformed); *done at its end. */
static ptrdiff_t answer_body(http_answer *a, const char *data, size_t n, bool *done)
{
    switch (a->body) {
    case HTTP_ANSWER_NONE:
        *done = true;
        return 0;
    case HTTP_ANSWER_LENGTH: {
        size_t take = (int64_t)n < a->left ? n : (size_t)a->left;
        body_keep(a, data, take);
        a->left -= (int64_t)take;
        *done = a->left == 0;
        return (ptrdiff_t)take;
    }
    case HTTP_ANSWER_CHUNKED:
        return body_chunked(a, data, n, done);
    case HTTP_ANSWER_CLOSE:
        body_keep(a, data, n);
        return (ptrdiff_t)n;
    }
    return -1;
}

/* Drops the first n bytes of buf[0..*len). */
static void consume(char *buf, size_t *len, size_t n)
{
    *len -= n;
    if (*len)
        memmove(buf, buf + n, *len);
}

int http_answer_feed(http_answer *a, char *buf, size_t *len, const char **why)
{
    while (!a->in_body) {
        size_t end = http_answer_head_end(buf, *len);
        if (!end) {
            if (*len < HTTP_ANSWER_HEAD_MAX)
                return 0;
            *why = "the answer's head is larger than 65536 bytes";
            return -1;
        }
        if ((*why = answer_head(a, buf, end)))
            return -1;
        consume(buf, len, end);
        a->in_body = a->status >= 200; /* after a 1XX the final answer follows */
    }
    bool done = false;
    ptrdiff_t used = answer_body(a, buf, *len, &done);
    if (used < 0) {
        *why = "the answer's chunked body is malformed";
        return -1;
    }
    consume(buf, len, (size_t)used);
    if (!done && a->body_read <= HTTP_ANSWER_BODY_MAX)
        return 0;
    if (!done || *len > 0) /* too long to drain, or bytes after it: the connection goes */
        a->keep_alive = false;
    return 1;
}

bool http_answer_ends_at_close(const http_answer *a)
{
    return a->in_body && a->body == HTTP_ANSWER_CLOSE;
}
