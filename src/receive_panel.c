/*
 * receive_panel.c — the receiver's admin panel (see receive_panel.h): routes, the sign-in
 * with the admin token, and the pages, written on the shared framework of panel.h (HTML
 * builder, sessions, CSRF, layout, security headers, assets). Reads are receive_store.h's
 * jobs on the store thread, as the admin API runs them; Retry is the admin API's own
 * (receive_api_retry_webhook), so the two cannot differ.
 */
#include "receive_panel.h"

#include "api_common.h"
#include "hookd.h"
#include "http_server.h"
#include "log.h"
#include "mem.h"
#include "panel.h"
#include "receive_store.h"

#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECEIVE_PANEL_PREFIX "/admin"
#define RECEIVE_PANEL_PAGE_SIZE 50           /* webhooks per inbox page */
#define RECEIVE_PANEL_BODY_SHOWN (16 * 1024) /* bytes of a body shown at most */
#define RECEIVE_PANEL_TOKEN_MAX 512          /* the longest --admin-token */
#define RECEIVE_PANEL_WHO "admin"            /* the one person the receiver knows */

struct receive_panel {
    panel *panel;
    receive_api *api;
    db_worker *worker;
    unsigned char digest[32]; /* SHA-256 of the admin token */
    size_t in_flight;         /* store jobs not yet answered */
};

/* One panel request waiting for the store. The session is looked up again when the answer
 * is written: it may have ended meanwhile. */
typedef struct receive_panel_query receive_panel_query;
struct receive_panel_query {
    receive_panel *rp;
    http_request *req;
    char *id;     /* owned: the webhook of the path */
    char *status; /* owned: ?status=, NULL for all */
    char *after;  /* owned: ?after=, NULL for the first page */
    receive_store_status_count_job counts;
    receive_store_list_job list;
    receive_store_get_job get;
    /* writes the page once the read succeeded */
    void (*page)(receive_panel_query *q, const panel_session *s);
};

static const panel_link receive_panel_nav[] = {{RECEIVE_PANEL_PREFIX "/inbox", "Inbox"}};

/* The inbox's tabs: a status (NULL: every webhook) and its label. */
static const struct {
    const char *status;
    const char *label;
} receive_panel_tabs[] = {
    {NULL, "All"}, {"pending", "Pending"}, {"done", "Done"}, {"failed", "Failed"}};

static receive_panel_query *receive_panel_query_new(receive_panel *rp, http_request *req)
{
    receive_panel_query *q = xcalloc(1, sizeof *q);
    q->rp = rp;
    q->req = req;
    rp->in_flight++;
    return q;
}

static void receive_panel_query_free(receive_panel_query *q)
{
    q->rp->in_flight--;
    receive_store_list_job_clear(&q->list);
    receive_store_get_job_clear(&q->get);
    free(q->id);
    free(q->status);
    free(q->after);
    free(q);
}

/* ---- small pieces of pages ---- */

static void receive_panel_begin(receive_panel *rp, panel_html *h, const panel_session *s,
                                const char *title)
{
    panel_page page = {.title = title,
                       .s = s,
                       .nav = receive_panel_nav,
                       .nav_count = sizeof receive_panel_nav / sizeof receive_panel_nav[0],
                       .current = receive_panel_nav[0].href};
    panel_page_begin(rp->panel, h, &page);
}

/* A time of the store (unix ms; < 0: not set) as <time>, or a dash. */
static void receive_panel_time(panel_html *h, int64_t unix_ms)
{
    char text[API_TIME_LEN + 1];
    if (unix_ms < 0 || api_time_format(unix_ms, text) != 0) {
        panel_html_raw(h, "—");
        return;
    }
    panel_html_rawf(h, "<time datetime=\"%s\">", text);
    text[10] = ' '; /* "2024-08-22 01:04:05.123Z": it may wrap between date and time */
    panel_html_rawf(h, "%s</time>", text);
}

/* "/admin/webhooks/<id><suffix>" with the id percent-encoded (an id is whatever the sender
 * chose); malloc'd. */
static char *receive_panel_webhook_path(const char *id, const char *suffix)
{
    char *encoded = mem_check(evhttp_uriencode(id, -1, 0));
    size_t len = strlen(RECEIVE_PANEL_PREFIX "/webhooks/") + strlen(encoded) + strlen(suffix) + 1;
    char *path = xmalloc(len);
    snprintf(path, len, RECEIVE_PANEL_PREFIX "/webhooks/%s%s", encoded, suffix);
    free(encoded);
    return path;
}

