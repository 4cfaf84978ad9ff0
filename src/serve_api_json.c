/*
 * serve_api_json.c — the sender's REST answers from the store's structs (see
 * serve_api_json.h). Stored JSON texts (a destination's events and headers, an event's
 * envelope) are parsed back here; one that does not parse shows as its empty form rather
 * than failing a read. The receiver's admin API builds its smaller answers in receive_api.c,
 * with the same api_common.h helpers.
 */
#include "serve_api_json.h"
#include "mem.h"

#include "api_common.h"
#include "http_server.h"

#include <string.h>

/* A JSON string of s, or null for NULL (or text jansson refuses, never stored by us). */
static json_t *string_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_null();
}

/* The stored JSON text parsed, or fallback when it does not parse. */
static json_t *parsed(const char *text, json_t *fallback)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    if (!v)
        return fallback;
    json_decref(fallback);
    return v;
}

json_t *serve_api_destination_json(const serve_store_destination *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", string_or_null(d->id));
    json_object_set_new(o, "name", string_or_null(d->name));
    json_object_set_new(o, "url", string_or_null(d->url));
    json_object_set_new(o, "description", string_or_null(d->description));
    json_object_set_new(o, "events", parsed(d->events_json, json_array()));
    json_object_set_new(o, "headers", parsed(d->headers_json, json_object()));
    json_object_set_new(o, "format", string_or_null(d->format));
    json_object_set_new(o, "active", json_boolean(d->active));
    json_object_set_new(o, "disabled_reason", string_or_null(d->disabled_reason));
    json_object_set_new(o, "created_at", api_time_json(d->created_at));
    json_object_set_new(o, "updated_at", api_time_json(d->updated_at));
    if (d->secret)
        json_object_set_new(o, "secret", string_or_null(d->secret));
    return o;
}

json_t *serve_api_destination_one_json(const serve_store_request *r)
{
    return serve_api_destination_json(&r->destination);
}

json_t *serve_api_destination_list_json(const serve_store_request *r)
{
    json_t *data = json_array();
    for (size_t i = 0; i < r->destination_count; i++)
        json_array_append_new(data, serve_api_destination_json(&r->destinations[i]));
    return json_pack("{s:o}", "data", data);
}

json_t *serve_api_secret_json(const serve_store_request *r)
{
    const serve_store_destination *d = &r->destination;
    json_t *previous = json_array();
    for (size_t i = 0; i < d->previous_count; i++)
        json_array_append_new(
            previous, json_pack("{s:o,s:o}", "secret", string_or_null(d->previous[i].secret),
                                "expires_at", api_time_json(d->previous[i].expires_at)));
    return json_pack("{s:o,s:o}", "secret", string_or_null(d->secret), "previous", previous);
}

json_t *serve_api_count_json(const serve_store_request *r)
{
    return json_pack("{s:I}", "count", (json_int_t)r->count);
}

json_t *serve_api_webhook_json(const serve_store_webhook *w)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", string_or_null(w->id));
    json_object_set_new(o, "event_id", string_or_null(w->event_id));
    json_object_set_new(o, "destination_id", string_or_null(w->destination_id));
    json_object_set_new(o, "status", string_or_null(w->status));
    json_object_set_new(o, "attempt_count", json_integer(w->attempt_count));
    json_object_set_new(o, "next_attempt_at", api_time_json(w->next_attempt_at));
    json_object_set_new(o, "created_at", api_time_json(w->created_at));
    json_object_set_new(o, "updated_at", api_time_json(w->updated_at));
    return o;
}

static json_t *attempt_json(const serve_store_attempt *a)
{
    json_t *o = api_record_json(&a->rec);
    json_object_set_new(o, "status_code",
                        a->status_code < 0 ? json_null() : json_integer(a->status_code));
    json_object_set_new(o, "error", string_or_null(a->rec.error));
    json_object_set_new(o, "response", string_or_null(a->response));
    json_object_set_new(o, "response_headers", string_or_null(a->response_headers));
    return o;
}

json_t *serve_api_webhook_detail_json(const serve_store_request *r)
{
    json_t *o = serve_api_webhook_json(&r->webhook);
    json_t *attempts = json_array();
    for (size_t i = 0; i < r->attempt_count; i++)
        json_array_append_new(attempts, attempt_json(&r->attempts[i]));
    json_object_set_new(o, "attempts", attempts);
    return o;
}

json_t *serve_api_webhook_only_json(const serve_store_request *r)
{
    return serve_api_webhook_json(&r->webhook);
}

json_t *serve_api_webhook_list_json(const serve_store_request *r)
{
    json_t *data = json_array();
    for (size_t i = 0; i < r->webhook_count; i++)
        json_array_append_new(data, serve_api_webhook_json(&r->webhooks[i]));
    return json_pack("{s:o,s:o}", "data", data, "next", string_or_null(r->next));
}

