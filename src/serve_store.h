/*
 * serve_store.h — the sender's store: destinations, events, webhooks, attempts, idempotency
 * keys, in SQL that runs on SQLite and PostgreSQL alike (db.h). All of the sender's SQL lives
 * in serve_store.c; the API (serve_api.c) and the deliveries (serve_deliver.c) only fill
 * requests and read results. Its twin on the receiver's side is receive_store.h.
 *
 * Tables (all prefixed serve_, so a receiver may share the database):
 *   serve_destinations   one row per destination; deleted ones are kept (deleted_at) so that
 *                        their webhooks stay readable; failing_since tracks the 5-day rule
 *   serve_subscriptions  (destination, event type) pairs: the fan-out index
 *   serve_events         the event and its envelope, the exact bytes that are signed
 *   serve_webhooks       one per (event, destination): status, attempt counts, the next
 *                        attempt's time and the lease (lease_owner, lease_until) of whoever
 *                        is attempting it — none when a sender holds its SQLite file alone
 *                        and keeps its leases in memory (serve_held.h)
 *   serve_attempts       one per attempt: when, how long, status code, error, response
 *                        (the start of its body, and its header lines)
 *   serve_idempotency    Idempotency-Key → the first answer (kept at least 24 hours)
 *   serve_settings       the admin token's SHA-256 (read at start; the key is in
 *                        serve_access_keys)
 *   serve_accounts       the accounts (SPEC §6); destinations, subscriptions, events and
 *                        webhooks carry account_id, and every API query is scoped by it
 *   serve_access_keys    name, account (NULL: every one), permissions (JSON array), the
 *                        secret's SHA-256, revoked_at; the bootstrap key has id "bootstrap"
 *
 * Two kinds of functions:
 *   - startup calls (serve_store_migrate, serve_store_admin_token) run on the main thread
 *     before the loop starts; the engine's (serve_store_claim, serve_store_unclaim,
 *     serve_store_release) on its store thread (engine.h);
 *   - work functions (serve_store_w_*), db_work_fn-compatible, run on the db_worker's
 *     thread inside a batch transaction: db_worker_submit(worker, serve_store_w_x, done,
 *     request). They read their inputs from the request and write their outputs into it as
 *     plain structs (no JSON: the API layer, serve_api_json.c, owns the answers' shape); the
 *     caller reads the outputs in the done callback (on the loop) when rc is 0, then frees
 *     the request.
 *
 * Times are Unix milliseconds (BIGINT). Ids are canonical UUIDs (TEXT).
 */
#ifndef HOOKD_SERVE_STORE_H
#define HOOKD_SERVE_STORE_H

#include "db.h"
#include "engine.h"
#include "serve_secret.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The notification channel (db_notify, db_listener) on which the store says "webhooks may
 * be due now": an event with webhooks was inserted, a webhook retried, a destination
 * recovered or activated. Every node's serve_deliver listens on it (PostgreSQL only). */
#define SERVE_STORE_NOTIFY_CHANNEL "hookd_serve"

/* ---- startup (main thread, before the loop) ---- */

/* Creates or migrates the serve_* tables. 0 or HOOKD_ESTORE. */
int serve_store_migrate(db *conn);

/* The schema's migrations (SQL of versions 1..*count), for tests that upgrade a store
 * written by an earlier version. */
const char *const *serve_store_migrations(size_t *count);

/*
 * Finds the admin token's SHA-256 (32 bytes) in the store. When none is stored, generates a
 * token, stores only its digest, and copies the token into generated (genlen bytes, ≥ 80) so
 * the caller can print it once; *was_generated tells which case happened.
 */
int serve_store_admin_token(db *conn, unsigned char digest[32], char *generated, size_t genlen,
                            bool *was_generated);

/* Work function shape (engine_store.release_work): drops every lease whose owner starts
 * with prefix — "<node-id>/" at start (an earlier run of this node died), the exact owner
 * at stop. An exact prefix, not LIKE. *released receives how many. */
