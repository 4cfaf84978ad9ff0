/*
 * serve_panel.c — the routes, sessions and store jobs of `hookd serve`'s admin panel (see
 * serve_panel.h); the HTML of each page is serve_panel_pages.c. A request goes: assets and
 * sign-in/out first; then the session (none: the sign-in page), the CSRF token of a POST,
 * the route and its input; then one store job that looks the key up, checks the route's
 * permission and only then runs the route's store functions; its done callback answers
 * (a page, or a redirect after a POST with a flash message).
 */
#include "serve_panel.h"

#include "api_common.h"
#include "http_server.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "serve_access.h"
#include "serve_panel_internal.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PATH SERVE_PANEL_PREFIX "/webhook_destinations"
#define MAX_KEY 256 /* bytes of an access key typed into the sign-in form */

/* ---- setup ---- */

/* The catalog's types for the forms' checkboxes, read once from its JSON form. */
static void load_types(serve_panel *sp)
{
    char *text = hookd_catalog_to_json(sp->opt.catalog);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_t *data = json_object_get(doc, "data");
    sp->types = xcalloc(json_array_size(data) + 1, sizeof *sp->types);
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *t = json_array_get(data, i);
        const char *type = json_string_value(json_object_get(t, "type"));
        if (!type)
            continue;
        sp->types[sp->type_count].type = xstrdup(type);
        sp->types[sp->type_count++].description =
            xstrdup(json_string_value(json_object_get(t, "description")));
    }
    json_decref(doc);
}

serve_panel *serve_panel_new(db_worker *worker, serve_deliver *dispatch,
                             const serve_api_options *options)
{
    serve_panel *sp = xcalloc(1, sizeof *sp);
    sp->worker = worker;
    sp->dispatch = dispatch;
    sp->opt = *options;
    panel_options po = {.product = "hookd", .prefix = SERVE_PANEL_PREFIX};
    sp->ui = panel_new(&po);
    load_types(sp);
    return sp;
}

void serve_panel_free(serve_panel *sp)
{
    if (!sp)
        return;
    for (size_t i = 0; i < sp->type_count; i++) {
        free(sp->types[i].type);
        free(sp->types[i].description);
    }
    free(sp->types);
    panel_free(sp->ui);
    free(sp);
}

size_t serve_panel_pending(const serve_panel *sp)
{
    return sp->pending;
}

bool serve_panel_may(const panel_job *j, serve_api_action action)
{
    return serve_permissions_hold(j->perms, serve_api_route_permission(action));
}

/* ---- the store job ---- */

static void job_free(panel_job *j)
{
    serve_store_request_free(j->auth);
    serve_store_request_free(j->main);
    serve_store_request_free(j->accounts);
    serve_store_request_free(j->secret);
    for (size_t i = 0; i < j->more_count; i++)
        serve_store_request_free(j->more[i]);
    free(j->more);
    panel_form_free(&j->form);
    free(j);
}

/* A request in the job's account, scoped as the API scopes the key's calls. */
static serve_store_request *scoped_request(const panel_job *j)
{
    serve_store_request *sr = serve_store_request_new(j->auth->now);
    free(sr->account);
    sr->account = xstrdup(j->auth->account);
    sr->scoped = !j->every_account;
    return sr;
}

/* Store thread: adds a request to j->more and runs work on it. */
static int more_run(panel_job *j, db *conn, serve_store_request *sr, db_work_fn work)
{
    j->more = xrealloc(j->more, (j->more_count + 1) * sizeof *j->more);
    j->more[j->more_count++] = sr;
    return work(conn, sr);
}

/* Store thread: the latest webhooks of destination id (limit), newest first. */
static int latest_webhooks(panel_job *j, db *conn, const char *id, int64_t limit)
{
    serve_store_request *sr = scoped_request(j);
    sr->filter_destination_id = xstrdup(id);
    sr->newest_first = true;
    sr->limit = limit;
    return more_run(j, conn, sr, serve_store_w_webhook_list);
}