json_t *serve_api_event_json(const serve_store_request *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", string_or_null(r->event.id));
    json_object_set_new(o, "event", string_or_null(r->event.type));
    json_t *envelope = r->event.body ? json_loadb(r->event.body, r->event.body_len, 0, NULL) : NULL;
    json_t *data = json_object_get(envelope, "data");
    json_object_set(o, "data", data ? data : json_null());
    json_decref(envelope);
    json_object_set_new(o, "created_at", api_time_json(r->event.created_at));
    json_t *webhooks = json_array();
    for (size_t i = 0; i < r->webhook_count; i++)
        json_array_append_new(webhooks, serve_api_webhook_json(&r->webhooks[i]));
    json_object_set_new(o, "webhooks", webhooks);
    return o;
}

/* The answer through jansson: any text, escaped as JSON needs. */
static char *event_answer_json(const serve_store_request *r)
{
    json_t *webhooks = json_array();
    for (size_t i = 0; i < r->webhook_count; i++)
        json_array_append_new(
            webhooks, json_pack("{s:o,s:o}", "id", string_or_null(r->webhooks[i].id),
                                "destination_id", string_or_null(r->webhooks[i].destination_id)));
    json_t *answer = json_object();
    json_object_set_new(answer, "id", string_or_null(r->event.id));
    json_object_set_new(answer, "event", string_or_null(r->event.type));
    json_object_set_new(answer, "created_at", api_time_json(r->event.created_at));
    json_object_set_new(answer, "webhooks", webhooks);
    char *text = http_json_text(answer);
    json_decref(answer);
    return text;
}

/* True for a string JSON writes as is between quotes (no quote, backslash or control). */
static bool json_plain(const char *s)
{
    if (!s)
        return false;
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return false;
    return true;
}

/* Appends s at *at (the caller sized the buffer). */
static void put(char **at, const char *s)
{
    size_t n = strlen(s);
    memcpy(*at, s, n);
    *at += n;
}

/* The 202's body, written straight when every string is plain (hookd's own ids, a catalog
 * type and a formatted time always are): this answer is built once per event on the store
 * thread, and jansson's pack and dump cost 5 % of a delivery (callgrind). Byte for byte what
 * event_answer_json writes (a unit test compares them). */
char *serve_api_event_answer_text(const serve_store_request *r)
{
    char created[API_TIME_LEN + 1];
    bool plain = r->event.created_at >= 0 && api_time_format(r->event.created_at, created) == 0 &&
                 json_plain(r->event.id) && json_plain(r->event.type);
    size_t len = 96 + (plain ? strlen(r->event.id) + strlen(r->event.type) : 0);
    for (size_t i = 0; plain && i < r->webhook_count; i++) {
        plain = json_plain(r->webhooks[i].id) && json_plain(r->webhooks[i].destination_id);
        if (plain)
            len += 36 + strlen(r->webhooks[i].id) + strlen(r->webhooks[i].destination_id);
    }
    if (!plain)
        return event_answer_json(r);
    char *text = xmalloc(len);
    char *at = text;
    put(&at, "{\"id\":\"");
    put(&at, r->event.id);
    put(&at, "\",\"event\":\"");
    put(&at, r->event.type);
    put(&at, "\",\"created_at\":\"");
    put(&at, created);
    put(&at, "\",\"webhooks\":[");
    for (size_t i = 0; i < r->webhook_count; i++) {
        put(&at, i ? ",{\"id\":\"" : "{\"id\":\"");
        put(&at, r->webhooks[i].id);
        put(&at, "\",\"destination_id\":\"");
        put(&at, r->webhooks[i].destination_id);
        put(&at, "\"}");
    }
    put(&at, "]}");
    *at = '\0';
    return text;
}

/* ---- accounts and access keys (SPEC §6) ---- */

static json_t *key_json(const serve_store_key *k)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", string_or_null(k->id));
    json_object_set_new(o, "name", string_or_null(k->name));
    json_object_set_new(o, "account", string_or_null(k->account));
    json_object_set_new(o, "permissions", parsed(k->permissions, json_array()));
    json_object_set_new(o, "created_at", api_time_json(k->created_at));
    if (k->secret)
        json_object_set_new(o, "key", string_or_null(k->secret));
    return o;
}

json_t *serve_api_key_one_json(const serve_store_request *r)
{
    return key_json(&r->key);
}

json_t *serve_api_key_list_json(const serve_store_request *r)
{
    json_t *data = json_array();
    for (size_t i = 0; i < r->key_count; i++)
        json_array_append_new(data, key_json(&r->keys[i]));
    return json_pack("{s:o}", "data", data);
}

static json_t *account_json(const serve_store_account *acc)
{
    return json_pack("{s:o, s:o, s:o}", "id", string_or_null(acc->id), "name",
                     string_or_null(acc->name), "created_at", api_time_json(acc->created_at));
}

json_t *serve_api_account_one_json(const serve_store_request *r)
{
    return r->account_count > 0 ? account_json(&r->accounts[0]) : json_object();
}

json_t *serve_api_account_list_json(const serve_store_request *r)
{
    json_t *data = json_array();
    for (size_t i = 0; i < r->account_count; i++)
        json_array_append_new(data, account_json(&r->accounts[i]));
    return json_pack("{s:o}", "data", data);
}
