/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfs_data.c — file data: reads, buffered writes, truncation, write-back,
 * fsync, fallocate, SEEK_DATA/SEEK_HOLE and copy_file_range.
 *
 * A file is cut into the volume's fixed blocks.  A whole-block write becomes
 * a chunk at once; a partial one goes into the block's buffer (read, then
 * modified: the block is loaded first) until write-back.  store_block() is
 * the one place where a block's bytes become an extent: a hole if all zero,
 * inline if the file is small, else a chunk.
 *
 * fsync does not write back a buffer whose change is small: the changed
 * bytes go into the journal (index/schema.h) instead, in the batch, and the
 * block is written back later (commit interval, close, dirty limit), once,
 * for all the writes it gathered.  That spares a database's page writes a
 * new chunk file per fsync.  Invariants: vfs_internal.h (7: the journal).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "array.h"
#include "chunk.h"
#include "chunk_cache.h"
#include "pages.h"
#include "vfs_internal.h"

/* Files at most this big keep their data in the index (no chunk file). */
#define INLINE_FILE_MAX IDX_INLINE_MAX
#define MAX_FILE_SIZE   ((uint64_t)INT64_MAX)

static uint64_t units512(uint64_t len)
{
	return (len + 511) / 512;
}

/* ---- buffered blocks ---------------------------------------------------- */

/* Index of the buffer of @block in @vn, or where it would go (with *found false). */
static size_t wb_search(const struct vnode *vn, uint64_t block, bool *found)
{
	size_t lo = 0, hi = vn->nwb;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (vn->wb[mid].block < block)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < vn->nwb && vn->wb[lo].block == block;
	return lo;
}

static struct wblock *wb_find(struct vnode *vn, uint64_t block)
{
	bool found;
	size_t i = vn ? wb_search(vn, block, &found) : 0;
	return vn && found ? &vn->wb[i] : NULL;
}

/* What the buffers leave of the dirty limit for the chunk cache (invariant 5). */
static uint64_t cache_budget(const struct vfs *vfs)
{
	uint64_t limit = vfs->opts.dirty_limit;
	return vfs->dirty_bytes < limit ? limit - vfs->dirty_bytes : 0;
}

/* A buffer's bytes: pages.h says why they come from mmap.  Zeroed, or NULL. */
static uint8_t *wb_data_alloc(const struct vfs *vfs)
{
	return pages_alloc(vfs->block_size);
}

static void wb_data_free(const struct vfs *vfs, uint8_t *data)
{
	pages_free(data, vfs->block_size);
}

static void wb_remove(struct vfs *vfs, struct vnode *vn, size_t i)
{
	/* its records are deleted in the batch, or left for a replay: either way not ours */
	vfs->journal_bytes -= vn->wb[i].journaled;
	if (!vn->wb[i].lent)   /* else the cleaner's pass frees them (invariant 8) */
		wb_data_free(vfs, vn->wb[i].data);
	memmove(&vn->wb[i], &vn->wb[i + 1], (vn->nwb - i - 1) * sizeof(vn->wb[0]));
	vn->nwb--;
	vfs->dirty_bytes -= vfs->block_size;
}

/* Records that bytes [@lo, @hi) of @wb changed (invariant 3). */
static void wb_mark(struct vfs *vfs, struct wblock *wb, uint32_t lo, uint32_t hi)
{
	wb->gen = ++vfs->wb_gen;
	if (wb->dirty_lo == wb->dirty_hi) {
		wb->dirty_lo = lo;
		wb->dirty_hi = hi;
		return;
	}
	if (lo < wb->dirty_lo)
		wb->dirty_lo = lo;
	if (hi > wb->dirty_hi)
		wb->dirty_hi = hi;
}

/*
 * Before a change to @wb's bytes: bytes lent to the cleaner's pass stay
 * as they are, and @wb gets a copy of its own (invariant 8).
 */
static int wb_own(const struct vfs *vfs, struct wblock *wb)
{
	if (!wb->lent)
		return 0;
	uint8_t *data = wb_data_alloc(vfs);
	if (!data)
		return -ENOMEM;
	memcpy(data, wb->data, wb->len);   /* the rest is zero on both sides */
	wb->data = data;
	wb->lent = false;
	return 0;
}

/* Does @wb hold what the index holds (invariant 3)? */
static bool wb_clean(const struct wblock *wb)
{
	return wb->dirty_lo == wb->dirty_hi && !wb->journaled;
}

/* Deletes the journal records of block @i of @vn, if it has any (invariant 7). */
static int wb_unjournal(struct vfs *vfs, struct idx_txn *txn, struct vnode *vn, size_t i)
{
	uint64_t block = vn->wb[i].block;
	if (!vn->wb[i].journaled)
		return 0;
	int r = vfs_changed(vfs, idx_journal_del_blocks(txn, vfs->vol.tree, vn->ino, block, block + 1));
	if (r == 0) {
		vfs->journal_bytes -= vn->wb[i].journaled;
		vn->wb[i].journaled = 0;
	}
	return r;
}

/* Forgets the buffer of @block (its bytes are being replaced or dropped in the batch). */
static int wb_drop(struct vfs *vfs, struct idx_txn *txn, struct vnode *vn, uint64_t block)
{
	bool found;
	size_t i = vn ? wb_search(vn, block, &found) : 0;
	if (!vn || !found)
		return 0;
	int r = wb_unjournal(vfs, txn, vn, i);
	if (r == 0)
		wb_remove(vfs, vn, i);
	return r;
}

void data_drop_buffers(struct vfs *vfs, struct vnode *vn)
{
	while (vn->nwb)
		wb_remove(vfs, vn, vn->nwb - 1);
}

/* Reads the stored contents of @block into @buf (block_size bytes, zero-filled). */
static int block_load(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, uint64_t block,
		      uint8_t *buf, uint32_t *ret_len)
{
	struct idx_extent ext;
	int r = idx_extent_get(txn, &vfs->view, ino, block, &ext);
	if (r == -ENOENT) {
		memset(buf, 0, vfs->block_size);
		*ret_len = 0;
		return 0;
	}
	if (r < 0)
		return r;
	if (ext.length > vfs->block_size)
		return -EUCLEAN;
	if (ext.kind == IDX_EXTENT_INLINE) {
		memcpy(buf, ext.inline_data, ext.length);
	} else {
		r = chunk_read(vfs->store->chunks, &ext.chunk, buf, ext.length);
		if (r < 0)
			return r == -ENOENT ? -EIO : r;   /* a lost chunk reads as an error */
	}
	memset(buf + ext.length, 0, vfs->block_size - ext.length);
	*ret_len = ext.length;
	return 0;
}

/*
 * The stored bytes of a block that a write changes only in part, read
 * without the lock before the write takes it for good (vfs_write): so the
 * disk reads of writers to blocks not yet buffered overlap, and no one
 * waits on the lock meanwhile.  They stand for the block only if it still
 * has no buffer and the same extent then.  A write has at most two such
 * blocks, its first and its last.
 */
struct preload {
	uint64_t block;
	bool wanted;              /* no buffer, a chunk's extent: worth reading */
	struct idx_extent ext;
	uint8_t *data;            /* block_size bytes read, or NULL */
};

/*
 * With the lock: notes in @pre the blocks of a write of [@off, @end) that
 * it changes in part and that have no buffer but a chunk (@size: the
 * file's).  False if there are none.
 */
static bool preload_plan(struct vfs *vfs, struct idx_txn *txn, struct vnode *vn, uint64_t off,
			 uint64_t end, uint64_t size, struct preload pre[2])
{
	const uint64_t bs = vfs->block_size, first = off / bs, last = (end - 1) / bs;
	bool any = false;
	pre[0].block = first;
	pre[0].wanted = off % bs || end < (first + 1) * bs;
	pre[1].block = last;
	pre[1].wanted = last != first && end % bs;
	for (int i = 0; i < 2; i++) {
		struct preload *p = &pre[i];
		p->wanted = p->wanted && p->block * bs < size && !wb_find(vn, p->block) &&
			    idx_extent_get(txn, &vfs->view, vn->ino, p->block, &p->ext) == 0 &&
			    p->ext.kind == IDX_EXTENT_CHUNK && p->ext.length <= bs;
		any |= p->wanted;
	}
	return any;
}

void (*data_preload_hook)(struct vfs *vfs, uint64_t ino, unsigned nread);

/*
 * Without the lock: reads the blocks @pre wants, and returns how many it
 * read.  One that fails is loaded as usual.
 */
static unsigned preload_read(struct vfs *vfs, struct preload pre[2])
{
	unsigned nread = 0;
	for (int i = 0; i < 2; i++) {
		struct preload *p = &pre[i];
		if (!p->wanted || !(p->data = wb_data_alloc(vfs)))
			continue;
		if (chunk_read(vfs->store->chunks, &p->ext.chunk, p->data, p->ext.length) < 0) {
			wb_data_free(vfs, p->data);   /* its chunk went meanwhile, say */
			p->data = NULL;
		} else {
			nread++;
		}
	}
	return nread;
}

