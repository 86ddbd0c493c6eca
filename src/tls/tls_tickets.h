/* tls_tickets.h - the keys that seal session tickets, shared by every context of a listener
 * (one per event loop, and the ones a reload makes), so a client resumes whichever loop takes
 * it and across a certificate reload. A new key is made every TLS_TICKET_ROTATE_S seconds and
 * the one before it still opens tickets for as long again (they are renewed); older tickets
 * mean a full handshake. Keys are random, never derived, so a key that is gone is gone.
 *
 * Header-only, like tls_common.h: each backend seals tickets its own way with these keys. */
#ifndef MOTE_TLS_TICKETS_H
#define MOTE_TLS_TICKETS_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "mote.h"

#define TLS_TICKET_ROTATE_S (12 * 3600)

typedef struct tls_ticket_key {
    unsigned char name[16];           /* sent in the clear in each ticket, to find the key */
    unsigned char aes[32];
    unsigned char mac[32];            /* for sealing that needs a MAC key (OpenSSL's) */
} tls_ticket_key;

typedef struct tls_tickets {
    pthread_mutex_t lock;
    atomic_uint refs;
    int64_t born;                     /* when `current` was made (tls_tickets_now()) */
    int have_previous;
    tls_ticket_key current, previous;
    mote_allocator alloc;
} tls_tickets;

enum { TLS_TICKET_UNKNOWN = 0, TLS_TICKET_CURRENT = 1, TLS_TICKET_RENEW = 2 };

static inline int64_t tls_tickets_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static inline int tls_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A new store with its first key, made at `now`; NULL when memory or randomness fails. */
static inline tls_tickets *tls_tickets_create(const mote_allocator *a, int64_t now)
{
    tls_tickets *t = a->alloc(a->ctx, sizeof *t);
    if (t == NULL) return NULL;
    memset(t, 0, sizeof *t);
    if (tls_random(&t->current, sizeof t->current) < 0 || pthread_mutex_init(&t->lock, NULL)) {
        a->free(a->ctx, t);
        return NULL;
    }
    atomic_init(&t->refs, 1u);
    t->born = now;
    t->alloc = *a;
    return t;
}

static inline void tls_tickets_ref(tls_tickets *t)
{
    atomic_fetch_add(&t->refs, 1u);
}

static inline void tls_tickets_unref(tls_tickets *t)
{
    mote_allocator a;
    if (t == NULL || atomic_fetch_sub(&t->refs, 1u) != 1u) return;
    a = t->alloc;
    pthread_mutex_destroy(&t->lock);
    memset(t, 0, sizeof *t); /* no key outlives its store in memory */
    a.free(a.ctx, t);
}

/* Under the lock: a new current key once the old one has sealed for TLS_TICKET_ROTATE_S; the
 * old one opens tickets until the next rotation, so no ticket lives 2 * TLS_TICKET_ROTATE_S.
 * A failure of the random source keeps the old key a while longer. */
static inline void tls_tickets_rotate(tls_tickets *t, int64_t now)
{
    tls_ticket_key fresh;
    if (now - t->born < TLS_TICKET_ROTATE_S || tls_random(&fresh, sizeof fresh) < 0) return;
    t->have_previous = 1;
    t->previous = t->current;
    t->current = fresh;
    t->born = now;
    memset(&fresh, 0, sizeof fresh);
}

/* The key to seal a new ticket with at `now`. */
static inline void tls_tickets_current(tls_tickets *t, int64_t now, tls_ticket_key *out)
{
    pthread_mutex_lock(&t->lock);
    tls_tickets_rotate(t, now);
    *out = t->current;
    pthread_mutex_unlock(&t->lock);
}

/* The key named `name` at `now` into *out: TLS_TICKET_CURRENT, TLS_TICKET_RENEW (the previous
 * key: the ticket opens, and a new one should replace it) or TLS_TICKET_UNKNOWN. */
static inline int tls_tickets_find(tls_tickets *t, const unsigned char name[16], int64_t now,
                                   tls_ticket_key *out)
{
    int found = TLS_TICKET_UNKNOWN;
    pthread_mutex_lock(&t->lock);
    tls_tickets_rotate(t, now);
    if (memcmp(name, t->current.name, 16) == 0) {
        *out = t->current;
        found = TLS_TICKET_CURRENT;
    } else if (t->have_previous && memcmp(name, t->previous.name, 16) == 0) {
        *out = t->previous;
        found = TLS_TICKET_RENEW;
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

#endif