int serve_store_release(db *conn, const char *prefix, int64_t *released);

/* Work function shape (engine_store.extend_work): pushes every lease owner holds on a
 * pending webhook to lease_until, while the engine's outcomes wait for a store that refused
 * them. *extended receives how many. */
int serve_store_extend(db *conn, const char *owner, int64_t lease_until, int64_t *extended);

/* Makes the bootstrap key (id "bootstrap", "*" on every account) hold digest, the
 * SHA-256 of the admin token: of --api-token, or the one stored at first start. A revoked
 * bootstrap key stays revoked. 0 or HOOKD_ESTORE. */
int serve_store_bootstrap_key(db *conn, const unsigned char digest[32]);

/* ---- the API's requests ---- */

/* Which fields of a destination a request sets (create sets all it has, PATCH some). */
enum {
    SERVE_STORE_F_NAME = 1 << 0,
    SERVE_STORE_F_URL = 1 << 1,
    SERVE_STORE_F_EVENTS = 1 << 2,
    SERVE_STORE_F_DESCRIPTION = 1 << 3,
    SERVE_STORE_F_HEADERS = 1 << 4,
    SERVE_STORE_F_FORMAT = 1 << 5,
};

/* The webhook statuses, in the order of serve_store_request.by_status. */
#define SERVE_STORE_STATUS_COUNT 4
extern const char *const serve_store_statuses[SERVE_STORE_STATUS_COUNT];

/* A destination as stored. Every string is owned by the struct (serve_store_request_free
 * frees those of the request's outputs). Times are Unix ms. */
typedef struct serve_store_destination {
    char *id;
    char *name;
    char *url;
    char *description;  /* NULL: none */
    char *events_json;  /* its event types: JSON array text, as stored */
    char *headers_json; /* its custom headers: JSON object text, as stored */
    bool active;
    char *disabled_reason; /* why the sender deactivated it (410, failing streak), or NULL */
    char *secret;          /* set only by create, secret and rotate; NULL otherwise */
    int64_t created_at;
    int64_t updated_at;
    char *format; /* SERVE_FORMAT_MEETBIT or SERVE_FORMAT_STANDARD */
    /* with secret: the previous secrets still valid, newest first (a rotation's grace) */
    serve_secret_old *previous;
    size_t previous_count;
} serve_store_destination;

/* A webhook (one event for one destination), without its attempts. Strings owned. */
typedef struct serve_store_webhook {
    char *id;
    char *event_id;
    char *destination_id;
    char *status;            /* one of serve_store_statuses */
    int64_t attempt_count;   /* attempts made in all */
    int64_t next_attempt_at; /* Unix ms, -1 when none is planned */
    int64_t created_at;
    int64_t updated_at;
} serve_store_webhook;

/* One attempt of a webhook. Strings owned. */
typedef struct serve_store_attempt {
    engine_record rec;      /* n, when, how long, the error */
    int64_t status_code;    /* the answer's status, -1 when there was no answer */
    char *response;         /* the first 4 KiB of the answer's body, or NULL */
    char *response_headers; /* the answer's header lines ("Name: value\r\n"), ≤ 8 KiB, or NULL */
} serve_store_attempt;

/* An event as stored. Strings owned. */
typedef struct serve_store_event {
    char *id;
    char *type;
    char *body; /* the envelope {"event","data"}: the exact bytes that are signed */
    size_t body_len;
    int64_t created_at;
} serve_store_event;

/* An access key as stored; its secret only once, from create. Strings owned. */
typedef struct serve_store_key {
    char *id;
    char *name;
    char *account;     /* NULL: every account */
    char *permissions; /* JSON array text of permission names */
    int64_t created_at;
    char *secret; /* key_create: the hk_… secret, never stored; NULL otherwise */
} serve_store_key;

/* An account. Strings owned. */
typedef struct serve_store_account {
    char *id;
    char *name;
    int64_t created_at;
} serve_store_account;