/* @block's bytes from @pre if they are still its stored bytes (the rest zero), else NULL. */
static uint8_t *preload_take(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, uint64_t block,
			     struct preload *pre, uint32_t *ret_len)
{
	struct idx_extent now;
	for (int i = 0; pre && i < 2; i++) {
		struct preload *p = &pre[i];
		if (!p->data || p->block != block)
			continue;
		if (idx_extent_get(txn, &vfs->view, ino, block, &now) < 0 ||
		    now.kind != p->ext.kind || now.length != p->ext.length ||
		    memcmp(&now.chunk, &p->ext.chunk, sizeof(now.chunk)) != 0)
			return NULL;
		uint8_t *data = p->data;
		p->data = NULL;
		*ret_len = now.length;
		return data;
	}
	return NULL;
}

static void preload_free(struct vfs *vfs, struct preload pre[2])
{
	for (int i = 0; i < 2; i++)
		if (pre[i].data)
			wb_data_free(vfs, pre[i].data);
}

/*
 * The buffer of @block, to change: made if needed, with its stored bytes
 * from @pre (NULL: none) or else loaded from the index; its bytes its own.
 */
static int wb_get(struct vfs *vfs, struct idx_txn *txn, struct vnode *vn, uint64_t block,
		  uint64_t size, struct preload *pre, struct wblock **ret_wb)
{
	bool found;
	size_t i = wb_search(vn, block, &found);
	if (found) {
		*ret_wb = &vn->wb[i];
		return wb_own(vfs, &vn->wb[i]);
	}
	if (ARRAY_RESERVE(vn->wb, vn->nwb, vn->wbcap, 4) < 0)
		return -ENOMEM;
	uint32_t len = 0;
	uint64_t start = block * vfs->block_size;
	uint8_t *data = start < size ? preload_take(vfs, txn, vn->ino, block, pre, &len) : NULL;
	if (!data) {
		if (!(data = wb_data_alloc(vfs)))
			return -ENOMEM;
		int r = start < size ? block_load(vfs, txn, vn->ino, block, data, &len) : 0;
		if (r < 0) {
			wb_data_free(vfs, data);
			return r;
		}
	}
	memmove(&vn->wb[i + 1], &vn->wb[i], (vn->nwb - i) * sizeof(vn->wb[0]));
	vn->wb[i] = (struct wblock){ .block = block, .len = len, .data = data,
				     .gen = ++vfs->wb_gen };   /* clean */
	vn->nwb++;
	if (vfs->dirty_bytes == 0)
		clock_gettime(CLOCK_MONOTONIC, &vfs->dirty_since);
	vfs->dirty_bytes += vfs->block_size;
	chunk_cache_shrink(vfs->cache, cache_budget(vfs));   /* invariant 5 */
	*ret_wb = &vn->wb[i];
	return 0;
}

/* ---- blocks into extents ------------------------------------------------------ */

/*
 * Stores @len bytes as block @block of @ino: a hole if all zero, inline if
 * the file is small, else a chunk: @prepared if its file was written already
 * (chunk_prepare), and on disk already if @synced.  Updates in->blocks; the
 * caller puts the inode.  A chunk that cannot be written (ENOSPC) fails
 * before any change.
 */
static int store_block(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, struct idx_inode *in,
		       uint64_t block, const uint8_t *data, uint32_t len,
		       const struct idx_chunk_id *prepared, bool synced)
{
	struct idx_extent old, ext;
	int r = idx_extent_get(txn, &vfs->view, ino, block, &old);
	bool had = r == 0;
	if (r < 0 && r != -ENOENT)
		return r;

	if (len == 0 || chunk_is_zero(data, len)) {
		if (!had)
			return 0;
		r = vfs_changed(vfs, idx_extent_del(txn, &vfs->view, ino, block));
		if (r == 0)
			in->blocks -= units512(old.length);
		return r;
	}
	if (block == 0 && in->size <= INLINE_FILE_MAX && len <= IDX_INLINE_MAX) {
		ext = (struct idx_extent){ .kind = IDX_EXTENT_INLINE, .length = len, .inline_data = data };
	} else {
		unsigned flags = vfs->opts.verify_dedup ? CHUNK_VERIFY : 0;
		ext = (struct idx_extent){ .kind = IDX_EXTENT_CHUNK, .length = len };
		if (prepared) {
			ext.chunk = *prepared;
			r = chunk_put_prepared(vfs->store->chunks, txn, prepared, data, len, flags);
		} else {
			r = chunk_put(vfs->store->chunks, txn, data, len, flags, &ext.chunk);
		}
		if (r < 0)
			return r;   /* nothing changed yet */
		if (!prepared || !synced || r > 0)   /* r > 0: written again just now */
			vfs->chunks_unsynced = true;
	}
	r = vfs_changed(vfs, idx_extent_put(txn, &vfs->view, ino, block, &ext));
	if (r == 0)
		in->blocks = in->blocks - (had ? units512(old.length) : 0) + units512(len);
	return r;
}

uint64_t data_buffered_blocks(struct vfs *vfs, struct idx_txn *txn, uint64_t ino,
			      const struct idx_inode *in)
{
	struct vnode *vn = vnode_find(vfs, ino);
	uint64_t blocks = in->blocks;
	for (size_t i = 0; vn && i < vn->nwb; i++) {
		struct idx_extent old;
		uint64_t start = vn->wb[i].block * vfs->block_size;
		uint64_t len = vn->wb[i].len;
		if (start >= in->size)
			continue;
		if (len > in->size - start)
			len = in->size - start;
		if (idx_extent_get(txn, &vfs->view, ino, vn->wb[i].block, &old) == 0)
			blocks -= units512(old.length);   /* the buffer replaces it */
		blocks += units512(len);
	}
	return blocks;
}

/* The bytes of buffer @wb that lie below the file's end (the rest is not stored). */
static uint32_t wb_stored_len(const struct vfs *vfs, const struct wblock *wb, uint64_t size)
{
	uint64_t start = wb->block * vfs->block_size;
	if (start >= size)
		return 0;
	return size - start < wb->len ? (uint32_t)(size - start) : wb->len;
}

/* Writes buffer @i of @vn back into the batch, as an extent (unless clean), and frees it. */
static int wb_store(struct vfs *vfs, struct idx_txn *txn, struct vnode *vn, struct idx_inode *in,
		    size_t i)
{
	struct wblock *wb = &vn->wb[i];
	int r = wb_clean(wb) ? 0 : store_block(vfs, txn, vn->ino, in, wb->block, wb->data,
					       wb_stored_len(vfs, wb, in->size), NULL, false);
	if (r == 0)
		r = wb_unjournal(vfs, txn, vn, i);
	if (r == 0)
		wb_remove(vfs, vn, i);
	return r;
}

/*
 * Should the change of buffer @wb go into the journal rather than be written
 * back?  When it is smaller than a block, and both the block's journal and
 * the volume's stay within their bounds (invariant 7); never for what may be
 * stored inline anyway.
 */
static bool wb_journal_fits(const struct vfs *vfs, struct idx_txn *txn, const struct wblock *wb,
			    const struct idx_inode *in)
{
	uint32_t n = wb->dirty_hi - wb->dirty_lo;
	if ((wb->block == 0 && in->size <= INLINE_FILE_MAX) || !idx_txn_log_usable(txn))
		return false;
	return n < vfs->block_size &&
	       (uint64_t)wb->journaled + n <= (uint64_t)VFS_JOURNAL_BLOCKS * vfs->block_size &&
	       vfs->journal_bytes + n <= vfs->opts.dirty_limit;
}

/* Puts the changed bytes of buffer @wb into the journal. */
static int wb_journal(struct vfs *vfs, struct idx_txn *txn, struct vnode *vn, struct wblock *wb)
{
	struct idx_journal_rec rec = {
		.ino = vn->ino, .block = wb->block, .seq = wb->next_seq,
		.offset = wb->dirty_lo, .length = wb->dirty_hi - wb->dirty_lo,
		.data = wb->data + wb->dirty_lo,
	};
	uint64_t lsn;
	int r = vfs_changed(vfs, idx_journal_put(txn, vfs->vol.tree, &rec, &lsn));
	if (r < 0)
		return r;
	if (!wb->journaled)
		wb->journal_lsn = lsn;
	wb->next_seq++;
	wb->journaled += rec.length;
	vfs->journal_bytes += rec.length;
	wb->dirty_lo = wb->dirty_hi = 0;
	return 0;
}

/* Has a buffer of @vn changed since it was loaded or last journaled? */
static bool has_new_changes(const struct vnode *vn)
{
	for (size_t i = 0; i < vn->nwb; i++)
		if (vn->wb[i].dirty_lo != vn->wb[i].dirty_hi)
			return true;
	return false;
}

/* Ends a change of @ino's blocks that returned @r: puts the inode if its block count moved. */
static int put_if_blocks_moved(struct vfs *vfs, struct idx_txn *txn, uint64_t ino,
			       const struct idx_inode *in, uint64_t blocks_before, int r)
{
	if (in->blocks != blocks_before && !vfs->broken) {
		int r2 = vfs_inode_put(vfs, txn, ino, in);
		if (r == 0)
			r = r2;
	}
	return r;
}

/*
 * Writes back the buffers of @vn into the batch; with @journal, only those
 * whose change does not fit the journal, the rest going there.  With @only
 * (@nonly block numbers, ascending), only the buffers of those blocks are
 * written back, the rest are left alone.  On error what is left stays
 * buffered.
 */
