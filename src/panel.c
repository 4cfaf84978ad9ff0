/*
 * panel.c — the admin panels' shared framework (see panel.h): HTML building with escaping,
 * forms, sessions with CSRF tokens and flashes, the page layout, the security headers and
 * the embedded assets. Each side (serve_panel.c, the receiver's panel) routes its own
 * pages and decides who may sign in; everything both need is here, once.
 */
#include "panel.h"

#include "http_server.h"
#include "loop.h"
#include "mem.h"
#include "panel_assets.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_IDLE_MS (30LL * 60 * 1000)
#define DEFAULT_ABSOLUTE_MS (12LL * 3600 * 1000)
#define DEFAULT_MAX_SESSIONS 1000
#define DEFAULT_COOKIE "hookd_session"
#define ASSET_MAX_AGE "public, max-age=31536000, immutable"

struct panel {
    panel_options opt;
    panel_session **sessions;
    size_t count, cap;
};

/* ---- the HTML builder ---- */

/* evbuffer_add fails only when memory runs out: abort as mem.h does. */
static void buf_add(panel_html *h, const char *data, size_t len)
{
    if (evbuffer_add(h->buf, data, len) != 0)
        mem_check(NULL);
}

panel_html *panel_html_new(void)
{
    panel_html *h = xcalloc(1, sizeof *h);
    h->buf = mem_check(evbuffer_new());
    return h;
}

void panel_html_free(panel_html *h)
{
    if (!h)
        return;
    evbuffer_free(h->buf);
    free(h);
}

void panel_html_raw(panel_html *h, const char *markup)
{
    buf_add(h, markup, strlen(markup));
}