/* /metrics: one account's webhooks by status and attempts made. */
typedef struct serve_store_account_stats {
    char *account;
    int64_t by_status[SERVE_STORE_STATUS_COUNT]; /* in the order of serve_store_statuses */
    int64_t attempts;
} serve_store_account_stats;

/*
 * One API request to the store. Inputs are owned by the request (malloc'd; freed by
 * serve_store_request_free); so are the outputs, plain structs the API turns into JSON.
 * Which inputs a work function reads and which outputs it fills is said next to it below.
 * Errors: HOOKD_ENOTFOUND (no such object), HOOKD_ECONFLICT (the object's state forbids
 * it; message in why), HOOKD_EINVAL (a malformed cursor), HOOKD_ESTORE.
 */
typedef struct serve_store_request {
    /* inputs */
    int64_t now;           /* the request's time, ms */
    char *account;         /* the account the call acts in; "default" from _new */
    bool scoped;           /* keys and accounts calls: only those of account (bound key) */
    unsigned caller_perms; /* key_revoke: the calling key's (serve_permission bits) */
    char *digest;          /* key_lookup: hex SHA-256 of the bearer token */
    char *key_account;     /* key_create: the new key's account, NULL: every account */
    char *permissions;     /* key_create: JSON array text */
    char *id;              /* the destination, event or webhook the path names */
    unsigned fields;       /* SERVE_STORE_F_* set by a create or PATCH */
    char *name;            /* destination name */
    char *url;             /* destination URL (already checked against the policy) */
    char *description;     /* destination description, NULL for none */
    char *events_json;     /* destination's event types: JSON array of strings */
    char *headers_json;    /* destination's custom headers: JSON object of strings */
    char *format;          /* destination's wire format (SERVE_FORMAT_*) */
    int64_t grace_ms;      /* destination_rotate: how long the old secret stays valid */
    bool active;           /* destination_set_active: the new state */
    char *event_type;      /* event insert: the event's type */
    char *body;            /* event insert: the envelope (signed bytes) */
    size_t body_len;       /* its length */
    char *idempotency_key; /* event insert: the Idempotency-Key, or NULL */
    char *filter_event_id; /* webhook_list filters (NULL: any) */
    char *filter_destination_id;
    char *filter_status;
    int64_t limit;     /* webhook_list: page size */
    char *after;       /* webhook_list: cursor from a previous page, or NULL */
    bool newest_first; /* webhook_list: newest first, one page only (after must be NULL) */
    int64_t since;     /* destination_recover: ms */
    int64_t until;     /* destination_recover: ms, exclusive (INT64_MAX: none) */
    /* outputs: every field from here to the end (serve_store_request_reset) */
    serve_store_destination destination;   /* one destination */
    serve_store_destination *destinations; /* destination_list: destination_count of them */
    size_t destination_count;
    serve_store_event event;   /* event_get, event insert (no body) */
    serve_store_event *events; /* event_list: event_count of them, newest first */
    size_t event_count;
    serve_store_webhook webhook;   /* webhook_get, webhook_retry */
    serve_store_webhook *webhooks; /* event_get, event insert, webhook_list */
    size_t webhook_count;
    serve_store_attempt *attempts; /* webhook_get: attempt_count of them */
    size_t attempt_count;
    char *next; /* webhook_list: the next page's cursor, NULL on the last */
    int64_t by_status[SERVE_STORE_STATUS_COUNT]; /* stats: webhooks per status */
    int64_t due;                                 /* stats: pending webhooks due now */
    serve_store_key key;                         /* key_lookup, key_create */
    serve_store_key *keys;                       /* key_list: key_count of them */
    size_t key_count;
    serve_store_account *accounts; /* account_create (one), account_list */
    size_t account_count;
    bool account_exists;                      /* key_lookup: the account named exists */
    serve_store_account_stats *account_stats; /* stats: per account, busiest first */
    size_t account_stats_count;
    char *result_text; /* event insert: the answer remembered under the key */
    bool replayed;     /* event insert: result_text is an earlier answer */
    int64_t count;     /* rows affected, where the function says so */
    char why[256];     /* a reason to show with HOOKD_ECONFLICT */
} serve_store_request;

