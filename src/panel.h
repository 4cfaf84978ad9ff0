/*
 * panel.h — the shared framework of hookd's two admin panels (SPEC §7): the sender's
 * (serve_panel.c, under /admin of `hookd serve`) and the receiver's (on `hookd receive`'s
 * admin listener). Plain HTML built on the server, one embedded stylesheet and one small
 * script (panel_assets.c), forms that post and redirect, so everything works without
 * JavaScript.
 *
 * What it gives a side:
 *   - an HTML builder (panel_html) that escapes text and attributes;
 *   - the page layout: header (product, the signed-in name, a Sign out form), nav, main;
 *   - in-memory sessions: a random 256-bit id in an HttpOnly, SameSite=Strict cookie with
 *     Path=<prefix> (Secure only when the side says the request came over https — a plain
 *     http listener never sets it, and X-Forwarded-Proto is not trusted), an idle and an
 *     absolute expiry, sign-out, a CSRF token per session checked in constant time, a
 *     one-shot flash message;
 *   - an application/x-www-form-urlencoded parser with caps;
 *   - the security headers on every answer (CSP default-src 'self', X-Frame-Options DENY,
 *     nosniff, Referrer-Policy same-origin; Cache-Control no-store for pages);
 *   - the assets under <prefix>/assets/ with a long cache.
 *
 * Who signed in is the side's business: a session holds an opaque `who` (with its free
 * function) and a display name. A side re-checks `who` on every request (the sender looks
 * the key up again, so a key revoked while signed in stops at the next request).
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_PANEL_H
#define HOOKD_PANEL_H

#include "http_server.h"
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define PANEL_TOKEN_HEX 64              /* a session id or CSRF token: 256 bits as hex */
#define PANEL_FORM_MAX_BODY (64 * 1024) /* a larger form is refused (413) */
#define PANEL_FORM_MAX_FIELDS 256       /* more fields are refused (400) */

/* ---- the HTML builder ---- */

/* A page being written: a growable buffer. */
typedef struct panel_html {
    struct evbuffer *buf;
} panel_html;

panel_html *panel_html_new(void);
void panel_html_free(panel_html *h);
/* Raw markup, not escaped: only literals of the program, never user data. */
void panel_html_raw(panel_html *h, const char *markup);
/* printf of raw markup; every %s is inserted as is: pass user data through panel_html_text
 * or panel_html_attr, or use panel_html_textf. */
void panel_html_rawf(panel_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text escaped for an element's content or a quoted attribute value (& < > " ' escaped, so
 * the one function serves both). NULL writes nothing. */