static int write_back(struct vfs *vfs, struct vnode *vn, bool journal,
		      const uint64_t *only, size_t nonly)
{
	struct idx_txn *txn;
	struct idx_inode in;
	if (!vn->nwb || (journal && !only && !has_new_changes(vn)))
		return 0;   /* no batch opened, no inode read for nothing */
	int r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		return r;
	r = vfs_inode_get(vfs, txn, vn->ino, &in);
	if (r == -ENOENT) {   /* freed: nothing to write */
		data_drop_buffers(vfs, vn);
		return 0;
	}
	if (r < 0)
		return r;
	uint64_t blocks_before = in.blocks;
	for (size_t i = 0; i < vn->nwb && r == 0;) {
		struct wblock *wb = &vn->wb[i];
		if (only) {
			while (nonly && *only < wb->block)
				only++, nonly--;
			if (!nonly)
				break;
			if (*only != wb->block) {
				i++;
				continue;
			}
		}
		uint64_t start = wb->block * vfs->block_size;
		/* what lies past the end is not stored (invariant 3 keeps it zero) */
		if (start + wb->dirty_hi > in.size)
			wb->dirty_hi = start < in.size ? (uint32_t)(in.size - start) : 0;
		if (wb->dirty_lo >= wb->dirty_hi)
			wb->dirty_lo = wb->dirty_hi = 0;
		if (!journal) {
			r = wb_store(vfs, txn, vn, &in, i);
		} else if (wb->dirty_lo == wb->dirty_hi) {
			i++;   /* nothing new since its last journal record */
		} else if (wb_journal_fits(vfs, txn, wb, &in)) {
			r = wb_journal(vfs, txn, vn, wb);
			i++;
		} else {
			r = wb_store(vfs, txn, vn, &in, i);
		}
	}
	return put_if_blocks_moved(vfs, txn, vn->ino, &in, blocks_before, r);
}

int data_flush_vnode(struct vfs *vfs, struct vnode *vn)
{
	return write_back(vfs, vn, false, NULL, 0);
}

int data_journal_vnode(struct vfs *vfs, struct vnode *vn)
{
	return write_back(vfs, vn, true, NULL, 0);
}

/* write_back() for every vnode with buffers. */
static int write_back_all(struct vfs *vfs, bool journal)
{
	int r = 0;
	for (size_t i = 0; i < vfs->hsize && !vfs->broken; i++) {
		struct vnode *vn = vfs->htab[i];
		while (vn) {
			struct vnode *next = vn->hnext;
			if (vn->nwb) {
				int r2 = write_back(vfs, vn, journal, NULL, 0);
				if (r == 0)
					r = r2;
				vnode_put_if_idle(vfs, vn);
			}
			vn = next;
		}
	}
	return r;
}

int data_flush_all(struct vfs *vfs)
{
	return write_back_all(vfs, false);
}

/* ---- bounded write-back ---------------------------------------------------------- */

/*
 * A limit that is reached (the dirty limit, the journal's high-water mark)
 * is relieved by this much: enough that the next write or fsync does not
 * reach it again, little enough that writing back costs a pause of a few
 * milliseconds rather than one of writing back every buffer.
 */
static uint64_t trim_step(const struct vfs *vfs)
{
	return vfs->opts.dirty_limit / 32;
}

/* Past this many journaled bytes, fsync and the commit interval trim the journal. */
static uint64_t journal_high(const struct vfs *vfs)
{
	return vfs->opts.dirty_limit / 4 * 3;
}

/*
 * What to write back so that the journal keeps within its bounds
 * (invariant 7): journal_target, the journaled bytes to come down to
 * (UINT64_MAX: no need), and lsn_floor, below which no buffer's oldest
 * record may stay (0: none).  @early: the cleaner's goal, a few steps
 * ahead of fsync's (invariant 8).  False if there is nothing to do.
 */
struct journal_goal {
	uint64_t journal_target;
	uint64_t lsn_floor;
};

static bool journal_goal(const struct vfs *vfs, bool early, struct journal_goal *g)
{
	uint64_t step = trim_step(vfs), high = journal_high(vfs) - (early ? 2 * step : 0);
	g->journal_target = vfs->journal_bytes < high ? UINT64_MAX : high - step;
	g->lsn_floor = 0;
	if (vfs->txn && vfs->journal_bytes) {
		/* older than @age: written back, with those a sixteenth of the log younger */
		uint64_t head = idx_txn_log_head(vfs->txn), size = idx_txn_log_size(vfs->txn);
		uint64_t age = early ? size / 8 * 3 : size / 2, keep = age - size / 16;
		if (head - vfs->journal_lsn_floor > age && head > keep)
			g->lsn_floor = head - keep;
	}
	return g->journal_target != UINT64_MAX || g->lsn_floor;
}

/* Raises journal_lsn_floor to the oldest record a buffer still has (the head if none). */
static void journal_floor_update(struct vfs *vfs)
{
	uint64_t floor = vfs->txn ? idx_txn_log_head(vfs->txn) : UINT64_MAX;
	for (size_t h = 0; h < vfs->hsize; h++)
		for (struct vnode *vn = vfs->htab[h]; vn; vn = vn->hnext)
			for (size_t i = 0; i < vn->nwb; i++)
				if (vn->wb[i].journaled && vn->wb[i].journal_lsn < floor)
					floor = vn->wb[i].journal_lsn;
	if (floor != UINT64_MAX && floor > vfs->journal_lsn_floor)
		vfs->journal_lsn_floor = floor;
}

struct trim_pick {
	struct vnode *vn;
	uint64_t block;
	uint32_t journaled;
	bool clean;
};

static int by_journaled_desc(const void *a, const void *b)
{
	uint32_t x = ((const struct trim_pick *)a)->journaled;
	uint32_t y = ((const struct trim_pick *)b)->journaled;
	return (x < y) - (x > y);
}

static int by_clean_then_journaled(const void *a, const void *b)
{
	bool x = ((const struct trim_pick *)a)->clean, y = ((const struct trim_pick *)b)->clean;
	return x != y ? (x ? -1 : 1) : by_journaled_desc(a, b);
}

static int by_vnode_and_block(const void *a, const void *b)
{
	const struct trim_pick *x = a, *y = b;
	if (x->vn->ino != y->vn->ino)
		return x->vn->ino < y->vn->ino ? -1 : 1;
	return (x->block > y->block) - (x->block < y->block);
}

/*
 * The buffers to write back (only journaled ones with @journaled_only), in
 * the order to take them: first those whose oldest record's bytes lie
 * below log position @lsn_floor (*ret_old of them), then, with
 * @clean_first, the clean ones (freeing them costs nothing), then those
 * with the most journaled bytes (each frees the most journal).
 */
static int trim_candidates(struct vfs *vfs, uint64_t lsn_floor, bool journaled_only,
			   bool clean_first, struct trim_pick **ret, size_t *ret_n, size_t *ret_old)
{
	struct trim_pick *picks = NULL;
	size_t n = 0, cap = 0, old = 0;
	for (size_t h = 0; h < vfs->hsize; h++)
		for (struct vnode *vn = vfs->htab[h]; vn; vn = vn->hnext)
			for (size_t i = 0; i < vn->nwb; i++) {
				const struct wblock *wb = &vn->wb[i];
				if (journaled_only && !wb->journaled)
					continue;
				if (ARRAY_RESERVE(picks, n, cap, 64) < 0) {
					free(picks);
					return -ENOMEM;
				}
				picks[n] = (struct trim_pick){ vn, wb->block, wb->journaled, wb_clean(wb) };
				if (wb->journaled && wb->journal_lsn < lsn_floor) {   /* first in line */
					struct trim_pick t = picks[old];
					picks[old++] = picks[n];
					picks[n] = t;
				}
				n++;
			}
	qsort(picks + old, n - old, sizeof(*picks),
	      clean_first ? by_clean_then_journaled : by_journaled_desc);
	*ret = picks;
	*ret_n = n;
	*ret_old = old;
	return 0;
}

/* How many of @picks to take: the old ones, then until both targets are met, at most @max. */
static size_t trim_count(const struct vfs *vfs, const struct trim_pick *picks, size_t n,
			 size_t old, uint64_t dirty_target, uint64_t journal_target, size_t max)
{
	uint64_t dirty = vfs->dirty_bytes, journal = vfs->journal_bytes;
	size_t k = 0;
	while (k < n && k < max && (k < old || dirty > dirty_target || journal > journal_target)) {
		dirty -= vfs->block_size;
		journal -= picks[k++].journaled;
	}
	return k;
}

/*
 * Writes back and frees buffers: those whose oldest journal record's bytes
 * lie below log position @lsn_floor, then, until dirty_bytes is at most
 * @dirty_target and journal_bytes at most @journal_target, the clean ones
 * (if memory is the need) and those with the most journaled bytes.
 */
static int data_trim(struct vfs *vfs, uint64_t dirty_target, uint64_t journal_target,
		     uint64_t lsn_floor)
{
	struct trim_pick *picks;
	size_t n, old;
	if (vfs->dirty_bytes <= dirty_target && vfs->journal_bytes <= journal_target &&
	    vfs->journal_lsn_floor >= lsn_floor)
		return 0;
	if (trim_candidates(vfs, lsn_floor, false, vfs->dirty_bytes > dirty_target,
			    &picks, &n, &old) < 0)
		return data_flush_all(vfs);   /* the bounds hold all the same */
	size_t k = trim_count(vfs, picks, n, old, dirty_target, journal_target, SIZE_MAX);
	qsort(picks, k, sizeof(*picks), by_vnode_and_block);
	uint64_t *blocks = malloc((k ? k : 1) * sizeof(*blocks));
	if (!blocks) {
		free(picks);
		return data_flush_all(vfs);
	}
	int r = 0;
	for (size_t a = 0, b; a < k && !vfs->broken; a = b) {
		struct vnode *vn = picks[a].vn;
		for (b = a; b < k && picks[b].vn == vn; b++)
			blocks[b - a] = picks[b].block;
		int r2 = write_back(vfs, vn, false, blocks, b - a);
		if (r == 0)
			r = r2;
		vnode_put_if_idle(vfs, vn);
	}
	journal_floor_update(vfs);
	free(blocks);
	free(picks);
	return r;
}