/* Store thread: what a page shows beside the route's own object. */
static int job_extras(panel_job *j, db *conn)
{
    bool webhooks = serve_panel_may(j, SERVE_API_WEBHOOK_LIST);
    int rc = 0;
    if (j->route == R_LIST && webhooks)
        for (size_t i = 0; rc == 0 && i < j->main->destination_count; i++)
            rc = latest_webhooks(j, conn, j->main->destinations[i].id, 1);
    if (j->route == R_SHOW && webhooks) {
        rc = latest_webhooks(j, conn, j->main->destination.id, SERVE_PANEL_WEBHOOKS);
        const serve_store_request *list = rc == 0 ? j->more[0] : NULL;
        for (size_t i = 0; list && rc == 0 && i < list->webhook_count; i++) {
            serve_store_request *sr = scoped_request(j);
            sr->id = xstrdup(list->webhooks[i].id);
            rc = more_run(j, conn, sr, serve_store_w_webhook_get);
        }
    }
    if (rc == 0 && j->route == R_SHOW && j->reveal) {
        j->secret = scoped_request(j);
        j->secret->id = xstrdup(j->main->id);
        rc = serve_store_w_destination_secret(conn, j->secret);
    }
    return rc;
}

/* Store thread: the key, its permission for the route, then the route's work. */
static int job_work(db *conn, void *arg)
{
    panel_job *j = arg;
    int rc = serve_store_w_key_lookup(conn, j->auth);
    if (rc != 0)
        return rc;
    j->authed = true;
    j->perms = serve_permissions_from_text(j->auth->key.permissions);
    j->every_account = j->auth->key.account == NULL;
    if (j->every_account && serve_panel_may(j, SERVE_API_ACCOUNT_LIST)) {
        j->accounts = scoped_request(j);
        rc = serve_store_w_account_list(conn, j->accounts);
        if (rc != 0)
            return rc;
    }
    j->forbidden = !serve_permissions_hold(j->perms, j->need);
    if (j->forbidden || !j->auth->account_exists || !j->main || j->invalid)
        return 0;
    free(j->main->account);
    j->main->account = xstrdup(j->auth->account);
    j->main->scoped = !j->every_account;
    j->rc = j->work(conn, j->main);
    if (j->rc == 0)
        j->rc = job_extras(j, conn);
    return j->rc;
}

static void job_done(void *arg, int rc);

/* Submits the job: key lookup with the session's digest and account. */
static void job_submit(panel_job *j, const serve_who *who)
{
    j->auth = serve_store_request_new(loop_now_ms());
    j->auth->digest = xstrdup(who->digest);
    free(j->auth->account);
    j->auth->account = xstrdup(who->account);
    j->sp->pending++;
    db_worker_submit(j->sp->worker, job_work, job_done, j);
}

/* ---- answers ---- */

static void redirect_destination(http_request *req, const char *id, const char *query)
{
    char location[256];
    snprintf(location, sizeof location, "%s/%s%s", LIST_PATH, id, query);
    panel_redirect(req, location);
}

/* The flash of a successful action and where it leads. */
static void action_done(panel_job *j, panel_session *s)
{
    serve_store_request *r = j->main;
    const char *name = r->destination.name ? r->destination.name : "";
    switch (j->route) {
    case R_CREATE:
        panel_flash(s, false,
                    "Created %s. Reveal its secret, then activate it once your "
                    "endpoint is ready.",
                    name);
        redirect_destination(j->req, r->destination.id, "");
        return;
    case R_EDIT:
        panel_flash(s, false, "Saved %s.", name);
        break;
    case R_ACTIVATE:
        panel_flash(s, false, "%s is active: it receives webhooks.", name);
        break;
    case R_DEACTIVATE:
        panel_flash(s, false, "%s is inactive.", name);
        break;
    case R_ROTATE:
        panel_flash(s, false,
                    "The secret was rotated: the new one signs every webhook from now "
                    "on.");
        redirect_destination(j->req, r->id, "?reveal=1");
        return;
    case R_RECOVER:
        panel_flash(s, false, "%lld failed webhook(s) will be attempted again.",
                    (long long)r->count);
        break;
    case R_RETRY:
        panel_flash(s, false, "Webhook %s will be attempted again.", r->webhook.id);
        redirect_destination(j->req, r->webhook.destination_id, "");
        return;
    case R_DELETE:
        panel_flash(s, false, "The destination was deleted.");
        panel_redirect(j->req, LIST_PATH);
        return;
    default:
        break;
    }
    redirect_destination(j->req, r->id, "");
}

