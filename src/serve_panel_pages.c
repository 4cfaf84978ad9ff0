/*
 * serve_panel_pages.c — the HTML of `hookd serve`'s admin panel (see serve_panel.h): the
 * sign-in page, Webhook Destinations, Create/Edit Webhook Destination, a destination with
 * its webhooks and their attempts, the Delete confirmation and Events. The labels are
 * SPEC §7's, since people and tests find controls by them. A page offers only what the key
 * may do (serve_panel_may); the server checks again on every POST (serve_panel.c).
 */
#include "api_common.h"
#include "mem.h"
#include "serve_panel_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PATH SERVE_PANEL_PREFIX "/webhook_destinations"

static const panel_link nav[] = {
    {LIST_PATH, "Webhook Destinations"},
    {SERVE_PANEL_PREFIX "/events", "Events"},
};

/* "2024-08-22 01:04:05 UTC" of Unix ms; "—" when not set. */
static void time_text(int64_t ms, char *out, size_t outlen)
{
    char iso[API_TIME_LEN + 1];
    if (ms < 0 || api_time_format(ms, iso) != 0) {
        snprintf(out, outlen, "—");
        return;
    }
    snprintf(out, outlen, "%.10s %.8s UTC", iso, iso + 11);
}

/* The account picker of a key for every account: a list when it may list accounts, else a
 * field. Markup into a string the page header takes. */
static char *account_picker(const panel_job *j, const panel_session *s)
{
    if (!j->every_account)
        return NULL;
    panel_html *h = panel_html_new();
    panel_html_raw(h, "<form method=\"post\" action=\"" SERVE_PANEL_PREFIX "/account\">");
    panel_csrf_field(h, s);
    panel_html_raw(h, "<label for=\"account\">Account</label>");
    const char *current = j->auth->account;
    if (j->accounts) {
        panel_html_raw(h, "<select id=\"account\" name=\"account\">");
        for (size_t i = 0; i < j->accounts->account_count; i++) {
            const serve_store_account *a = &j->accounts->accounts[i];
            panel_html_raw(h, "<option value=\"");
            panel_html_attr(h, a->id);
            panel_html_raw(h, strcmp(a->id, current) == 0 ? "\" selected>" : "\">");
            panel_html_text(h, a->name && *a->name ? a->name : a->id);
            panel_html_raw(h, "</option>");
        }
        panel_html_raw(h, "</select>");
    } else {
        panel_html_raw(h,
                       "<input type=\"text\" id=\"account\" name=\"account\" size=\"12\" value=\"");
        panel_html_attr(h, current);
        panel_html_raw(h, "\">");
    }
    panel_html_raw(h, "<button type=\"submit\">Switch</button></form>");
    char *markup = xstrdup(panel_html_data(h, NULL));
    panel_html_free(h);
    return markup;
}

/* Opens a signed-in page: header (account picker), nav, title, flash. */
static panel_html *page_open(panel_job *j, panel_session *s, const char *title, const char *current,
                             const char *actions)
{
    panel_html *h = panel_html_new();
    char *picker = account_picker(j, s);
    panel_page page = {.title = title,
                       .s = s,
                       .nav = nav,
                       .nav_count = sizeof nav / sizeof nav[0],
                       .current = current,
                       .header_extra = picker,
                       .actions_extra = actions};
    panel_page_begin(j->sp->ui, h, &page);
    free(picker);
    return h;
}

void serve_panel_page_sign_in(serve_panel *sp, http_request *req, int status, const char *error,
                              const char *next)
{
    panel_reply_sign_in(sp->ui, req, status,
                        &(panel_sign_in){.label = "Access key",
                                         .field = "key",
                                         .hint_html = "The admin token printed when hookd serve "
                                                      "first started, or an access key (hk_…) "
                                                      "made for you.",
                                         .error = error,
                                         .next = next});
}

/* Opens a table (in a box that scrolls sideways on a narrow screen) with its column heads,
 * a NULL-terminated list. */
static void table_open(panel_html *h, const char *const *heads)
{
    panel_html_raw(h, "<div class=\"scroll\"><table><thead><tr>");
    for (; *heads; heads++)
        panel_html_rawf(h, "<th scope=\"col\">%s</th>", *heads);
    panel_html_raw(h, "</tr></thead><tbody>");
}

