/* pool.h - fixed-size buffer blocks, allocated on first need up to a maximum count and reused
 * most-recently-freed first (warm in cache), so steady-state serving never allocates. */
#ifndef MOTE_POOL_H
#define MOTE_POOL_H

#include <stddef.h>

#include "mote.h"

typedef struct pool_block pool_block;

typedef struct pool {
    mote_allocator alloc;
    size_t block_size;
    size_t max_blocks, allocated;
    pool_block *free_list;
    pool_block *all;            /* every block allocated, for pool_free */
    size_t free_count;          /* blocks on the free list */
    size_t low_water;           /* the fewest on it since the last pool_trim() */
} pool;

void pool_init(pool *p, mote_allocator alloc, size_t block_size, size_t max_blocks);

/* A block of block_size bytes, aligned for any object; NULL when out of blocks or memory. */
char *pool_get(pool *p);
void pool_put(pool *p, char *block);

/* Allocates every block up to the maximum now, onto the free list; MOTE_ENOMEM if one fails. */
int pool_fill(pool *p);

/* Frees the blocks that stayed on the free list since the last call (its low-water mark):
 * called once per idle period, it gives back what a burst left unused. The count freed. */
size_t pool_trim(pool *p);

/* The bytes one block takes, its bookkeeping included. */
size_t pool_block_cost(const pool *p);

/* Frees every block; none may be in use. */
void pool_free(pool *p);

#endif
