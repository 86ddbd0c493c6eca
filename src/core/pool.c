/* pool.c - see pool.h. */
#include "core/pool.h"

#include <stdalign.h>
#include <stddef.h>

struct pool_block {
    pool_block *next_free;
    pool_block *next_all, *prev_all;
    alignas(max_align_t) char data[];
};

void pool_init(pool *p, mote_allocator alloc, size_t block_size, size_t max_blocks)
{
    p->alloc = alloc;
    p->block_size = block_size;
    p->max_blocks = max_blocks;
    p->allocated = 0;
    p->free_list = NULL;
    p->all = NULL;
    p->free_count = p->low_water = 0;
}

static pool_block *new_block(pool *p)
{
    pool_block *b;
    if (p->allocated == p->max_blocks) return NULL;
    b = p->alloc.alloc(p->alloc.ctx, offsetof(pool_block, data) + p->block_size);
    if (!b) return NULL;
    b->next_all = p->all;
    b->prev_all = NULL;
    if (p->all) p->all->prev_all = b;
    p->all = b;
    p->allocated++;
    return b;
}

char *pool_get(pool *p)
{
    pool_block *b = p->free_list;
    if (b) {
        p->free_list = b->next_free;
        if (--p->free_count < p->low_water) p->low_water = p->free_count;
        return b->data;
    }
    b = new_block(p);
    return b ? b->data : NULL;
}

void pool_put(pool *p, char *data)
{
    pool_block *b = (pool_block *)(void *)(data - offsetof(pool_block, data));
    b->next_free = p->free_list;
    p->free_list = b;
    p->free_count++;
}

static void release_block(pool *p, pool_block *b)
{
    if (b->prev_all) b->prev_all->next_all = b->next_all;
    else p->all = b->next_all;
    if (b->next_all) b->next_all->prev_all = b->prev_all;
    p->allocated--;
    p->alloc.free(p->alloc.ctx, b);
}

size_t pool_trim(pool *p)
{
    size_t n = p->low_water, i;
    /* the coldest are the last on the list (it is most-recently-freed first): keep the head */
    pool_block **link = &p->free_list;
    for (i = 0; i < p->free_count - n; i++) link = &(*link)->next_free;
    while (*link) {
        pool_block *b = *link;
        *link = b->next_free;
        release_block(p, b);
    }
    p->free_count -= n;
    p->low_water = p->free_count;
    return n;
}

int pool_fill(pool *p)
{
    while (p->allocated < p->max_blocks) {
        pool_block *b = new_block(p);
        if (!b) return MOTE_ENOMEM;
        pool_put(p, b->data);
    }
    return MOTE_OK;
}

size_t pool_block_cost(const pool *p)
{
    return offsetof(pool_block, data) + p->block_size;
}

void pool_free(pool *p)
{
    pool_block *b = p->all;
    while (b) {
        pool_block *next = b->next_all;
        p->alloc.free(p->alloc.ctx, b);
        b = next;
    }
    p->all = p->free_list = NULL;
    p->allocated = p->free_count = p->low_water = 0;
}