/* The page of a GET whose work succeeded (or a refused form shown again). */
static void page_done(panel_job *j, panel_session *s)
{
    if (j->invalid && j->route == R_RECOVER) {
        panel_flash(s, true, "%s", j->pb.message);
        redirect_destination(j->req, j->main->id, "");
        return;
    }
    switch (j->route) {
    case R_LIST:
        serve_panel_page_list(j, s);
        return;
    case R_NEW:
        serve_panel_page_form(j, s, NULL);
        return;
    case R_EDIT_FORM:
        serve_panel_page_form(j, s, &j->main->destination);
        return;
    case R_CREATE:
    case R_EDIT:
        if (j->invalid)
            serve_panel_page_form(j, s, NULL);
        else
            action_done(j, s);
        return;
    case R_SHOW:
        serve_panel_page_show(j, s);
        return;
    case R_DELETE_FORM:
        serve_panel_page_delete(j, s);
        return;
    case R_EVENTS:
        serve_panel_page_events(j, s);
        return;
    default:
        action_done(j, s);
        return;
    }
}

/* A route's work that failed: not found, a conflict (flashed), or the store. */
static void work_failed(panel_job *j, panel_session *s, int rc)
{
    serve_panel *sp = j->sp;
    if (rc == HOOKD_ECONFLICT && panel_is_post(j->req)) {
        panel_flash(s, true, "%s", j->main->why[0] ? j->main->why : "Not possible right now.");
        const char *back = panel_form_get(&j->form, "destination");
        if (back && hookd_id_valid(back))
            redirect_destination(j->req, back, "");
        else
            redirect_destination(j->req, j->main->id, "");
    } else if (rc == HOOKD_ENOTFOUND) {
        panel_reply_message(sp->ui, j->req, 404, s, "Not found",
                            "There is no such destination or webhook in this account.");
    } else {
        log_warn("panel", "a store job failed: %s", hookd_strerror(rc));
        http_request_add_header(j->req, "Retry-After", "5");
        panel_reply_message(sp->ui, j->req, 503, s, "Try again",
                            "The store did not answer. Try again in a few seconds.");
    }
}

/* The lowest permission bit of need that mask lacks, by name. */
static const char *missing_permission(unsigned mask, unsigned need)
{
    for (unsigned bit = 1; bit <= SERVE_PERM_STAR; bit <<= 1)
        if ((need & bit) && !(mask & bit))
            return serve_permission_name(bit);
    return "*";
}

static void job_answer(panel_job *j, panel_session *s, int rc)
{
    serve_panel *sp = j->sp;
    char message[256];
    if (!j->authed && rc == HOOKD_ENOTFOUND) { /* the key was revoked while signed in */
        panel_session_end(sp->ui, j->req, s);
        serve_panel_page_sign_in(
            sp, j->req, 401, "Your access key is no longer valid. Sign in with another one.", NULL);
    } else if (!j->authed) {
        work_failed(j, s, HOOKD_ESTORE);
    } else if (j->forbidden) {
        snprintf(message, sizeof message, "Your access key lacks the permission %s.",
                 missing_permission(j->perms, j->need));
        panel_reply_message(sp->ui, j->req, 403, s, "Not allowed", message);
    } else if (!j->auth->account_exists && !j->every_account) {
        panel_reply_message(sp->ui, j->req, 404, s, "No such account",
                            "Your access key's account does not exist.");
    } else if (!j->auth->account_exists) { /* picked by hand: back to the default account */
        panel_flash(s, true, "There is no account \"%s\": showing the default account.",
                    j->auth->account);
        serve_who *who = s->who;
        snprintf(who->account, sizeof who->account, "default");
        panel_redirect(j->req, LIST_PATH);
    } else if (rc != 0) {
        work_failed(j, s, rc);
    } else {
        if (panel_is_post(j->req) && !j->invalid && sp->dispatch &&
            (j->route == R_ACTIVATE || j->route == R_RETRY || j->route == R_RECOVER))
            serve_deliver_wake(sp->dispatch);
        page_done(j, s);
    }
}

static void job_done(void *arg, int rc)
{
    panel_job *j = arg;
    j->sp->pending--;
    /* the session may have ended while the job ran (signed out in another tab) */
    panel_session *s = panel_session_of(j->sp->ui, j->req);
    if (!s || strcmp(s->id, j->sid) != 0)
        serve_panel_page_sign_in(j->sp, j->req, 401, "Your session has ended. Sign in again.",
                                 NULL);
    else
        job_answer(j, s, rc);
    job_free(j);
}

/* ---- routes ---- */

/* Each route's API action, whose permission it needs (SERVE_API_ACTION_COUNT: none), and
 * its store work (NULL: none), the API's own for that action. */
