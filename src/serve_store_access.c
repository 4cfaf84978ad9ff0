/*
 * serve_store_access.c — the sender's accounts and access keys in the store (SPEC §6): the
 * per-request key lookup, creating, listing and revoking keys, creating and listing
 * accounts. Work functions of serve_store.h, run on the db_worker's thread like the rest of
 * the store; what a key may do is decided by the API (serve_api.c) from what these return.
 * Only a key's SHA-256 is stored: the secret leaves this file once, in key_create's answer.
 */
#include "serve_store.h"

#include "api_common.h"
#include "hookd.h"
#include "serve_access.h"
#include "log.h"
#include "mem.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_COLS "id, name, account_id, permissions, created_at"

static void key_clear(serve_store_key *k)
{
    char *owned[] = {k->id, k->name, k->account, k->permissions};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        free(owned[i]);
    if (k->secret) /* the one copy of a key's secret outside the answer */
        OPENSSL_cleanse(k->secret, strlen(k->secret));
    free(k->secret);
    memset(k, 0, sizeof *k);
}

void serve_store_access_outputs_free(serve_store_request *r)
{
    key_clear(&r->key);
    for (size_t i = 0; i < r->key_count; i++)
        key_clear(&r->keys[i]);
    free(r->keys);
    for (size_t i = 0; i < r->account_count; i++) {
        free(r->accounts[i].id);
        free(r->accounts[i].name);
    }
    free(r->accounts);
    for (size_t i = 0; i < r->account_stats_count; i++)
        free(r->account_stats[i].account);
    free(r->account_stats);
}

/* Fills k from the current row (KEY_COLS). */
static void key_read(db_rows *rows, serve_store_key *k)
{
    k->id = db_rows_strdup(rows, 0);
    k->name = db_rows_strdup(rows, 1);
    k->account = db_rows_strdup(rows, 2);
    k->permissions = db_rows_strdup(rows, 3);
    k->created_at = db_rows_int(rows, 4);
    k->secret = NULL; /* never read back: only its digest is stored */
}

/* Whether account id exists. */
static int account_exists(db *conn, const char *id, bool *exists)
{
    db_rows *rows = NULL;
    db_param p[] = {DB_S(id)};
    int rc =
        serve_store_query(conn, "SELECT 1 FROM serve_accounts WHERE id = $1", p, 1, &rows, NULL);
    if (rc != 0)
        return rc;
    *exists = db_rows_next(rows);
    db_rows_free(rows);
    return 0;
}

int serve_store_w_key_lookup(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_rows *rows = NULL;
    /* The key and whether its account exists, in one statement (one round trip less per
     * request on PostgreSQL): a key bound to an account acts in it, whatever the header said
     * ($2), so the account checked is the key's, or else the header's. */
    db_param p[] = {DB_S(r->digest), DB_S(r->account)};
    int rc = db_rows_first(
        serve_store_query(conn,
                          "SELECT " KEY_COLS ", CASE WHEN EXISTS (SELECT 1 FROM serve_accounts a "
                          "WHERE a.id = COALESCE(k.account_id, $2)) THEN 1 ELSE 0 END "
                          "FROM serve_access_keys k WHERE digest = $1 AND revoked_at IS NULL",
                          p, 2, &rows, NULL),
        &rows);
    if (rc != 0)
        return rc;
    key_read(rows, &r->key);
    r->account_exists = db_rows_int(rows, 5) != 0;
    db_rows_free(rows);
    if (r->key.account) { /* bound: its own account, whatever the header said */
        free(r->account);
        r->account = xstrdup(r->key.account);
    }
    return 0;
}

