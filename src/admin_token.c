/*
 * admin_token.c — the bootstrap admin token of serve and receive (see admin_token.h): read
 * its stored SHA-256, or generate one, store its digest and print it once. Written once so
 * the two commands store and announce it the same way.
 */
#include "admin_token.h"

#include "hookd.h"
#include "log.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define ADMIN_TOKEN_SETTING "admin_token_sha256"
#define ADMIN_TOKEN_RANDOM_BYTES 24 /* 192 bits: "hk_" and 48 hex digits */

/* Parses 64 hex digits into digest. */
static bool admin_token_parse_hex(const char *hex, size_t len, unsigned char digest[32])
{
    bool ok = len == 64;
    for (size_t i = 0; ok && i < 32; i++) {
        unsigned int byte;
        ok = sscanf(hex + 2 * i, "%2x", &byte) == 1;
        digest[i] = (unsigned char)byte;
    }
    return ok;
}

/* Reads the stored digest: 0 (*found tells whether there was one) or a HOOKD_E* code. */
static int admin_token_read(db *conn, const char *table, unsigned char digest[32], bool *found)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT value FROM %s WHERE name = $1", table);
    db_param p[] = {DB_S(ADMIN_TOKEN_SETTING)};
    db_rows *rows = NULL;
    int rc = db_query(conn, sql, p, 1, &rows, NULL);
    if (rc != 0)
        return rc;
    *found = db_rows_next(rows);
    if (*found) {
        size_t len = 0;
        const char *hex = db_rows_text(rows, 0, &len);
        rc = admin_token_parse_hex(hex, len, digest) ? 0 : HOOKD_ESTORE;
    }
    db_rows_free(rows);
    return rc;
}

int admin_token_load(db *conn, const char *settings_table, unsigned char digest[32],
                     char *generated, size_t genlen, bool *was_generated)
{
    *was_generated = false;
    for (int tries = 0; tries < 2; tries++) {
        bool found = false;
        int rc = admin_token_read(conn, settings_table, digest, &found);
        if (rc != 0 || found)
            return rc;
        unsigned char bytes[ADMIN_TOKEN_RANDOM_BYTES];
        if (genlen < 4 + 2 * sizeof bytes)
            return HOOKD_EINVAL;
        if (RAND_bytes(bytes, (int)sizeof bytes) != 1)
            return HOOKD_EIO;
        memcpy(generated, "hk_", 3);
        hookd_hex_encode(bytes, sizeof bytes, generated + 3);
        OPENSSL_cleanse(bytes, sizeof bytes);
        SHA256((const unsigned char *)generated, strlen(generated), digest);
        char hex[65], sql[128];
        hookd_hex_encode(digest, 32, hex);
        snprintf(sql, sizeof sql, "INSERT INTO %s (name, value) VALUES ($1, $2)", settings_table);
        db_param p[] = {DB_S(ADMIN_TOKEN_SETTING), DB_S(hex)};
        rc = db_query(conn, sql, p, 2, NULL, NULL);
        if (rc != HOOKD_ECONFLICT) {
            *was_generated = rc == 0;
            return rc;
        }
        /* Another node starting at the same time stored its token first: use that one. */
        OPENSSL_cleanse(generated, genlen);
        generated[0] = '\0';
    }
    return HOOKD_ESTORE;
}

int admin_token_announce(const char *component, const char *how_to_set, char *generated,
                         size_t genlen, bool was_generated)
{
    if (!was_generated) {
        log_info(component,
                 "using the admin token generated at first start (not shown again; %s "
                 "to set one)",
                 how_to_set);
        return 0;
    }
    printf("admin token: %s\n", generated);
    printf("(shown once: only its SHA-256 is stored; use it as "
           "\"Authorization: Bearer <token>\")\n");
    OPENSSL_cleanse(generated, genlen);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "hookd %s: cannot print the admin token\n", component);
        return -1;
    }
    return 0;
}
