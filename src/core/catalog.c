/*
 * catalog.c — the event-type catalog (SPEC §1): which event types exist and which data
 * attributes each requires. The default is built in; an operator may replace or extend it
 * from a JSON file. The catalog is immutable once built, so threads may share it.
 */
#include "hookd.h"
#include "core_alloc.h"
#include "core_name.h"

#include <jansson.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_MAX_TYPES 1000       /* event types in one catalog */
#define CATALOG_MAX_FIELDS 100       /* fields in one event type */
#define CATALOG_FILE_MAX (1 << 20)   /* bytes in a catalog file */
#define CATALOG_DESCRIPTION_MAX 1024 /* bytes in a description */

enum field_kind { KIND_NUMBER, KIND_STRING, KIND_E164, KIND_BOOLEAN, KIND_OBJECT, KIND_ARRAY };

static const char *const kind_names[] = {"number", "string", "e164", "boolean", "object", "array"};

struct catalog_field {
    char *name;           /* attribute of data, e.g. "calendar_id" */
    enum field_kind kind; /* what its value must be */
    bool optional;        /* may be absent (or null) */
};

struct catalog_type {
    char *type;                   /* event type, e.g. "events.created" */
    char *description;            /* one line for people; may be "" */
    struct catalog_field *fields; /* in declaration order */
    size_t field_count;
};

struct hookd_catalog {
    struct catalog_type *types; /* in declaration order, names unique */
    size_t count;
};