/* Invariant 5: buffered memory back under the dirty limit, a step below it. */
static int enforce_dirty_limit(struct vfs *vfs)
{
	if (vfs->dirty_bytes <= vfs->opts.dirty_limit)
		return 0;
	return data_trim(vfs, vfs->opts.dirty_limit - trim_step(vfs), UINT64_MAX, 0);
}

/* Invariant 7: the journal a step below its bounds, should the cleaner lag behind. */
static int relieve_journal(struct vfs *vfs)
{
	struct journal_goal g;
	if (!journal_goal(vfs, false, &g))
		return 0;
	return data_trim(vfs, UINT64_MAX, g.journal_target, g.lsn_floor);
}

int data_flush_journaled(struct vfs *vfs)
{
	return data_trim(vfs, UINT64_MAX, 0, 0);
}

int data_journal_all(struct vfs *vfs)
{
	int r = relieve_journal(vfs);
	int r2 = write_back_all(vfs, true);
	return r ? r : r2;
}

/* ---- the cleaner (invariant 8) ------------------------------------------------- */

/*
 * The most a pass borrows, and so the memory the cleaner can keep beyond
 * the dirty limit: the bytes of buffers changed or dropped during the pass.
 */
#define CLEAN_MAX_BYTES (8u << 20)

/* Most buffers a pass borrows. */
static size_t clean_max_items(const struct vfs *vfs)
{
	size_t max = CLEAN_MAX_BYTES / vfs->block_size;
	return max ? max : 1;
}

struct clean_work *data_clean_pick(struct vfs *vfs)
{
	struct journal_goal g;
	struct trim_pick *picks;
	struct idx_txn *txn;
	size_t n, old;
	if (vfs->rdonly || vfs->broken || !vfs->journal_bytes || !journal_goal(vfs, true, &g))
		return NULL;
	if (trim_candidates(vfs, g.lsn_floor, true, false, &picks, &n, &old) < 0)
		return NULL;
	size_t max = clean_max_items(vfs);
	size_t k = trim_count(vfs, picks, n, old, UINT64_MAX, g.journal_target, max);
	if (!k) {   /* the floor was low only because buffers with old records went */
		journal_floor_update(vfs);
		free(picks);
		return NULL;
	}
	qsort(picks, k, sizeof(*picks), by_vnode_and_block);
	struct clean_work *w = calloc(1, sizeof(*w) + k * sizeof(w->item[0]));
	if (!w || vfs_read_txn(vfs, &txn) < 0) {
		free(w);
		free(picks);
		return NULL;
	}
	struct idx_inode in;
	for (size_t i = 0; i < k; i++) {
		struct vnode *vn = picks[i].vn;
		if ((i == 0 || vn != picks[i - 1].vn) && vfs_inode_get(vfs, txn, vn->ino, &in) < 0)
			in.size = 0;   /* gone: its buffers are not for the cleaner */
		struct wblock *wb = wb_find(vn, picks[i].block);
		uint32_t len = wb_stored_len(vfs, wb, in.size);
		if (!len)
			continue;
		wb->lent = true;
		w->item[w->n++] = (struct clean_item){
			.ino = vn->ino, .block = wb->block, .gen = wb->gen, .len = len,
			.inline_ok = wb->block == 0 && in.size <= INLINE_FILE_MAX,
			.result = 1, .data = wb->data,
		};
	}
	vfs_read_done(vfs, txn);
	free(picks);
	if (!w->n) {
		free(w);
		return NULL;
	}
	return w;
}

/*
 * Writes the chunk files of the bytes @w borrowed, then makes them durable
 * with one syncfs: so the records that name them need no syncfs of their own
 * (invariant 2), and an fsync after a pass costs only its log frame.
 */
void data_clean_write(struct vfs *vfs, struct clean_work *w)
{
	unsigned flags = vfs->opts.verify_dedup ? CHUNK_VERIFY : 0;
	bool wrote = false;
	for (size_t i = 0; i < w->n; i++) {
		struct clean_item *it = &w->item[i];
		if (!it->inline_ok && !chunk_is_zero(it->data, it->len))
			it->result = chunk_prepare(vfs->store->chunks, it->data, it->len, flags,
						   &it->id);
		wrote |= it->result == 0;
	}
	w->synced = wrote && syncfs(vfs->store->dirfd) == 0;
}

/* Puts the extents of @w's items of one file (@a to @b) whose buffers did not change. */
static int clean_install_file(struct vfs *vfs, struct idx_txn *txn, struct clean_work *w,
			      size_t a, size_t b, size_t *cleaned)
{
	struct vnode *vn = vnode_find(vfs, w->item[a].ino);
	struct idx_inode in;
	if (!vn || vfs_inode_get(vfs, txn, vn->ino, &in) < 0)
		return 0;   /* gone meanwhile: what it lent is stale */
	uint64_t blocks_before = in.blocks;
	int r = 0;
	for (size_t i = a; i < b && r == 0; i++) {
		struct clean_item *it = &w->item[i];
		struct wblock *wb = wb_find(vn, it->block);
		if (it->result < 0 || !wb || wb->gen != it->gen ||
		    wb_stored_len(vfs, wb, in.size) != it->len)
			continue;   /* changed (stale), or its chunk could not be written */
		r = store_block(vfs, txn, vn->ino, &in, it->block, it->data, it->len,
				it->result == 0 ? &it->id : NULL, w->synced);
		if (r == 0)
			r = wb_unjournal(vfs, txn, vn, (size_t)(wb - vn->wb));
		if (r == 0) {
			wb->dirty_lo = wb->dirty_hi = 0;   /* clean: kept for the next write */
			it->installed = true;
			(*cleaned)++;
		}
	}
	return put_if_blocks_moved(vfs, txn, vn->ino, &in, blocks_before, r);
}

/*
 * Ends the loan of @w's bytes (invariant 8): a buffer that still has them
 * gets them back; the others are freed.  (Lent bytes are never freed, so no
 * other buffer can have been given the same address meanwhile.)
 */
static void clean_return(struct vfs *vfs, struct clean_work *w)
{
	for (size_t i = 0; i < w->n; i++) {
		const struct clean_item *it = &w->item[i];
		struct vnode *vn = vnode_find(vfs, it->ino);
		struct wblock *wb = vn ? wb_find(vn, it->block) : NULL;
		if (wb && wb->lent && wb->data == it->data)
			wb->lent = false;
		else
			wb_data_free(vfs, it->data);
	}
}

int data_clean_install(struct vfs *vfs, struct clean_work *w)
{
	struct idx_txn *txn;
	size_t cleaned = 0;
	int r = vfs_write_txn(vfs, &txn);
	for (size_t a = 0, b; a < w->n && r == 0; a = b) {
		for (b = a; b < w->n && w->item[b].ino == w->item[a].ino; b++)
			;
		r = clean_install_file(vfs, txn, w, a, b, &cleaned);
	}
	/* the chunks of stale bytes: after every put, which may name the same chunk */
	for (size_t i = 0; i < w->n && r == 0 && !vfs->broken; i++)
		if (w->item[i].result == 0 && !w->item[i].installed)
			(void)chunk_discard_prepared(vfs->store->chunks, txn, &w->item[i].id);
	journal_floor_update(vfs);
	clean_return(vfs, w);
	free(w);
	return r < 0 ? r : (int)cleaned;
}

/* ---- the journal after a crash ------------------------------------------------ */

/* Lays journal record @rec over @buf (block @rec->block, stored length *len, file size @size). */
static int journal_apply(const struct vfs *vfs, struct idx_txn *txn,
			 const struct idx_journal_rec *rec, uint8_t *buf, uint32_t *len, uint64_t size)
{
	uint64_t start = rec->block * vfs->block_size;
	if (rec->offset > vfs->block_size || rec->length > vfs->block_size - rec->offset)
		return -EUCLEAN;
	int r = idx_journal_read(txn, rec, buf + rec->offset);
	if (r < 0)
		return r;
	if (*len < rec->offset + rec->length)
		*len = rec->offset + rec->length;
	/* nothing past the end of the file (truncation deletes or writes back what it cuts:
	 * a safeguard) */
	if (start + *len > size) {
		uint32_t keep = start < size ? (uint32_t)(size - start) : 0;
		memset(buf + keep, 0, *len - keep);
		*len = keep;
	}
	return 0;
}

struct replay {
	struct vfs *vfs;
	struct idx_txn *txn;
	uint64_t records, skipped;
};