/* A zeroed request with now set. Never NULL (allocation failure aborts). */
serve_store_request *serve_store_request_new(int64_t now);
void serve_store_request_free(serve_store_request *request);
/* Frees and zeroes the request's outputs, its inputs kept: for a job that may run again
 * (DB_JOB_RERUNNABLE, db.h), at the start of its work. */
void serve_store_request_reset(serve_store_request *request);

/* Creates a destination (inactive, fresh secret of its format) from name, url, events_json,
 * description, headers_json, format (NULL: meetbit) → destination, with its secret. */
int serve_store_w_destination_create(db *conn, void *request);
/* → destinations (deleted ones left out), without secrets, oldest first. */
int serve_store_w_destination_list(db *conn, void *request);
/* id → destination (no secret). */
int serve_store_w_destination_get(db *conn, void *request);
/* id + the fields named by `fields` → destination, updated. */
int serve_store_w_destination_update(db *conn, void *request);
/* id → marks it deleted and cancels its pending webhooks; count: webhooks cancelled. */
int serve_store_w_destination_delete(db *conn, void *request);
/* id + active → destination. Activating clears the deactivation reason. */
int serve_store_w_destination_set_active(db *conn, void *request);
/* id → destination.secret and .previous (those still valid at now). */
int serve_store_w_destination_secret(db *conn, void *request);
/* id + grace_ms → a new secret of the destination's format, used by every attempt from now
 * on; the replaced one stays valid (in .previous) for grace_ms, 0: not at all, and with it
 * every earlier one. → destination.secret and .previous. HOOKD_ECONFLICT when another
 * rotation of the destination committed meanwhile. */
int serve_store_w_destination_rotate(db *conn, void *request);
/* id + since → every failed webhook of the destination created since then gets a fresh
 * round of attempts; count: how many. */
int serve_store_w_destination_recover(db *conn, void *request);

/*
 * An event is accepted by one job running these three in order, so the event, its webhooks
 * and the remembered answer commit together (the API builds the answer text in between):
 *   serve_store_event_replay: idempotency_key → when the key was seen in the last 24 hours,
 *     replayed is set and result_text is the first answer (write nothing more then);
 *   serve_store_event_insert: event_type, body → the event, one pending webhook per active
 *     destination subscribed to the type (due now); event (id, type, created_at) and
 *     webhooks (id, destination_id, …); count: webhooks created;
 *   serve_store_event_remember: idempotency_key, result_text → the key with the answer;
 *     HOOKD_ECONFLICT (why set) when another request with the key is being processed.
 * Each does nothing and returns 0 when idempotency_key is NULL, where it is read.
 */
int serve_store_event_replay(db *conn, serve_store_request *request);
int serve_store_event_insert(db *conn, serve_store_request *request);
int serve_store_event_remember(db *conn, serve_store_request *request);
/* id → event (with its body) and its webhooks. */
int serve_store_w_event_get(db *conn, void *request);

/* limit → the account's latest events (with their bodies), newest first (the panel's
 * Events page). */
int serve_store_w_event_list(db *conn, void *request);

/* filters, limit, after → webhooks, next. HOOKD_EINVAL for a malformed cursor. With
 * newest_first: the latest limit webhooks, newest first, and no next. */
int serve_store_w_webhook_list(db *conn, void *request);
/* id → webhook and its attempts. */
int serve_store_w_webhook_get(db *conn, void *request);
/* id → a failed or succeeded webhook gets a fresh round of attempts, due now, same id.
 * HOOKD_ECONFLICT when it is pending or cancelled (tested again in the UPDATE, so that two
 * nodes retrying at once, or a claim in between, never reset a lease someone holds).
 * → webhook. */
int serve_store_w_webhook_retry(db *conn, void *request);

