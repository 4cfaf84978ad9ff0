/*
 * receive_ingest.h — the receiver's public endpoint (SPEC §4): checks each POST in the spec's
 * order, saves the accepted webhook through the store thread (receive_store.h) and answers
 * only once that save has committed — 200 {"status":"accepted"}, 200 {"status":"duplicate"},
 * or 503. It is the receiver's way in, as POST /v1/events (serve_api.c) is the sender's;
 * receive_handler.h then runs what it saved.
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_RECEIVE_INGEST_H
#define HOOKD_RECEIVE_INGEST_H

#include "http_server.h"
#include "db.h"
#include "receive_handler.h"
#include "hookd.h"
#include "metrics.h"
#include "receive_provider.h"

#include <stddef.h>
#include <stdint.h>

typedef struct receive_ingest receive_ingest;

typedef struct receive_ingest_options {
    const hookd_secret *secrets; /* accepted secrets (not copied: must outlive the receiver) */
    size_t secret_count;         /* >= 1 */
    int64_t tolerance_s;         /* accepted clock skew, seconds */
    const char *path;            /* the one path webhooks are POSTed to (copied) */
    size_t max_body;             /* bytes */
    int64_t max_pending;         /* pending webhooks beyond which new ones get 503; 0: no cap */
    const char *disk_path;       /* a file on the store's filesystem (the SQLite database), or
                                    NULL: no headroom check (copied) */
    uint64_t min_free_disk;      /* below this many bytes free there, new ones get 503; 0: never */

    /* whose requests are accepted (--provider): their headers, signature and ids */
    const receive_provider *provider;
} receive_ingest_options;

/*
 * Serves webhooks on http (every path: wrong ones are answered 404/405). Saves through
 * worker, tells h about each accepted webhook, counts in m. Never fails (allocation
 * failure aborts).
 */
receive_ingest *receive_ingest_new(http_server *http, db_worker *worker, receive_handler *h,
                                   metrics *m, const receive_ingest_options *options);

/* Requests waiting for their save to commit. */
size_t receive_ingest_in_flight(const receive_ingest *r);

/* Frees the endpoint; call once receive_ingest_in_flight is 0. */
void receive_ingest_free(receive_ingest *r);

#endif