void panel_html_text(panel_html *h, const char *text);
void panel_html_attr(panel_html *h, const char *value);
/* printf, the whole result escaped as text. */
void panel_html_textf(panel_html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The markup written (NUL-terminated, owned by h) and its length: the last call on h. */
const char *panel_html_data(panel_html *h, size_t *len);

/* ---- forms ---- */

/* A parsed form body or query: name=value pairs in order, names may repeat (checkboxes).
 * Values may hold newlines (a textarea), never a NUL. */
typedef struct panel_form {
    char **names;
    char **values;
    size_t count;
} panel_form;

/* Parses an application/x-www-form-urlencoded body ('+' is a space). Returns 0, or the
 * HTTP status to refuse it with: 413 over PANEL_FORM_MAX_BODY, 400 for more than
 * PANEL_FORM_MAX_FIELDS fields, a malformed escape, a NUL or text that is not UTF-8.
 * form is always usable (empty on failure) and freed by panel_form_free. */
int panel_form_parse(panel_form *form, const char *body, size_t len);
/* The request's body (POST) parsed as above. */
int panel_form_of_request(panel_form *form, http_request *req);
/* The request's query string parsed as above (an empty form when there is none). */
int panel_form_of_query(panel_form *form, http_request *req);
void panel_form_free(panel_form *form);
/* The first value of name, or NULL. */
const char *panel_form_get(const panel_form *form, const char *name);
/* The index-th value of name (0 first), or NULL past the last: for repeated names. */
const char *panel_form_get_nth(const panel_form *form, const char *name, size_t index);

/* ---- sessions ---- */

typedef struct panel panel;

typedef struct panel_options {
    const char *product;     /* "hookd serve": the header's product name */
    const char *prefix;      /* "/admin": the cookie's Path, the assets' and sign-out's base */
    int64_t idle_ms;         /* a session unused this long ends (0: 30 minutes) */
    int64_t absolute_ms;     /* and any session this long after sign-in (0: 12 hours) */
    size_t max_sessions;     /* the oldest is dropped past this (0: 1000) */
    const char *cookie_name; /* 0: "hookd_session" (two panels on one host need two) */
} panel_options;

typedef struct panel_session {
    char id[PANEL_TOKEN_HEX + 1];
    char csrf[PANEL_TOKEN_HEX + 1]; /* the token every POST of this session carries */
    int64_t created_ms, seen_ms;    /* monotonic */
    char name[128];                 /* who is signed in, as the header shows it */
    void *who;                      /* the side's own record of who signed in */
    void (*who_free)(void *who);    /* frees who (NULL: nothing to free) */
    char flash[512];                /* a message shown once on the next page */
    bool flash_error;               /* shown as an error rather than a notice */
} panel_session;

/* A panel (sessions and options). Never NULL. The strings of options must outlive it. */
panel *panel_new(const panel_options *options);
void panel_free(panel *p);
const panel_options *panel_options_of(const panel *p);

/* The live session the request's cookie names, or NULL (none, unknown, expired: an expired
 * one is dropped). Marks it used. */
panel_session *panel_session_of(panel *p, http_request *req);
/* Starts a session for who (taking ownership: who_free frees it when the session ends) and
 * sets its cookie on the answer. secure: the request came over https (adds Secure). Any
 * session the request already had ends first (no session fixation). NULL (who freed) only
 * when the random source fails: answer 503. */
panel_session *panel_session_start(panel *p, http_request *req, const char *name, void *who,
                                   void (*who_free)(void *), bool secure);
/* Ends the session (NULL: nothing) and clears the cookie on the answer. */
void panel_session_end(panel *p, http_request *req, panel_session *s);
/* Live sessions (for tests and metrics). */
size_t panel_session_count(panel *p);

/* True when the form's "csrf" field equals the session's token (constant time). */
bool panel_csrf_ok(const panel_session *s, const panel_form *form);
/* The hidden csrf field, for every form that posts. */
void panel_csrf_field(panel_html *h, const panel_session *s);

/* Sets the one-shot message shown on the next page. */
void panel_flash(panel_session *s, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- pages and answers ---- */

/* One nav link. */
typedef struct panel_link {
    const char *href;
    const char *label;
} panel_link;

typedef struct panel_page {
    const char *title;      /* <title> and the page's <h1> */
    const panel_session *s; /* NULL: signed out (no name, no Sign out, no nav) */
    const panel_link *nav;  /* nav links (nav_count of them) */
    size_t nav_count;
    const char *current;       /* href of the nav link marked aria-current, or NULL */
    const char *header_extra;  /* raw markup added to the header (an account picker), or NULL */
    const char *actions_extra; /* raw markup beside the <h1> (a Create button), or NULL */
} panel_page;

/* Writes the document head, the header and nav, opens <main>, writes the <h1> and the flash
 * (clearing it). */
void panel_page_begin(panel *p, panel_html *h, const panel_page *page);
/* Closes <main> and the document. */
void panel_page_end(panel_html *h);

/* The security headers of every panel answer (and Cache-Control: no-store). */
void panel_security_headers(http_request *req);
/* Answers the page with status (text/html, security headers, no-store). Frees h. */
void panel_reply_html(http_request *req, int status, panel_html *h);
/* A small page with a title and a message (errors: 403, 404, 400…). */
void panel_reply_message(panel *p, http_request *req, int status, const panel_session *s,
                         const char *title, const char *message);
/* What a sign-in page asks for: one secret field (its label is what people and screen
 * readers find), a hint under it, an error next to it, and where to go afterwards. */
typedef struct panel_sign_in {
    const char *label;     /* "Access key", "Admin token" */
    const char *field;     /* the input's name and id */
    const char *hint_html; /* markup under the field */
    const char *error;     /* shown next to the field, or NULL */
    const char *next;      /* a hidden "next" field, or NULL */
} panel_sign_in;
/* Answers the sign-in page (a form posted to <prefix>/sign-in) with status. */
void panel_reply_sign_in(panel *p, http_request *req, int status, const panel_sign_in *form);

/* 303 See Other to location (redirect after POST), with the security headers. */
void panel_redirect(http_request *req, const char *location);

/* Serves <prefix>/assets/<name> when path is one (true: answered, else false). A GET of a
 * known asset is answered with a long cache; an unknown name is 404. */
bool panel_serve_asset(panel *p, http_request *req, const char *path);

/* The path of an asset with its version for cache busting: "/admin/assets/panel.css?v=…" */
void panel_asset_href(panel *p, char *out, size_t outlen, const char *name);

/* True when the request's method is POST. */
bool panel_is_post(http_request *req);

#endif