static void receive_panel_webhook_href(panel_html *h, const char *id, const char *suffix)
{
    char *path = receive_panel_webhook_path(id, suffix);
    panel_html_attr(h, path);
    free(path);
}

static void receive_panel_status(panel_html *h, const char *status)
{
    panel_html_raw(h, "<span class=\"status s-");
    panel_html_attr(h, status);
    panel_html_raw(h, "\">");
    panel_html_text(h, status);
    panel_html_raw(h, "</span>");
}

/* ---- sign-in ---- */

/* The sign-in page; error: the message shown next to the field, or NULL. */
static void receive_panel_sign_in_page(receive_panel *rp, http_request *req, int status,
                                       const char *error)
{
    panel_reply_sign_in(
        rp->panel, req, status,
        &(panel_sign_in){.label = "Admin token",
                         .field = "token",
                         .hint_html = "The token hookd receive printed once at first start "
                                      "(<span class=\"mono\">admin token: hk_…</span>), or "
                                      "the one given with --admin-token or HOOKD_ADMIN_TOKEN.",
                         .error = error});
}

/* True when token is the admin token: its SHA-256 compared in constant time. */
static bool receive_panel_token_ok(const receive_panel *rp, const char *token)
{
    if (!token || !*token || strlen(token) > RECEIVE_PANEL_TOKEN_MAX)
        return false;
    unsigned char digest[32];
    SHA256((const unsigned char *)token, strlen(token), digest);
    bool ok = CRYPTO_memcmp(digest, rp->digest, sizeof digest) == 0;
    OPENSSL_cleanse(digest, sizeof digest);
    return ok;
}

static void receive_panel_sign_in(receive_panel *rp, http_request *req)
{
    if (!panel_is_post(req)) {
        receive_panel_sign_in_page(rp, req, 200, NULL);
        return;
    }
    panel_form form;
    int status = panel_form_of_request(&form, req);
    bool ok = status == 0 && receive_panel_token_ok(rp, panel_form_get(&form, "token"));
    panel_form_free(&form);
    if (status != 0) {
        panel_reply_message(rp->panel, req, status, NULL, "Sign in", "That form was not readable.");
    } else if (!ok) {
        log_warn("receive", "admin panel: a sign-in with a wrong admin token");
        receive_panel_sign_in_page(rp, req, 401, "That is not the admin token.");
    } else if (!panel_session_start(rp->panel, req, RECEIVE_PANEL_WHO, NULL, NULL, false)) {
        panel_reply_message(rp->panel, req, 503, NULL, "Sign in",
                            "No session could be started (the random source failed).");
    } else {
        panel_redirect(req, RECEIVE_PANEL_PREFIX "/inbox");
    }
}

/* ---- the inbox ---- */

/* Store-thread work: the counts by status, then the page. */
static int receive_panel_inbox_work(db *conn, void *arg)
{
    receive_panel_query *q = arg;
    int rc = receive_store_count_by_status(conn, &q->counts);
    return rc != 0 ? rc : receive_store_list(conn, &q->list);
}

/* The tabs: one link per status with its count, the current one marked. */
static void receive_panel_tabs_html(panel_html *h, const receive_panel_query *q)
{
    const receive_store_status_count_job *c = &q->counts;
    int64_t counts[] = {c->pending + c->done + c->failed, c->pending, c->done, c->failed};
    panel_html_raw(h, "<nav aria-label=\"Statuses\" class=\"actions\">");
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        const char *status = receive_panel_tabs[i].status;
        bool current = status ? q->status && strcmp(q->status, status) == 0 : !q->status;
        panel_html_rawf(h, "<a class=\"button%s\" href=\"" RECEIVE_PANEL_PREFIX "/inbox%s%s\"%s>",
                        current ? "" : " secondary", status ? "?status=" : "", status ? status : "",
                        current ? " aria-current=\"page\"" : "");
        panel_html_textf(h, "%s (%lld)", receive_panel_tabs[i].label, (long long)counts[i]);
        panel_html_raw(h, "</a>");
    }
    panel_html_raw(h, "</nav>");
}