static const struct {
    serve_api_action action;
    db_work_fn work;
} routes[R_COUNT] = {
    [R_LIST] = {SERVE_API_DESTINATION_LIST, serve_store_w_destination_list},
    [R_NEW] = {SERVE_API_DESTINATION_CREATE, NULL},
    [R_CREATE] = {SERVE_API_DESTINATION_CREATE, serve_store_w_destination_create},
    [R_SHOW] = {SERVE_API_DESTINATION_GET, serve_store_w_destination_get},
    [R_EDIT_FORM] = {SERVE_API_DESTINATION_UPDATE, serve_store_w_destination_get},
    [R_EDIT] = {SERVE_API_DESTINATION_UPDATE, serve_store_w_destination_update},
    [R_DELETE_FORM] = {SERVE_API_DESTINATION_DELETE, serve_store_w_destination_get},
    [R_DELETE] = {SERVE_API_DESTINATION_DELETE, serve_store_w_destination_delete},
    [R_ACTIVATE] = {SERVE_API_DESTINATION_ACTIVATE, serve_store_w_destination_set_active},
    [R_DEACTIVATE] = {SERVE_API_DESTINATION_DEACTIVATE, serve_store_w_destination_set_active},
    [R_ROTATE] = {SERVE_API_DESTINATION_ROTATE, serve_store_w_destination_rotate},
    [R_RECOVER] = {SERVE_API_DESTINATION_RECOVER, serve_store_w_destination_recover},
    [R_RETRY] = {SERVE_API_WEBHOOK_RETRY, serve_store_w_webhook_retry},
    [R_EVENTS] = {SERVE_API_EVENT_GET, serve_store_w_event_list},
    [R_ACCOUNT] = {SERVE_API_ACTION_COUNT, NULL},
};

/* The route of the segments after "admin" (n of them) for the method; -1: none. *id: the
 * destination's or webhook's id segment. */
static int route_match(char **segs, size_t n, bool post, const char **id)
{
    static const struct {
        const char *verb;
        panel_route get, post;
    } verbs[] = {
        {"edit", R_EDIT_FORM, R_EDIT},     {"delete", R_DELETE_FORM, R_DELETE},
        {"activate", R_COUNT, R_ACTIVATE}, {"deactivate", R_COUNT, R_DEACTIVATE},
        {"rotate", R_COUNT, R_ROTATE},     {"recover", R_COUNT, R_RECOVER},
    };
    *id = n >= 2 ? segs[1] : NULL;
    if (n == 1 && strcmp(segs[0], "events") == 0 && !post)
        return R_EVENTS;
    if (n == 1 && strcmp(segs[0], "account") == 0 && post)
        return R_ACCOUNT;
    if (n == 3 && strcmp(segs[0], "webhooks") == 0 && strcmp(segs[2], "retry") == 0 && post)
        return hookd_id_valid(segs[1]) ? R_RETRY : -1;
    if (n < 1 || strcmp(segs[0], "webhook_destinations") != 0)
        return -1;
    if (n == 1)
        return post ? R_CREATE : R_LIST;
    if (n == 2 && strcmp(segs[1], "new") == 0)
        return post ? -1 : R_NEW;
    if (!hookd_id_valid(segs[1]))
        return -1;
    if (n == 2)
        return post ? -1 : R_SHOW;
    for (size_t i = 0; n == 3 && i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(segs[2], verbs[i].verb) == 0) {
            panel_route r = post ? verbs[i].post : verbs[i].get;
            return r == R_COUNT ? -1 : (int)r;
        }
    return -1;
}

/* The destination form's fields as the API's JSON body: {name, url, events:[…]}. */
static json_t *form_destination(const panel_form *form)
{
    json_t *events = json_array();
    const char *type;
    for (size_t i = 0; (type = panel_form_get_nth(form, "events", i)) != NULL; i++)
        json_array_append_new(events, json_string(type));
    const char *name = panel_form_get(form, "name");
    const char *url = panel_form_get(form, "url");
    return json_pack("{s:s, s:s, s:o}", "name", name ? name : "", "url", url ? url : "", "events",
                     events);
}

/* "2024-08-22T01:04" (a datetime-local field, UTC) or with seconds → Unix ms. */
static bool form_time(const char *text, int64_t *ms)
{
    char iso[40];
    size_t len = text ? strlen(text) : 0;
    if (len == 16)
        snprintf(iso, sizeof iso, "%s:00Z", text);
    else if (len == 19)
        snprintf(iso, sizeof iso, "%sZ", text);
    else
        return false;
    return api_time_parse(iso, ms) == 0;
}