/* → by_status, account_stats and due — for /metrics. */
int serve_store_w_stats(db *conn, void *request);

/* ---- accounts and access keys (serve_store_access.c) ---- */

/* digest + account (the X-Account-Id asked, NULL: default) → key of the live key with that
 * digest, and account_exists for the account the call would act in (the key's own when
 * bound). HOOKD_ENOTFOUND when no live key has the digest. */
int serve_store_w_key_lookup(db *conn, void *request);
/* name, key_account, permissions → key, with its fresh secret (only the SHA-256 stored).
 * HOOKD_ENOTFOUND when key_account names no account. */
int serve_store_w_key_create(db *conn, void *request);
/* → keys (live ones; with scoped only those bound to account), oldest first. */
int serve_store_w_key_list(db *conn, void *request);
/* id → revokes the live key (with scoped: only one bound to account). API_EFORBIDDEN (why
 * set) when that key holds a permission outside caller_perms. */
int serve_store_w_key_revoke(db *conn, void *request);
/* id, name → accounts[0]. HOOKD_ECONFLICT when the id exists. */
int serve_store_w_account_create(db *conn, void *request);
/* → accounts (with scoped: only account), oldest first. */
int serve_store_w_account_list(db *conn, void *request);
/* For serve_store_access.c: db_query, logging the backend's message on a store failure. */
int serve_store_query(db *conn, const char *sql, const db_param *params, size_t n, db_rows **rows,
                      int64_t *changed);
/* Frees the access outputs of r (serve_store_request_free calls it). */
void serve_store_access_outputs_free(serve_store_request *r);

/* ---- the delivery engine's requests (engine.h) ---- */

typedef struct serve_store_outcome serve_store_outcome;

/* A claimed webhook, with everything needed to attempt it: the engine's payload. All
 * strings owned by it: the ones before `previous` share its allocation (read-only, never
 * freed alone), previous and outcome are allocated apart. */
typedef struct serve_store_claimed {
    char *webhook_id;
    char *event_id;
    char *destination_id;
    char *account_id;   /* its account, for the log lines about it */
    char *log_label;    /* "account A webhook W": the engine's id for its log lines */
    char *url;          /* the destination's URL now */
    char *secret;       /* its current secret */
    char *headers_json; /* its custom headers, a JSON object of strings */
    char *body;         /* the envelope, the exact bytes to sign and send */
    size_t body_len;
    int64_t round_attempts; /* attempts already made in the current round */
    int64_t attempt_count;  /* attempts made in all */
    int64_t row; /* SQLite: the webhook's rowid when claimed, which its outcome seeks; else 0 */
    serve_store_outcome *outcome; /* set when its attempt ended (owned), else NULL */
    /* its format is SERVE_FORMAT_STANDARD; then previous holds the previous secrets still
     * valid at the claim (a rotation's grace), signed too: previous_count of them */
    bool standard;
    char **previous;
    size_t previous_count;
    struct serve_held *held; /* the set it is in until freed (leases in memory), or NULL */
} serve_store_claimed;

/*
 * Claims due webhooks (pending, next_attempt_at <= now, no live lease) of active destinations,
 * at most claim->limit in all and at most engine_claim_room(claim, destination id) of each,
 * setting lease_owner and lease_until. Only the destinations that have claimable webhooks
 * are visited (one index seek each, however many rows they hold: idle destinations cost
 * nothing, so the claim's cost follows the work, not the number of destinations), in id
 * order starting after claim->cursor (round robin across claims: a claim that stops at its
 * limit sets next_cursor where it stopped); within one, oldest due first. Rows of a
 * destination with no room are never read, so a destination that hangs costs the claim
 * nothing however many of its webhooks wait. A lease expired before now (its holder died or
 * gave up) is taken over by the claim that meets it. On PostgreSQL rows locked by another claimer
 * are skipped (SKIP LOCKED). Outputs: items (payload: a serve_store_claimed, key: its destination
 * id), next_due (the earliest next_attempt_at still pending after now, -1 if none), more (stopped
 * at limit).
 * With held (SQLite held alone by this process: leases in memory, serve_held.h) no lease is
 * written: the webhooks in held are skipped, and the ones claimed join it until their
 * payload is freed; conn must have SERVE_STORE_HELD_FN registered for held
 * (db_sqlite_predicate with serve_held_has). NULL: leases in the rows, as every node on a
 * shared store needs.
 */