static void receive_panel_inbox_row(panel_html *h, const receive_store_webhook *w, bool handling)
{
    panel_html_raw(h, "<tr><td>");
    receive_panel_time(h, w->received_at);
    panel_html_raw(h, "</td><td>");
    panel_html_text(h, w->event);
    panel_html_raw(h, "</td><td><a href=\"");
    receive_panel_webhook_href(h, w->id, "");
    panel_html_raw(h, "\">");
    panel_html_text(h, w->id);
    panel_html_raw(h, "</a></td><td>");
    receive_panel_status(h, w->status);
    if (handling)
        panel_html_raw(h, " <span class=\"hint\">(running)</span>");
    panel_html_rawf(h, "</td><td>%lld</td><td>", (long long)w->runs);
    receive_panel_time(h, w->next_attempt_at);
    panel_html_raw(h, "</td></tr>");
}

/* "Newest" and "Next page" links around the table. */
static void receive_panel_pager(panel_html *h, const receive_panel_query *q)
{
    if (!q->after && !q->list.next)
        return;
    panel_html_raw(h, "<p class=\"actions\">");
    if (q->after) {
        panel_html_rawf(h, "<a href=\"" RECEIVE_PANEL_PREFIX "/inbox%s%s\">Newest</a>",
                        q->status ? "?status=" : "", q->status ? q->status : "");
    }
    if (q->list.next) {
        char *next = mem_check(evhttp_uriencode(q->list.next, -1, 0));
        panel_html_rawf(
            h, "<a href=\"" RECEIVE_PANEL_PREFIX "/inbox?%s%s%safter=", q->status ? "status=" : "",
            q->status ? q->status : "", q->status ? "&amp;" : "");
        panel_html_attr(h, next);
        panel_html_raw(h, "\" rel=\"next\">Next page</a>");
        free(next);
    }
    panel_html_raw(h, "</p>");
}

static void receive_panel_inbox_page(receive_panel_query *q, const panel_session *s)
{
    panel_html *h = panel_html_new();
    receive_panel_begin(q->rp, h, s, "Inbox");
    receive_panel_tabs_html(h, q);
    if (q->list.count == 0) {
        panel_html_raw(h, "<p class=\"empty\">No webhooks here.</p>");
    } else {
        panel_html_raw(h, "<p class=\"hint\">Newest first.</p><div class=\"scroll\"><table>"
                          "<thead><tr><th scope=\"col\">Received</th>"
                          "<th scope=\"col\">Event</th><th scope=\"col\">Id</th>"
                          "<th scope=\"col\">Status</th><th scope=\"col\">Runs</th>"
                          "<th scope=\"col\">Next run</th></tr></thead><tbody>");
        for (size_t i = 0; i < q->list.count; i++) {
            const receive_store_webhook *w = &q->list.items[i];
            receive_panel_inbox_row(h, w, receive_api_lease_holds(q->rp->api, w->lease_until));
        }
        panel_html_raw(h, "</tbody></table></div>");
    }
    receive_panel_pager(h, q);
    panel_page_end(h);
    panel_reply_html(q->req, 200, h);
}

static void receive_panel_store_failed(receive_panel_query *q, const panel_session *s, int rc)
{
    const char *code = NULL;
    int status = api_store_error_status(rc, &code);
    if (status == 404)
        panel_reply_message(q->rp->panel, q->req, 404, s, "Not found", "There is no such webhook.");
    else if (status == 400)
        panel_reply_message(q->rp->panel, q->req, 400, s, "Bad request",
                            "That page link is not one this panel made.");
    else
        panel_reply_message(q->rp->panel, q->req, 503, s, "Store unavailable",
                            "The store did not answer; try again in a few seconds.");
}

/* A read is done: its page, or what went wrong. */
static void receive_panel_read_done(void *arg, int rc)
{
    receive_panel_query *q = arg;
    const panel_session *s = panel_session_of(q->rp->panel, q->req);
    if (rc == 0)
        q->page(q, s);
    else
        receive_panel_store_failed(q, s, rc);
    receive_panel_query_free(q);
}

