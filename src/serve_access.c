/*
 * serve_access.c — permission names and masks, account ids (see serve_access.h). The
 * table below is the one list of §6's permissions: the API's route table names bits, keys
 * store names, and both go through here.
 */
#include "serve_access.h"

#include <string.h>

static const struct {
    unsigned bit;
    const char *name;
} permissions[] = {
    {SERVE_PERM_DESTINATIONS_CREATE, "destinations.create"},
    {SERVE_PERM_DESTINATIONS_READ, "destinations.read"},
    {SERVE_PERM_DESTINATIONS_UPDATE, "destinations.update"},
    {SERVE_PERM_DESTINATIONS_ACTIVATE, "destinations.activate"},
    {SERVE_PERM_DESTINATIONS_DELETE, "destinations.delete"},
    {SERVE_PERM_DESTINATIONS_SECRET, "destinations.secret"},
    {SERVE_PERM_EVENTS_CREATE, "events.create"},
    {SERVE_PERM_EVENTS_READ, "events.read"},
    {SERVE_PERM_WEBHOOKS_READ, "webhooks.read"},
    {SERVE_PERM_WEBHOOKS_RETRY, "webhooks.retry"},
    {SERVE_PERM_ACCESS_KEYS_MANAGE, "access_keys.manage"},
    {SERVE_PERM_ACCOUNTS_MANAGE, "accounts.manage"},
    {SERVE_PERM_STAR | SERVE_PERM_ALL, "*"},
};
#define PERMISSION_COUNT (sizeof permissions / sizeof permissions[0])

const char *serve_permission_name(unsigned bit)
{
    for (size_t i = 0; i < PERMISSION_COUNT; i++)
        if (permissions[i].bit == bit || (bit == SERVE_PERM_STAR && permissions[i].name[0] == '*'))
            return permissions[i].name;
    return NULL;
}

/* The bits of one name, 0 when unknown. */
static unsigned permission_bits(const char *name)
{
    for (size_t i = 0; i < PERMISSION_COUNT; i++)
        if (strcmp(permissions[i].name, name) == 0)
            return permissions[i].bit;
    return 0;
}

bool serve_permissions_parse(const json_t *v, unsigned *mask, size_t *bad)
{
    *mask = 0;
    *bad = 0;
    if (!json_is_array(v))
        return false;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *name = json_array_get(v, i);
        unsigned bits = json_is_string(name) ? permission_bits(json_string_value(name)) : 0;
        if (bits == 0) {
            *bad = i;
            return false;
        }
        *mask |= bits;
    }
    return true;
}

unsigned serve_permissions_from_text(const char *json_text)
{
    json_t *v = json_text ? json_loads(json_text, 0, NULL) : NULL;
    unsigned mask = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *name = json_array_get(v, i);
        if (json_is_string(name))
            mask |= permission_bits(json_string_value(name));
    }
    json_decref(v);
    return mask;
}

bool serve_permissions_hold(unsigned mask, unsigned need)
{
    return (mask & need) == need;
}

bool serve_account_id_valid(const char *text)
{
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len > 64)
        return false;
    return strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}