int serve_store_claim(db *conn, engine_claim *claim, struct serve_held *held);

/* The SQL function the claim with held calls on each webhook id: whether it is held. */
#define SERVE_STORE_HELD_FN "hookd_held"

/* Frees a claimed webhook, its strings and its outcome. NULL is a no-op. */
void serve_store_claimed_free(serve_store_claimed *item);

/* Gives back claimed webhooks never attempted: frees each lease owner still holds, and
 * notifies SERVE_STORE_NOTIFY_CHANNEL so that other nodes claim them at once. */
int serve_store_unclaim(db *conn, const char *owner, void *const *items, size_t count);

enum serve_store_outcome_state {
    SERVE_STORE_SUCCEEDED = 1, /* 2XX */
    SERVE_STORE_RETRY = 2,     /* failed; pending again at next_attempt_at */
    SERVE_STORE_FAILED = 3,    /* failed; no more automatic attempts */
};

/*
 * One attempt's outcome: the attempt row and the webhook's next state, written only while
 * owner still holds the lease (else HOOKD_ELEASE and nothing is written). A failure also
 * starts (or continues) the destination's failing streak, and deactivates it when the streak
 * is older than fail_window_ms; a success ends the streak. deactivate_reason, when set,
 * deactivates the destination at once (410 Gone). deactivated tells whether this outcome
 * deactivated the destination. It also writes, in the same transaction, the operational
 * webhooks the outcome causes (serve_ops.h; ops_webhooks tells how many). Safe to run again
 * after a failed job (its writes were undone).
 */
struct serve_store_outcome {
    /* inputs (strings owned by the outcome) */
    const char *owner; /* not owned; NULL: leases in memory, the row carries none */
    char *webhook_id;
    char *destination_id;
    int64_t now;
    int64_t started_at; /* the attempt's start, ms */
    int64_t duration_ms;
    long status_code;       /* 0: no answer */
    char *error;            /* why it failed, or NULL */
    char *response;         /* the first 4 KiB of the answer (valid UTF-8), or NULL */
    char *response_headers; /* its header lines, at most 8 KiB (valid UTF-8), or NULL */
    enum serve_store_outcome_state state;
    int64_t next_attempt_at; /* STORE_RETRY */
    char *deactivate_reason; /* or NULL */
    int64_t fail_window_ms;  /* the failing-streak limit (5 days) */
    /* n of the attempt: the claimed attempt_count + 1; written only while the webhook still
     * has attempt_number - 1 attempts (else HOOKD_ELEASE: a stale outcome) */
    int64_t attempt_number;
    /* SQLite: the webhook's rowid read at its claim (serve_store_claimed.row), so the UPDATE
     * reaches the row without a seek by its text id (which the WHERE still checks); 0: by id */
    int64_t row;
    /* outputs */
    bool deactivated;
    int64_t ops_webhooks; /* operational webhooks it created (serve_ops.h) */
};

int serve_store_w_outcome(db *conn, void *outcome);
/* Records outcomes[0..n) in order as serve_store_w_outcome each, rcs[i] its result (0 or
 * HOOKD_ELEASE): on PostgreSQL the webhooks and attempt rows of up to 64 outcomes in two
 * statements (a statement costs the server more than its rows), and on both one failing-streak
 * lookup per destination rather than per outcome. Any other error is returned, and undoes all. */
int serve_store_outcomes(db *conn, serve_store_outcome *const *outcomes, int *rcs, size_t n);
void serve_store_outcome_free(serve_store_outcome *outcome);

#endif
