/*
 * http_request.c — the request side of http_server.h: what a handler reads of a request
 * (method, path, query, headers, body) and the answers it gives (text, JSON, the one error
 * shape), composed straight into the connection's output (http_conn.c) in one pass, with
 * the framing evhttp used to write: Date, Content-Type (application/json by default),
 * Content-Length where a body may be, Connection as the request and the handler asked.
 */
#include "http_conn.h"
#include "mem.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *http_status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 303:
        return "See Other";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 413:
        return "Payload Too Large";
    case 417:
        return "Expectation Failed";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status >= 500 ? "Error" : status >= 400 ? "Client Error" : "OK";
    }
}

/* The Date header's value for now (RFC 9110 IMF-fixdate), formatted once a second rather
 * than per answer (a gmtime and a printf). Only the loop thread answers, so one buffer does.
 * NULL when the clock cannot be read. */
const char *http_date_now(void)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static char text[40];
    static time_t formatted = (time_t)-1;
    time_t now = time(NULL);
    if (now == formatted)
        return text;
    struct tm tm;
    if (now == (time_t)-1 || !gmtime_r(&now, &tm) || tm.tm_year + 1900 > 9999)
        return NULL;
    snprintf(text, sizeof text, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", days + 3 * tm.tm_wday,
             tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    formatted = now;
    return text;
}

