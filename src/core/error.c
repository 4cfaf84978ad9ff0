/* error.c — the one table of hookd error codes and their short English names. */
#include "hookd.h"

const char *hookd_strerror(int err)
{
    switch (err) {
    case HOOKD_OK:
        return "ok";
    case HOOKD_ENOMEM:
        return "out of memory";
    case HOOKD_EINVAL:
        return "invalid argument";
    case HOOKD_EMISSING:
        return "missing value";
    case HOOKD_ETIMESTAMP:
        return "malformed timestamp";
    case HOOKD_EEXPIRED:
        return "expired";
    case HOOKD_EFUTURE:
        return "timestamp in the future";
    case HOOKD_ESIGNATURE:
        return "bad signature";
    case HOOKD_ETOOBIG:
        return "too large";
    case HOOKD_EENVELOPE:
        return "malformed envelope";
    case HOOKD_EEVENTTYPE:
        return "unknown event type";
    case HOOKD_EDATA:
        return "invalid data";
    case HOOKD_EJSON:
        return "invalid JSON";
    case HOOKD_EIO:
        return "I/O error";
    case HOOKD_ESTORE:
        return "store error";
    case HOOKD_ENOTFOUND:
        return "not found";
    case HOOKD_ECONFLICT:
        return "conflict";
    case HOOKD_ESIGNATURE_FORMAT:
        return "malformed signature";
    case HOOKD_ELEASE:
        return "lease lost";
    default:
        return "unknown error";
    }
}