static void receive_panel_inbox(receive_panel *rp, http_request *req, const panel_session *s)
{
    panel_form query;
    int bad = panel_form_of_query(&query, req);
    const char *status = panel_form_get(&query, "status");
    const char *after = panel_form_get(&query, "after");
    if (status && !*status)
        status = NULL;
    if (!bad && status && strcmp(status, "pending") != 0 && strcmp(status, "done") != 0 &&
        strcmp(status, "failed") != 0)
        bad = 400;
    if (bad) {
        panel_form_free(&query);
        panel_reply_message(rp->panel, req, bad, s, "Bad request",
                            "The status is one of pending, done and failed.");
        return;
    }
    receive_panel_query *q = receive_panel_query_new(rp, req);
    q->status = xstrdup(status);
    q->after = after && *after ? xstrdup(after) : NULL;
    panel_form_free(&query);
    q->list = (receive_store_list_job){.status = q->status,
                                       .after = q->after,
                                       .limit = RECEIVE_PANEL_PAGE_SIZE,
                                       .newest_first = true};
    q->page = receive_panel_inbox_page;
    db_worker_submit(rp->worker, receive_panel_inbox_work, receive_panel_read_done, q);
}

/* ---- one webhook ---- */

static int receive_panel_webhook_work(db *conn, void *arg)
{
    return receive_store_get(conn, &((receive_panel_query *)arg)->get);
}

/* The details: a definition list. */
static void receive_panel_details(panel_html *h, const receive_store_webhook *w, bool handling)
{
    panel_html_raw(h, "<dl class=\"card\"><dt>Id</dt><dd class=\"mono\">");
    panel_html_text(h, w->id);
    panel_html_raw(h, "</dd><dt>Event</dt><dd>");
    panel_html_text(h, w->event);
    panel_html_raw(h, "</dd><dt>Status</dt><dd>");
    receive_panel_status(h, w->status);
    if (handling)
        panel_html_raw(h, " <span class=\"hint\">(the handler is running it now)</span>");
    panel_html_raw(h, "</dd><dt>Received</dt><dd>");
    receive_panel_time(h, w->received_at);
    panel_html_raw(h, "</dd><dt>Timestamp (sender's)</dt><dd class=\"mono\">");
    panel_html_text(h, w->timestamp);
    panel_html_rawf(h,
                    "</dd><dt>Runs</dt><dd>%lld in all, %lld in this round</dd>"
                    "<dt>Next run</dt><dd>",
                    (long long)w->runs, (long long)w->attempts);
    receive_panel_time(h, w->next_attempt_at);
    panel_html_raw(h, "</dd></dl>");
}

/* The body, escaped, cut at RECEIVE_PANEL_BODY_SHOWN bytes on a character boundary. */
static void receive_panel_body(panel_html *h, const receive_store_webhook *w)
{
    size_t shown = w->body_len;
    if (shown > RECEIVE_PANEL_BODY_SHOWN) {
        shown = RECEIVE_PANEL_BODY_SHOWN;
        while (shown > 0 && ((unsigned char)w->body[shown] & 0xC0) == 0x80)
            shown--; /* not inside a UTF-8 sequence */
    }
    panel_html_raw(h, "<h2>Body</h2>");
    if (shown < w->body_len)
        panel_html_textf(h, "The first %zu of %zu bytes:", shown, w->body_len);
    char *text = xstrndup(w->body, shown);
    panel_html_raw(h, "<pre class=\"mono\">");
    panel_html_text(h, text);
    panel_html_raw(h, "</pre>");
    free(text);
}

static void receive_panel_run_row(panel_html *h, const receive_store_run *r)
{
    panel_html_rawf(h, "<tr><td>%lld</td><td>", (long long)r->rec.n);
    receive_panel_time(h, r->rec.started_at);
    panel_html_rawf(h, "</td><td><span class=\"status s-%s\">%s</span></td><td>",
                    r->rec.error ? "failed" : "done", r->rec.error ? "failed" : "succeeded");
    if (r->exit_status >= 0)
        panel_html_rawf(h, "exit %lld", (long long)r->exit_status);
    else if (r->http_status >= 0)
        panel_html_rawf(h, "HTTP %lld", (long long)r->http_status);
    else
        panel_html_raw(h, "—");
    panel_html_rawf(h, "</td><td>%lld ms</td><td class=\"wrap\">", (long long)r->rec.duration_ms);
    panel_html_text(h, r->rec.error);
    panel_html_raw(h, "</td><td>");
    if (r->output && *r->output) {
        panel_html_raw(h, "<details><summary>Output</summary><pre class=\"mono\">");
        panel_html_text(h, r->output);
        panel_html_raw(h, "</pre></details>");
    }
    panel_html_raw(h, "</td></tr>");
}

