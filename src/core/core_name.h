/*
 * core_name.h — what a name is in the protocol core: an event type ("events.created") or a
 * catalog field ("calendar_id"), [A-Za-z0-9_.-]{1,128}. One definition for the envelope
 * (which event types it will build) and the catalog (which names a file may declare).
 * Private to src/core/ and static, so libhookd defines no symbol outside hookd_.
 */
#ifndef HOOKD_CORE_NAME_H
#define HOOKD_CORE_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define CORE_NAME_MAX 128 /* bytes in an event type or field name */

/* True when name is [A-Za-z0-9_.-]{1,CORE_NAME_MAX}. */
static inline bool core_name_ok(const char *name)
{
    size_t len = 0;
    for (const char *c = name; *c != '\0'; c++, len++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-';
        if (!ok || len >= CORE_NAME_MAX)
            return false;
    }
    return len > 0;
}

#endif
