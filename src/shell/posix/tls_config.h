/* tls_config.h - a listener's copy of the mote_tls_config it was opened with, so that
 * mote_server_reload_tls() can load the same files again after the caller's strings are gone. */
#ifndef MOTE_TLS_CONFIG_H
#define MOTE_TLS_CONFIG_H

#include "mote.h"

/* The configuration with its strings and certs array in one block from `a`, or NULL. */
mote_tls_config *tls_config_copy(const mote_tls_config *cfg, const mote_allocator *a);
void tls_config_free(mote_tls_config *copy, const mote_allocator *a);

#endif