static int replay_record(const struct idx_journal_rec *rec, void *arg)
{
	struct replay *rp = arg;
	struct vfs *vfs = rp->vfs;
	struct idx_inode in;
	struct wblock *wb;
	int r = vfs_inode_get(vfs, rp->txn, rec->ino, &in);
	if (r == -ENOENT || (r == 0 && (!S_ISREG(in.mode) ||
					rec->block * vfs->block_size >= in.size))) {
		rp->skipped++;   /* its file is gone or shorter: the deletion below takes it */
		return 0;
	}
	struct vnode *vn = r == 0 ? vnode_get(vfs, rec->ino) : NULL;
	if (r == 0 && !vn)
		r = -ENOMEM;
	if (r == 0)
		r = wb_get(vfs, rp->txn, vn, rec->block, in.size, NULL, &wb);
	if (r == 0)
		r = journal_apply(vfs, rp->txn, rec, wb->data, &wb->len, in.size);
	if (r < 0)
		return r;
	wb_mark(vfs, wb, rec->offset, rec->offset + rec->length);
	if (!wb->journaled || rec->lsn < wb->journal_lsn)
		wb->journal_lsn = rec->lsn;
	wb->journaled += rec->length;   /* so that writing it back deletes the record */
	vfs->journal_bytes += rec->length;
	rp->records++;
	return 0;
}

int data_replay_journal(struct vfs *vfs)
{
	struct replay rp = { .vfs = vfs };
	int r = vfs_write_txn(vfs, &rp.txn);
	if (r < 0)
		return r;
	r = idx_journal_foreach(rp.txn, vfs->vol.tree, replay_record, &rp);
	if (r == 0 && rp.records + rp.skipped == 0)
		return 0;
	/*
	 * Everything replayed is written back and its records deleted in this
	 * batch; what was skipped goes with the rest of the tree's records.
	 */
	if (r == 0)
		r = data_flush_all(vfs);
	if (r == 0)
		r = vfs_changed(vfs, idx_journal_del_tree(rp.txn, vfs->vol.tree));
	if (r == 0)
		syslog(LOG_INFO, "volfs %s: replayed %llu journal records of writes made durable "
		       "by fsync before the last daemon stopped (%llu of files since gone)",
		       vfs->name, (unsigned long long)rp.records, (unsigned long long)rp.skipped);
	return r;
}

/* ---- collecting extents -------------------------------------------------------- */

struct block_list {
	uint64_t *blocks;
	size_t n, cap, max;
};

static int collect_block(uint64_t block, const struct idx_extent *ext, void *arg)
{
	struct block_list *l = arg;
	if (l->n == l->max)
		return 1;
	if (ARRAY_RESERVE(l->blocks, l->n, l->cap, 64) < 0)
		return -ENOMEM;
	l->blocks[l->n++] = block;
	return 0;
}

/* Deletes the extents of @ino at blocks >= @first, in rounds; updates in->blocks. */
static int drop_extents_from(struct vfs *vfs, struct idx_txn *txn, uint64_t ino,
			     struct idx_inode *in, uint64_t first)
{
	struct block_list l = { .max = 1024 };
	int r;
	for (;;) {
		l.n = 0;
		r = idx_extent_foreach(txn, &vfs->view, ino, first, collect_block, &l);
		if (r < 0 || l.n == 0)
			break;
		for (size_t i = 0; i < l.n && r >= 0; i++) {
			struct idx_extent ext;
			r = idx_extent_get(txn, &vfs->view, ino, l.blocks[i], &ext);
			if (r == 0)
				r = vfs_changed(vfs, idx_extent_del(txn, &vfs->view, ino, l.blocks[i]));
			if (r == 0 && in)
				in->blocks -= units512(ext.length);
		}
		if (r < 0)
			break;
		first = l.blocks[l.n - 1] + 1;
	}
	free(l.blocks);
	return r < 0 ? r : 0;
}

/*
 * Drops the buffers of @vn from block @first on, with their journal records
 * in the batch.  Only buffered blocks have records (invariant 7), so a file
 * without journaled buffers costs no index access.
 */
static int drop_buffers_from(struct vfs *vfs, struct idx_txn *txn, struct vnode *vn,
			     uint64_t first)
{
	bool journaled = false;
	while (vn->nwb && vn->wb[vn->nwb - 1].block >= first) {
		journaled |= vn->wb[vn->nwb - 1].journaled > 0;
		wb_remove(vfs, vn, vn->nwb - 1);
	}
	if (!journaled)
		return 0;
	return vfs_changed(vfs, idx_journal_del_blocks(txn, vfs->vol.tree, vn->ino, first,
							UINT64_MAX));
}

int data_free(struct vfs *vfs, struct idx_txn *txn, uint64_t ino)
{
	struct vnode *vn = vnode_find(vfs, ino);
	int r = vn ? drop_buffers_from(vfs, txn, vn, 0) : 0;
	return r < 0 ? r : drop_extents_from(vfs, txn, ino, NULL, 0);
}

/*
 * Bytes [@lo, @hi) of buffer @i changed other than by a write (zeroed).  A
 * journaled buffer is written back at once (invariant 7): its journal
 * records hold the old bytes.
 */
static int wb_changed_in_place(struct vfs *vfs, struct idx_txn *txn, struct vnode *vn,
			       struct idx_inode *in, size_t i, uint32_t lo, uint32_t hi)
{
	wb_mark(vfs, &vn->wb[i], lo, hi);
	return vn->wb[i].journaled ? wb_store(vfs, txn, vn, in, i) : 0;
}

/* Makes bytes [@start, @end) of block-aligned-or-not range read as zeros. */
static int zero_range(struct vfs *vfs, struct idx_txn *txn, struct vnode *vn,
		      struct idx_inode *in, uint64_t start, uint64_t end)
{
	uint64_t bs = vfs->block_size;
	while (start < end) {
		uint64_t block = start / bs, bstart = block * bs;
		uint64_t o = start - bstart, n = end - start < bs - o ? end - start : bs - o;
		int r;
		if (o == 0 && n == bs) {
			struct idx_extent ext;
			r = wb_drop(vfs, txn, vn, block);
			if (r < 0)
				return r;
			r = idx_extent_get(txn, &vfs->view, vn->ino, block, &ext);
			if (r == 0) {
				r = vfs_changed(vfs, idx_extent_del(txn, &vfs->view, vn->ino, block));
				if (r == 0)
					in->blocks -= units512(ext.length);
			}
			if (r < 0 && r != -ENOENT)
				return r;
		} else if (bstart < in->size) {
			struct wblock *wb;
			r = wb_get(vfs, txn, vn, block, in->size, NULL, &wb);
			if (r < 0)
				return r;
			memset(wb->data + o, 0, n);
			r = wb_changed_in_place(vfs, txn, vn, in, (size_t)(wb - vn->wb), (uint32_t)o,
						(uint32_t)(o + n));
			if (r < 0)
				return r;
		}
		start += n;
	}
	return 0;
}

int data_truncate(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, struct idx_inode *in,
		  uint64_t size)
{
	uint64_t bs = vfs->block_size;
	if (size > MAX_FILE_SIZE)
		return -EFBIG;
	if (size >= in->size) {
		in->size = size;   /* growing: the new part is a hole */
		return 0;
	}
	struct vnode *vn = vnode_get(vfs, ino);
	if (!vn)
		return -ENOMEM;
	uint64_t keep = (size + bs - 1) / bs;   /* blocks that keep data */
	/* buffers past the end go, with their journal records; a buffer of the new last block is cut */
	int r = drop_buffers_from(vfs, txn, vn, keep);
	if (r == 0 && size % bs) {
		uint64_t last = size / bs;
		uint32_t cut = (uint32_t)(size % bs);
		struct wblock *wb = wb_find(vn, last);
		struct idx_extent ext;
		bool longer = wb ? wb->len > cut :
			      idx_extent_get(txn, &vfs->view, ino, last, &ext) == 0 && ext.length > cut;
		if (longer)   /* invariant 4: trim it, in a buffer (loaded if need be) of its own */
			r = wb_get(vfs, txn, vn, last, in->size, NULL, &wb);
		if (r == 0 && longer) {
			/*
			 * Written back now, cut, in the batch that sets the size:
			 * neither its extent nor its journal records may keep
			 * bytes past the end (invariants 4 and 7).
			 */
			memset(wb->data + cut, 0, vfs->block_size - cut);
			wb_mark(vfs, wb, cut, wb->len);
			wb->len = cut;
			r = wb_store(vfs, txn, vn, in, (size_t)(wb - vn->wb));
		}
	}
	if (r == 0)
		r = drop_extents_from(vfs, txn, ino, in, keep);
	if (r == 0)
		in->size = size;
	vnode_put_if_idle(vfs, vn);
	return r;
}

/* ---- reading ---------------------------------------------------------------------- */

struct overlay {
	const struct vfs *vfs;
	struct idx_txn *txn;
	uint8_t *buf;           /* NULL: only count */
	uint32_t len;
	uint64_t size;
	size_t records;
};

static int overlay_record(const struct idx_journal_rec *rec, void *arg)
{
	struct overlay *ov = arg;
	ov->records++;
	return ov->buf ? journal_apply(ov->vfs, ov->txn, rec, ov->buf, &ov->len, ov->size) : 1;
}

/*
 * For a read-only view of a live tree: if block @block has journal records
 * (written by a read-write daemon, or left by one that crashed), loads it
 * with them laid over into *@bounce (allocated on first use, block_size
 * bytes) and returns 1; 0 if it has none.
 */
