/* encoding.h - Accept-Encoding (RFC 9110 §12.5.3): which of the content codings a resource has
 * the client takes, by its q-values. Sans-I/O. */
#ifndef MOTE_ENCODING_H
#define MOTE_ENCODING_H

/* Content codings, as bits of a set. */
enum {
    ENC_IDENTITY = 1u << 0,
    ENC_GZIP = 1u << 1,   /* also "x-gzip" in the request */
    ENC_BR = 1u << 2
};

/* The coding to send, one of the ENC_* in `have`: the acceptable one with the highest q-value,
 * preferring br, then gzip, then identity among equals; 0 when none of them is acceptable (406).
 * `value` NULL means no Accept-Encoding field: identity if `have` holds it, else any coding.
 * An empty field, or one that names none of `have`, leaves identity acceptable unless it says
 * "identity;q=0" or "*;q=0" (without an identity entry). A malformed element is skipped. */
unsigned encoding_choose(const char *value, unsigned have);

#endif
