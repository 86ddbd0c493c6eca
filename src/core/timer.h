/* timer.h - timeouts as FIFO lists: every entry of a list has the same duration, so appending
 * keeps the list sorted by deadline and arming, disarming and expiry are all O(1). */
#ifndef MOTE_TIMER_H
#define MOTE_TIMER_H

#include <stddef.h>
#include <stdint.h>

typedef struct timer_node {
    struct timer_node *prev, *next;
    uint64_t deadline;
    struct timer_list *list;    /* NULL when not armed */
} timer_node;

typedef struct timer_list {
    timer_node head;            /* sentinel of a circular list */
    uint64_t duration;
} timer_list;

#define TIMER_NONE UINT64_MAX

void timer_list_init(timer_list *l, uint64_t duration);

/* Arms n in l to expire `duration` after now, leaving whatever list it was in. */
void timer_arm(timer_list *l, timer_node *n, uint64_t now);
void timer_disarm(timer_node *n);

/* The earliest deadline in l, or TIMER_NONE (the sentinel's: an empty list never expires). */
static inline uint64_t timer_next(const timer_list *l)
{
    return l->head.next->deadline;
}

/* The first entry of l whose deadline is at or before now (< TIMER_NONE), or NULL. */
static inline timer_node *timer_first_expired(const timer_list *l, uint64_t now)
{
    timer_node *n = l->head.next;
    return n->deadline <= now ? n : NULL;
}

#endif
