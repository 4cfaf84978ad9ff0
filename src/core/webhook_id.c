/* webhook_id.c — webhook ids: canonical lowercase UUIDs, new ones v4 from the CSPRNG. */
#include "hookd.h"

#include <openssl/rand.h>

#include <string.h>

int hookd_id_new(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[16];
    size_t pos = 0;

    out[0] = '\0';
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return HOOKD_EIO;
    bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40); /* version 4 */
    bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    for (size_t i = 0; i < sizeof bytes; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[pos++] = '-';
        out[pos++] = hex[bytes[i] >> 4];
        out[pos++] = hex[bytes[i] & 0x0f];
    }
    out[pos] = '\0';
    return HOOKD_OK;
}

bool hookd_id_valid(const char *text)
{
    if (text == NULL || strlen(text) != HOOKD_ID_LEN)
        return false;
    for (size_t i = 0; i < HOOKD_ID_LEN; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}