static void receive_panel_runs(panel_html *h, const receive_store_get_job *job)
{
    panel_html_raw(h, "<h2>Handler runs</h2>");
    if (job->run_count == 0) {
        panel_html_raw(h, "<p class=\"empty\">No run yet.</p>");
        return;
    }
    panel_html_raw(h, "<div class=\"scroll\"><table><thead><tr><th scope=\"col\">#</th>"
                      "<th scope=\"col\">Started</th><th scope=\"col\">Outcome</th>"
                      "<th scope=\"col\">Exit / HTTP status</th><th scope=\"col\">Duration</th>"
                      "<th scope=\"col\">Error</th><th scope=\"col\">Output</th></tr></thead>"
                      "<tbody>");
    for (size_t i = 0; i < job->run_count; i++)
        receive_panel_run_row(h, &job->runs[i]);
    panel_html_raw(h, "</tbody></table></div>");
}

static void receive_panel_webhook_page(receive_panel_query *q, const panel_session *s)
{
    const receive_store_webhook *w = &q->get.webhook;
    bool handling = receive_api_lease_holds(q->rp->api, w->lease_until);
    panel_html *h = panel_html_new();
    receive_panel_begin(q->rp, h, s, "Webhook");
    receive_panel_details(h, w, handling);
    if (!handling) {
        panel_html_raw(h, "<form class=\"actions\" method=\"post\" action=\"");
        receive_panel_webhook_href(h, w->id, "/retry");
        panel_html_raw(h, "\">");
        panel_csrf_field(h, s);
        panel_html_raw(h, "<button type=\"submit\">Retry</button><span class=\"hint\">Runs the "
                          "handler again, with a fresh round of attempts.</span></form>");
    }
    receive_panel_runs(h, &q->get);
    receive_panel_body(h, w);
    panel_html_raw(h, "<p><a href=\"" RECEIVE_PANEL_PREFIX "/inbox\">Back to the inbox</a></p>");
    panel_page_end(h);
    panel_reply_html(q->req, 200, h);
}

/* A path segment percent-decoded (malloc'd), or NULL when it would hold a NUL. */
static char *receive_panel_decode(const char *segment)
{
    size_t len = 0;
    char *text = evhttp_uridecode(segment, 0, &len);
    if (text && strlen(text) != len) {
        free(text);
        text = NULL;
    }
    return text;
}

static void receive_panel_webhook(receive_panel *rp, http_request *req, const panel_session *s,
                                  const char *segment)
{
    char *id = receive_panel_decode(segment);
    if (!id) {
        panel_reply_message(rp->panel, req, 404, s, "Not found", "There is no such webhook.");
        return;
    }
    receive_panel_query *q = receive_panel_query_new(rp, req);
    q->id = id;
    q->get.id = q->id;
    q->page = receive_panel_webhook_page;
    db_worker_submit(rp->worker, receive_panel_webhook_work, receive_panel_read_done, q);
}

/* ---- Retry ---- */

/* True when the posted form carries the session's CSRF token (the form is not kept: the
 * panel's forms hold nothing else). */
static bool receive_panel_csrf_ok(http_request *req, const panel_session *s)
{
    panel_form form;
    bool ok = panel_form_of_request(&form, req) == 0 && panel_csrf_ok(s, &form);
    panel_form_free(&form);
    return ok;
}

/* The admin API's retry ended: a one-shot message says how, on the webhook's page. */
static void receive_panel_retried(void *arg, int rc)
{
    receive_panel_query *q = arg;
    panel_session *s = panel_session_of(q->rp->panel, q->req);
    if (s && rc == 0)
        panel_flash(s, false, "Retry queued: the handler runs this webhook again.");
    else if (s && rc == HOOKD_ECONFLICT)
        panel_flash(s, true, "The handler is running this webhook now; retry when it is done.");
    else if (s && rc != HOOKD_ENOTFOUND)
        panel_flash(s, true, "The store did not answer; nothing was changed. Try again.");
    if (rc == HOOKD_ENOTFOUND) {
        receive_panel_store_failed(q, s, rc);
    } else {
        char *path = receive_panel_webhook_path(q->id, "");
        panel_redirect(q->req, path);
        free(path);
    }
    receive_panel_query_free(q);
}