/* Writes a formatted reason into buf when the caller gave room for one. */
static void say(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    if (buf == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

static void type_clear(struct catalog_type *t)
{
    for (size_t i = 0; i < t->field_count; i++)
        free(t->fields[i].name);
    free(t->fields);
    free(t->type);
    free(t->description);
    memset(t, 0, sizeof *t);
}

void hookd_catalog_free(hookd_catalog *catalog)
{
    if (catalog == NULL)
        return;
    for (size_t i = 0; i < catalog->count; i++)
        type_clear(&catalog->types[i]);
    free(catalog->types);
    free(catalog);
}

static struct catalog_type *find_type(const hookd_catalog *catalog, const char *type)
{
    for (size_t i = 0; i < catalog->count; i++)
        if (strcmp(catalog->types[i].type, type) == 0)
            return &catalog->types[i];
    return NULL;
}

/* Parses "number", "string?", … into kind and optional. */
static bool parse_kind(const char *text, enum field_kind *kind, bool *optional)
{
    size_t len = strlen(text);
    *optional = len > 0 && text[len - 1] == '?';
    if (*optional)
        len--;
    for (size_t k = 0; k < sizeof kind_names / sizeof kind_names[0]; k++) {
        if (strlen(kind_names[k]) == len && strncmp(kind_names[k], text, len) == 0) {
            *kind = (enum field_kind)k;
            return true;
        }
    }
    return false;
}

/* Fills t from a spec of the file's form; t owns copies of everything, also of what it holds
 * after a failure (type_clear frees it). HOOKD_ENOMEM, or HOOKD_EINVAL for a bad kind. */
static int type_from_spec(struct catalog_type *t, const char *type, const char *description,
                          const char *const *field_specs, size_t field_count)
{
    t->type = core_strdup(type);
    t->description = core_strdup(description);
    t->fields = core_calloc(field_count, sizeof *t->fields);
    if (t->type == NULL || t->description == NULL || t->fields == NULL)
        return HOOKD_ENOMEM;
    for (size_t i = 0; i < field_count; i++) {
        struct catalog_field *f = &t->fields[i];
        f->name = core_strdup(field_specs[2 * i]);
        if (f->name == NULL)
            return HOOKD_ENOMEM;
        t->field_count++;
        if (!parse_kind(field_specs[2 * i + 1], &f->kind, &f->optional))
            return HOOKD_EINVAL;
    }
    return HOOKD_OK;
}

hookd_catalog *hookd_catalog_default(void)
{
    static const char *const scheduled[] = {"id",          "number",  "event_id",       "number",
                                            "calendar_id", "number",  "email",          "string",
                                            "name",        "string?", "contact_number", "e164?"};
    static const char *const event_fields[] = {"id", "number", "calendar_id", "number"};
    static const struct {
        const char *type, *description;
        const char *const *fields;
        size_t field_count;
    } defaults[] = {
        {"meeting_links.scheduled", "a meeting was scheduled through a meeting link", scheduled, 6},
        {"events.created", "a calendar event was created", event_fields, 2},
        {"events.updated", "a calendar event was updated", event_fields, 2},
        {"events.deleted", "a calendar event was canceled", event_fields, 2},
        {"events.rescheduled", "a calendar event was moved to another time", event_fields, 2},
        {"events.reassigned", "a calendar event was given to another host", event_fields, 2},
    };
    size_t n = sizeof defaults / sizeof defaults[0];
    hookd_catalog *catalog = core_calloc(1, sizeof *catalog);

    if (catalog == NULL)
        return NULL;
    catalog->types = core_calloc(n, sizeof *catalog->types);
    if (catalog->types == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        /* Counted first, so that hookd_catalog_free also frees a half-built type. */
        catalog->count++;
        if (type_from_spec(&catalog->types[i], defaults[i].type, defaults[i].description,
                           defaults[i].fields, defaults[i].field_count) != HOOKD_OK)
            goto fail;
    }
    return catalog;
fail:
    hookd_catalog_free(catalog);
    return NULL;
}

/* Reads one entry of "event_types" into t; on failure writes why into err ("out of memory"
 * included) and leaves in t what it built, for type_clear. */
static bool type_from_json(struct catalog_type *t, json_t *entry, size_t index, char *err,
                           size_t errlen)
{
    json_t *type = json_object_get(entry, "type");
    json_t *description = json_object_get(entry, "description");
    json_t *fields = json_object_get(entry, "fields");
    const char *key;
    json_t *value;

    if (!json_is_object(entry)) {
        say(err, errlen, "event_types[%zu] must be an object", index);
        return false;
    }
    if (!json_is_string(type) || !core_name_ok(json_string_value(type))) {
        say(err, errlen,
            "event_types[%zu].type must be a name of letters, digits, '_', '.' "
            "or '-' (at most %d bytes)",
            index, CORE_NAME_MAX);
        return false;
    }
    if (description != NULL && !json_is_null(description) &&
        (!json_is_string(description) ||
         json_string_length(description) > CATALOG_DESCRIPTION_MAX)) {
        say(err, errlen, "event_types[%zu].description must be a string of at most %d bytes", index,
            CATALOG_DESCRIPTION_MAX);
        return false;
    }
    if (fields != NULL && !json_is_null(fields) && !json_is_object(fields)) {
        say(err, errlen, "event_types[%zu].fields must be an object", index);
        return false;
    }
    if (json_object_size(fields) > CATALOG_MAX_FIELDS) {
        say(err, errlen, "event_types[%zu].fields has more than %d fields", index,
            CATALOG_MAX_FIELDS);
        return false;
    }
    t->type = core_strdup(json_string_value(type));
    t->description = core_strdup(json_is_string(description) ? json_string_value(description) : "");
    t->fields = core_calloc(json_object_size(fields), sizeof *t->fields);
    if (t->type == NULL || t->description == NULL || t->fields == NULL)
        goto out_of_memory;
    json_object_foreach(fields, key, value)
    {
        struct catalog_field *f = &t->fields[t->field_count];
        if (!core_name_ok(key)) {
            say(err, errlen, "event_types[%zu].fields: bad field name", index);
            return false;
        }
        if (!json_is_string(value) ||
            !parse_kind(json_string_value(value), &f->kind, &f->optional)) {
            say(err, errlen,
                "event_types[%zu].fields.%s must be one of number, string, e164, boolean, "
                "object, array (with a trailing '?' when optional)",
                index, key);
            return false;
        }
        f->name = core_strdup(key);
        if (f->name == NULL)
            goto out_of_memory;
        t->field_count++;
    }
    return true;
out_of_memory:
    say(err, errlen, "out of memory");
    return false;
}

/* Reads a whole file of at most CATALOG_FILE_MAX bytes; malloc'd, NUL-terminated. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *file = fopen(path, "rb");
    char *text;
    size_t n;

    if (file == NULL) {
        say(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    text = core_calloc(CATALOG_FILE_MAX + 1, 1);
    if (text == NULL) {
        say(err, errlen, "out of memory");
        goto fail;
    }
    n = fread(text, 1, CATALOG_FILE_MAX + 1, file);
    if (ferror(file)) {
        say(err, errlen, "%s: read error", path);
        goto fail;
    }
    if (n > CATALOG_FILE_MAX) {
        say(err, errlen, "%s: larger than %d bytes", path, CATALOG_FILE_MAX);
        goto fail;
    }
    fclose(file);
    text[n] = '\0';
    *len = n;
    return text;
fail:
    fclose(file);
    free(text);
    return NULL;
}

/* True when an entry of the file before index already declares type. */
static bool appears_earlier(json_t *types, size_t index, const char *type)
{
    for (size_t i = 0; i < index; i++) {
        const char *earlier = json_string_value(json_object_get(json_array_get(types, i), "type"));
        if (earlier != NULL && strcmp(earlier, type) == 0)
            return true;
    }
    return false;
}

/* The parsed JSON of the catalog file at path, or NULL with why in err. */
static json_t *catalog_file_json(const char *path, char *err, size_t errlen)
{
    json_error_t error;
    size_t len;
    char *text;
    json_t *root;

    if (path == NULL) {
        say(err, errlen, "no catalog file given");
        return NULL;
    }
    text = read_file(path, &len, err, errlen);
    if (text == NULL)
        return NULL;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
    free(text);
    if (root == NULL) {
        if (core_json_error(&error) == HOOKD_ENOMEM)
            say(err, errlen, "out of memory");
        else
            say(err, errlen, "%s:%d:%d: %s", path, error.line, error.column, error.text);
    }
    return root;
}

/* The catalog the file's entries go into (the defaults when extend, else empty), with room
 * for the defaults plus every file entry (replacements only reuse slots). NULL when out of
 * memory. */
static hookd_catalog *catalog_base(bool extend, size_t entries)
{
    hookd_catalog *catalog = extend ? hookd_catalog_default() : core_calloc(1, sizeof *catalog);
    struct catalog_type *grown;

    if (catalog == NULL)
        return NULL;
    grown = core_calloc(catalog->count + entries, sizeof *grown);
    if (grown == NULL) {
        hookd_catalog_free(catalog);
        return NULL;
    }
    if (catalog->count != 0)
        memcpy(grown, catalog->types, catalog->count * sizeof *grown);
    free(catalog->types);
    catalog->types = grown;
    return catalog;
}

/* Adds (or replaces) each entry of types in catalog; false with why in err on the first
 * bad or repeated entry. */
static bool catalog_add_types(hookd_catalog *catalog, json_t *types, const char *path, char *err,
                              size_t errlen)
{
    size_t index;
    json_t *entry;

    json_array_foreach(types, index, entry)
    {
        struct catalog_type loaded;
        struct catalog_type *existing;
        char why[256];

        memset(&loaded, 0, sizeof loaded);
        if (!type_from_json(&loaded, entry, index, why, sizeof why)) {
            say(err, errlen, "%s: %s", path, why);
            type_clear(&loaded);
            return false;
        }
        existing = find_type(catalog, loaded.type);
        if (appears_earlier(types, index, loaded.type)) {
            say(err, errlen, "%s: event type '%s' appears twice", path, loaded.type);
            type_clear(&loaded);
            return false;
        }
        if (existing != NULL) {
            type_clear(existing);
            *existing = loaded;
        } else {
            catalog->types[catalog->count++] = loaded;
        }
    }
    return true;
}

hookd_catalog *hookd_catalog_load_file(const char *path, bool extend, char *err, size_t errlen)
{
    hookd_catalog *catalog = NULL;
    json_t *root, *types;

    say(err, errlen, "%s", "");
    root = catalog_file_json(path, err, errlen);
    if (root == NULL)
        return NULL;
    types = json_object_get(root, "event_types");
    if (!json_is_array(types)) {
        say(err, errlen, "%s: expected {\"event_types\":[…]}", path);
        goto fail;
    }
    if (json_array_size(types) > CATALOG_MAX_TYPES) {
        say(err, errlen, "%s: more than %d event types", path, CATALOG_MAX_TYPES);
        goto fail;
    }
    catalog = catalog_base(extend, json_array_size(types));
    if (catalog == NULL) {
        say(err, errlen, "out of memory");
        goto fail;
    }
    if (!catalog_add_types(catalog, types, path, err, errlen))
        goto fail;
    json_decref(root);
    return catalog;
fail:
    json_decref(root);
    hookd_catalog_free(catalog);
    return NULL;
}

/* True when text is E.164: '+', a nonzero digit, then 1 to 14 more digits. */
static bool e164_ok(const char *text)
{
    size_t len = strlen(text);
    if (len < 3 || len > 16 || text[0] != '+' || text[1] < '1' || text[1] > '9')
        return false;
    for (size_t i = 2; i < len; i++)
        if (text[i] < '0' || text[i] > '9')
            return false;
    return true;
}

static bool kind_matches(enum field_kind kind, json_t *value)
{
    switch (kind) {
    case KIND_NUMBER:
        return json_is_number(value);
    case KIND_STRING:
        return json_is_string(value);
    case KIND_E164:
        return json_is_string(value) && e164_ok(json_string_value(value));
    case KIND_BOOLEAN:
        return json_is_boolean(value);
    case KIND_OBJECT:
        return json_is_object(value);
    case KIND_ARRAY:
        return json_is_array(value);
    }
    return false;
}

int hookd_catalog_validate(const hookd_catalog *catalog, const char *event, const char *data,
                           size_t data_len, char *why, size_t whylen)
{
    const struct catalog_type *type;
    json_error_t error;
    json_t *parsed;
    int rc = HOOKD_OK;

    say(why, whylen, "%s", "");
    if (catalog == NULL || event == NULL || data == NULL) {
        say(why, whylen, "missing catalog, event or data");
        return HOOKD_EINVAL;
    }
    type = find_type(catalog, event);
    if (type == NULL) {
        say(why, whylen, "unknown event type '%.128s'", event);
        return HOOKD_EEVENTTYPE;
    }
    /* jansson skips a raw NUL byte after a number or literal (akheron/jansson#331); it is
     * not JSON, and hookd_envelope_build refuses it too. */
    if (memchr(data, '\0', data_len) != NULL) {
        say(why, whylen, "data is not valid JSON: NUL byte");
        return HOOKD_EJSON;
    }
    parsed = json_loadb(data, data_len,
                        JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_DECODE_ANY, &error);
    if (parsed == NULL) {
        rc = core_json_error(&error);
        if (rc == HOOKD_ENOMEM)
            say(why, whylen, "out of memory");
        else
            say(why, whylen, "data is not valid JSON: %s", error.text);
        return rc;
    }
    if (!json_is_object(parsed)) {
        say(why, whylen, "data must be a JSON object");
        rc = HOOKD_EENVELOPE;
        goto done;
    }
    for (size_t i = 0; i < type->field_count; i++) {
        const struct catalog_field *f = &type->fields[i];
        json_t *value = json_object_get(parsed, f->name);
        if (value == NULL || json_is_null(value)) {
            if (f->optional)
                continue;
            say(why, whylen, "data.%s is required (%s)", f->name, kind_names[f->kind]);
            rc = HOOKD_EDATA;
            goto done;
        }
        if (!kind_matches(f->kind, value)) {
            if (f->kind == KIND_E164)
                say(why, whylen, "data.%s must be an E.164 phone number such as +14155550123",
                    f->name);
            else
                say(why, whylen, "data.%s must be %s %s", f->name,
                    f->kind == KIND_OBJECT || f->kind == KIND_ARRAY ? "an" : "a",
                    kind_names[f->kind]);
            rc = HOOKD_EDATA;
            goto done;
        }
    }
done:
    json_decref(parsed);
    return rc;
}

/* {"type","description","fields":{name: kind}} for one type; NULL when out of memory. */
static json_t *type_to_json(const struct catalog_type *t)
{
    json_t *fields = json_object();

    if (fields == NULL)
        return NULL;
    for (size_t j = 0; j < t->field_count; j++) {
        char kind[16];
        snprintf(kind, sizeof kind, "%s%s", kind_names[t->fields[j].kind],
                 t->fields[j].optional ? "?" : "");
        /* set_new takes the value's reference even when it fails (or the value is NULL). */
        if (json_object_set_new(fields, t->fields[j].name, json_string(kind)) != 0) {
            json_decref(fields);
            return NULL;
        }
    }
    /* "o" hands fields over to the packed object, also when packing fails. */
    return json_pack("{s:s, s:s, s:o}", "type", t->type, "description", t->description, "fields",
                     fields);
}

char *hookd_catalog_to_json(const hookd_catalog *catalog)
{
    json_t *root = json_object(), *list = json_array();
    char *text = NULL;

    if (root == NULL || list == NULL || json_object_set(root, "data", list) != 0)
        goto done;
    for (size_t i = 0; catalog != NULL && i < catalog->count; i++)
        if (json_array_append_new(list, type_to_json(&catalog->types[i])) != 0)
            goto done;
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
done:
    json_decref(list);
    json_decref(root);
    return text;
}
