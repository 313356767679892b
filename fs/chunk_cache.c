/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * chunk_cache.c — verified chunks in memory (see chunk_cache.h).
 *
 * A hash table of entries by id (ids are hashes already: their first bytes
 * spread evenly), and a list in order of use, most recent first.  An entry's
 * bytes are immutable once it is in the table, but an entry may be dropped
 * as soon as the lock is let go: so a hit copies its bytes out with the lock
 * held.  A miss reads the file without the lock; two readers missing the
 * same chunk both read it, and the second to come back keeps its copy out.
 */
#include "chunk_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pages.h"

struct entry {
	struct idx_chunk_id id;
	uint32_t len;
	uint8_t *data;                /* pages_alloc(size_of(len)) */
	struct entry *hnext;          /* in its bucket */
	struct entry *newer, *older;  /* in the order of use */
};

struct chunk_cache {
	pthread_mutex_t lock;
	struct entry **table;
	size_t nbuckets, count;       /* nbuckets: a power of two */
	uint64_t bytes;               /* of the entries' pages */
	struct entry *newest, *oldest;
	uint64_t last_use_ms;         /* now_ms() of the last read */
};

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* What an entry of @len bytes costs: whole pages. */
static size_t size_of(uint32_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (len + page - 1) / page * page;
}

static size_t bucket_of(const struct chunk_cache *cc, const struct idx_chunk_id *id)
{
	uint64_t h;
	memcpy(&h, id->bytes, sizeof(h));
	return (size_t)h & (cc->nbuckets - 1);
}

struct chunk_cache *chunk_cache_new(void)
{
	struct chunk_cache *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return NULL;
	cc->nbuckets = 1024;
	cc->table = calloc(cc->nbuckets, sizeof(*cc->table));
	if (!cc->table) {
		free(cc);
		return NULL;
	}
	pthread_mutex_init(&cc->lock, NULL);
	return cc;
}

static struct entry **slot_of(struct chunk_cache *cc, const struct idx_chunk_id *id)
{
	struct entry **p = &cc->table[bucket_of(cc, id)];
	while (*p && memcmp(&(*p)->id, id, sizeof(*id)) != 0)
		p = &(*p)->hnext;
	return p;
}

static void unlink_use(struct chunk_cache *cc, struct entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		cc->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		cc->oldest = e->newer;
}

static void link_newest(struct chunk_cache *cc, struct entry *e)
{
	e->newer = NULL;
	e->older = cc->newest;
	if (cc->newest)
		cc->newest->newer = e;
	else
		cc->oldest = e;
	cc->newest = e;
}

static void drop(struct chunk_cache *cc, struct entry *e)
{
	*slot_of(cc, &e->id) = e->hnext;
	unlink_use(cc, e);
	cc->count--;
	cc->bytes -= size_of(e->len);
	pages_free(e->data, size_of(e->len));
	free(e);
}

static void shrink_locked(struct chunk_cache *cc, uint64_t budget)
{
	while (cc->bytes > budget)
		drop(cc, cc->oldest);
}

/* Doubles the table when it holds more entries than buckets (keeps it if memory is short). */
static void grow(struct chunk_cache *cc)
{
	size_t n = cc->nbuckets * 2;
	struct entry **table = calloc(n, sizeof(*table));
	if (!table)
		return;
	struct entry **old = cc->table;
	size_t oldn = cc->nbuckets;
	cc->table = table;
	cc->nbuckets = n;
	for (size_t i = 0; i < oldn; i++)
		for (struct entry *e = old[i], *next; e; e = next) {
			next = e->hnext;
			size_t b = bucket_of(cc, &e->id);
			e->hnext = table[b];
			table[b] = e;
		}
	free(old);
}

void chunk_cache_free(struct chunk_cache *cc)
{
	if (!cc)
		return;
	shrink_locked(cc, 0);
	free(cc->table);
	pthread_mutex_destroy(&cc->lock);
	free(cc);
}

int chunk_cache_read(struct chunk_cache *cc, struct chunk_store *cs, const struct idx_chunk_id *id,
		     uint32_t len, uint32_t from, uint32_t count, void *dst, uint64_t budget)
{
	if (from > len || count > len - from)
		return -EINVAL;
	pthread_mutex_lock(&cc->lock);
	cc->last_use_ms = now_ms();
	struct entry *e = *slot_of(cc, id);
	if (e && e->len == len) {
		unlink_use(cc, e);
		link_newest(cc, e);
		memcpy(dst, e->data + from, count);
		pthread_mutex_unlock(&cc->lock);
		return 0;
	}
	pthread_mutex_unlock(&cc->lock);

	/*
	 * A chunk that cannot be kept is read into a heap scratch buffer: a
	 * fresh mapping per read (page faults, and a TLB flush at munmap) is
	 * what made random reads slow before (docs/performance.md).
	 */
	size_t size = size_of(len);
	bool keep = size <= budget;
	uint8_t *data = keep ? pages_alloc(size) : malloc(len);
	if (!data)
		return -ENOMEM;
	int r = chunk_read(cs, id, data, len);
	if (r == 0)
		memcpy(dst, data + from, count);
	if (r < 0 || !keep) {
		if (keep)
			pages_free(data, size);
		else
			free(data);
		return r;
	}
	e = malloc(sizeof(*e));
	pthread_mutex_lock(&cc->lock);
	if (e && !*slot_of(cc, id)) {
		shrink_locked(cc, budget - size);
		/* at its bucket's head: shrinking may have changed the chain */
		size_t b = bucket_of(cc, id);
		*e = (struct entry){ .id = *id, .len = len, .data = data, .hnext = cc->table[b] };
		cc->table[b] = e;
		link_newest(cc, e);
		cc->count++;
		cc->bytes += size;
		if (cc->count > cc->nbuckets)
			grow(cc);
		data = NULL;
		e = NULL;
	}
	pthread_mutex_unlock(&cc->lock);
	free(e);
	pages_free(data, size);   /* another reader kept the same chunk meanwhile */
	return 0;
}

void chunk_cache_shrink(struct chunk_cache *cc, uint64_t budget)
{
	pthread_mutex_lock(&cc->lock);
	shrink_locked(cc, budget);
	pthread_mutex_unlock(&cc->lock);
}

void chunk_cache_drop_idle(struct chunk_cache *cc, unsigned idle_ms)
{
	pthread_mutex_lock(&cc->lock);
	if (cc->bytes && now_ms() - cc->last_use_ms >= idle_ms)
		shrink_locked(cc, 0);
	pthread_mutex_unlock(&cc->lock);
}

uint64_t chunk_cache_bytes(struct chunk_cache *cc)
{
	pthread_mutex_lock(&cc->lock);
	uint64_t bytes = cc->bytes;
	pthread_mutex_unlock(&cc->lock);
	return bytes;
}