static int load_journaled(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, uint64_t block,
			  uint64_t size, uint8_t **bounce)
{
	struct overlay ov = { .vfs = vfs, .txn = txn, .size = size };
	int r = idx_journal_foreach_block(txn, vfs->vol.tree, ino, block, overlay_record, &ov);
	if (r < 0 || ov.records == 0)
		return r;
	if (!*bounce && !(*bounce = malloc(vfs->block_size)))
		return -ENOMEM;
	r = block_load(vfs, txn, ino, block, *bounce, &ov.len);
	ov.buf = *bounce;
	ov.records = 0;
	if (r == 0)
		r = idx_journal_foreach_block(txn, vfs->vol.tree, ino, block, overlay_record, &ov);
	return r < 0 ? r : 1;
}

/*
 * How far ahead of a sequential reader chunk files are prefetched.  The
 * kernel reads ahead in a file, but each block is a file of its own in the
 * chunk store, so without this every block would wait for its own disk read.
 */
#define READ_AHEAD_BYTES (1u << 20)

static size_t read_ahead_blocks(const struct vfs *vfs)
{
	return vfs->block_size < READ_AHEAD_BYTES ? READ_AHEAD_BYTES / vfs->block_size : 1;
}

/* A block to read from a chunk file once the lock is let go. */
struct pending_read {
	struct idx_chunk_id chunk;
	uint32_t length;      /* the chunk's */
	uint32_t from;        /* first byte wanted, within the block */
	uint32_t count;       /* bytes wanted */
	size_t at;            /* where they go in the caller's buffer */
};

/*
 * After a read of [@off, @end) of @vn (file size @size), lists in @ahead the
 * chunk files to prefetch: the blocks of the read after its first (the
 * reader waits for that one at once), and, if the read follows on from the
 * last one, those of the next READ_AHEAD_BYTES; none prefetched before in
 * the same run.
 */
static void plan_read_ahead(struct vfs *vfs, struct idx_txn *txn, struct vnode *vn, uint64_t off,
			    uint64_t end, uint64_t size, struct pending_read *ahead,
			    size_t *nahead)
{
	uint64_t bs = vfs->block_size, window = read_ahead_blocks(vfs);
	bool sequential = off <= vn->read_next + READ_AHEAD_BYTES &&
			  off + READ_AHEAD_BYTES >= vn->read_next;
	vn->read_next = end;
	if (!sequential)
		vn->read_ahead = 0;   /* a seek: a new run starts from here */
	uint64_t first = off / bs + 1, read_end = (end + bs - 1) / bs;
	uint64_t stop = sequential ? read_end + window : read_end, nblocks = (size + bs - 1) / bs;
	if (first < vn->read_ahead)
		first = vn->read_ahead;
	if (stop > nblocks)
		stop = nblocks;
	for (uint64_t b = first; b < stop; b++) {
		struct idx_extent ext;
		if (!wb_find(vn, b) && idx_extent_get(txn, &vfs->view, vn->ino, b, &ext) == 0 &&
		    ext.kind == IDX_EXTENT_CHUNK)
			ahead[(*nahead)++] = (struct pending_read){ .chunk = ext.chunk,
								    .length = ext.length };
	}
	if (stop > vn->read_ahead)
		vn->read_ahead = stop;
}

/*
 * Copies what the buffers and the index hold for [off, off+size) into @buf
 * and lists the chunk reads still to do, and the chunks to prefetch for a
 * sequential reader.  Returns the byte count.
 */
static ssize_t read_plan(struct vfs *vfs, uint64_t ino, uint8_t *buf, size_t size, uint64_t off,
			 bool access, struct pending_read *pend, size_t *npend,
			 struct pending_read *ahead, size_t *nahead)
{
	struct idx_txn *txn;
	struct idx_inode in;
	uint64_t bs = vfs->block_size;
	uint8_t *bounce = NULL;   /* journal_visible: a block with its journal laid over */
	ssize_t r = vfs_read_txn(vfs, &txn);
	*npend = *nahead = 0;
	if (r < 0)
		return r;
	r = vfs_inode_get(vfs, txn, ino, &in);
	if (r < 0)
		goto out;
	if (S_ISDIR(in.mode)) {
		r = -EISDIR;
		goto out;
	}
	if (off >= in.size) {
		r = 0;
		goto out;
	}
	if (size > in.size - off)
		size = (size_t)(in.size - off);
	struct vnode *vn = vnode_find(vfs, ino);
	size_t done = 0;
	while (done < size) {
		uint64_t pos = off + done, block = pos / bs;
		uint32_t o = (uint32_t)(pos - block * bs);
		uint32_t n = (uint32_t)(size - done < bs - o ? size - done : bs - o);
		struct wblock *wb = wb_find(vn, block);
		struct idx_extent ext;
		if (wb) {
			memcpy(buf + done, wb->data + o, n);
		} else if (vfs->journal_visible &&
			   (r = load_journaled(vfs, txn, ino, block, in.size, &bounce)) != 0) {
			if (r < 0)
				goto out;
			memcpy(buf + done, bounce + o, n);
		} else if ((r = idx_extent_get(txn, &vfs->view, ino, block, &ext)) == -ENOENT) {
			memset(buf + done, 0, n);
		} else if (r < 0) {
			goto out;
		} else if (ext.length > bs) {
			r = -EUCLEAN;
			goto out;
		} else {
			/* bytes past the extent's length (and below EOF) are zeros */
			uint32_t have = o < ext.length ? ext.length - o : 0;
			if (have > n)
				have = n;
			memset(buf + done + have, 0, n - have);
			if (have && ext.kind == IDX_EXTENT_INLINE)
				memcpy(buf + done, (const uint8_t *)ext.inline_data + o, have);
			else if (have)
				pend[(*npend)++] = (struct pending_read){
					.chunk = ext.chunk, .length = ext.length,
					.from = o, .count = have, .at = done };
		}
		done += n;
	}
	r = (ssize_t)done;
	if (vn)
		plan_read_ahead(vfs, txn, vn, off, off + done, in.size, ahead, nahead);

	struct timespec now;
	vfs_now(&now);
	if (access && !vfs->rdonly && !vfs->broken && vfs_atime_due(&in, &now)) {
		vfs_read_done(vfs, txn);
		txn = NULL;
		if (vfs_write_txn(vfs, &txn) == 0) {
			in.atime = now;
			vfs_inode_put(vfs, txn, ino, &in);
		}
	}
out:
	free(bounce);
	vfs_read_done(vfs, txn);
	return r;
}

/*
 * Reads the chunks of @pend into @buf: a whole one straight from its file,
 * part of one through the chunk cache, which may keep it within @budget
 * bytes (a random reader of small pieces comes back for the rest).  A chunk
 * the index names but is gone gives -ENOENT.
 */
static int read_chunks(struct vfs *vfs, uint8_t *buf, const struct pending_read *pend, size_t n,
		       uint64_t budget)
{
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct pending_read *p = &pend[i];
		if (p->from == 0 && p->count == p->length)
			r = chunk_read(vfs->store->chunks, &p->chunk, buf + p->at, p->length);
		else
			r = chunk_cache_read(vfs->cache, vfs->store->chunks, &p->chunk, p->length,
					     p->from, p->count, buf + p->at, budget);
	}
	return r;
}

ssize_t vfs_read(struct vfs *vfs, uint64_t ino, void *buf, size_t size, off_t off, bool access)
{
	if (off < 0)
		return -EINVAL;
	size_t maxpend = size / vfs->block_size + 2;
	/* @ahead: the read's own blocks after the first, and a window past it */
	struct pending_read *pend = malloc((2 * maxpend + read_ahead_blocks(vfs)) * sizeof(*pend));
	if (!pend)
		return -ENOMEM;
	struct pending_read *ahead = pend + maxpend;
	ssize_t r;
	/*
	 * Chunk files are read without the lock.  One can vanish meanwhile if
	 * the block was overwritten and its chunk freed: then plan again, and
	 * only a second miss is an error (a lost chunk: EIO, never wrong bytes).
	 * A read-only view of a live tree may likewise find a journal record's
	 * bytes reused in the log after a commit it did not see yet deleted
	 * the record (index/wal.h invariant 5): it plans again on a new snapshot.
	 */
	for (int attempt = 0, stale = 0;; attempt++) {
		size_t npend, nahead;
		pthread_mutex_lock(&vfs->lock);
		r = read_plan(vfs, ino, buf, size, (uint64_t)off, access, pend, &npend, ahead,
			      &nahead);
		uint64_t budget = cache_budget(vfs);
		pthread_mutex_unlock(&vfs->lock);
		if (r == -ESTALE && stale++ < 3) {
			attempt--;
			continue;
		}
		if (r == -ESTALE) {
			syslog(LOG_ERR, "volfs %s: inode %llu: a journal record's bytes are not in "
			       "the write-ahead log", vfs->name, (unsigned long long)ino);
			r = -EIO;
		}
		/* the disk reads them all at once while we wait for the first */
		for (size_t i = 0; i < nahead; i++)
			chunk_prefetch(vfs->store->chunks, &ahead[i].chunk, ahead[i].length);
		if (r <= 0 || npend == 0)
			break;
		int rr = read_chunks(vfs, buf, pend, npend, budget);
		if (rr == 0)
			break;
		if (rr != -ENOENT || attempt > 0) {
			syslog(LOG_ERR, "volfs %s: inode %llu: reading a chunk: %s", vfs->name,
			       (unsigned long long)ino, rr == -ENOENT ? "missing" : strerror(-rr));
			r = -EIO;
			break;
		}
	}
	free(pend);
	return r;
}

