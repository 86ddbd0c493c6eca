/* selfsigned.h - a throw-away certificate for the sample server when no --cert/--key is given. */
#ifndef MOTE_SAMPLE_SELFSIGNED_H
#define MOTE_SAMPLE_SELFSIGNED_H

#include <stddef.h>

/* Creates a self-signed ECDSA P-256 certificate (CN=localhost, subjectAltName DNS:localhost,
 * IP:127.0.0.1, IP:::1; valid from yesterday for 365 days; random serial; SHA-256 signature;
 * basicConstraints CA:FALSE, keyUsage digitalSignature, extendedKeyUsage serverAuth) and its key
 * as NUL-terminated PEM strings allocated with malloc (caller frees), plus the certificate's
 * SHA-256 fingerprint over its DER encoding as upper-case hex pairs joined by ':' (95 chars +
 * NUL) in fingerprint. Returns 0, or -1 with one line in err. */
int selfsigned_create(char **cert_pem, char **key_pem, char fingerprint[96], char *err,
                      size_t err_len);

#endif