/* The route's store request from the path and the form; sets j->invalid (with j->pb) for a
 * refused form. */
static void job_prepare(panel_job *j, const char *id)
{
    j->work = routes[j->route].work;
    if (!j->work)
        return;
    j->main = serve_store_request_new(loop_now_ms());
    if (id && j->route != R_CREATE)
        j->main->id = xstrdup(id);
    j->main->active = j->route == R_ACTIVATE;
    j->main->limit = SERVE_PANEL_EVENTS;
    if (j->route == R_CREATE || j->route == R_EDIT) {
        json_t *body = form_destination(&j->form);
        j->invalid =
            !serve_api_destination_fields(&j->sp->opt, body, j->route == R_CREATE, j->main, &j->pb);
        json_decref(body);
    } else if (j->route == R_RECOVER) {
        j->main->until = INT64_MAX;
        j->invalid = !form_time(panel_form_get(&j->form, "since"), &j->main->since);
        snprintf(j->pb.code, sizeof j->pb.code, "invalid_since");
        snprintf(j->pb.message, sizeof j->pb.message, "Give a time like 2024-08-22T01:04 (UTC).");
    }
}

/* ---- sign in, sign out, account ---- */

static void who_free(void *who)
{
    OPENSSL_cleanse(who, sizeof(serve_who));
    free(who);
}

typedef struct sign_in_job {
    serve_panel *sp;
    http_request *req;
    serve_store_request *auth;
    char next[256];
} sign_in_job;

static int sign_in_work(db *conn, void *arg)
{
    sign_in_job *sj = arg;
    return serve_store_w_key_lookup(conn, sj->auth);
}

static void sign_in_done(void *arg, int rc)
{
    sign_in_job *sj = arg;
    serve_panel *sp = sj->sp;
    sp->pending--;
    if (rc == HOOKD_ENOTFOUND) {
        serve_panel_page_sign_in(sp, sj->req, 401, "That access key is not valid.", sj->next);
    } else if (rc != 0) {
        serve_panel_page_sign_in(sp, sj->req, 503, "The store did not answer. Try again.",
                                 sj->next);
    } else {
        serve_who *who = xcalloc(1, sizeof *who);
        snprintf(who->digest, sizeof who->digest, "%s", sj->auth->digest);
        snprintf(who->account, sizeof who->account, "%s", sj->auth->account);
        if (panel_session_start(sp->ui, sj->req, sj->auth->key.name, who, who_free, false))
            panel_redirect(sj->req, sj->next);
        else
            serve_panel_page_sign_in(sp, sj->req, 503, "Cannot start a session.", sj->next);
    }
    serve_store_request_free(sj->auth);
    free(sj);
}

/* Where to go after signing in: a panel path, never another site. */
static void next_path(const char *asked, char *out, size_t outlen)
{
    bool ok = asked && strncmp(asked, SERVE_PANEL_PREFIX "/", sizeof SERVE_PANEL_PREFIX) == 0 &&
              strlen(asked) < outlen && !strpbrk(asked, "\\\r\n") && !strstr(asked, "//");
    snprintf(out, outlen, "%s", ok ? asked : LIST_PATH);
}

/* POST /admin/sign-in {key, next}: the key's SHA-256 looked up as the API does. */
static void sign_in(serve_panel *sp, http_request *req)
{
    panel_form form;
    int status = panel_form_of_request(&form, req);
    const char *key = panel_form_get(&form, "key");
    char next[256];
    next_path(panel_form_get(&form, "next"), next, sizeof next);
    if (status != 0 || !key || !*key || strlen(key) > MAX_KEY) {
        serve_panel_page_sign_in(sp, req, status ? status : 400, "Enter your access key.", next);
        panel_form_free(&form);
        return;
    }
    sign_in_job *sj = xcalloc(1, sizeof *sj);
    sj->sp = sp;
    sj->req = req;
    snprintf(sj->next, sizeof sj->next, "%s", next);
    unsigned char digest[32];
    char hex[65];
    SHA256((const unsigned char *)key, strlen(key), digest);
    hookd_hex_encode(digest, sizeof digest, hex);
    panel_form_free(&form);
    sj->auth = serve_store_request_new(loop_now_ms());
    sj->auth->digest = xstrdup(hex);
    sp->pending++;
    db_worker_submit(sp->worker, sign_in_work, sign_in_done, sj);
}