/* ---- writing --------------------------------------------------------------------- */

/* A whole block's chunk, written before the volume lock is taken. */
struct prepared_block {
	uint64_t block;
	int result;                 /* of chunk_prepare(); 1: not prepared */
	struct idx_chunk_id id;
};

/*
 * Hashes and writes the chunks of the whole, non-zero blocks of a write, in
 * the calling thread, without the volume lock: the kernel's write-back
 * threads do this part in parallel.  Block 0 of what may be a small file is
 * left out (it may end up inline).  Returns the array (NULL if none).
 */
static struct prepared_block *prepare_blocks(struct vfs *vfs, const uint8_t *src, size_t size,
					     uint64_t off, size_t *ret_n)
{
	uint64_t bs = vfs->block_size;
	uint64_t first = (off + bs - 1) / bs, end = (off + size) / bs;
	*ret_n = 0;
	if (end <= first)
		return NULL;
	struct prepared_block *p = calloc(end - first, sizeof(*p));
	if (!p)
		return NULL;   /* the blocks go the slow way, under the lock */
	unsigned flags = vfs->opts.verify_dedup ? CHUNK_VERIFY : 0;
	for (uint64_t b = first; b < end; b++) {
		struct prepared_block *pb = &p[b - first];
		const uint8_t *data = src + (b * bs - off);
		pb->block = b;
		pb->result = 1;
		if ((b == 0 && off + size <= INLINE_FILE_MAX) || chunk_is_zero(data, bs))
			continue;
		pb->result = chunk_prepare(vfs->store->chunks, data, bs, flags, &pb->id);
	}
	*ret_n = end - first;
	return p;
}

/*
 * With the volume lock held: the batch, the inode and the vnode of regular
 * file @ino that is about to change.  Not a regular file: -EISDIR for a
 * directory, @not_regular otherwise.
 */
static int file_change_begin(struct vfs *vfs, uint64_t ino, int not_regular,
			     struct idx_txn **ret_txn, struct idx_inode *ret_in,
			     struct vnode **ret_vn)
{
	int r = vfs_write_txn(vfs, ret_txn);
	if (r == 0)
		r = vfs_inode_get(vfs, *ret_txn, ino, ret_in);
	if (r < 0)
		return r;
	if (!S_ISREG(ret_in->mode))
		return S_ISDIR(ret_in->mode) ? -EISDIR : not_regular;
	*ret_vn = vnode_get(vfs, ino);
	return *ret_vn ? 0 : -ENOMEM;
}

ssize_t vfs_write(struct vfs *vfs, uint64_t ino, const void *buf, size_t size, off_t off)
{
	struct idx_txn *txn;
	struct idx_inode in;
	struct timespec now;
	uint64_t bs = vfs->block_size;
	const uint8_t *src = buf;
	size_t done = 0, nprep;

	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off > MAX_FILE_SIZE || size > MAX_FILE_SIZE - (uint64_t)off)
		return -EFBIG;
	if (!vfs->rdonly && size) {
		int admitted = store_space_admit(vfs->store, size);
		if (admitted < 0)
			return admitted;
	}
	vfs_now(&now);
	struct prepared_block *prep = vfs->rdonly ? NULL :
		prepare_blocks(vfs, src, size, (uint64_t)off, &nprep);
	struct preload pre[2] = { { 0 } };
	bool preloaded = false;
	struct vnode *vn = NULL;
	ssize_t r;
again:
	pthread_mutex_lock(&vfs->lock);
	/*
	 * Invariant 5: past the dirty limit, write back before taking more.  If
	 * that fails (ENOSPC), this write is refused: buffered data that cannot
	 * be written must not grow without bound.  (Before the inode is read:
	 * writing back may change its block count.)
	 */
	r = vfs->rdonly ? 0 : enforce_dirty_limit(vfs);
	if (r == 0)
		r = file_change_begin(vfs, ino, -EINVAL, &txn, &in, &vn);
	if (r < 0)
		goto out;
	/* nothing changed yet: blocks to load are read without the lock, once */
	if (!preloaded && size && preload_plan(vfs, txn, vn, (uint64_t)off, (uint64_t)off + size,
					       in.size, pre)) {
		preloaded = true;
		pthread_mutex_unlock(&vfs->lock);
		unsigned nread = preload_read(vfs, pre);
		if (data_preload_hook)
			data_preload_hook(vfs, ino, nread);
		goto again;
	}
	uint64_t newsize = (uint64_t)off + size > in.size ? (uint64_t)off + size : in.size;
	const uint64_t size_before = in.size, blocks_before = in.blocks;
	while (done < size) {
		uint64_t pos = (uint64_t)off + done, block = pos / bs;
		uint32_t o = (uint32_t)(pos - block * bs);
		uint32_t n = (uint32_t)(size - done < bs - o ? size - done : bs - o);
		if (o == 0 && n == bs) {
			/* a whole block: straight to a chunk; any buffer of it is stale */
			const struct prepared_block *pb =
				prep ? &prep[block - prep[0].block] : NULL;
			if (pb && pb->result < 0) {
				r = pb->result;   /* its chunk could not be written (ENOSPC) */
				break;
			}
			r = wb_drop(vfs, txn, vn, block);
			if (r < 0)
				break;
			uint64_t keep = in.size;
			in.size = newsize;   /* decides inline or chunk */
			r = store_block(vfs, txn, ino, &in, block, src + done, n,
					pb && pb->result == 0 ? &pb->id : NULL, false);
			in.size = keep;
		} else {
			struct wblock *wb;
			r = wb_get(vfs, txn, vn, block, in.size, pre, &wb);
			if (r == 0) {
				memcpy(wb->data + o, src + done, n);
				if (wb->len < o + n)
					wb->len = o + n;
				wb_mark(vfs, wb, o, o + n);
			}
		}
		if (r < 0)
			break;
		done += n;
		if (in.size < pos + n)
			in.size = pos + n;
	}
	if (done == 0 || vfs->broken)
		goto out;   /* r holds the error */
	if (!vfs->kernel_times)
		in.mtime = in.ctime = now;
	/* under the kernel's times, an overwrite inside the file changes no attribute */
	bool changed = !vfs->kernel_times || in.size != size_before || in.blocks != blocks_before;
	r = changed ? vfs_inode_put(vfs, txn, ino, &in) : 0;
	if (r < 0)
		goto out;
	/* a write-back that fails here leaves the data buffered: the next write,
	 * fsync or close reports it */
	enforce_dirty_limit(vfs);
	r = (ssize_t)done;
out:
	if (r < 0 && done > 0 && !vfs->broken)
		r = (ssize_t)done;   /* a short write: what went in stays in */
	pthread_mutex_unlock(&vfs->lock);
	preload_free(vfs, pre);
	free(prep);
	return r;
}