static void receive_panel_retry(receive_panel *rp, http_request *req, panel_session *s,
                                const char *segment)
{
    char *id = receive_panel_decode(segment);
    if (!id || !receive_panel_csrf_ok(req, s)) {
        free(id);
        panel_reply_message(rp->panel, req, 403, s, "Refused",
                            "This form did not come from this panel or has expired; nothing "
                            "was done. Reload the page and try again.");
        return;
    }
    receive_panel_query *q = receive_panel_query_new(rp, req);
    q->id = id;
    receive_api_retry_webhook(rp->api, id, receive_panel_retried, q);
}

/* ---- routes ---- */

static void receive_panel_sign_out(receive_panel *rp, http_request *req, panel_session *s)
{
    bool ok = receive_panel_csrf_ok(req, s);
    if (ok)
        panel_session_end(rp->panel, req, s);
    panel_redirect(req, ok ? RECEIVE_PANEL_PREFIX "/sign-in" : RECEIVE_PANEL_PREFIX "/inbox");
}

/* Routes a signed-in request by the segments after /admin. */
static void receive_panel_route(receive_panel *rp, http_request *req, panel_session *s, char **seg,
                                size_t n)
{
    bool post = panel_is_post(req);
    bool webhook = n >= 2 && strcmp(seg[0], "webhooks") == 0;
    bool retry = webhook && n == 3 && strcmp(seg[2], "retry") == 0;
    bool sign_out = n == 1 && strcmp(seg[0], "sign-out") == 0;
    bool inbox = n == 0 || (n == 1 && strcmp(seg[0], "inbox") == 0);
    if (!(webhook && (n == 2 || retry)) && !sign_out && !inbox)
        panel_reply_message(rp->panel, req, 404, s, "Not found", "There is no such page.");
    else if (post != (retry || sign_out))
        panel_reply_message(rp->panel, req, 405, s, "Not allowed",
                            "That page does not take this method.");
    else if (retry)
        receive_panel_retry(rp, req, s, seg[1]);
    else if (sign_out)
        receive_panel_sign_out(rp, req, s);
    else if (webhook)
        receive_panel_webhook(rp, req, s, seg[1]);
    else if (n == 0)
        panel_redirect(req, RECEIVE_PANEL_PREFIX "/inbox");
    else
        receive_panel_inbox(rp, req, s);
}

static void receive_panel_request(void *arg, http_request *req, const char *path)
{
    receive_panel *rp = arg;
    if (panel_serve_asset(rp->panel, req, path))
        return;
    if (strcmp(path + strlen(RECEIVE_PANEL_PREFIX), "/sign-in") == 0) {
        receive_panel_sign_in(rp, req);
        return;
    }
    panel_session *s = panel_session_of(rp->panel, req);
    if (!s) {
        /* Nothing is done without a session: a form posted after it ended is dropped too. */
        panel_redirect(req, RECEIVE_PANEL_PREFIX "/sign-in");
        return;
    }
    /* Split before decoding: a webhook id may hold a '/' (sent as %2F). */
    const char *raw = http_request_raw_path(req);
    size_t prefix_len = strlen(RECEIVE_PANEL_PREFIX);
    char *seg[4] = {0};
    size_t n = 0;
    if (raw && strncmp(raw, RECEIVE_PANEL_PREFIX, prefix_len) == 0)
        n = http_path_split(raw + prefix_len, seg, 4);
    receive_panel_route(rp, req, s, seg, n);
    if (n > 0)
        free(seg[0]);
}

receive_panel *receive_panel_new(receive_api *api, db_worker *worker,
                                 const unsigned char token_digest[32])
{
    receive_panel *rp = xcalloc(1, sizeof *rp);
    panel_options options = {.product = "hookd receive",
                             .prefix = RECEIVE_PANEL_PREFIX,
                             .cookie_name = "hookd_receive_session"};
    rp->panel = panel_new(&options);
    rp->api = api;
    rp->worker = worker;
    memcpy(rp->digest, token_digest, sizeof rp->digest);
    receive_api_mount(api, RECEIVE_PANEL_PREFIX, receive_panel_request, rp);
    return rp;
}

size_t receive_panel_in_flight(const receive_panel *rp)
{
    return rp ? rp->in_flight : 0;
}

void receive_panel_free(receive_panel *rp)
{
    if (!rp)
        return;
    panel_free(rp->panel);
    OPENSSL_cleanse(rp->digest, sizeof rp->digest);
    free(rp);
}
