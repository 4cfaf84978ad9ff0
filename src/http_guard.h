/*
 * http_guard.h — the front door of every inbound connection (used by http_server.c only):
 * a bufferevent filter between the socket and evhttp that reads each request's head before
 * evhttp sees a byte of it, refuses ambiguous framing, unknown methods, heads and requests
 * that take too long, bodies over the cap or over the process-wide budget, and lets the
 * server's own head check (API token, route) answer before the body is read. Why a filter
 * rather than evhttp's own hooks: see the DESIGN note atop http_server.c.
 *
 * Thread: loop thread only.
 */
#ifndef HOOKD_HTTP_GUARD_H
#define HOOKD_HTTP_GUARD_H

#include "http_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct event_base;

typedef struct http_guard http_guard;

/* What a guard needs from its server; lives as long as the server. */
typedef struct http_guard_config {
    size_t max_body;
    size_t max_headers;
    int64_t header_timeout_ms;  /* from the first byte of a head to its end */
    int64_t request_timeout_ms; /* from the first byte of a head to the end of its body */
    http_head_fn head_check;    /* may be NULL */
    void *head_check_arg;
    http_refusal_fn on_refusal; /* told of the guard's own refusals; may be NULL */
    void *on_refusal_arg;
} http_guard_config;

/* A filtering bufferevent over a new socket bufferevent, with its guard. NULL on failure. */
struct bufferevent *http_guard_new(struct event_base *base, const http_guard_config *config,
                                   http_guard **guard);

/* Bytes of bodies reserved right now by all guards (for tests and metrics). */
size_t http_guard_budget_used(void);

#endif
