/*
 * openapi.h — the OpenAPI document of `hookd serve`'s REST API, as the JSON answered at
 * GET /openapi.json. Its source is docs/openapi.yaml; the build converts it
 * (cmake/openapi-embed.py) into a generated C file, so the binary and the document in the
 * tree cannot drift apart. tests/blackbox/test_openapi.py checks it against the route table.
 */
#ifndef HOOKD_OPENAPI_H
#define HOOKD_OPENAPI_H

#include <stddef.h>

extern const char serve_openapi_json[];     /* NUL-terminated */
extern const size_t serve_openapi_json_len; /* without the NUL */

#endif
