/*
 * http_client_tls.c — the client's OpenSSL (see http_client_internal.h): one SSL_CTX per
 * client (TLS 1.2 or later, the peer's chain verified against the system's store or
 * --ca-file, ALPN "http/1.1", sessions kept per origin for resumption), one SSL per
 * connection on its nonblocking socket (SNI unless the host is an address literal; the
 * certificate must name the host or the address), and for an https:// proxy a BIO that
 * carries the destination's TLS inside the proxy's: its reads and writes are SSL_read and
 * SSL_write on the outer SSL, whose "want read/write" become the BIO's retry flags, so the
 * inner SSL asks for the socket event the outer one needs.
 */
#include "http_client_internal.h"
#include "mem.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the tunnel BIO: bytes through an outer SSL ---- */

static int tunnel_io(BIO *bio, int rc)
{
    SSL *outer = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (rc > 0)
        return rc;
    int err = SSL_get_error(outer, rc);
    if (err == SSL_ERROR_WANT_READ)
        BIO_set_retry_read(bio);
    else if (err == SSL_ERROR_WANT_WRITE)
        BIO_set_retry_write(bio);
    else if (err == SSL_ERROR_ZERO_RETURN)
        return 0;
    return -1;
}

static int tunnel_write(BIO *bio, const char *data, int len)
{
    return tunnel_io(bio, SSL_write(BIO_get_data(bio), data, len));
}

static int tunnel_read(BIO *bio, char *data, int len)
{
    return tunnel_io(bio, SSL_read(BIO_get_data(bio), data, len));
}

static long tunnel_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return SSL_pending(BIO_get_data(bio));
    default:
        return 0;
    }
}

static int tunnel_create(BIO *bio)
{
    BIO_set_init(bio, 1);
    return 1;
}

static BIO_METHOD *tunnel_method;

/* A BIO reading and writing through outer (which it does not own). */
static BIO *tunnel_bio(SSL *outer)
{
    if (!tunnel_method) { /* loop thread only: no race */
        tunnel_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "hookd-tunnel");
        if (!tunnel_method || !BIO_meth_set_write(tunnel_method, tunnel_write) ||
            !BIO_meth_set_read(tunnel_method, tunnel_read) ||
            !BIO_meth_set_ctrl(tunnel_method, tunnel_ctrl) ||
            !BIO_meth_set_create(tunnel_method, tunnel_create)) {
            fputs("hookd: out of memory (OpenSSL)\n", stderr);
            abort();
        }
    }
    BIO *bio = BIO_new(tunnel_method);
    if (!bio) {
        fputs("hookd: out of memory (OpenSSL)\n", stderr);
        abort();
    }
    BIO_set_data(bio, outer);
    return bio;
}

/* ---- context and connections ---- */

/* A new session from the server (TLS 1.3 sends them after the handshake): kept on the
 * connection's origin, offered by its next connection. */
static int session_new_cb(SSL *ssl, SSL_SESSION *session)
{
    hc_conn *k = SSL_get_app_data(ssl);
    if (!k || !k->origin || k->ssl != ssl)
        return 0; /* the proxy's TLS: not resumed */
    if (k->origin->session)
        SSL_SESSION_free(k->origin->session);
    k->origin->session = session;
    return 1; /* the reference is ours */
}

SSL_CTX *hc_tls_context(const char *ca_file, char *why, size_t whylen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(why, whylen, "cannot create a TLS context");
        return NULL;
    }
    static const unsigned char alpn[] = "\x08http/1.1";
    int loaded = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx);
    if (!loaded || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1) != 0) {
        snprintf(why, whylen, "cannot load the trusted certificates%s%s", ca_file ? " of " : "",
                 ca_file ? ca_file : "");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* a server closing without close_notify ends a read-until-close body, as curl reads it */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, session_new_cb);
    return ctx;
}

SSL *hc_tls_new(SSL_CTX *ctx, hc_conn *k, const char *host, bool host_is_ip, SSL *outer)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        fputs("hookd: out of memory (OpenSSL)\n", stderr);
        abort();
    }
    SSL_set_app_data(ssl, k);
    bool named = host_is_ip
                     ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1
                     : SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
    bool io;
    if (outer) {
        BIO *bio = tunnel_bio(outer);
        SSL_set_bio(ssl, bio, bio);
        io = true;
    } else {
        io = SSL_set_fd(ssl, k->fd) == 1;
    }
    if (!named || !io) { /* a host OpenSSL cannot take: it would not verify, so no TLS */
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

/* The reason of the last OpenSSL error, or of the certificate check. */
static void tls_reason(SSL *ssl, int err, char *why, size_t whylen)
{
    long verify = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_last_error();
    if (verify != X509_V_OK) {
        snprintf(why, whylen, "certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
    } else if (e) {
        char text[200];
        ERR_error_string_n(e, text, sizeof text);
        snprintf(why, whylen, "%s", text);
    } else if (err == SSL_ERROR_SYSCALL && errno) {
        snprintf(why, whylen, "%s", strerror(errno));
    } else {
        snprintf(why, whylen, "the connection closed during the TLS handshake");
    }
    ERR_clear_error();
}

int hc_tls_handshake(SSL *ssl, short *want, char *why, size_t whylen)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return 1;
    int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        *want = err == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
        return 0;
    }
    tls_reason(ssl, err, why, whylen);
    return -1;
}

short hc_tls_want(SSL *ssl, int rc, char *why, size_t whylen)
{
    int err = SSL_get_error(ssl, rc);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        return EV_READ;
    case SSL_ERROR_WANT_WRITE:
        return EV_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0) {
            ERR_clear_error();
            return 0; /* closed without close_notify */
        }
        snprintf(why, whylen, "%s", strerror(errno));
        ERR_clear_error();
        return -1;
    default:
        tls_reason(ssl, err, why, whylen);
        return -1;
    }
}