/* The events of a destination as text: "a, b". */
static void events_cell(panel_html *h, const char *events_json)
{
    json_t *events = json_loads(events_json ? events_json : "[]", 0, NULL);
    for (size_t i = 0; i < json_array_size(events); i++) {
        if (i)
            panel_html_raw(h, ", ");
        panel_html_text(h, json_string_value(json_array_get(events, i)));
    }
    json_decref(events);
}

/* Name, URL, events and Active/Inactive, with the markup between them (the list's table
 * cells, the destination page's definition list). */
static void destination_fields(panel_html *h, const serve_store_destination *d,
                               const char *const between[3])
{
    panel_html_text(h, d->name);
    panel_html_raw(h, between[0]);
    panel_html_text(h, d->url);
    panel_html_raw(h, between[1]);
    events_cell(h, d->events_json);
    panel_html_raw(h, between[2]);
    panel_html_rawf(h, "<span class=\"status s-%s\">%s</span>", d->active ? "active" : "inactive",
                    d->active ? "Active" : "Inactive");
}

static void status_span(panel_html *h, const char *status)
{
    panel_html_raw(h, "<span class=\"status s-");
    panel_html_attr(h, status);
    panel_html_raw(h, "\">");
    panel_html_text(h, status);
    panel_html_raw(h, "</span>");
}

/* The last delivery of destination i of the list: its webhook's status and time. */
static void last_delivery_cell(panel_html *h, const panel_job *j, size_t i)
{
    const serve_store_request *last = i < j->more_count ? j->more[i] : NULL;
    if (!last) {
        panel_html_raw(h, "<span class=\"empty\">—</span>");
    } else if (last->webhook_count == 0) {
        panel_html_raw(h, "<span class=\"empty\">none yet</span>");
    } else {
        char when[40];
        time_text(last->webhooks[0].updated_at, when, sizeof when);
        status_span(h, last->webhooks[0].status);
        panel_html_raw(h, "<br><small>");
        panel_html_text(h, when);
        panel_html_raw(h, "</small>");
    }
}

void serve_panel_page_list(panel_job *j, panel_session *s)
{
    const char *create = serve_panel_may(j, SERVE_API_DESTINATION_CREATE)
                             ? "<a class=\"button\" href=\"" LIST_PATH "/new\">Create</a>"
                             : NULL;
    panel_html *h = page_open(j, s, "Webhook Destinations", LIST_PATH, create);
    const serve_store_request *r = j->main;
    if (r->destination_count == 0) {
        panel_html_raw(h, "<p class=\"empty card\">No destinations yet.");
        if (create)
            panel_html_raw(h, " Use <strong>Create</strong> to add the first one.");
        panel_html_raw(h, "</p>");
    } else {
        table_open(h,
                   (const char *const[]){"Name", "URL", "Events", "Active", "Last delivery", NULL});
        for (size_t i = 0; i < r->destination_count; i++) {
            const serve_store_destination *d = &r->destinations[i];
            static const char *const cells[] = {"</a></td><td class=\"wrap mono\">",
                                                "</td><td class=\"wrap\">", "</td><td>"};
            panel_html_rawf(h, "<tr><td><a href=\"%s/%s\">", LIST_PATH, d->id);
            destination_fields(h, d, cells);
            panel_html_raw(h, "</td><td>");
            last_delivery_cell(h, j, i);
            panel_html_raw(h, "</td></tr>");
        }
        panel_html_raw(h, "</tbody></table></div>");
    }
    panel_page_end(h);
    panel_reply_html(j->req, 200, h);
}

/* The error of field (name, url, events) when the refused form's problem is about it: the
 * API's own message, but for a form left empty, which a person reads better in words of
 * the form than of the JSON body. */
