/*
 * admin_token.h — the bootstrap admin token both commands have: `hookd serve`'s API token
 * and `hookd receive`'s admin token. When the operator gives none, one is generated at first
 * start ("hk_" and 48 hex digits from OpenSSL's CSPRNG), only its SHA-256 is stored (in the
 * command's settings table, row admin_token_sha256) and the token is printed once on stdout
 * with the same wording on both sides; later starts read the digest back and print nothing.
 * The stores own their tables (serve_store.c, receive_store.c) and call admin_token_load with
 * the table's name; the mains call admin_token_announce.
 *
 * Thread: the main thread at start, before the loop runs.
 */
#ifndef HOOKD_ADMIN_TOKEN_H
#define HOOKD_ADMIN_TOKEN_H

#include "db.h"

#include <stdbool.h>
#include <stddef.h>

#define ADMIN_TOKEN_GENERATED_MAX 128 /* room for a generated token and its NUL */

/*
 * Finds the admin token's SHA-256 (32 bytes) in settings_table (a (name, value) table of the
 * caller's store). When none is stored, generates a token, stores only its digest, and
 * copies the token into generated (genlen bytes, ≥ 80) so the caller can print it once;
 * *was_generated tells which case happened. Two nodes starting at once on one database end
 * with the same token (the one stored first). 0 or a HOOKD_E* code.
 */
int admin_token_load(db *conn, const char *settings_table, unsigned char digest[32],
                     char *generated, size_t genlen, bool *was_generated);

/*
 * At start, says which token is in use without ever logging it: a token generated just now
 * is printed on stdout ("admin token: hk_…" and how to use it), once; a stored one is named
 * in an info line of component (the command: "serve", "receive") pointing at how_to_set
 * ("--api-token or HOOKD_API_TOKEN"). Wipes generated. 0, or -1 when stdout cannot take it
 * (written on stderr).
 */
int admin_token_announce(const char *component, const char *how_to_set, char *generated,
                         size_t genlen, bool was_generated);

#endif
