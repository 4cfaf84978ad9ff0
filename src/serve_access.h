/*
 * serve_access.h — the permission model of `hookd serve` (SPEC §6): the permission names
 * and their bits, a key's permissions between their JSON form and a mask, and what an
 * account id may look like. Pure functions; the API (serve_api.c) enforces them per route,
 * the store (serve_store_access.c) keeps keys and accounts.
 */
#ifndef HOOKD_SERVE_ACCESS_H
#define HOOKD_SERVE_ACCESS_H

#include <jansson.h>
#include <stdbool.h>

/* One bit per permission; SERVE_PERM_NONE: a route any valid key may call. */
enum serve_permission {
    SERVE_PERM_NONE = 0,
    SERVE_PERM_DESTINATIONS_CREATE = 1u << 0,
    SERVE_PERM_DESTINATIONS_READ = 1u << 1,
    SERVE_PERM_DESTINATIONS_UPDATE = 1u << 2,
    SERVE_PERM_DESTINATIONS_ACTIVATE = 1u << 3, /* activate and deactivate */
    SERVE_PERM_DESTINATIONS_DELETE = 1u << 4,
    SERVE_PERM_DESTINATIONS_SECRET = 1u << 5, /* read and rotate the secret */
    SERVE_PERM_EVENTS_CREATE = 1u << 6,
    SERVE_PERM_EVENTS_READ = 1u << 7,
    SERVE_PERM_WEBHOOKS_READ = 1u << 8,
    SERVE_PERM_WEBHOOKS_RETRY = 1u << 9, /* retry and recover */
    SERVE_PERM_ACCESS_KEYS_MANAGE = 1u << 10,
    SERVE_PERM_ACCOUNTS_MANAGE = 1u << 11,
    /* "*": every permission, and the right to grant "*" (a key listing the twelve names
     * holds them all, yet cannot create a "*" key) */
    SERVE_PERM_STAR = 1u << 12,
};
#define SERVE_PERM_ALL ((1u << 12) - 1)

/* The name of one permission bit ("destinations.read", "*"), or NULL. */
const char *serve_permission_name(unsigned bit);

/* The mask of a JSON array of permission names ("*" gives every bit). Returns false when
 * v is not an array or holds something that is not a known name (*bad: its index). */
bool serve_permissions_parse(const json_t *v, unsigned *mask, size_t *bad);

/* The mask of stored permissions (JSON array text); unknown names are ignored. */
unsigned serve_permissions_from_text(const char *json_text);

/* Whether mask holds every bit of need ("*" holds all). */
bool serve_permissions_hold(unsigned mask, unsigned need);

/* Whether text is an account id: [a-z0-9_-]{1,64}. */
bool serve_account_id_valid(const char *text);

#endif