static const char *field_error(const panel_job *j, const char *field)
{
    const char *code = j->pb.code;
    if (!j->invalid)
        return NULL;
    if (strcmp(field, "events") == 0 && strcmp(code, "unknown_event_type") == 0)
        return j->pb.message;
    if (strncmp(code, "invalid_", 8) != 0 || strcmp(code + 8, field) != 0)
        return NULL;
    if (strcmp(field, "events") == 0 && !panel_form_get(&j->form, "events"))
        return "Choose at least one event.";
    const char *typed = panel_form_get(&j->form, field);
    if (!typed || !*typed)
        return strcmp(field, "name") == 0 ? "Give the destination a name."
                                          : "Give the URL webhooks are sent to.";
    return j->pb.message;
}

/* One labelled text field with its error, if any. */
static void text_field(panel_html *h, const panel_job *j, const char *field, const char *label,
                       const char *value, const char *hint)
{
    const char *error = field_error(j, field);
    panel_html_rawf(h,
                    "<label for=\"%s\">%s</label><input type=\"text\" id=\"%s\" name=\"%s\" "
                    "required value=\"",
                    field, label, field, field);
    panel_html_attr(h, value);
    panel_html_raw(h, "\"");
    if (error)
        panel_html_rawf(h, " aria-invalid=\"true\" aria-describedby=\"%s-error\"", field);
    else if (hint)
        panel_html_rawf(h, " aria-describedby=\"%s-hint\"", field);
    panel_html_raw(h, ">");
    if (hint) {
        panel_html_rawf(h, "<p class=\"hint\" id=\"%s-hint\">", field);
        panel_html_text(h, hint);
        panel_html_raw(h, "</p>");
    }
    if (error) {
        panel_html_rawf(h, "<p class=\"error\" id=\"%s-error\">", field);
        panel_html_text(h, error);
        panel_html_raw(h, "</p>");
    }
}

/* Whether type is among the checked events: the form's when shown again, else d's. */
static bool event_checked(const panel_job *j, const serve_store_destination *d, const char *type)
{
    if (!d) {
        const char *v;
        for (size_t i = 0; (v = panel_form_get_nth(&j->form, "events", i)) != NULL; i++)
            if (strcmp(v, type) == 0)
                return true;
        return false;
    }
    json_t *events = json_loads(d->events_json ? d->events_json : "[]", 0, NULL);
    bool found = false;
    for (size_t i = 0; !found && i < json_array_size(events); i++)
        found = strcmp(json_string_value(json_array_get(events, i)) ?: "", type) == 0;
    json_decref(events);
    return found;
}

static void events_fieldset(panel_html *h, const panel_job *j, const serve_store_destination *d)
{
    const char *error = field_error(j, "events");
    panel_html_raw(h, "<fieldset");
    if (error)
        panel_html_raw(h, " aria-describedby=\"events-error\"");
    panel_html_raw(h, "><legend>Events</legend>");
    for (size_t i = 0; i < j->sp->type_count; i++) {
        const panel_event_type *t = &j->sp->types[i];
        panel_html_rawf(h,
                        "<label class=\"check\"><input type=\"checkbox\" name=\"events\" "
                        "id=\"event-%zu\" value=\"",
                        i);
        panel_html_attr(h, t->type);
        panel_html_raw(h, event_checked(j, d, t->type) ? "\" checked> " : "\"> ");
        panel_html_text(h, t->type);
        panel_html_raw(h, "</label>");
    }
    if (error) {
        panel_html_raw(h, "<p class=\"error\" id=\"events-error\">");
        panel_html_text(h, error);
        panel_html_raw(h, "</p>");
    }
    panel_html_raw(h, "</fieldset>");
}

void serve_panel_page_form(panel_job *j, panel_session *s, const serve_store_destination *d)
{
    bool create = j->route == R_NEW || j->route == R_CREATE;
    panel_html *h = page_open(
        j, s, create ? "Create Webhook Destination" : "Edit Webhook Destination", LIST_PATH, NULL);
    if (create)
        panel_html_raw(h, "<form class=\"card\" method=\"post\" action=\"" LIST_PATH "\">");
    else
        panel_html_rawf(h, "<form class=\"card\" method=\"post\" action=\"%s/%s/edit\">", LIST_PATH,
                        j->main->id);
    panel_csrf_field(h, s);
    const char *name = d ? d->name : panel_form_get(&j->form, "name");
    const char *url = d ? d->url : panel_form_get(&j->form, "url");
    text_field(h, j, "name", "Name", name, NULL);
    text_field(h, j, "url", "URL", url,
               j->sp->opt.url_policy && j->sp->opt.url_policy->allow_http
                   ? "Where webhooks are sent: https://… (http:// is allowed on this server)."
                   : "Where webhooks are sent: it must start with https://");
    events_fieldset(h, j, d);
    panel_html_rawf(h,
                    "<div class=\"actions\"><button type=\"submit\">%s</button>"
                    "<a class=\"button secondary\" href=\"%s%s%s\">Cancel</a></div></form>",
                    create ? "Create" : "Save", LIST_PATH, create ? "" : "/",
                    create ? "" : j->main->id);
    panel_page_end(h);
    panel_reply_html(j->req, j->invalid ? 422 : 200, h);
}

