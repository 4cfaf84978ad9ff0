/*
 * panel_assets.c — the stylesheet and the script of the admin panels (see panel_assets.h).
 * The CSS is readable from 360 px wide up (one column, tables scroll sideways), shows a
 * visible focus ring and keeps labels above their inputs. The script only adds comfort:
 * a confirm() before forms marked data-confirm, and copy buttons; every form works
 * without it (Delete has its own confirmation page).
 */
#include "panel_assets.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char css[] =
    ":root{--fg:#1d2330;--muted:#5b6475;--line:#d8dce4;--bg:#f6f7f9;--card:#fff;"
    "--accent:#1f5fbf;--accent-fg:#fff;--ok:#1b7a3d;--bad:#b3261e;--warn:#8a5a00;"
    "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:16px;"
    "line-height:1.45;color:var(--fg);background:var(--bg)}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0}\n"
    "a{color:var(--accent)}\n"
    ".top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;"
    "background:#17202f;color:#fff}\n"
    ".top a{color:#fff}\n"
    ".brand{font-weight:700;text-decoration:none;margin-right:auto}\n"
    ".top form{display:inline-flex;gap:.4rem;align-items:center;margin:0}\n"
    ".top label{font-size:.9rem}\n"
    ".top select{max-width:12rem}\n"
    ".who{font-size:.9rem;opacity:.9}\n"
    "nav ul{list-style:none;margin:0;padding:0 1rem;display:flex;flex-wrap:wrap;gap:.25rem 1rem;"
    "background:var(--card);border-bottom:1px solid var(--line)}\n"
    "nav a{display:inline-block;padding:.55rem 0;text-decoration:none}\n"
    "nav a[aria-current=page]{font-weight:700;border-bottom:3px solid var(--accent)}\n"
    "main{max-width:72rem;margin:0 auto;padding:1rem}\n"
    ".title-row{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;"
    "gap:.5rem}\n"
    "h1{font-size:1.5rem;margin:.5rem 0}\n"
    "h2{font-size:1.2rem;margin:1.5rem 0 .5rem}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:1rem;"
    "margin:0 0 1rem}\n"
    ".scroll{overflow-x:auto}\n"
    "table{border-collapse:collapse;width:100%;background:var(--card)}\n"
    "th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid var(--line);"
    "vertical-align:top}\n"
    "th{font-size:.85rem;color:var(--muted);font-weight:600}\n"
    "td.wrap,dd{overflow-wrap:anywhere}\n"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:0}\n"
    "dt{color:var(--muted)}dd{margin:0}\n"
    "@media (max-width:40rem){dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}}\n"
    "label{display:block;font-weight:600;margin:.8rem 0 .25rem}\n"
    "label.check{display:flex;gap:.5rem;align-items:center;font-weight:400;margin:.3rem 0}\n"
    "fieldset{border:1px solid var(--line);border-radius:6px;margin:.8rem 0;padding:.5rem 1rem}\n"
    "legend{font-weight:600;padding:0 .3rem}\n"
    "input[type=text],input[type=url],input[type=password],input[type=datetime-local],select"
    "{font:inherit;padding:.45rem .55rem;border:1px solid #9aa3b2;border-radius:4px;"
    "width:100%;max-width:36rem;background:#fff;color:var(--fg)}\n"
    ".top select{width:auto}\n"
    "input[type=checkbox]{width:1.1rem;height:1.1rem}\n"
    "button,.button{font:inherit;display:inline-block;padding:.45rem .9rem;border-radius:4px;"
    "border:1px solid var(--accent);background:var(--accent);color:var(--accent-fg);"
    "cursor:pointer;text-decoration:none;line-height:1.3}\n"
    "button.secondary,.button.secondary{background:#fff;color:var(--accent)}\n"
    "button.danger,.button.danger{background:var(--bad);border-color:var(--bad);color:#fff}\n"
    ".top button{background:transparent;border-color:#fff;color:#fff;padding:.25rem .6rem}\n"
    ":focus-visible{outline:3px solid #f5a623;outline-offset:2px}\n"
    ".actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.8rem 0}\n"
    ".actions form{margin:0}\n"
    ".inline{display:inline-flex;flex-wrap:wrap;gap:.5rem;align-items:flex-end}\n"
    ".inline label{margin:0 0 .25rem}\n"
    ".error{color:var(--bad);font-weight:600;margin:.25rem 0}\n"
    ".flash{padding:.6rem .8rem;border-radius:4px;background:#e7f3ea;border:1px solid #b7dcc2}\n"
    ".flash.bad{background:#fbe9e8;border-color:#efb8b4}\n"
    ".hint{color:var(--muted);font-size:.9rem;margin:.2rem 0}\n"
    ".secret{font-family:ui-monospace,monospace;background:#f0f2f5;padding:.3rem .5rem;"
    "border-radius:4px;overflow-wrap:anywhere}\n"
    ".mono{font-family:ui-monospace,monospace;font-size:.9rem;overflow-wrap:anywhere}\n"
    ".status{font-weight:600}.s-succeeded,.s-active,.s-done{color:var(--ok)}"
    ".s-failed,.s-inactive{color:var(--bad)}.s-pending{color:var(--warn)}"
    ".s-cancelled{color:var(--muted)}\n"
    "details{margin:.3rem 0}summary{cursor:pointer}\n"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f0f2f5;padding:.5rem;"
    "border-radius:4px;margin:.3rem 0;font-size:.85rem}\n"
    ".webhook{border-top:1px solid var(--line);padding:.6rem 0}\n"
    ".empty{color:var(--muted)}\n";

static const char js[] =
    "// hookd admin panel: comfort only; every form works without this script.\n"
    "'use strict';\n"
    "document.addEventListener('submit', function (e) {\n"
    "  var f = e.target;\n"
    "  var q = f && f.getAttribute && f.getAttribute('data-confirm');\n"
    "  if (q && !window.confirm(q)) e.preventDefault();\n"
    "});\n"
    "document.addEventListener('click', function (e) {\n"
    "  var b = e.target.closest && e.target.closest('[data-copy]');\n"
    "  if (!b || !navigator.clipboard) return;\n"
    "  var t = document.getElementById(b.getAttribute('data-copy'));\n"
    "  if (t) navigator.clipboard.writeText(t.textContent).then(function () {\n"
    "    b.textContent = 'Copied';\n"
    "  });\n"
    "});\n";

static const panel_asset assets[] = {
    {"panel.css", "text/css; charset=utf-8", css, sizeof css - 1},
    {"panel.js", "text/javascript; charset=utf-8", js, sizeof js - 1},
};

const panel_asset *panel_asset_find(const char *name)
{
    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++)
        if (strcmp(assets[i].name, name) == 0)
            return &assets[i];
    return NULL;
}

const char *panel_assets_version(void)
{
    static char version[17];
    if (version[0])
        return version;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a: a cache key, not a security check */
    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++)
        for (size_t k = 0; k < assets[i].len; k++)
            h = (h ^ (unsigned char)assets[i].body[k]) * 1099511628211ULL;
    snprintf(version, sizeof version, "%016llx", (unsigned long long)h);
    return version;
}
