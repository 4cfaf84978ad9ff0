/*
 * receive_panel.h — `hookd receive`'s admin panel (SPEC §7, last bullet), under /admin on
 * the admin listener (never on the public port):
 *   GET  /admin                        → /admin/inbox
 *   GET  /admin/sign-in, POST          a field "Admin token", a button "Sign in"
 *   POST /admin/sign-out
 *   GET  /admin/inbox?status=&after=   counts by status, a page of webhooks, newest first
 *   GET  /admin/webhooks/{id}          its details, body (escaped, capped) and handler runs
 *   POST /admin/webhooks/{id}/retry    Retry: the admin API's retry (receive_api.h)
 *   GET  /admin/assets/…               the embedded stylesheet and script (panel.h)
 * Sign-in takes the admin token (its SHA-256 compared in constant time with the one the
 * admin API checks); the panel then keeps the person by panel.h's session cookie and CSRF
 * tokens. The admin API's Host and Origin checks apply to these requests too.
 *
 * Thread: loop thread only; reads go through the store thread like the admin API's.
 */
#ifndef HOOKD_RECEIVE_PANEL_H
#define HOOKD_RECEIVE_PANEL_H

#include "db.h"
#include "receive_api.h"

#include <stddef.h>

typedef struct receive_panel receive_panel;

/* Mounts the panel on the admin API (receive_api_mount). token_digest: the SHA-256 of the
 * admin token. Never fails. */
receive_panel *receive_panel_new(receive_api *api, db_worker *worker,
                                 const unsigned char token_digest[32]);

/* Requests waiting for the store (the stop sequence waits for 0). */
size_t receive_panel_in_flight(const receive_panel *rp);

/* Frees it and its sessions; call once receive_panel_in_flight is 0, before the API. */
void receive_panel_free(receive_panel *rp);

#endif
