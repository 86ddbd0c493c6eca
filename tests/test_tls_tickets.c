/* test_tls_tickets.c - the rotation of session ticket keys (src/tls/tls_tickets.h) on a clock
 * the test moves: a key seals for TLS_TICKET_ROTATE_S, opens (asking for renewal) until the
 * next rotation, and is gone after; stores shared by reference are the same keys. */

#include "check.h"
#include "tls/tls_common.h"
#include "tls/tls_tickets.h"

#define R TLS_TICKET_ROTATE_S

static const mote_allocator heap = {tls_system_alloc, tls_system_free, NULL};

static void test_rotation(void)
{
    tls_tickets *t = tls_tickets_create(&heap, 1000);
    tls_ticket_key a, b, c, got;
    CHECK(t != NULL);
    if (!t) return;
    tls_tickets_current(t, 1000, &a);
    tls_tickets_current(t, 1000 + R - 1, &got);
    CHECK(memcmp(&a, &got, sizeof a) == 0);                      /* still sealing */
    CHECK(tls_tickets_find(t, a.name, 1000 + R - 1, &got) == TLS_TICKET_CURRENT);
    CHECK(memcmp(got.aes, a.aes, sizeof a.aes) == 0);

    tls_tickets_current(t, 1000 + R, &b);                       /* rotated */
    CHECK(memcmp(b.name, a.name, sizeof a.name) != 0);
    CHECK(memcmp(b.aes, a.aes, sizeof a.aes) != 0);
    CHECK(tls_tickets_find(t, a.name, 1000 + R, &got) == TLS_TICKET_RENEW);
    CHECK(memcmp(got.mac, a.mac, sizeof a.mac) == 0);
    CHECK(tls_tickets_find(t, b.name, 1000 + 2 * R - 1, &got) == TLS_TICKET_CURRENT);
    CHECK(tls_tickets_find(t, a.name, 1000 + 2 * R - 1, &got) == TLS_TICKET_RENEW);

    /* the next rotation: a is gone, b opens with renewal */
    CHECK(tls_tickets_find(t, a.name, 1000 + 2 * R, &got) == TLS_TICKET_UNKNOWN);
    CHECK(tls_tickets_find(t, b.name, 1000 + 2 * R, &got) == TLS_TICKET_RENEW);
    tls_tickets_current(t, 1000 + 2 * R, &c);
    CHECK(memcmp(c.name, b.name, sizeof c.name) != 0);

    /* idle for long: the first use rotates, and what sealed before the idle spell still opens
     * until the rotation after */
    CHECK(tls_tickets_find(t, c.name, 1000 + 10 * R, &got) == TLS_TICKET_RENEW);
    CHECK(tls_tickets_find(t, b.name, 1000 + 10 * R, &got) == TLS_TICKET_UNKNOWN);
    tls_tickets_unref(t);
}

static void test_shared(void)
{
    tls_tickets *t = tls_tickets_create(&heap, 0), *u = tls_tickets_create(&heap, 0);
    tls_ticket_key a, b;
    CHECK(t && u);
    if (!t || !u) return;
    tls_tickets_current(t, 5, &a);
    tls_tickets_current(u, 5, &b);
    CHECK(memcmp(a.name, b.name, sizeof a.name) != 0);          /* each store its own keys */
    CHECK(tls_tickets_find(u, a.name, 5, &b) == TLS_TICKET_UNKNOWN);
    tls_tickets_ref(t);                                          /* a second holder of t */
    tls_tickets_unref(t);
    CHECK(tls_tickets_find(t, a.name, 5, &b) == TLS_TICKET_CURRENT);
    tls_tickets_unref(t);
    tls_tickets_unref(u);
    tls_tickets_unref(NULL);
}

int main(void)
{
    test_rotation();
    test_shared();
    return check_report("test_tls_tickets");
}