/* The decimal digits of n into out (at least 21 bytes), NUL-terminated; returns their count. */
static size_t http_size_text(size_t n, char *out)
{
    char rev[24];
    size_t k = 0;
    do {
        rev[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    for (size_t i = 0; i < k; i++)
        out[i] = rev[k - 1 - i];
    out[k] = '\0';
    return k;
}

/* Appends n bytes at text to the answer being written at *at. */
static char *put(char *at, const char *text, size_t n)
{
    if (n > 0) /* text may be NULL then (no headers added) */
        memcpy(at, text, n);
    return at + n;
}

#define PUT_LITERAL(at, text) put(at, text, sizeof text - 1)

/* Whether the answer carries a body (evhttp's rule): not 1XX, 204, 304, nor to HEAD. */
static bool reply_has_body(const http_request *req, int status)
{
    return !(status < 200 || status == 204 || status == 304 || req->method == HTTP_HEAD);
}

/* The answer's head into *at (room reckoned by the caller): status line, Date, the body's
 * framing, Connection, the handler's headers. type_len: content_type's length. */
static char *reply_head(char *at, const http_request *req, int status, const char *content_type,
                        size_t type_len, size_t len)
{
    at = req->http10 ? PUT_LITERAL(at, "HTTP/1.0 ") : PUT_LITERAL(at, "HTTP/1.1 ");
    char digits[24];
    at = put(at, digits, http_size_text((size_t)status, digits));
    *at++ = ' ';
    const char *reason = http_status_reason(status);
    at = put(at, reason, strlen(reason));
    const char *date = http_date_now();
    if (date) {
        at = PUT_LITERAL(at, "\r\nDate: ");
        at = put(at, date, strlen(date));
    }
    bool body = reply_has_body(req, status);
    if (!content_type && body) {
        content_type = "application/json";
        type_len = sizeof "application/json" - 1;
    }
    if (content_type) {
        at = PUT_LITERAL(at, "\r\nContent-Type: ");
        at = put(at, content_type, type_len);
    }
    if (body) {
        at = PUT_LITERAL(at, "\r\nContent-Length: ");
        at = put(at, digits, http_size_text(len, digits));
    }
    if (req->close_asked || req->close_after)
        at = PUT_LITERAL(at, "\r\nConnection: close");
    else if (req->http10 && req->keep_alive)
        at = PUT_LITERAL(at, "\r\nConnection: keep-alive");
    at = PUT_LITERAL(at, "\r\n");
    at = put(at, req->out_headers, req->out_len);
    return PUT_LITERAL(at, "\r\n");
}

void http_reply_text(http_request *req, int status, const char *content_type, const char *body,
                     size_t len)
{
    http_conn *c = req->conn;
    if (!c) { /* the client is gone: nobody to tell */
        http_request_free(req);
        return;
    }
    if (!reply_has_body(req, status))
        len = 0;
    size_t type_len = content_type ? strlen(content_type) : 0;
    size_t room = 256 + type_len + req->out_len + len;
    char *start = http_conn_output(c, room);
    char *at = reply_head(start, req, status, content_type, type_len, len);
    at = put(at, body, len);
    http_conn_output_commit(c, (size_t)(at - start));
    http_conn_answered(c, req);
}

void http_request_add_header(http_request *req, const char *name, const char *value)
{
    if (strcasecmp(name, "Connection") == 0) {
        req->close_after = req->close_after || strcasecmp(value, "close") == 0;
        return; /* written by the answer itself */
    }
    size_t n = strlen(name), m = strlen(value);
    if (req->out_len + n + m + 4 > req->out_cap) {
        while (req->out_len + n + m + 4 > req->out_cap)
            req->out_cap = req->out_cap ? req->out_cap * 2 : 256;
        req->out_headers = xrealloc(req->out_headers, req->out_cap);
    }
    char *at = req->out_headers + req->out_len;
    at = put(at, name, n);
    at = PUT_LITERAL(at, ": ");
    at = put(at, value, m);
    at = PUT_LITERAL(at, "\r\n");
    req->out_len = (size_t)(at - req->out_headers);
}

void http_request_clear(http_request *req)
{
    free(req->path);
    if (req->body_cap > 0)
        free(req->body); /* a chunked body, grown apart */
    if (req->headers.items != req->headers.inline_items)
        free(req->headers.items);
    free(req->out_headers);
}

void http_request_free(http_request *req)
{
    http_request_clear(req);
    free(req);
}

/* The text http_json_text builds, appended to by jansson's dump. */
typedef struct json_text_buf {
    char *text;
    size_t len, cap;
} json_text_buf;

static int json_text_append(const char *bytes, size_t size, void *arg)
{
    json_text_buf *b = arg;
    if (b->len + size + 1 > b->cap) {
        while (b->len + size + 1 > b->cap)
            b->cap *= 2;
        b->text = xrealloc(b->text, b->cap);
    }
    memcpy(b->text + b->len, bytes, size);
    b->len += size;
    return 0;
}

char *http_json_text(const json_t *value)
{
    /* One dump into a buffer from mem.h (it grows or aborts: no out-of-memory path left),
     * not a sizing dump and a second one: dumping is most of an API answer's cost. */
    json_text_buf b = {xmalloc(512), 0, 512};
    if (value &&
        json_dump_callback(value, json_text_append, &b, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
        b.len = 0;
    b.text[b.len] = '\0';
    return b.text;
}

void http_reply_json(http_request *req, int status, json_t *value)
{
    char *text = http_json_text(value);
    json_decref(value);
    http_reply_text(req, status, "application/json", text, strlen(text));
    free(text);
}

void http_reply_error(http_request *req, int status, const char *code, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    json_t *body =
        json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error", "message", message);
    if (!body) {
        /* Only invalid UTF-8 in the message gets here: answer without it. */
        body = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : "error", "message",
                         "invalid request");
    }
    http_reply_json(req, status, body);
}

const char *http_request_body(http_request *req, size_t *len)
{
    *len = req->body_len;
    return req->body_len ? req->body : "";
}

http_method http_request_method(const http_request *req)
{
    return req->method;
}

const char *http_request_raw_path(const http_request *req)
{
    return req->raw_path;
}

const char *http_request_query_string(const http_request *req)
{
    return req->query;
}

const char *http_request_header(const http_request *req, const char *name)
{
    return http_fields_find(&req->headers, name);
}

char *http_request_path(http_request *req)
{
    return xstrdup(req->path ? req->path : req->raw_path);
}

bool http_request_path_is(http_request *req, const char *path)
{
    return strcmp(req->path ? req->path : req->raw_path, path) == 0;
}

char *http_request_query(http_request *req, const char *name)
{
    if (!req->query)
        return NULL;
    struct evkeyvalq params;
    memset(&params, 0, sizeof params); /* evhttp_parse_query_str initialises it */
    char *result = NULL;
    if (evhttp_parse_query_str(req->query, &params) == 0) {
        const char *value = evhttp_find_header(&params, name);
        result = xstrdup(value);
    }
    evhttp_clear_headers(&params);
    return result;
}

bool http_utf8_valid(const char *s, size_t n)
{
    const unsigned char *b = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = b[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return false;
        unsigned cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((b[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (b[i + k] & 0x3f);
        }
        static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

static inline unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

const char *http_head_header(const http_head *head, const char *name)
{
    return http_fields_find(head->headers, name);
}

const char *http_fields_find(const http_fields *headers, const char *name)
{
    /* The first letter, the length, then from the end: the receiver's names share their
     * start ("X-Webhook-"), and two of them their length, but not their last letters. */
    size_t n = strlen(name);
    for (size_t k = 0; k < headers->count; k++) {
        const http_field *f = &headers->items[k];
        if (f->name_len != n ||
            ascii_lower((unsigned char)f->name[0]) != ascii_lower((unsigned char)name[0]))
            continue;
        size_t i = n;
        while (i > 0 && ascii_lower((unsigned char)f->name[i - 1]) ==
                            ascii_lower((unsigned char)name[i - 1]))
            i--;
        if (i == 0)
            return f->value;
    }
    return NULL;
}

bool http_head_utf8(const http_head *head, http_verdict *v)
{
    if (!http_utf8_valid(head->path, strlen(head->path))) {
        *v = (http_verdict){.status = 404, .code = "not_found"};
        snprintf(v->message, sizeof v->message, "no such path (not UTF-8)");
        return false;
    }
    char *query = head->query ? evhttp_uridecode(head->query, 1, NULL) : NULL;
    bool query_ok = !query || http_utf8_valid(query, strlen(query));
    free(query);
    if (!query_ok) {
        *v = (http_verdict){.status = 400, .code = "invalid_parameter"};
        snprintf(v->message, sizeof v->message, "the query string is not UTF-8");
        return false;
    }
    const char *key = http_head_header(head, "Idempotency-Key");
    if (key && !http_utf8_valid(key, strlen(key))) {
        *v = (http_verdict){.status = 400, .code = "invalid_idempotency_key"};
        snprintf(v->message, sizeof v->message, "the Idempotency-Key header is not UTF-8");
        return false;
    }
    return true;
}

size_t http_path_split(const char *path, char **segments, size_t max)
{
    if (!path || max == 0)
        return 0;
    while (*path == '/')
        path++;
    if (!*path)
        return 0;
    char *copy = xstrdup(path); /* segments[0] == copy: the caller frees it */
    size_t count = 0;
    char *p = copy;
    while (*p) {
        segments[count++] = p;
        char *slash = strchr(p, '/');
        if (!slash || count == max)
            break; /* the last slot keeps whatever remains, slashes included */
        *slash = '\0';
        p = slash + 1;
        while (*p == '/')
            p++;
    }
    return count;
}