int vfs_flush(struct vfs *vfs, uint64_t ino)
{
	int r = 0;
	pthread_mutex_lock(&vfs->lock);
	struct vnode *vn = vnode_find(vfs, ino);
	if (vn && vn->nwb && !vfs->rdonly)
		r = data_flush_vnode(vfs, vn);
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_fsync(struct vfs *vfs, uint64_t ino, bool datasync)
{
	int r = 0;
	if (vfs->rdonly)
		return 0;
	pthread_mutex_lock(&vfs->lock);
	/*
	 * This file's small changes go into the journal, the rest is written
	 * back.  A journal past its high-water mark is first trimmed by a step,
	 * the most journaled buffers written back (invariant 7).
	 */
	r = relieve_journal(vfs);
	struct vnode *vn = vnode_find(vfs, ino);   /* after: trimming may free an idle one */
	if (r == 0 && vn && vn->nwb)
		r = data_journal_vnode(vfs, vn);
	/* the batch holds this file's metadata and the names that reach it */
	if (r == 0)
		r = vfs_make_durable(vfs);
	if (vfs->broken && r == 0)
		r = -EIO;
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

/* ---- fallocate, lseek ---------------------------------------------------------------- */

int vfs_fallocate(struct vfs *vfs, uint64_t ino, int mode, off_t off, off_t len)
{
	struct idx_txn *txn;
	struct idx_inode in;
	struct timespec now;
	const int supported = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
	if (off < 0 || len <= 0)
		return -EINVAL;
	if (mode & ~supported)
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && (mode & FALLOC_FL_ZERO_RANGE))
		return -EOPNOTSUPP;
	if ((uint64_t)off > MAX_FILE_SIZE - (uint64_t)len)
		return -EFBIG;
	uint64_t start = (uint64_t)off, end = (uint64_t)off + (uint64_t)len;
	vfs_now(&now);
	pthread_mutex_lock(&vfs->lock);
	struct vnode *vn;
	int r = file_change_begin(vfs, ino, -ENODEV, &txn, &in, &vn);
	if (r < 0)
		goto out;
	bool changed = false;
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		uint64_t zend = end < in.size ? end : in.size;
		if (start < zend)
			r = zero_range(vfs, txn, vn, &in, start, zend);
		changed = true;
	}
	/*
	 * Space is not reserved: a content-addressed store cannot set aside the
	 * chunks of data not yet written.  Mode 0 and ZERO_RANGE set the size.
	 */
	if (r == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && end > in.size) {
		in.size = end;
		changed = true;
	}
	if (r == 0 && changed) {
		in.mtime = in.ctime = now;
		r = vfs_inode_put(vfs, txn, ino, &in);
	}
	vnode_put_if_idle(vfs, vn);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

struct seek_walk {
	struct vfs *vfs;
	struct idx_txn *txn;
	struct vnode *vn;
	uint64_t ino;
	uint64_t next;      /* SEEK_HOLE: first block not yet known to hold data */
	uint64_t journaled; /* first journaled block >= the last asked, UINT64_MAX: none */
	bool journal_known; /* journaled is set */
	bool found;         /* SEEK_DATA: an extent was found */
	uint64_t block;
};

/* The first block >= @block that has journal records, UINT64_MAX if none. */
static int next_journaled(struct seek_walk *w, uint64_t block, uint64_t *ret)
{
	if (!w->journal_known || w->journaled < block) {
		int r = idx_journal_next_block(w->txn, w->vfs->vol.tree, w->ino, block, &w->journaled);
		if (r == -ENOENT)
			w->journaled = UINT64_MAX;
		else if (r < 0)
			return r;
		w->journal_known = true;
	}
	*ret = w->journaled;
	return 0;
}

/*
 * Does block @block hold data that has no extent yet?  A buffer of ours, or
 * journal records: on a read-only view of a live tree those are the
 * fsync'd writes of the read-write daemon, which reads show.
 */
static int data_without_extent(struct seek_walk *w, uint64_t block)
{
	uint64_t journaled;
	if (wb_find(w->vn, block))
		return 1;
	int r = next_journaled(w, block, &journaled);
	return r < 0 ? r : journaled == block;
}

static int first_extent(uint64_t block, const struct idx_extent *ext, void *arg)
{
	struct seek_walk *w = arg;
	w->found = true;
	w->block = block;
	return 1;
}

static int hole_walk(uint64_t block, const struct idx_extent *ext, void *arg)
{
	struct seek_walk *w = arg;
	int r = 0;
	while (w->next < block && (r = data_without_extent(w, w->next)) == 1)
		w->next++;
	if (r < 0)
		return r;
	if (w->next < block)
		return 1;   /* a gap: the hole */
	w->next = block + 1;
	return 0;
}

int vfs_lseek(struct vfs *vfs, uint64_t ino, off_t off, int whence, off_t *ret_off)
{
	struct idx_txn *txn;
	struct idx_inode in;
	uint64_t bs = vfs->block_size;
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	pthread_mutex_lock(&vfs->lock);
	int r = vfs_read_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, ino, &in);
	if (r < 0)
		goto done;
	if ((uint64_t)off >= in.size) {
		r = -ENXIO;
		goto done;
	}
	struct vnode *vn = vnode_find(vfs, ino);
	uint64_t first = (uint64_t)off / bs, pos;
	struct seek_walk w = { .vfs = vfs, .txn = txn, .vn = vn, .ino = ino, .next = first };
	if (whence == SEEK_DATA) {
		uint64_t journaled = UINT64_MAX;
		r = idx_extent_foreach(txn, &vfs->view, ino, first, first_extent, &w);
		if (r >= 0)
			r = next_journaled(&w, first, &journaled);
		if (r < 0)
			goto done;
		uint64_t data = w.found ? w.block : UINT64_MAX;
		bool found;
		size_t i = vn ? wb_search(vn, first, &found) : 0;
		if (vn && i < vn->nwb && vn->wb[i].block < data)
			data = vn->wb[i].block;
		if (journaled < data)
			data = journaled;
		pos = data == UINT64_MAX ? in.size : data * bs;
		if (pos < (uint64_t)off)
			pos = (uint64_t)off;
		if (pos >= in.size) {
			r = -ENXIO;
			goto done;
		}
	} else {
		r = idx_extent_foreach(txn, &vfs->view, ino, first, hole_walk, &w);
		while (r >= 0 && (r = data_without_extent(&w, w.next)) == 1)
			w.next++;
		if (r < 0)
			goto done;
		pos = w.next * bs;
		if (pos < (uint64_t)off)
			pos = (uint64_t)off;
		if (pos > in.size)
			pos = in.size;
	}
	r = 0;
	*ret_off = (off_t)pos;
done:
	vfs_read_done(vfs, txn);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

/* ---- copy_file_range --------------------------------------------------------------------- */

/*
 * Shares whole blocks between files when both offsets sit on a block
 * boundary: the destination gets the source's extent (one more chunk
 * reference), no bytes move.  Returns the bytes so shared.
 */
static ssize_t share_blocks(struct vfs *vfs, uint64_t ino_in, uint64_t off_in, uint64_t ino_out,
			    uint64_t off_out, uint64_t len)
{
	struct idx_txn *txn;
	struct idx_inode src, dst;
	struct timespec now;
	uint64_t bs = vfs->block_size, nblocks = len / bs;
	vfs_now(&now);
	if (off_in % bs || off_out % bs || nblocks == 0)
		return 0;
	int r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		return r;
	/* the source's buffers must be in the index to be shared */
	struct vnode *vin = vnode_find(vfs, ino_in);
	if (vin && vin->nwb) {
		r = data_flush_vnode(vfs, vin);
		if (r < 0)
			return r;
	}
	r = vfs_inode_get(vfs, txn, ino_in, &src);
	if (r == 0)
		r = vfs_inode_get(vfs, txn, ino_out, &dst);
	if (r < 0)
		return r;
	/* only blocks the source holds in full (none past its end) */
	if (off_in >= src.size)
		return 0;
	if (off_in + nblocks * bs > src.size)
		nblocks = (src.size - off_in) / bs;
	if (nblocks == 0)
		return 0;
	struct vnode *vout = vnode_get(vfs, ino_out);
	if (!vout)
		return -ENOMEM;
	for (uint64_t i = 0; i < nblocks; i++) {
		uint64_t bin = off_in / bs + i, bout = off_out / bs + i;
		struct idx_extent ext, old;
		r = wb_drop(vfs, txn, vout, bout);
		if (r < 0)
			return r;
		bool had = idx_extent_get(txn, &vfs->view, ino_out, bout, &old) == 0;
		r = idx_extent_get(txn, &vfs->view, ino_in, bin, &ext);
		if (r == -ENOENT) {
			if (had) {
				r = vfs_changed(vfs, idx_extent_del(txn, &vfs->view, ino_out, bout));
				if (r == 0)
					dst.blocks -= units512(old.length);
			} else {
				r = 0;
			}
		} else if (r == 0) {
			if (ext.kind == IDX_EXTENT_INLINE || ext.length != bs) {
				/* inline data belongs to a small file; store it as a chunk */
				uint8_t *tmp = malloc(bs);
				uint32_t got;
				r = tmp ? block_load(vfs, txn, ino_in, bin, tmp, &got) : -ENOMEM;
				if (r == 0) {
					uint64_t keep = dst.size;
					dst.size = dst.size > off_out + (i + 1) * bs ? dst.size
										     : off_out + (i + 1) * bs;
					r = store_block(vfs, txn, ino_out, &dst, bout, tmp, (uint32_t)bs,
							NULL, false);
					dst.size = keep;
				}
				free(tmp);
			} else {
				r = vfs_changed(vfs, idx_extent_put(txn, &vfs->view, ino_out, bout, &ext));
				if (r == 0)
					dst.blocks = dst.blocks - (had ? units512(old.length) : 0) +
						     units512(ext.length);
			}
		}
		if (r < 0)
			return r;
	}
	uint64_t end = off_out + nblocks * bs;
	if (dst.size < end)
		dst.size = end;
	dst.mtime = dst.ctime = now;
	r = vfs_inode_put(vfs, txn, ino_out, &dst);
	vnode_put_if_idle(vfs, vout);
	return r < 0 ? r : (ssize_t)(nblocks * bs);
}

ssize_t vfs_copy_file_range(struct vfs *vfs, uint64_t ino_in, off_t off_in,
			    uint64_t ino_out, off_t off_out, size_t len)
{
	if (off_in < 0 || off_out < 0)
		return -EINVAL;
	if (ino_in == ino_out) {
		uint64_t a = (uint64_t)off_in, b = (uint64_t)off_out;
		if (a < b + len && b < a + len)
			return -EINVAL;   /* overlapping ranges of one file */
	}
	pthread_mutex_lock(&vfs->lock);
	ssize_t shared = share_blocks(vfs, ino_in, (uint64_t)off_in, ino_out, (uint64_t)off_out, len);
	pthread_mutex_unlock(&vfs->lock);
	if (shared < 0)
		return shared;

	/* the rest byte by byte, through a bounce buffer */
	size_t done = (size_t)shared, bounce_size = 1u << 20;
	uint8_t *bounce = done < len ? malloc(bounce_size) : NULL;
	if (done < len && !bounce)
		return done ? (ssize_t)done : -ENOMEM;
	while (done < len) {
		size_t n = len - done < bounce_size ? len - done : bounce_size;
		ssize_t got = vfs_read(vfs, ino_in, bounce, n, off_in + (off_t)done, true);
		if (got <= 0) {
			if (got < 0 && done == 0) {
				free(bounce);
				return got;
			}
			break;
		}
		ssize_t put = vfs_write(vfs, ino_out, bounce, (size_t)got, off_out + (off_t)done);
		if (put < 0) {
			free(bounce);
			return done ? (ssize_t)done : put;
		}
		done += (size_t)put;
		if (put < got)
			break;
	}
	free(bounce);
	return (ssize_t)done;
}