void panel_html_rawf(panel_html *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = evbuffer_add_vprintf(h->buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        mem_check(NULL);
}

void panel_html_text(panel_html *h, const char *text)
{
    if (!text)
        return;
    const char *run = text;
    for (const char *c = text;; c++) {
        const char *esc = NULL;
        switch (*c) {
        case '&':
            esc = "&amp;";
            break;
        case '<':
            esc = "&lt;";
            break;
        case '>':
            esc = "&gt;";
            break;
        case '"':
            esc = "&quot;";
            break;
        case '\'':
            esc = "&#39;";
            break;
        case '\0':
            esc = "";
            break;
        default:
            continue;
        }
        buf_add(h, run, (size_t)(c - run));
        if (!*c)
            return;
        panel_html_raw(h, esc);
        run = c + 1;
    }
}

void panel_html_attr(panel_html *h, const char *value)
{
    panel_html_text(h, value); /* quotes are escaped too: the same escaping serves both */
}

void panel_html_textf(panel_html *h, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    panel_html_text(h, text);
}

const char *panel_html_data(panel_html *h, size_t *len)
{
    /* a NUL is added after the markup: write nothing after this call */
    buf_add(h, "", 1);
    size_t n = evbuffer_get_length(h->buf);
    const char *data = mem_check(evbuffer_pullup(h->buf, -1));
    if (len)
        *len = n - 1;
    return data;
}

/* ---- forms ---- */

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes len bytes of a name or value ('+' space, %XX); NULL for a bad escape, a NUL or
 * text that is not UTF-8. */
static char *form_decode(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[n++] = ' ';
        } else if (s[i] != '%') {
            out[n++] = s[i];
        } else {
            int hi = i + 2 < len ? hex_digit((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        }
    }
    out[n] = '\0';
    if (memchr(out, '\0', n) || !http_utf8_valid(out, n)) {
        free(out);
        return NULL;
    }
    return out;
}

int panel_form_parse(panel_form *form, const char *body, size_t len)
{
    memset(form, 0, sizeof *form);
    if (len > PANEL_FORM_MAX_BODY)
        return 413;
    for (size_t at = 0; at < len;) {
        const char *pair = body + at; /* the body is not NUL-terminated: lengths only */
        const char *amp = memchr(pair, '&', len - at);
        size_t plen = amp ? (size_t)(amp - pair) : len - at;
        at += plen + 1;
        if (plen == 0)
            continue;
        if (form->count == PANEL_FORM_MAX_FIELDS)
            return 400;
        const char *eq = memchr(pair, '=', plen);
        size_t nlen = eq ? (size_t)(eq - pair) : plen;
        char *name = form_decode(pair, nlen);
        char *value = eq ? form_decode(eq + 1, plen - nlen - 1) : xstrdup("");
        if (!name || !value) {
            free(name);
            free(value);
            return 400;
        }
        form->names = xrealloc(form->names, (form->count + 1) * sizeof *form->names);
        form->values = xrealloc(form->values, (form->count + 1) * sizeof *form->values);
        form->names[form->count] = name;
        form->values[form->count++] = value;
    }
    return 0;
}

int panel_form_of_request(panel_form *form, http_request *req)
{
    size_t len = 0;
    const char *body = http_request_body(req, &len);
    if (memchr(body, '\0', len)) {
        memset(form, 0, sizeof *form);
        return 400;
    }
    return panel_form_parse(form, body, len);
}

int panel_form_of_query(panel_form *form, http_request *req)
{
    const char *query = http_request_query_string(req);
    return panel_form_parse(form, query ? query : "", query ? strlen(query) : 0);
}

void panel_form_free(panel_form *form)
{
    for (size_t i = 0; i < form->count; i++) {
        free(form->names[i]);
        free(form->values[i]);
    }
    free(form->names);
    free(form->values);
    memset(form, 0, sizeof *form);
}

const char *panel_form_get_nth(const panel_form *form, const char *name, size_t index)
{
    for (size_t i = 0; i < form->count; i++)
        if (strcmp(form->names[i], name) == 0 && index-- == 0)
            return form->values[i];
    return NULL;
}

const char *panel_form_get(const panel_form *form, const char *name)
{
    return panel_form_get_nth(form, name, 0);
}

/* ---- sessions ---- */

panel *panel_new(const panel_options *options)
{
    panel *p = xcalloc(1, sizeof *p);
    p->opt = *options;
    if (!p->opt.prefix)
        p->opt.prefix = "/admin";
    if (!p->opt.product)
        p->opt.product = "hookd";
    if (p->opt.idle_ms <= 0)
        p->opt.idle_ms = DEFAULT_IDLE_MS;
    if (p->opt.absolute_ms <= 0)
        p->opt.absolute_ms = DEFAULT_ABSOLUTE_MS;
    if (p->opt.max_sessions == 0)
        p->opt.max_sessions = DEFAULT_MAX_SESSIONS;
    if (!p->opt.cookie_name)
        p->opt.cookie_name = DEFAULT_COOKIE;
    return p;
}

static void session_free(panel_session *s)
{
    if (s->who_free)
        s->who_free(s->who);
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

/* Drops the session at index i (order is not kept). */
static void session_drop(panel *p, size_t i)
{
    session_free(p->sessions[i]);
    p->sessions[i] = p->sessions[--p->count];
}

void panel_free(panel *p)
{
    if (!p)
        return;
    while (p->count > 0)
        session_drop(p, p->count - 1);
    free(p->sessions);
    free(p);
}

const panel_options *panel_options_of(const panel *p)
{
    return &p->opt;
}

static bool session_expired(const panel *p, const panel_session *s, int64_t now)
{
    return now - s->seen_ms >= p->opt.idle_ms || now - s->created_ms >= p->opt.absolute_ms;
}

/* The value of the panel's cookie in the request's Cookie header, copied into out. */
static bool cookie_value(const panel *p, http_request *req, char *out, size_t outlen)
{
    const char *h = http_request_header(req, "Cookie");
    size_t nlen = strlen(p->opt.cookie_name);
    while (h && *h) {
        h += strspn(h, " ;");
        size_t len = strcspn(h, ";");
        if (len > nlen && strncmp(h, p->opt.cookie_name, nlen) == 0 && h[nlen] == '=') {
            size_t vlen = len - nlen - 1;
            if (vlen >= outlen)
                return false;
            memcpy(out, h + nlen + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        h += len;
    }
    return false;
}

/* The index of the live session with this id, or p->count. Expired sessions met on the
 * way are dropped. Ids are compared in constant time: a guess learns nothing from timing. */
static size_t session_find(panel *p, const char *id)
{
    int64_t now = loop_monotonic_ms();
    size_t found = p->count;
    for (size_t i = 0; i < p->count;) {
        if (session_expired(p, p->sessions[i], now)) {
            session_drop(p, i);
            continue;
        }
        if (strlen(id) == PANEL_TOKEN_HEX &&
            CRYPTO_memcmp(p->sessions[i]->id, id, PANEL_TOKEN_HEX) == 0)
            found = i;
        i++;
    }
    return found;
}

panel_session *panel_session_of(panel *p, http_request *req)
{
    char id[PANEL_TOKEN_HEX + 2];
    if (!cookie_value(p, req, id, sizeof id))
        return NULL;
    size_t i = session_find(p, id);
    if (i == p->count)
        return NULL;
    p->sessions[i]->seen_ms = loop_monotonic_ms();
    return p->sessions[i];
}

/* 32 random bytes as 64 hex digits; false when the random source fails. */
static bool random_token(char out[PANEL_TOKEN_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[PANEL_TOKEN_HEX / 2];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return false;
    for (size_t i = 0; i < sizeof bytes; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[PANEL_TOKEN_HEX] = '\0';
    OPENSSL_cleanse(bytes, sizeof bytes);
    return true;
}

static void set_cookie(panel *p, http_request *req, const char *value, bool secure, bool clear)
{
    char cookie[256];
    snprintf(cookie, sizeof cookie, "%s=%s; Path=%s; HttpOnly; SameSite=Strict%s%s",
             p->opt.cookie_name, value, p->opt.prefix, secure ? "; Secure" : "",
             clear ? "; Max-Age=0" : "");
    http_request_add_header(req, "Set-Cookie", cookie);
}

panel_session *panel_session_start(panel *p, http_request *req, const char *name, void *who,
                                   void (*who_free)(void *), bool secure)
{
    panel_session_end(p, NULL, panel_session_of(p, req));
    panel_session *s = xcalloc(1, sizeof *s);
    s->who = who;
    s->who_free = who_free;
    if (!random_token(s->id) || !random_token(s->csrf)) {
        session_free(s);
        return NULL;
    }
    snprintf(s->name, sizeof s->name, "%s", name ? name : "");
    s->created_ms = s->seen_ms = loop_monotonic_ms();
    if (p->count == p->opt.max_sessions) { /* the least recently used goes */
        size_t oldest = 0;
        for (size_t i = 1; i < p->count; i++)
            if (p->sessions[i]->seen_ms < p->sessions[oldest]->seen_ms)
                oldest = i;
        session_drop(p, oldest);
    }
    p->sessions = xgrow(p->sessions, p->count, &p->cap, sizeof *p->sessions);
    p->sessions[p->count++] = s;
    set_cookie(p, req, s->id, secure, false);
    return s;
}

void panel_session_end(panel *p, http_request *req, panel_session *s)
{
    for (size_t i = 0; s && i < p->count; i++)
        if (p->sessions[i] == s) {
            session_drop(p, i);
            break;
        }
    if (req)
        set_cookie(p, req, "", false, true);
}

size_t panel_session_count(panel *p)
{
    return p->count;
}

bool panel_csrf_ok(const panel_session *s, const panel_form *form)
{
    const char *token = panel_form_get(form, "csrf");
    return s && token && strlen(token) == PANEL_TOKEN_HEX &&
           CRYPTO_memcmp(token, s->csrf, PANEL_TOKEN_HEX) == 0;
}

void panel_csrf_field(panel_html *h, const panel_session *s)
{
    panel_html_rawf(h, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", s ? s->csrf : "");
}

void panel_flash(panel_session *s, bool error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->flash, sizeof s->flash, fmt, ap);
    va_end(ap);
    s->flash_error = error;
}

/* ---- pages and answers ---- */

void panel_asset_href(panel *p, char *out, size_t outlen, const char *name)
{
    snprintf(out, outlen, "%s/assets/%s?v=%s", p->opt.prefix, name, panel_assets_version());
}

/* The header: product, then (signed in) the side's extra, the name and Sign out. */
static void page_header(panel *p, panel_html *h, const panel_page *page)
{
    panel_html_raw(h, "<header class=\"top\"><a class=\"brand\" href=\"");
    panel_html_attr(h, p->opt.prefix);
    panel_html_raw(h, "\">");
    panel_html_text(h, p->opt.product);
    panel_html_raw(h, "</a>");
    if (page->s) {
        if (page->header_extra)
            panel_html_raw(h, page->header_extra);
        panel_html_raw(h, "<span class=\"who\">Signed in as <strong>");
        panel_html_text(h, page->s->name);
        panel_html_raw(h, "</strong></span><form method=\"post\" action=\"");
        panel_html_attr(h, p->opt.prefix);
        panel_html_raw(h, "/sign-out\">");
        panel_csrf_field(h, page->s);
        panel_html_raw(h, "<button type=\"submit\">Sign out</button></form>");
    }
    panel_html_raw(h, "</header>");
    if (!page->s || page->nav_count == 0)
        return;
    panel_html_raw(h, "<nav aria-label=\"Main\"><ul>");
    for (size_t i = 0; i < page->nav_count; i++) {
        panel_html_raw(h, "<li><a href=\"");
        panel_html_attr(h, page->nav[i].href);
        panel_html_raw(h, "\"");
        if (page->current && strcmp(page->current, page->nav[i].href) == 0)
            panel_html_raw(h, " aria-current=\"page\"");
        panel_html_raw(h, ">");
        panel_html_text(h, page->nav[i].label);
        panel_html_raw(h, "</a></li>");
    }
    panel_html_raw(h, "</ul></nav>");
}

void panel_page_begin(panel *p, panel_html *h, const panel_page *page)
{
    char css[128], js[128];
    panel_asset_href(p, css, sizeof css, "panel.css");
    panel_asset_href(p, js, sizeof js, "panel.js");
    panel_html_raw(h, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                      "<title>");
    panel_html_text(h, page->title);
    panel_html_raw(h, " · ");
    panel_html_text(h, p->opt.product);
    panel_html_rawf(h,
                    "</title><link rel=\"stylesheet\" href=\"%s\"><script src=\"%s\" defer>"
                    "</script></head><body>",
                    css, js);
    page_header(p, h, page);
    panel_html_raw(h, "<main id=\"main\"><div class=\"title-row\"><h1>");
    panel_html_text(h, page->title);
    panel_html_raw(h, "</h1>");
    if (page->actions_extra)
        panel_html_raw(h, page->actions_extra);
    panel_html_raw(h, "</div>");
    panel_session *s = (panel_session *)page->s;
    if (s && s->flash[0]) {
        panel_html_rawf(h, "<p class=\"flash%s\" role=\"%s\">", s->flash_error ? " bad" : "",
                        s->flash_error ? "alert" : "status");
        panel_html_text(h, s->flash);
        panel_html_raw(h, "</p>");
        s->flash[0] = '\0';
    }
}

void panel_page_end(panel_html *h)
{
    panel_html_raw(h, "</main></body></html>\n");
}

void panel_security_headers(http_request *req)
{
    http_request_add_header(req, "Content-Security-Policy",
                            "default-src 'self'; frame-ancestors 'none'; form-action 'self'");
    http_request_add_header(req, "X-Frame-Options", "DENY");
    http_request_add_header(req, "X-Content-Type-Options", "nosniff");
    http_request_add_header(req, "Referrer-Policy", "same-origin");
}

void panel_reply_html(http_request *req, int status, panel_html *h)
{
    panel_security_headers(req);
    http_request_add_header(req, "Cache-Control", "no-store");
    size_t len = 0;
    const char *data = panel_html_data(h, &len);
    http_reply_text(req, status, "text/html; charset=utf-8", data, len);
    panel_html_free(h);
}

void panel_reply_message(panel *p, http_request *req, int status, const panel_session *s,
                         const char *title, const char *message)
{
    panel_html *h = panel_html_new();
    panel_page page = {.title = title, .s = s};
    panel_page_begin(p, h, &page);
    panel_html_raw(h, "<p>");
    panel_html_text(h, message);
    panel_html_raw(h, "</p><p><a href=\"");
    panel_html_attr(h, p->opt.prefix);
    panel_html_raw(h, "\">Back to the panel</a></p>");
    panel_page_end(h);
    panel_reply_html(req, status, h);
}

void panel_reply_sign_in(panel *p, http_request *req, int status, const panel_sign_in *form)
{
    panel_html *h = panel_html_new();
    panel_page page = {.title = "Sign in"};
    panel_page_begin(p, h, &page);
    panel_html_raw(h, "<form class=\"card\" method=\"post\" action=\"");
    panel_html_attr(h, p->opt.prefix);
    panel_html_rawf(h,
                    "/sign-in\"><label for=\"%s\">%s</label><input type=\"password\" id=\"%s\" "
                    "name=\"%s\" autocomplete=\"off\" required autofocus "
                    "aria-describedby=\"%s-hint%s%s\"%s>",
                    form->field, form->label, form->field, form->field, form->field,
                    form->error ? " " : "", form->error ? form->field : "",
                    form->error ? "-error\" aria-invalid=\"true" : "");
    if (form->error) {
        panel_html_rawf(h, "<p class=\"error\" id=\"%s-error\" role=\"alert\">", form->field);
        panel_html_text(h, form->error);
        panel_html_raw(h, "</p>");
    }
    panel_html_rawf(h, "<p class=\"hint\" id=\"%s-hint\">%s</p>", form->field, form->hint_html);
    if (form->next) {
        panel_html_raw(h, "<input type=\"hidden\" name=\"next\" value=\"");
        panel_html_attr(h, form->next);
        panel_html_raw(h, "\">");
    }
    panel_html_raw(h, "<div class=\"actions\"><button type=\"submit\">Sign in</button></div>"
                      "</form>");
    panel_page_end(h);
    panel_reply_html(req, status, h);
}

void panel_redirect(http_request *req, const char *location)
{
    panel_security_headers(req);
    http_request_add_header(req, "Cache-Control", "no-store");
    http_request_add_header(req, "Location", location);
    http_reply_text(req, 303, "text/html; charset=utf-8", "", 0);
}

bool panel_serve_asset(panel *p, http_request *req, const char *path)
{
    size_t plen = strlen(p->opt.prefix);
    if (strncmp(path, p->opt.prefix, plen) != 0 || strncmp(path + plen, "/assets/", 8) != 0)
        return false;
    const panel_asset *a = panel_asset_find(path + plen + 8);
    panel_security_headers(req);
    if (!a || http_request_method(req) != HTTP_GET) {
        http_reply_text(req, a ? 405 : 404, "text/plain; charset=utf-8", "not found\n", 10);
        return true;
    }
    http_request_add_header(req, "Cache-Control", ASSET_MAX_AGE);
    http_reply_text(req, 200, a->content_type, a->body, a->len);
    return true;
}

bool panel_is_post(http_request *req)
{
    return http_request_method(req) == HTTP_POST;
}
