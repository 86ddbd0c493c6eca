/* timer.c - see timer.h. */
#include "core/timer.h"

#include <stddef.h>

void timer_list_init(timer_list *l, uint64_t duration)
{
    l->head.prev = l->head.next = &l->head;
    l->head.list = l;
    l->head.deadline = TIMER_NONE;
    l->duration = duration;
}

void timer_disarm(timer_node *n)
{
    if (!n->list) return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
    n->list = NULL;
}

void timer_arm(timer_list *l, timer_node *n, uint64_t now)
{
    timer_disarm(n);
    n->deadline = now + l->duration;
    n->list = l;
    n->prev = l->head.prev;
    n->next = &l->head;
    l->head.prev->next = n;
    l->head.prev = n;
}