int serve_store_w_key_create(db *conn, void *arg)
{
    serve_store_request *r = arg;
    bool exists = true;
    int rc = r->key_account ? account_exists(conn, r->key_account, &exists) : 0;
    if (rc != 0)
        return rc;
    if (!exists)
        return HOOKD_ENOTFOUND;
    char id[HOOKD_ID_LEN + 1], secret[3 + 64 + 1] = "hk_", hex[65];
    unsigned char bytes[32], digest[32];
    rc = hookd_id_new(id);
    if (rc != 0)
        return rc;
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return HOOKD_EIO;
    hookd_hex_encode(bytes, 24, secret + 3);
    OPENSSL_cleanse(bytes, sizeof bytes);
    SHA256((const unsigned char *)secret, strlen(secret), digest);
    hookd_hex_encode(digest, sizeof digest, hex);
    db_param p[] = {DB_S(id),  DB_S(r->name), DB_SOPT(r->key_account), DB_S(r->permissions),
                    DB_S(hex), DB_I(r->now)};
    rc = serve_store_query(
        conn,
        "INSERT INTO serve_access_keys (id, name, account_id, permissions, digest, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        p, 6, NULL, NULL);
    if (rc != 0)
        return rc;
    r->key.id = xstrdup(id);
    r->key.name = xstrdup(r->name);
    r->key.account = r->key_account ? xstrdup(r->key_account) : NULL;
    r->key.permissions = xstrdup(r->permissions);
    r->key.created_at = r->now;
    r->key.secret = xstrdup(secret);
    OPENSSL_cleanse(secret, sizeof secret);
    return 0;
}

int serve_store_w_key_list(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_rows *rows = NULL;
    db_param p[] = {DB_S(r->account)};
    int rc = serve_store_query(conn,
                               r->scoped ? "SELECT " KEY_COLS " FROM serve_access_keys "
                                           "WHERE revoked_at IS NULL AND account_id = $1 "
                                           "ORDER BY created_at, id"
                                         : "SELECT " KEY_COLS " FROM serve_access_keys "
                                           "WHERE revoked_at IS NULL ORDER BY created_at, id",
                               p, r->scoped ? 1 : 0, &rows, NULL);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    while (db_rows_next(rows)) {
        r->keys = xgrow(r->keys, r->key_count, &cap, sizeof *r->keys);
        key_read(rows, &r->keys[r->key_count++]);
    }
    db_rows_free(rows);
    return 0;
}

/* Whether the caller of r may revoke the live key r->id: HOOKD_ENOTFOUND when there is no
 * such key (of its account, when scoped: a bound caller never sees a key of every
 * account), API_EFORBIDDEN when the key holds a permission the caller does not (a key
 * cannot take away what it could not have granted). */
static int key_revocable(db *conn, serve_store_request *r)
{
    db_param p[] = {DB_S(r->id), DB_S(r->account)};
    db_rows *rows = NULL;
    int rc =
        serve_store_query(conn,
                          r->scoped ? "SELECT permissions FROM serve_access_keys "
                                      "WHERE id = $1 AND revoked_at IS NULL AND account_id = $2"
                                    : "SELECT permissions FROM serve_access_keys "
                                      "WHERE id = $1 AND revoked_at IS NULL",
                          p, r->scoped ? 2 : 1, &rows, NULL);
    rc = db_rows_first(rc, &rows);
    if (rc != 0)
        return rc;
    unsigned held = serve_permissions_from_text(db_rows_text(rows, 0, NULL));
    db_rows_free(rows);
    if (!serve_permissions_hold(r->caller_perms, held)) {
        snprintf(r->why, sizeof r->why, "this key cannot revoke a key holding more than itself");
        return API_EFORBIDDEN;
    }
    return 0;
}

int serve_store_w_key_revoke(db *conn, void *arg)
{
    serve_store_request *r = arg;
    int rc = key_revocable(conn, r);
    if (rc != 0)
        return rc;
    db_param p[] = {DB_S(r->id), DB_I(r->now)};
    int64_t changed = 0;
    rc = serve_store_query(conn,
                           "UPDATE serve_access_keys SET revoked_at = $2 WHERE id = $1 "
                           "AND revoked_at IS NULL",
                           p, 2, NULL, &changed);
    if (rc == 0 && changed == 0)
        rc = HOOKD_ENOTFOUND;
    return rc;
}

int serve_store_w_account_create(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_param p[] = {DB_S(r->id), DB_S(r->name), DB_I(r->now)};
    int rc = serve_store_query(
        conn, "INSERT INTO serve_accounts (id, name, created_at) VALUES ($1, $2, $3)", p, 3, NULL,
        NULL);
    if (rc == HOOKD_ECONFLICT) {
        snprintf(r->why, sizeof r->why, "the account %s exists", r->id);
        return rc;
    }
    if (rc != 0)
        return rc;
    r->accounts = xcalloc(1, sizeof *r->accounts);
    r->accounts[0].id = xstrdup(r->id);
    r->accounts[0].name = xstrdup(r->name);
    r->accounts[0].created_at = r->now;
    r->account_count = 1;
    return 0;
}

int serve_store_w_account_list(db *conn, void *arg)
{
    serve_store_request *r = arg;
    db_rows *rows = NULL;
    db_param p[] = {DB_S(r->account)};
    int rc = serve_store_query(conn,
                               r->scoped ? "SELECT id, name, created_at FROM serve_accounts "
                                           "WHERE id = $1"
                                         : "SELECT id, name, created_at FROM serve_accounts "
                                           "ORDER BY created_at, id",
                               p, r->scoped ? 1 : 0, &rows, NULL);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    while (db_rows_next(rows)) {
        r->accounts = xgrow(r->accounts, r->account_count, &cap, sizeof *r->accounts);
        serve_store_account *acc = &r->accounts[r->account_count++];
        acc->id = db_rows_strdup(rows, 0);
        acc->name = db_rows_strdup(rows, 1);
        acc->created_at = db_rows_int(rows, 2);
    }
    db_rows_free(rows);
    return 0;
}
