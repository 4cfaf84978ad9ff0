/*
 * panel_assets.h — the admin panels' stylesheet and script (panel_assets.c), embedded in
 * the binary as C string literals: no CDN, no build step, nothing read from disk at run
 * time (SPEC §7). panel.c serves them under <prefix>/assets/.
 */
#ifndef HOOKD_PANEL_ASSETS_H
#define HOOKD_PANEL_ASSETS_H

#include <stddef.h>

typedef struct panel_asset {
    const char *name; /* "panel.css" */
    const char *content_type;
    const char *body;
    size_t len;
} panel_asset;

/* The asset called name, or NULL. */
const panel_asset *panel_asset_find(const char *name);

/* A short hex digest of every asset's bytes: the ?v= of their links, so a new build's
 * assets are fetched despite the long cache. */
const char *panel_assets_version(void);

#endif