void serve_panel_page_delete(panel_job *j, panel_session *s)
{
    const serve_store_destination *d = &j->main->destination;
    panel_html *h = page_open(j, s, "Delete Webhook Destination", LIST_PATH, NULL);
    panel_html_raw(h, "<div class=\"card\"><p>Delete <strong>");
    panel_html_text(h, d->name);
    panel_html_raw(h, "</strong> (");
    panel_html_text(h, d->url);
    panel_html_raw(h, ")? It stops receiving webhooks at once and its pending webhooks are "
                      "cancelled. This cannot be undone.</p>");
    panel_html_rawf(h, "<form method=\"post\" action=\"%s/%s/delete\" class=\"actions\">",
                    LIST_PATH, d->id);
    panel_csrf_field(h, s);
    panel_html_rawf(h,
                    "<button type=\"submit\" class=\"danger\">Delete</button>"
                    "<a class=\"button secondary\" href=\"%s/%s\">Cancel</a></form></div>",
                    LIST_PATH, d->id);
    panel_page_end(h);
    panel_reply_html(j->req, 200, h);
}

void serve_panel_page_events(panel_job *j, panel_session *s)
{
    panel_html *h = page_open(j, s, "Events", SERVE_PANEL_PREFIX "/events", NULL);
    const serve_store_request *r = j->main;
    if (r->event_count == 0)
        panel_html_raw(h, "<p class=\"empty card\">No events yet in this account.</p>");
    else
        table_open(h, (const char *const[]){"Time", "Type", "Id", "Body", NULL});
    for (size_t i = 0; i < r->event_count; i++) {
        const serve_store_event *e = &r->events[i];
        char when[40];
        time_text(e->created_at, when, sizeof when);
        panel_html_raw(h, "<tr><td>");
        panel_html_text(h, when);
        panel_html_raw(h, "</td><td>");
        panel_html_text(h, e->type);
        panel_html_raw(h, "</td><td class=\"mono\">");
        panel_html_text(h, e->id);
        panel_html_raw(h, "</td><td><details><summary>Show</summary><pre>");
        panel_html_text(h, e->body);
        panel_html_raw(h, "</pre></details></td></tr>");
    }
    if (r->event_count > 0)
        panel_html_raw(h, "</tbody></table></div>");
    panel_page_end(h);
    panel_reply_html(j->req, 200, h);
}

/* A POST button: a form of its own with the CSRF token. */
static void post_button(panel_html *h, const panel_session *s, const char *action,
                        const char *label, const char *cls, const char *confirm)
{
    panel_html_raw(h, "<form method=\"post\" action=\"");
    panel_html_attr(h, action);
    panel_html_raw(h, "\"");
    if (confirm) {
        panel_html_raw(h, " data-confirm=\"");
        panel_html_attr(h, confirm);
        panel_html_raw(h, "\"");
    }
    panel_html_raw(h, ">");
    panel_csrf_field(h, s);
    panel_html_rawf(h, "<button type=\"submit\"%s%s%s>", cls ? " class=\"" : "", cls ? cls : "",
                    cls ? "\"" : "");
    panel_html_text(h, label);
    panel_html_raw(h, "</button></form>");
}

