/*
 * serve_panel_internal.h — what serve_panel.c (routes, sessions, store jobs) shares with
 * serve_panel_pages.c (the HTML of each page). Not for any other file.
 */
#ifndef HOOKD_SERVE_PANEL_INTERNAL_H
#define HOOKD_SERVE_PANEL_INTERNAL_H

#include "http_server.h"
#include "panel.h"
#include "serve_api.h"
#include "serve_panel.h"
#include "serve_store.h"

#define SERVE_PANEL_PREFIX "/admin"
#define SERVE_PANEL_WEBHOOKS 25 /* a destination page shows its latest webhooks */
#define SERVE_PANEL_EVENTS 50   /* the Events page shows the latest events */

/* Each page or action of the panel. */
typedef enum panel_route {
    R_LIST,        /* GET  webhook_destinations */
    R_NEW,         /* GET  webhook_destinations/new */
    R_CREATE,      /* POST webhook_destinations */
    R_SHOW,        /* GET  webhook_destinations/{id} (?reveal=1: with the secret) */
    R_EDIT_FORM,   /* GET  webhook_destinations/{id}/edit */
    R_EDIT,        /* POST webhook_destinations/{id}/edit */
    R_DELETE_FORM, /* GET  webhook_destinations/{id}/delete: the confirmation */
    R_DELETE,      /* POST webhook_destinations/{id}/delete */
    R_ACTIVATE,    /* POST webhook_destinations/{id}/activate */
    R_DEACTIVATE,  /* POST webhook_destinations/{id}/deactivate */
    R_ROTATE,      /* POST webhook_destinations/{id}/rotate */
    R_RECOVER,     /* POST webhook_destinations/{id}/recover */
    R_RETRY,       /* POST webhooks/{id}/retry */
    R_EVENTS,      /* GET  events */
    R_ACCOUNT,     /* POST account: act in another account */
    R_COUNT,
} panel_route;

/* One signed-in key, as the session keeps it: never the key itself. */
typedef struct serve_who {
    char digest[65];  /* hex SHA-256 of the access key, looked up on every request */
    char account[72]; /* the account the panel acts in (a key of every account picks it) */
} serve_who;

/* One event type of the catalog, for the Create and Edit forms. */
typedef struct panel_event_type {
    char *type;
    char *description;
} panel_event_type;

struct serve_panel {
    panel *ui;
    db_worker *worker;
    serve_deliver *dispatch;
    serve_api_options opt;
    panel_event_type *types;
    size_t type_count;
    size_t pending;
};

/* One request of a signed-in session, through its store job. */
typedef struct panel_job {
    serve_panel *sp;
    http_request *req;
    char sid[PANEL_TOKEN_HEX + 1]; /* the session, found again when the job is done */
    panel_route route;
    unsigned need;        /* the permission bits the route needs */
    bool reveal;          /* R_SHOW: with the secret (needs destinations.secret) */
    panel_form form;      /* a POST's fields (kept to show a refused form again) */
    serve_api_problem pb; /* a refused form: why */
    bool invalid;         /* the form was refused: no store work, show it again */
    /* filled on the store thread */
    serve_store_request *auth;     /* the key lookup (key, account, account_exists) */
    bool authed;                   /* the key is live */
    unsigned perms;                /* what it holds */
    bool every_account;            /* it is not bound to one account */
    bool forbidden;                /* it lacks `need`: nothing else ran */
    serve_store_request *main;     /* the route's store request (NULL: none) */
    db_work_fn work;               /* its work function */
    int rc;                        /* what the route's work returned */
    serve_store_request *accounts; /* the account picker's list (accounts.manage) */
    serve_store_request *secret;   /* R_SHOW with reveal */
    serve_store_request **more;    /* per destination its last webhook (R_LIST), per
                                      webhook its attempts (R_SHOW) */
    size_t more_count;
} panel_job;

/* The pages (serve_panel_pages.c); each answers the request and frees nothing. */
void serve_panel_page_sign_in(serve_panel *sp, http_request *req, int status, const char *error,
                              const char *next);
void serve_panel_page_list(panel_job *j, panel_session *s);
void serve_panel_page_form(panel_job *j, panel_session *s, const serve_store_destination *d);
void serve_panel_page_show(panel_job *j, panel_session *s);
void serve_panel_page_delete(panel_job *j, panel_session *s);
void serve_panel_page_events(panel_job *j, panel_session *s);

/* Whether the job's key holds the permission of an API action (to offer it). */
bool serve_panel_may(const panel_job *j, serve_api_action action);

#endif