/* POST /admin/sign-out: ends the session (its CSRF token required, so another site cannot
 * sign a person out). */
static void sign_out(serve_panel *sp, http_request *req)
{
    panel_session *s = panel_session_of(sp->ui, req);
    panel_form form;
    int status = panel_form_of_request(&form, req);
    if (s && (status != 0 || !panel_csrf_ok(s, &form))) {
        panel_reply_message(sp->ui, req, 403, s, "Not allowed",
                            "This form was not sent by this panel (its CSRF token is missing "
                            "or wrong).");
    } else {
        panel_session_end(sp->ui, req, s);
        serve_panel_page_sign_in(sp, req, 200, NULL, NULL);
    }
    panel_form_free(&form);
}

/* POST /admin/account {account}: the account a key of every account acts in (the next
 * request's lookup says whether it exists; a bound key keeps its own whatever is asked). */
static void switch_account(serve_panel *sp, http_request *req, panel_session *s,
                           const panel_form *form)
{
    const char *account = panel_form_get(form, "account");
    if (!serve_account_id_valid(account)) {
        panel_flash(s, true, "An account id is 1 to 64 of a-z 0-9 _ -.");
    } else {
        serve_who *who = s->who;
        snprintf(who->account, sizeof who->account, "%s", account);
    }
    (void)sp;
    panel_redirect(req, LIST_PATH);
}

/* A signed-in request: the CSRF token of a POST, the route, its input, the store job. */
static void signed_in(serve_panel *sp, http_request *req, panel_session *s, char **segs, size_t n)
{
    bool post = panel_is_post(req);
    const char *id = NULL;
    int route = route_match(segs, n, post, &id);
    if (route < 0) {
        panel_reply_message(sp->ui, req, 404, s, "Not found", "There is no such page.");
        return;
    }
    panel_job *j = xcalloc(1, sizeof *j);
    j->sp = sp;
    j->req = req;
    j->route = (panel_route)route;
    snprintf(j->sid, sizeof j->sid, "%s", s->id);
    int status = post ? panel_form_of_request(&j->form, req) : panel_form_of_query(&j->form, req);
    if (status != 0 || (post && !panel_csrf_ok(s, &j->form))) {
        panel_reply_message(sp->ui, req, status ? status : 403, s, "Not allowed",
                            status ? "The form could not be read."
                                   : "This form was not sent by this panel (its CSRF token is "
                                     "missing or wrong). Reload the page and try again.");
        job_free(j);
        return;
    }
    if (j->route == R_ACCOUNT) {
        switch_account(sp, req, s, &j->form);
        job_free(j);
        return;
    }
    j->need = serve_api_route_permission(routes[j->route].action);
    const char *reveal = panel_form_get(&j->form, "reveal");
    j->reveal = j->route == R_SHOW && reveal && strcmp(reveal, "1") == 0;
    if (j->reveal)
        j->need |= serve_api_route_permission(SERVE_API_DESTINATION_SECRET);
    job_prepare(j, id);
    job_submit(j, s->who);
}

void serve_panel_handle(serve_panel *sp, http_request *req)
{
    char *path = http_request_path(req);
    if (panel_serve_asset(sp->ui, req, path)) {
        free(path);
        return;
    }
    char *segs[6];
    size_t n = http_path_split(path, segs, 6);
    free(path);
    bool post = panel_is_post(req);
    http_method cmd = http_request_method(req);
    panel_session *s = panel_session_of(sp->ui, req);
    if (!post && cmd != HTTP_GET && cmd != HTTP_HEAD) {
        panel_reply_message(sp->ui, req, 405, s, "Not allowed", "Use the panel's links and forms.");
    } else if (n == 1) {
        panel_redirect(req, LIST_PATH);
    } else if (n == 2 && strcmp(segs[1], "sign-in") == 0) {
        if (post)
            sign_in(sp, req);
        else
            serve_panel_page_sign_in(sp, req, 200, NULL, NULL);
    } else if (n == 2 && strcmp(segs[1], "sign-out") == 0 && post) {
        sign_out(sp, req);
    } else if (!s && post) {
        serve_panel_page_sign_in(sp, req, 403, "Your session has ended. Sign in again.", NULL);
    } else if (!s) {
        char *here = http_request_path(req);
        serve_panel_page_sign_in(sp, req, 200, NULL, here);
        free(here);
    } else {
        signed_in(sp, req, s, segs + 1, n - 1);
    }
    if (n > 0)
        free(segs[0]);
}