/* Name, URL, events, state, times — and the secret, hidden behind Reveal secret. */
static void destination_details(panel_html *h, const panel_job *j)
{
    const serve_store_destination *d = &j->main->destination;
    char created[40];
    time_text(d->created_at, created, sizeof created);
    static const char *const cells[] = {"</dd><dt>URL</dt><dd class=\"mono\">",
                                        "</dd><dt>Events</dt><dd>", "</dd><dt>Status</dt><dd>"};
    panel_html_raw(h, "<div class=\"card\"><dl><dt>Name</dt><dd>");
    destination_fields(h, d, cells);
    if (d->disabled_reason) {
        panel_html_raw(h, " — deactivated by hookd: ");
        panel_html_text(h, d->disabled_reason);
    }
    panel_html_raw(h, "</dd><dt>Created</dt><dd>");
    panel_html_text(h, created);
    panel_html_raw(h, "</dd><dt>Id</dt><dd class=\"mono\">");
    panel_html_text(h, d->id);
    panel_html_raw(h, "</dd><dt>Secret</dt><dd>");
    if (j->secret) {
        panel_html_raw(h, "<code class=\"secret\" id=\"secret\">");
        panel_html_text(h, j->secret->destination.secret);
        panel_html_raw(h, "</code> <button type=\"button\" class=\"secondary\" "
                          "data-copy=\"secret\">Copy</button>"
                          "<p class=\"hint\">Your endpoint checks each webhook's "
                          "X-Webhook-Signature with this secret.</p>");
    } else if (serve_panel_may(j, SERVE_API_DESTINATION_SECRET)) {
        panel_html_rawf(h,
                        "<form method=\"get\" action=\"%s/%s\"><input type=\"hidden\" "
                        "name=\"reveal\" value=\"1\"><button type=\"submit\" "
                        "class=\"secondary\">Reveal secret</button></form>",
                        LIST_PATH, d->id);
    } else {
        panel_html_raw(h, "<span class=\"empty\">hidden (your key may not read it)</span>");
    }
    panel_html_raw(h, "</dd></dl></div>");
}

/* Activate/Deactivate, Rotate secret, Edit, Delete: those the key may use. */
static void destination_actions(panel_html *h, const panel_job *j, const panel_session *s)
{
    const serve_store_destination *d = &j->main->destination;
    char action[160];
    panel_html_raw(h, "<div class=\"actions\">");
    if (serve_panel_may(j, SERVE_API_DESTINATION_ACTIVATE)) {
        snprintf(action, sizeof action, "%s/%s/%s", LIST_PATH, d->id,
                 d->active ? "deactivate" : "activate");
        post_button(h, s, action, d->active ? "Deactivate" : "Activate",
                    d->active ? "secondary" : NULL, NULL);
    }
    if (serve_panel_may(j, SERVE_API_DESTINATION_ROTATE)) {
        snprintf(action, sizeof action, "%s/%s/rotate", LIST_PATH, d->id);
        post_button(h, s, action, "Rotate secret", "secondary",
                    "Rotate the secret? Webhooks are signed with the new one from now on.");
    }
    if (serve_panel_may(j, SERVE_API_DESTINATION_UPDATE))
        panel_html_rawf(h, "<a class=\"button secondary\" href=\"%s/%s/edit\">Edit</a>", LIST_PATH,
                        d->id);
    if (serve_panel_may(j, SERVE_API_DESTINATION_DELETE))
        panel_html_rawf(h, "<a class=\"button danger\" href=\"%s/%s/delete\">Delete</a>", LIST_PATH,
                        d->id);
    panel_html_raw(h, "</div>");
}

/* The attempts of one webhook: time, status code, duration, error, response. */
static void attempts_table(panel_html *h, const serve_store_request *w)
{
    if (w->attempt_count == 0) {
        panel_html_raw(h, "<p class=\"empty\">No attempt yet.</p>");
        return;
    }
    table_open(h, (const char *const[]){"#", "Time", "Status code", "Duration", "Error", "Response",
                                        NULL});
    for (size_t i = 0; i < w->attempt_count; i++) {
        const serve_store_attempt *a = &w->attempts[i];
        char when[40];
        time_text(a->rec.started_at, when, sizeof when);
        panel_html_rawf(h, "<tr class=\"attempt\"><td>%lld</td><td>", (long long)a->rec.n);
        panel_html_text(h, when);
        if (a->status_code > 0)
            panel_html_rawf(h, "</td><td>%lld", (long long)a->status_code);
        else
            panel_html_raw(h, "</td><td>—");
        panel_html_rawf(h, "</td><td>%lld ms</td><td class=\"wrap\">",
                        (long long)a->rec.duration_ms);
        panel_html_text(h, a->rec.error ? a->rec.error : "");
        panel_html_raw(h, "</td><td>");
        if (a->response && *a->response) {
            panel_html_raw(h, "<details><summary>Show</summary><pre>");
            panel_html_text(h, a->response);
            panel_html_raw(h, "</pre></details>");
        }
        panel_html_raw(h, "</td></tr>");
    }
    panel_html_raw(h, "</tbody></table></div>");
}

