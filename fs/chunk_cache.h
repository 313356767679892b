/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chunk_cache.h — the verified chunks a volume's reads have read lately,
 * kept in memory, least recently used first out.
 *
 * A chunk's id names its bytes (content addressing), so an entry never goes
 * stale: no write, truncation or snapshot has to invalidate anything.  What
 * enters was read through chunk_read(), which checks the hash, so a hit
 * returns verified bytes without reading or hashing the file again.
 *
 * The cache holds no more than the budget its caller gives each call: the
 * volume lets it use what its write buffers leave of the dirty limit, so the
 * two together stay within that limit (vfs_internal.h invariant 5).
 * Thread-safe: one mutex of its own, never held across I/O.
 */
#ifndef VOLFS_FS_CHUNK_CACHE_H
#define VOLFS_FS_CHUNK_CACHE_H

#include <stdint.h>

#include "chunk.h"

struct chunk_cache;

/* An empty cache, or NULL (-ENOMEM). */
struct chunk_cache *chunk_cache_new(void);
void chunk_cache_free(struct chunk_cache *cc);

/*
 * Copies bytes [@from, @from + @count) of chunk @id (@len bytes) into @dst:
 * from the cache, or else from its file (chunk_read(): -ENOENT, -EIO), and
 * then keeps the chunk if it fits in @budget bytes of cache, dropping the
 * least recently used entries to make room.
 */
int chunk_cache_read(struct chunk_cache *cc, struct chunk_store *cs, const struct idx_chunk_id *id,
		     uint32_t len, uint32_t from, uint32_t count, void *dst, uint64_t budget);

/* Drops least recently used entries until the cache holds at most @budget bytes. */
void chunk_cache_shrink(struct chunk_cache *cc, uint64_t budget);

/* Empties the cache if no read has used it for @idle_ms: an idle volume keeps no memory. */
void chunk_cache_drop_idle(struct chunk_cache *cc, unsigned idle_ms);

/* The bytes the cache holds now. */
uint64_t chunk_cache_bytes(struct chunk_cache *cc);

#endif
