/*
 * json_raw.h — finds the exact bytes of one top-level member of a JSON object text.
 *
 * The sender's API must keep an event's `data` byte for byte (SPEC §1: the envelope carries
 * the application's bytes, so a receiver verifying the signature sees what the application
 * sent), while jansson, which validates the body, re-encodes whatever it prints. So the API
 * validates with jansson and then takes the member's raw bytes from the text with this
 * scanner. Pure: no allocation, no libevent, no jansson; fuzzed by fuzz/fuzz_api_body.c.
 */
#ifndef HOOKD_JSON_RAW_H
#define HOOKD_JSON_RAW_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Finds the top-level member named key (compared as written, byte for byte) of the object
 * text s (len bytes). On success points *value into s at the member's value and sets
 * *value_len to its length, whitespace around it excluded, and returns true.
 *
 * Meant for text a JSON parser already accepted; on any other input it never reads outside
 * s[0..len) and may return either answer. Returns false when the member is absent or its
 * name is spelled with escapes ("d\u0061ta"): the caller then falls back to re-encoding.
 */
bool json_raw_member(const char *s, size_t len, const char *key, const char **value,
                     size_t *value_len);

#endif