/* One webhook: its status, its attempts and Retry (when finished and allowed). */
static void webhook_block(panel_html *h, const panel_job *j, const panel_session *s,
                          const serve_store_request *w)
{
    const serve_store_webhook *wh = &w->webhook;
    char created[40];
    time_text(wh->created_at, created, sizeof created);
    panel_html_rawf(h, "<section class=\"webhook\" id=\"webhook-%s\"><h3>", wh->id);
    status_span(h, wh->status);
    panel_html_raw(h, " <span class=\"mono\">");
    panel_html_text(h, wh->id);
    panel_html_raw(h, "</span></h3><p class=\"hint\">Created ");
    panel_html_text(h, created);
    panel_html_rawf(h, " · event <span class=\"mono\">%s</span> · %lld attempt(s)", wh->event_id,
                    (long long)wh->attempt_count);
    if (wh->next_attempt_at >= 0 && strcmp(wh->status, "pending") == 0) {
        char next[40];
        time_text(wh->next_attempt_at, next, sizeof next);
        panel_html_raw(h, " · next attempt ");
        panel_html_text(h, next);
    }
    panel_html_raw(h, "</p>");
    attempts_table(h, w);
    bool finished = strcmp(wh->status, "failed") == 0 || strcmp(wh->status, "succeeded") == 0;
    if (finished && serve_panel_may(j, SERVE_API_WEBHOOK_RETRY)) {
        panel_html_rawf(h, "<form method=\"post\" action=\"%s/webhooks/%s/retry\">",
                        SERVE_PANEL_PREFIX, wh->id);
        panel_csrf_field(h, s);
        panel_html_rawf(h,
                        "<input type=\"hidden\" name=\"destination\" value=\"%s\">"
                        "<button type=\"submit\" class=\"secondary\">Retry</button></form>",
                        wh->destination_id);
    }
    panel_html_raw(h, "</section>");
}

/* Recover failed webhooks since a time. */
static void recover_form(panel_html *h, const panel_job *j, const panel_session *s)
{
    panel_html_rawf(h, "<form method=\"post\" action=\"%s/%s/recover\" class=\"card inline\">",
                    LIST_PATH, j->main->destination.id);
    panel_csrf_field(h, s);
    panel_html_raw(h, "<div><label for=\"since\">Recover failed webhooks since (UTC)</label>"
                      "<input type=\"datetime-local\" id=\"since\" name=\"since\" required>"
                      "</div><button type=\"submit\">Recover</button></form>");
}

void serve_panel_page_show(panel_job *j, panel_session *s)
{
    const serve_store_destination *d = &j->main->destination;
    panel_html *h = page_open(j, s, d->name, LIST_PATH, NULL);
    destination_details(h, j);
    destination_actions(h, j, s);
    if (serve_panel_may(j, SERVE_API_WEBHOOK_LIST)) {
        panel_html_raw(h, "<h2>Webhooks</h2>");
        if (serve_panel_may(j, SERVE_API_DESTINATION_RECOVER))
            recover_form(h, j, s);
        if (j->more_count <= 1)
            panel_html_raw(h, "<p class=\"empty\">No webhooks yet: they appear here once an "
                              "event this destination subscribes to is sent while it is "
                              "active.</p>");
        for (size_t i = 1; i < j->more_count; i++)
            webhook_block(h, j, s, j->more[i]);
    }
    panel_page_end(h);
    panel_reply_html(j->req, 200, h);
}
