/* errors.c - mote_strerror. */
#include "mote.h"

const char *mote_strerror(int err)
{
    switch (err) {
    case MOTE_OK: return "success";
    case MOTE_ENOMEM: return "out of memory";
    case MOTE_EINVAL: return "invalid argument";
    case MOTE_EAGAIN: return "send buffer full, try again when it drains";
    case MOTE_ESTATE: return "not allowed in the current state";
    case MOTE_ETOOBIG: return "larger than the configured buffer";
    case MOTE_ESYS: return "system call failed";
    case MOTE_EADDR: return "bad or unavailable address";
    case MOTE_ETLS: return "TLS set-up failed";
    case MOTE_EEXIST: return "route already registered";
    case MOTE_ELIMIT: return "configured limit reached";
    case MOTE_ENOTSUP: return "not supported by this build";
    case MOTE_ECLOSED: return "connection closed";
    default: return "unknown error";
    }
}
