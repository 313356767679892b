/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vfs.c — the filesystem core of a mounted volume: the batch (group commit)
 * and its flusher, the table of inodes in use, and every operation on names
 * and attributes.  File data is in vfs_data.c.  Invariants: vfs_internal.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/xattr.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <unistd.h>

#include "acl.h"
#include "array.h"
#include "chunk.h"
#include "chunk_cache.h"
#include "snapshot.h"
#include "vfs_internal.h"
#include "volume.h"

/* ---- time ----------------------------------------------------------- */

/*
 * The kernel stamps times it keeps itself (mtime under the writeback cache)
 * from its coarse clock; ours come from the same clock, so that a file is
 * never older than the directory change that made it.
 */
void vfs_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME_COARSE, ts);
}

static bool ts_le(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

bool vfs_atime_due(const struct idx_inode *in, const struct timespec *now)
{
	return ts_le(&in->atime, &in->mtime) || ts_le(&in->atime, &in->ctime) ||
	       now->tv_sec - in->atime.tv_sec >= 24 * 3600;
}

static uint64_t ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
	return ms < 0 ? 0 : (uint64_t)ms;
}

/* ---- the txn thread (invariant 6) --------------------------------------- */

enum txn_request { TXN_IDLE, TXN_BEGIN, TXN_COMMIT, TXN_ABORT, TXN_STOP };

static void *txn_thread_main(void *arg)
{
	struct vfs *vfs = arg;
	pthread_mutex_lock(&vfs->txn_mutex);
	for (;;) {
		while (vfs->txn_request == TXN_IDLE)
			pthread_cond_wait(&vfs->txn_cond, &vfs->txn_mutex);
		int req = vfs->txn_request;
		if (req == TXN_STOP)
			break;
		struct idx_txn *txn = vfs->txn_arg;
		pthread_mutex_unlock(&vfs->txn_mutex);
		int r = 0;
		if (req == TXN_BEGIN)
			r = idx_txn_begin(vfs->store->idx, IDX_TXN_LOGGED, &txn);
		else if (req == TXN_COMMIT)
			r = idx_txn_commit(txn);
		else
			idx_txn_abort(txn);
		pthread_mutex_lock(&vfs->txn_mutex);
		vfs->txn_arg = req == TXN_BEGIN && r == 0 ? txn : NULL;
		vfs->txn_result = r;
		vfs->txn_request = TXN_IDLE;
		pthread_cond_broadcast(&vfs->txn_cond);
	}
	pthread_mutex_unlock(&vfs->txn_mutex);
	return NULL;
}

/* Has the txn thread begin, commit or abort a write transaction; waits for it. */
static int txn_call(struct vfs *vfs, enum txn_request req, struct idx_txn **txnp)
{
	pthread_mutex_lock(&vfs->txn_mutex);
	vfs->txn_request = req;
	vfs->txn_arg = *txnp;
	pthread_cond_broadcast(&vfs->txn_cond);
	while (vfs->txn_request != TXN_IDLE)
		pthread_cond_wait(&vfs->txn_cond, &vfs->txn_mutex);
	*txnp = vfs->txn_arg;
	int r = vfs->txn_result;
	pthread_mutex_unlock(&vfs->txn_mutex);
	return r;
}

static int txn_thread_start(struct vfs *vfs)
{
	int r = pthread_create(&vfs->txn_thread, NULL, txn_thread_main, vfs);
	if (r)
		return -r;
	pthread_setname_np(vfs->txn_thread, "volfs-txn");
	vfs->txn_thread_started = true;
	return 0;
}

static void txn_thread_stop(struct vfs *vfs)
{
	if (!vfs->txn_thread_started)
		return;
	pthread_mutex_lock(&vfs->txn_mutex);
	vfs->txn_request = TXN_STOP;
	pthread_cond_broadcast(&vfs->txn_cond);
	pthread_mutex_unlock(&vfs->txn_mutex);
	pthread_join(vfs->txn_thread, NULL);
	vfs->txn_thread_started = false;
}

/* ---- the batch --------------------------------------------------------- */

int vfs_read_txn(struct vfs *vfs, struct idx_txn **ret_txn)
{
	if (vfs->txn) {
		*ret_txn = vfs->txn;
		return 0;
	}
	return idx_txn_begin(vfs->store->idx, IDX_TXN_RDONLY, ret_txn);
}

void vfs_read_done(struct vfs *vfs, struct idx_txn *txn)
{
	if (txn && txn != vfs->txn)
		idx_txn_abort(txn);
}

/* Ends the batch without its changes; gc's thread stops first (chunk.h). */
static void batch_abort(struct vfs *vfs)
{
	(void)chunk_gc_finish(vfs->store->chunks, NULL);
	txn_call(vfs, TXN_ABORT, &vfs->txn);
	vfs->txn = NULL;
}

/* Marks the volume broken after a change failed half-way (invariant 1). */
static void vfs_break(struct vfs *vfs, int r)
{
	syslog(LOG_ERR, "volfs %s: internal error in a change (%s): of the last %llu changes, "
	       "those no fsync logged are lost, and the volume is read-only until it is mounted again",
	       vfs->name, strerror(-r), (unsigned long long)vfs->txn_changes);
	batch_abort(vfs);
	vfs->broken = true;
}

/* A batch logs at most this much: well within the log (index/wal.h invariant 5). */
static uint64_t batch_max_log(const struct idx_txn *txn)
{
	uint64_t eighth = idx_txn_log_size(txn) / 8;
	return eighth < VFS_BATCH_MAX_LOG ? eighth : VFS_BATCH_MAX_LOG;
}

int vfs_write_txn(struct vfs *vfs, struct idx_txn **ret_txn)
{
	int r;
	if (vfs->rdonly || vfs->broken)
		return -EROFS;
	if (vfs->txn && !vfs->settling && (vfs->txn_changes >= VFS_BATCH_MAX_CHANGES ||
					   idx_txn_log_bytes(vfs->txn) >= batch_max_log(vfs->txn))) {
		r = vfs_commit(vfs);
		if (r < 0)
			return r;
	}
	if (!vfs->txn) {
		r = txn_call(vfs, TXN_BEGIN, &vfs->txn);
		if (r < 0)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &vfs->txn_begun);
		vfs->txn_changes = 0;
		/*
		 * Between batches others may change the tree record (a snapshot
		 * removed lowers S): the writable view is rebuilt from it, so that
		 * copy-on-write follows the snapshots that exist now.
		 */
		r = idx_view_live(vfs->txn, vfs->vol.tree, &vfs->view);
		if (r < 0) {
			batch_abort(vfs);
			return r;
		}
		/*
		 * Free the chunks that committed batches left dead.  This runs
		 * before this batch changes anything, so what it sees dead is
		 * dead on disk: a crash cannot bring a freed chunk back.  Their
		 * files go while the batch runs; vfs_commit() forgets them.
		 */
		r = chunk_gc_start(vfs->store->chunks, vfs->txn);
		if (r < 0)
			syslog(LOG_WARNING, "volfs %s: freeing dead chunks: %s", vfs->name, strerror(-r));
	}
	*ret_txn = vfs->txn;
	return 0;
}

int vfs_changed(struct vfs *vfs, int r)
{
	if (r < 0) {
		if (vfs->txn)
			vfs_break(vfs, r);
		return r == -ENOSPC || r == -EDQUOT ? r : -EIO;
	}
	vfs->txn_changes++;
	return r;
}

/* Invariant 2: the chunks first, then the records (committed or logged) that name them. */
static int sync_chunks(struct vfs *vfs)
{
	if (vfs->chunks_unsynced) {
		if (syncfs(vfs->store->dirfd) < 0)
			return -errno;
		vfs->chunks_unsynced = false;
	}
	return 0;
}

/*
 * The batch's journal records name their bytes in the log's next frame
 * (index.h): that frame goes first.  If the log cannot take it, or took an
 * earlier one wrongly, the journaled blocks are written back instead, so
 * that no committed record names bytes that were never written.
 */
static int settle_journal(struct vfs *vfs)
{
	if (vfs->settling || !vfs->journal_bytes)
		return 0;
	int r;
	if (idx_txn_log_usable(vfs->txn)) {
		if (!idx_txn_log_holds_data(vfs->txn))
			return 0;   /* the records' bytes are in frames already written */
		r = sync_chunks(vfs);
		if (r < 0)
			return r;
		r = idx_txn_log_sync(vfs->txn);
		if (r == 0)
			return 0;
		syslog(LOG_WARNING, "volfs %s: writing the write-ahead log: %s; writing journaled "
		       "blocks back instead", vfs->name, strerror(-r));
	}
	vfs->settling = true;
	r = data_flush_journaled(vfs);
	vfs->settling = false;
	if (r < 0 && vfs->txn)
		vfs_break(vfs, r);
	return r;
}

int vfs_commit(struct vfs *vfs)
{
	if (!vfs->txn)
		return 0;
	int r = settle_journal(vfs);
	if (r == 0)
		r = sync_chunks(vfs);
	if (r < 0)
		return r;
	r = chunk_gc_finish(vfs->store->chunks, vfs->txn);
	if (r < 0) {
		vfs_break(vfs, r);
		return -EIO;
	}
	/*
	 * Chunks left dead are freed by the next batch: the flusher begins one
	 * if nothing else does, so that a deletion gives its space back within
	 * a commit interval or two.  Not again after a batch of the flusher's
	 * that changed nothing else: what it could not take stays for later.
	 */
	bool idle_freeing = vfs->freeing && vfs->txn_changes == 0;
	vfs->freeing = false;
	vfs->free_due = !idle_freeing && idx_dead_chunk_any(vfs->txn) > 0;
	r = txn_call(vfs, TXN_COMMIT, &vfs->txn);
	vfs->txn = NULL;
	if (r < 0) {
		syslog(LOG_ERR, "volfs %s: commit failed (%s): of the last %llu changes, those no "
		       "fsync logged are lost, and the volume is read-only until it is mounted again",
		       vfs->name, strerror(-r), (unsigned long long)vfs->txn_changes);
		vfs->broken = true;
		return r == -ENOSPC ? r : -EIO;
	}
	return 0;
}

int vfs_make_durable(struct vfs *vfs)
{
	if (!vfs->txn)
		return 0;
	int r = sync_chunks(vfs);
	if (r < 0)
		return r;
	r = idx_txn_log_sync(vfs->txn);
	if (r == 0)
		return 0;
	/* the log refused (full disk, I/O error): a commit is durable too */
	syslog(LOG_WARNING, "volfs %s: writing the write-ahead log: %s; committing instead",
	       vfs->name, strerror(-r));
	return vfs_commit(vfs);
}

/* With vfs->lock held: sleeps a tick (10 ms), or until vfs_close() wakes the background threads. */
static void background_tick(struct vfs *vfs)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 10 * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&vfs->wake, &vfs->lock, &until);
}

/* A chunk cache no read used for this long is emptied (chunk_cache.h). */
#define VFS_CACHE_IDLE_MS 10000

/*
 * The flusher: every few milliseconds, commit the batch when it is older
 * than the commit interval, or when a buffered change not yet durable may
 * be, first journaling or writing back every such change; or commit it
 * when another writer waits for LMDB's lock; or begin one when the last
 * commit left dead chunks, which a batch frees as it begins.  Buffers whose
 * changes are all journaled stay: they are durable, and are written back
 * when the dirty limit, the journal's bounds, a close or a snapshot ask.
 * It also empties the chunk cache once reads have left it idle.  (A
 * read-only mount has no flusher: its cache goes at unmount.)
 */
static void *flusher_main(void *arg)
{
	struct vfs *vfs = arg;
	pthread_mutex_lock(&vfs->lock);
	while (!vfs->stopping) {
		background_tick(vfs);
		if (vfs->stopping)
			break;
		unsigned interval = vfs->opts.commit_interval_ms;
		bool old_data = vfs->dirty_bytes && ms_since(&vfs->dirty_since) >= interval;
		bool old_batch = vfs->txn && ms_since(&vfs->txn_begun) >= interval;
		bool handover = vfs->txn && ms_since(&vfs->txn_begun) >= VFS_HANDOVER_MS &&
				idx_env_writer_waiting(vfs->store->idx);
		int r = 0;
		if (old_data || old_batch) {
			r = data_journal_all(vfs);
			int r2 = vfs_commit(vfs);
			r = r ? r : r2;
			if (r == 0)   /* what stays buffered is durable now */
				clock_gettime(CLOCK_MONOTONIC, &vfs->dirty_since);
		} else if (handover)
			r = vfs_commit(vfs);
		else if (!vfs->txn && vfs->free_due) {
			struct idx_txn *txn;
			vfs->free_due = false;
			r = vfs_write_txn(vfs, &txn);   /* frees the dead chunks as it begins */
			vfs->freeing = r == 0;
		}
		chunk_cache_drop_idle(vfs->cache, VFS_CACHE_IDLE_MS);
		if (r < 0 && !vfs->broken)
			syslog(LOG_WARNING, "volfs %s: background commit: %s", vfs->name, strerror(-r));
	}
	pthread_mutex_unlock(&vfs->lock);
	return NULL;
}

/*
 * The cleaner: writes journaled buffers back a few steps before the
 * journal's bounds, so that fsync need not; the chunk files are written
 * without the lock (vfs_internal.h invariant 8).
 */
static void *cleaner_main(void *arg)
{
	struct vfs *vfs = arg;
	pthread_mutex_lock(&vfs->lock);
	while (!vfs->stopping) {
		struct clean_work *w = data_clean_pick(vfs);
		if (!w) {
			background_tick(vfs);
			continue;
		}
		pthread_mutex_unlock(&vfs->lock);
		data_clean_write(vfs, w);
		pthread_mutex_lock(&vfs->lock);
		int r = data_clean_install(vfs, w);
		if (r < 0 && !vfs->broken)
			syslog(LOG_WARNING, "volfs %s: background write-back: %s", vfs->name,
			       strerror(-r));
		if (r <= 0)
			background_tick(vfs);   /* nothing done: not again at once */
	}
	pthread_mutex_unlock(&vfs->lock);
	return NULL;
}

int vfs_start_threads(struct vfs *vfs)
{
	if (vfs->rdonly || vfs->flusher_started)
		return 0;
	int r = pthread_create(&vfs->flusher, NULL, flusher_main, vfs);
	if (r)
		return -r;
	pthread_setname_np(vfs->flusher, "volfs-flusher");
	vfs->flusher_started = true;
	r = pthread_create(&vfs->cleaner, NULL, cleaner_main, vfs);
	if (r)
		return -r;   /* vfs_close() stops the flusher */
	pthread_setname_np(vfs->cleaner, "volfs-cleaner");
	vfs->cleaner_started = true;
	return 0;
}

/* ---- inodes in use --------------------------------------------------------- */

static size_t vnode_slot(const struct vfs *vfs, uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 32) & (vfs->hsize - 1);
}

struct vnode *vnode_find(struct vfs *vfs, uint64_t ino)
{
	for (struct vnode *vn = vfs->htab[vnode_slot(vfs, ino)]; vn; vn = vn->hnext)
		if (vn->ino == ino)
			return vn;
	return NULL;
}

static void vnode_rehash(struct vfs *vfs)
{
	size_t old = vfs->hsize;
	struct vnode **tab = calloc(old * 2, sizeof(*tab));
	if (!tab)
		return;   /* keep the longer chains */
	struct vnode **oldtab = vfs->htab;
	vfs->htab = tab;
	vfs->hsize = old * 2;
	for (size_t i = 0; i < old; i++) {
		struct vnode *vn = oldtab[i];
		while (vn) {
			struct vnode *next = vn->hnext;
			size_t s = vnode_slot(vfs, vn->ino);
			vn->hnext = tab[s];
			tab[s] = vn;
			vn = next;
		}
	}
	free(oldtab);
}

struct vnode *vnode_get(struct vfs *vfs, uint64_t ino)
{
	struct vnode *vn = vnode_find(vfs, ino);
	if (vn)
		return vn;
	vn = calloc(1, sizeof(*vn));
	if (!vn)
		return NULL;
	vn->ino = ino;
	size_t s = vnode_slot(vfs, ino);
	vn->hnext = vfs->htab[s];
	vfs->htab[s] = vn;
	if (++vfs->hcount > vfs->hsize)
		vnode_rehash(vfs);
	return vn;
}

void vnode_put_if_idle(struct vfs *vfs, struct vnode *vn)
{
	if (!vn || vn->nlookup || vn->nopen || vn->nwb)
		return;
	struct vnode **p = &vfs->htab[vnode_slot(vfs, vn->ino)];
	while (*p != vn)
		p = &(*p)->hnext;
	*p = vn->hnext;
	vfs->hcount--;
	free(vn->wb);
	free(vn);
}

/* ---- attributes ------------------------------------------------------------- */

int vfs_inode_get(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, struct idx_inode *ret)
{
	return idx_inode_get(txn, &vfs->view, ino, ret);
}

int vfs_inode_put(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, const struct idx_inode *in)
{
	return vfs_changed(vfs, idx_inode_put(txn, &vfs->view, ino, in));
}

void vfs_stat_of(const struct vfs *vfs, uint64_t ino, const struct idx_inode *in, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = in->mode;
	st->st_nlink = in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_rdev = in->rdev;
	st->st_size = (off_t)in->size;
	st->st_blksize = vfs->block_size;
	st->st_blocks = (blkcnt_t)in->blocks;
	st->st_atim = in->atime;
	st->st_mtim = in->mtime;
	st->st_ctim = in->ctime;
}

static int check_name(const char *name)
{
	size_t len = strlen(name);
	if (len == 0)
		return -ENOENT;
	if (len > IDX_FILENAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* The inode of directory @dir, which must be a live directory. */
static int dir_get(struct vfs *vfs, struct idx_txn *txn, uint64_t dir, struct idx_inode *ret)
{
	int r = vfs_inode_get(vfs, txn, dir, ret);
	if (r < 0)
		return r;
	if (!S_ISDIR(ret->mode))
		return -ENOTDIR;
	if (ret->nlink == 0)
		return -ENOENT;   /* removed while someone is inside */
	return 0;
}

int vfs_lookup(struct vfs *vfs, uint64_t dir, const char *name, struct stat *ret_st)
{
	struct idx_txn *txn;
	struct idx_inode din, in;
	struct idx_dirent de;
	uint64_t ino;
	int r = check_name(name);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vfs->lock);
	r = vfs_read_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = dir_get(vfs, txn, dir, &din);
	if (r < 0)
		goto done;
	if (!strcmp(name, ".")) {
		ino = dir;
	} else if (!strcmp(name, "..")) {
		ino = din.parent;
	} else {
		r = idx_dirent_get(txn, &vfs->view, dir, name, strlen(name), &de);
		if (r < 0)
			goto done;
		ino = de.ino;
	}
	r = vfs_inode_get(vfs, txn, ino, &in);
	if (r < 0) {
		r = r == -ENOENT ? -EUCLEAN : r;   /* a dirent without its inode */
		goto done;
	}
	struct vnode *vn = vnode_get(vfs, ino);
	if (!vn) {
		r = -ENOMEM;
		goto done;
	}
	vn->nlookup++;
	vfs_stat_of(vfs, ino, &in, ret_st);
done:
	vfs_read_done(vfs, txn);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_getattr(struct vfs *vfs, uint64_t ino, struct stat *ret_st)
{
	struct idx_txn *txn;
	struct idx_inode in;
	pthread_mutex_lock(&vfs->lock);
	int r = vfs_read_txn(vfs, &txn);
	if (r == 0) {
		r = vfs_inode_get(vfs, txn, ino, &in);
		if (r == 0) {
			in.blocks = data_buffered_blocks(vfs, txn, ino, &in);
			vfs_stat_of(vfs, ino, &in, ret_st);
		}
		vfs_read_done(vfs, txn);
	}
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

/* ---- freeing inodes ---------------------------------------------------------- */

struct name_list {
	char **names;
	size_t n, cap;
};

static int collect_xattr(const char *name, const void *value, size_t len, void *arg)
{
	struct name_list *l = arg;
	if (ARRAY_RESERVE(l->names, l->n, l->cap, 8) < 0)
		return -ENOMEM;
	l->names[l->n] = strdup(name);
	if (!l->names[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

static void name_list_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
}

/* Deletes inode @ino with its data and xattrs, and its orphan entry. */
static int inode_free(struct vfs *vfs, struct idx_txn *txn, uint64_t ino)
{
	struct name_list xl = { 0 };
	int r = data_free(vfs, txn, ino);
	if (r < 0)
		return r;
	r = idx_xattr_foreach(txn, &vfs->view, ino, collect_xattr, &xl);
	for (size_t i = 0; i < xl.n && r == 0; i++)
		r = vfs_changed(vfs, idx_xattr_del(txn, &vfs->view, ino, xl.names[i]));
	name_list_free(&xl);
	if (r < 0)
		return r;
	r = vfs_changed(vfs, idx_inode_del(txn, &vfs->view, ino));
	if (r < 0)
		return r;
	r = idx_orphan_del(txn, vfs->view.level[0].tree, ino);
	return r == -ENOENT ? 0 : vfs_changed(vfs, r);
}

/*
 * The last name of @ino went: free it now, or, if the kernel or an open
 * file still holds it, keep it on the orphan list until vfs_forget() or
 * vfs_release() lets go (or the next mount, after a crash).
 */
static int inode_unlinked(struct vfs *vfs, struct idx_txn *txn, uint64_t ino)
{
	struct vnode *vn = vnode_find(vfs, ino);
	if (vn && (vn->nlookup || vn->nopen))
		return vfs_changed(vfs, idx_orphan_add(txn, vfs->view.level[0].tree, ino));
	return inode_free(vfs, txn, ino);
}

/* Frees @ino if nothing holds it any more and it has no name. */
static void maybe_free(struct vfs *vfs, struct vnode *vn)
{
	struct idx_txn *txn;
	struct idx_inode in;
	if (vn->nlookup || vn->nopen)
		return;
	/* most forgotten inodes still have names: look before taking the batch */
	bool unlinked = false;
	if (!vfs->rdonly && !vfs->broken && vfs_read_txn(vfs, &txn) == 0) {
		unlinked = vfs_inode_get(vfs, txn, vn->ino, &in) == 0 && in.nlink == 0;
		vfs_read_done(vfs, txn);
	}
	if (unlinked && vfs_write_txn(vfs, &txn) == 0) {
		int r = inode_free(vfs, txn, vn->ino);   /* its buffers and journal too */
		if (r < 0)
			syslog(LOG_ERR, "volfs %s: freeing inode %llu: %s", vfs->name,
			       (unsigned long long)vn->ino, strerror(-r));
	}
	vnode_put_if_idle(vfs, vn);
}

void vfs_forget(struct vfs *vfs, uint64_t ino, uint64_t n)
{
	pthread_mutex_lock(&vfs->lock);
	struct vnode *vn = vnode_find(vfs, ino);
	if (vn) {
		vn->nlookup = vn->nlookup > n ? vn->nlookup - n : 0;
		maybe_free(vfs, vn);
	}
	pthread_mutex_unlock(&vfs->lock);
}

struct orphan_list {
	uint64_t tree;
	uint64_t *inos;
	size_t n, cap;
};

static int collect_orphan(uint64_t tree, uint64_t ino, void *arg)
{
	struct orphan_list *l = arg;
	if (tree != l->tree)
		return 0;
	if (ARRAY_RESERVE(l->inos, l->n, l->cap, 16) < 0)
		return -ENOMEM;
	l->inos[l->n++] = ino;
	return 0;
}

/* Frees the orphans of this tree that nothing holds (all of them at mount). */
static int reclaim_orphans(struct vfs *vfs)
{
	struct orphan_list l = { .tree = vfs->view.level[0].tree };
	struct idx_txn *txn;
	int r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		return r;
	r = idx_orphan_foreach(txn, collect_orphan, &l);
	for (size_t i = 0; i < l.n && r == 0; i++) {
		struct vnode *vn = vnode_find(vfs, l.inos[i]);
		if (vn && (vn->nlookup || vn->nopen))
			continue;
		r = inode_free(vfs, txn, l.inos[i]);   /* its buffers and journal too */
		if (vn)
			vnode_put_if_idle(vfs, vn);
	}
	free(l.inos);
	return r;
}

/* ---- opening and closing a volume ---------------------------------------------- */

int vfs_open(struct store *store, const char *spec, const struct vfs_options *opts,
	     struct vfs **ret_vfs)
{
	char volname[IDX_NAME_MAX + 1];
	const char *at = strchr(spec, '@');
	const char *snapname = at ? at + 1 : NULL;
	size_t vlen = at ? (size_t)(at - spec) : strlen(spec);
	struct idx_txn *txn;
	int r;

	if (vlen > IDX_NAME_MAX)
		return -EINVAL;
	memcpy(volname, spec, vlen);
	volname[vlen] = 0;
	if (!volume_name_valid(volname) || (snapname && !volume_name_valid(snapname)))
		return -EINVAL;

	struct vfs *vfs = calloc(1, sizeof(*vfs));
	if (!vfs)
		return -ENOMEM;
	vfs->store = store;
	vfs->opts = *opts;
	if (!vfs->opts.dirty_limit)
		vfs->opts.dirty_limit = VFS_DIRTY_LIMIT_DEFAULT;
	if (!vfs->opts.commit_interval_ms)
		vfs->opts.commit_interval_ms = VFS_COMMIT_INTERVAL_DEFAULT;
	vfs->rdonly = opts->rdonly || snapname;
	snprintf(vfs->name, sizeof(vfs->name), "%s", spec);
	pthread_mutex_init(&vfs->lock, NULL);
	pthread_cond_init(&vfs->wake, NULL);
	pthread_mutex_init(&vfs->txn_mutex, NULL);
	pthread_cond_init(&vfs->txn_cond, NULL);
	vfs->hsize = 1024;
	vfs->htab = calloc(vfs->hsize, sizeof(*vfs->htab));
	vfs->cache = chunk_cache_new();
	if (!vfs->htab || !vfs->cache) {
		r = -ENOMEM;
		goto fail;
	}
	if (!vfs->rdonly) {
		r = txn_thread_start(vfs);
		if (r < 0)
			goto fail;
	}

	/*
	 * A view of the live tree starts from every change made durable so
	 * far, the ones still only in the write-ahead log included.
	 */
	if (!snapname) {
		r = idx_env_catch_up(store->idx);
		if (r < 0)
			goto fail;
	}
	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r < 0)
		goto fail;
	r = idx_volume_get(txn, volname, &vfs->vol);
	if (r == 0 && snapname) {
		struct idx_snapshot snap;
		r = idx_snapshot_get(txn, vfs->vol.id, snapname, &snap);
		if (r == 0)
			r = idx_view_at(txn, snap.tree, snap.gen, &vfs->view);
	} else if (r == 0) {
		r = idx_view_live(txn, vfs->vol.tree, &vfs->view);
	}
	idx_txn_abort(txn);
	if (r < 0)
		goto fail;
	vfs->block_size = vfs->vol.block_size;

	vfs->journal_visible = vfs->rdonly && !snapname;
	if (!vfs->rdonly) {
		pthread_mutex_lock(&vfs->lock);
		r = data_replay_journal(vfs);
		if (r == 0)
			r = reclaim_orphans(vfs);
		if (r == 0)
			r = vfs_commit(vfs);
		pthread_mutex_unlock(&vfs->lock);
		if (r < 0)
			goto fail;
	}
	*ret_vfs = vfs;
	return 0;
fail:
	vfs_close(vfs);
	return r;
}

static int any_record(const struct idx_journal_rec *rec, void *arg)
{
	return 1;
}

int vfs_recover(struct store *store, const char *volume)
{
	struct idx_txn *txn;
	struct idx_volume vol;
	int r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r < 0)
		return r;
	r = idx_volume_get(txn, volume, &vol);
	if (r == 0)
		r = idx_journal_foreach(txn, vol.tree, any_record, NULL);
	idx_txn_abort(txn);
	if (r <= 0)
		return r;
	struct vfs *vfs;
	struct vfs_options opts = { 0 };
	r = vfs_open(store, volume, &opts, &vfs);   /* replays */
	int r2 = r == 0 ? vfs_close(vfs) : 0;
	return r < 0 ? r : r2;
}

int vfs_sync(struct vfs *vfs)
{
	pthread_mutex_lock(&vfs->lock);
	/*
	 * A block that cannot be written back (ENOSPC) stays buffered and the
	 * error is reported; the rest of the batch is committed all the same.
	 */
	int flush_error = data_flush_all(vfs);
	int r = vfs_commit(vfs);
	if (r == 0)
		r = flush_error;
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_close(struct vfs *vfs)
{
	int r = 0;
	if (!vfs)
		return 0;
	pthread_mutex_lock(&vfs->lock);
	vfs->stopping = true;
	pthread_cond_broadcast(&vfs->wake);
	pthread_mutex_unlock(&vfs->lock);
	if (vfs->flusher_started)
		pthread_join(vfs->flusher, NULL);
	if (vfs->cleaner_started)
		pthread_join(vfs->cleaner, NULL);

	pthread_mutex_lock(&vfs->lock);
	if (vfs->htab && !vfs->rdonly && !vfs->broken) {
		r = data_flush_all(vfs);
		/* the kernel is gone: nothing holds an orphan any more */
		for (size_t i = 0; i < vfs->hsize; i++)
			for (struct vnode *vn = vfs->htab[i]; vn; vn = vn->hnext)
				vn->nlookup = vn->nopen = 0;
		int r2 = reclaim_orphans(vfs);
		if (r == 0)
			r = r2;
		r2 = vfs_commit(vfs);
		if (r == 0)
			r = r2;
	}
	if (vfs->txn)
		batch_abort(vfs);
	if (vfs->dirty_bytes)
		syslog(LOG_ERR, "volfs %s: %llu bytes of buffered writes could not be written "
		       "back and are lost", vfs->name, (unsigned long long)vfs->dirty_bytes);
	for (size_t i = 0; vfs->htab && i < vfs->hsize; i++) {
		struct vnode *vn = vfs->htab[i];
		while (vn) {
			struct vnode *next = vn->hnext;
			data_drop_buffers(vfs, vn);
			free(vn->wb);
			free(vn);
			vn = next;
		}
	}
	pthread_mutex_unlock(&vfs->lock);
	txn_thread_stop(vfs);
	free(vfs->htab);
	chunk_cache_free(vfs->cache);
	pthread_mutex_destroy(&vfs->lock);
	pthread_cond_destroy(&vfs->wake);
	pthread_mutex_destroy(&vfs->txn_mutex);
	pthread_cond_destroy(&vfs->txn_cond);
	free(vfs);
	return r;
}

uint32_t vfs_block_size(const struct vfs *vfs)
{
	return vfs->block_size;
}

bool vfs_is_rdonly(const struct vfs *vfs)
{
	return vfs->rdonly;
}

/* ---- setattr --------------------------------------------------------------------- */

/*
 * Clears set-user-ID, and set-group-ID with group execute (or, with
 * @sgid_too, without it); true if it did.
 */
static bool kill_suidgid(struct idx_inode *in, bool sgid_too)
{
	mode_t before = in->mode;
	in->mode &= ~(mode_t)S_ISUID;
	if ((in->mode & S_IXGRP) || sgid_too)
		in->mode &= ~(mode_t)S_ISGID;
	return in->mode != before;
}

int vfs_kill_suidgid(struct vfs *vfs, uint64_t ino, vfs_in_group_fn in_group, void *arg)
{
	struct idx_txn *txn;
	struct idx_inode in;
	pthread_mutex_lock(&vfs->lock);
	int r = vfs_read_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, ino, &in);
	vfs_read_done(vfs, txn);
	if (r < 0 || !S_ISREG(in.mode) || !(in.mode & (S_ISUID | S_ISGID)))
		goto out;
	gid_t gid = in.gid;
	bool sgid_too = in_group && (in.mode & (S_ISGID | S_IXGRP)) == S_ISGID;
	if (sgid_too) {
		/* the caller's groups may come from /proc: not under the lock */
		pthread_mutex_unlock(&vfs->lock);
		sgid_too = !in_group(arg, gid);
		pthread_mutex_lock(&vfs->lock);
	}
	struct idx_inode probe = in;
	if (!kill_suidgid(&probe, sgid_too))
		goto out;
	r = vfs_write_txn(vfs, &txn);
	if (r == 0)
		r = vfs_inode_get(vfs, txn, ino, &in);   /* again: it may have changed meanwhile */
	if (r == 0 && kill_suidgid(&in, sgid_too && in.gid == gid)) {
		vfs_now(&in.ctime);
		r = vfs_inode_put(vfs, txn, ino, &in);
	}
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_setattr(struct vfs *vfs, uint64_t ino, const struct stat *st, unsigned set,
		struct stat *ret_st)
{
	struct idx_txn *txn;
	struct idx_inode in;
	struct timespec now;
	vfs_now(&now);
	pthread_mutex_lock(&vfs->lock);
	int r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, ino, &in);
	if (r < 0)
		goto out;
	if ((set & VFS_SET_SIZE) && !S_ISREG(in.mode)) {
		r = S_ISDIR(in.mode) ? -EISDIR : -EINVAL;
		goto out;
	}

	/* the access ACL, copied out (index memory lasts only until the next write) */
	uint8_t acl[IDX_XATTR_VALUE_MAX];
	size_t acl_len = 0;
	if (set & VFS_SET_MODE) {
		const void *found;
		r = idx_xattr_get(txn, &vfs->view, ino, ACL_XATTR_ACCESS, &found, &acl_len);
		if (r < 0 && r != -ENOENT)
			goto out;
		if (r == 0)
			memcpy(acl, found, acl_len);
		else
			acl_len = 0;
		in.mode = (in.mode & S_IFMT) | (st->st_mode & 07777);
	}
	if (!S_ISDIR(in.mode)) {
		/*
		 * chown(2) clears set-user-ID, and set-group-ID with group
		 * execute; so does a truncate by the unprivileged, for which the
		 * kernel asks with VFS_SET_KILL_SUIDGID (it asks for a chown too)
		 */
		bool changes = ((set & VFS_SET_UID) && st->st_uid != in.uid) ||
			       ((set & VFS_SET_GID) && st->st_gid != in.gid);
		if (changes || (set & VFS_SET_KILL_SUIDGID))
			kill_suidgid(&in, false);
	}
	if (set & VFS_SET_UID)
		in.uid = st->st_uid;
	if (set & VFS_SET_GID)
		in.gid = st->st_gid;
	if (set & VFS_SET_SIZE) {
		r = data_truncate(vfs, txn, ino, &in, (uint64_t)st->st_size);
		if (r < 0)
			goto out;
		in.mtime = now;   /* truncate(2) always updates both */
	}
	if (acl_len) {
		/* chmod(2) rewrites the ACL's owner, mask and other entries */
		acl_chmod(acl, acl_len, in.mode);
		r = vfs_changed(vfs, idx_xattr_put(txn, &vfs->view, ino, ACL_XATTR_ACCESS, acl,
						   acl_len));
		if (r < 0)
			goto out;
	}
	if (set & VFS_SET_ATIME_NOW)
		in.atime = now;
	else if (set & VFS_SET_ATIME)
		in.atime = st->st_atim;
	if (set & VFS_SET_MTIME_NOW)
		in.mtime = now;
	else if (set & VFS_SET_MTIME)
		in.mtime = st->st_mtim;
	in.ctime = (set & VFS_SET_CTIME) ? st->st_ctim : now;
	r = vfs_inode_put(vfs, txn, ino, &in);
	if (r == 0)
		vfs_stat_of(vfs, ino, &in, ret_st);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

/* ---- making names -------------------------------------------------------------------- */

/* Everything that makes a new inode with a name: mknod, mkdir, symlink, create. */
static int make_node(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t dir, const char *name,
		     mode_t mode, dev_t rdev, const char *target, struct stat *ret_st,
		     uint64_t *ret_ino)
{
	struct idx_txn *txn;
	struct idx_inode din, in;
	struct idx_dirent de;
	struct timespec now;
	uint64_t ino;
	size_t tlen = target ? strlen(target) : 0;
	int r = check_name(name);
	if (r < 0)
		return r;
	if (target && tlen == 0)
		return -ENOENT;
	if (target && tlen > IDX_INLINE_MAX - 1)
		return -ENAMETOOLONG;
	vfs_now(&now);

	r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		return r;
	r = dir_get(vfs, txn, dir, &din);
	if (r < 0)
		return r;
	r = idx_dirent_get(txn, &vfs->view, dir, name, strlen(name), &de);
	if (r == 0)
		return -EEXIST;
	if (r != -ENOENT)
		return r;
	r = store_space_admit(vfs->store, 0);
	if (r < 0)
		return r;
	/* a default ACL of the directory takes the place of the umask */
	/*
	 * Copied out at once: what the index returns is valid only until the
	 * next write of the transaction.
	 */
	const void *found = NULL;
	size_t deflen = 0;
	uint8_t def[IDX_XATTR_VALUE_MAX], access[IDX_XATTR_VALUE_MAX];
	bool has_def = false, keep_access = false;
	mode_t perms = mode & 07777;
	if (!S_ISLNK(mode)) {
		r = idx_xattr_get(txn, &vfs->view, dir, ACL_XATTR_DEFAULT, &found, &deflen);
		if (r < 0 && r != -ENOENT)
			return r;
		has_def = r == 0 && acl_valid(found, deflen) == 0;
		if (has_def)
			memcpy(def, found, deflen);
	}
	if (has_def)
		keep_access = acl_inherit(def, deflen, access, &perms);
	else
		perms &= ~ctx->umask;
	/* the checks are done: from here on a failure breaks the batch */
	r = vfs_changed(vfs, idx_ino_alloc(txn, &vfs->view, &ino));
	if (r < 0)
		return r;
	in = (struct idx_inode){
		.uid = ctx->uid,
		.gid = ctx->gid,
		.nlink = S_ISDIR(mode) ? 2 : 1,
		.rdev = (S_ISCHR(mode) || S_ISBLK(mode)) ? rdev : 0,
		.parent = S_ISDIR(mode) ? dir : 0,
		.atime = now, .mtime = now, .ctime = now, .btime = now,
	};
	in.mode = (mode & S_IFMT) | perms;
	/* BSD group semantics in a set-group-ID directory, as Linux does */
	if (din.mode & S_ISGID) {
		in.gid = din.gid;
		if (S_ISDIR(mode))
			in.mode |= S_ISGID;
	}
	if (target) {
		struct idx_extent ext = { .kind = IDX_EXTENT_INLINE, .length = (uint32_t)tlen,
					  .inline_data = target };
		in.size = tlen;
		r = vfs_changed(vfs, idx_extent_put(txn, &vfs->view, ino, 0, &ext));
		if (r < 0)
			return r;
	}
	r = vfs_inode_put(vfs, txn, ino, &in);
	if (r < 0)
		return r;
	if (keep_access)
		r = vfs_changed(vfs, idx_xattr_put(txn, &vfs->view, ino, ACL_XATTR_ACCESS, access,
						   deflen));
	if (r == 0 && has_def && S_ISDIR(mode))
		r = vfs_changed(vfs, idx_xattr_put(txn, &vfs->view, ino, ACL_XATTR_DEFAULT, def,
						   deflen));
	if (r < 0)
		return r;
	de = (struct idx_dirent){ .ino = ino, .type = (uint8_t)IFTODT(mode) };
	r = vfs_changed(vfs, idx_dirent_put(txn, &vfs->view, dir, name, strlen(name), &de));
	if (r < 0)
		return r;
	din.mtime = din.ctime = now;
	if (S_ISDIR(mode))
		din.nlink++;
	r = vfs_inode_put(vfs, txn, dir, &din);
	if (r < 0)
		return r;
	struct vnode *vn = vnode_get(vfs, ino);
	if (!vn)
		return -ENOMEM;
	vn->nlookup++;
	vfs_stat_of(vfs, ino, &in, ret_st);
	if (ret_ino)
		*ret_ino = ino;
	return 0;
}

int vfs_mknod(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t dir, const char *name,
	      mode_t mode, dev_t rdev, struct stat *ret_st)
{
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISCHR(mode) &&
	    !S_ISBLK(mode))
		return S_ISDIR(mode) ? -EPERM : -EINVAL;
	pthread_mutex_lock(&vfs->lock);
	int r = make_node(vfs, ctx, dir, name, mode, rdev, NULL, ret_st, NULL);
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_mkdir(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t dir, const char *name,
	      mode_t mode, struct stat *ret_st)
{
	pthread_mutex_lock(&vfs->lock);
	int r = make_node(vfs, ctx, dir, name, S_IFDIR | (mode & 07777), 0, NULL, ret_st, NULL);
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_symlink(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t dir, const char *name,
		const char *target, struct stat *ret_st)
{
	struct vfs_ctx c = *ctx;
	c.umask = 0;   /* symlinks are always 0777 */
	pthread_mutex_lock(&vfs->lock);
	int r = make_node(vfs, &c, dir, name, S_IFLNK | 0777, 0, target, ret_st, NULL);
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

/* Counts an open of @ino; O_TRUNC truncates a regular file. */
static int open_locked(struct vfs *vfs, uint64_t ino, int flags)
{
	struct idx_txn *txn;
	struct idx_inode in;
	bool trunc = (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY;
	int r = trunc ? vfs_write_txn(vfs, &txn) : vfs_read_txn(vfs, &txn);
	if (r < 0)
		return r;
	r = vfs_inode_get(vfs, txn, ino, &in);
	if (r == 0 && S_ISDIR(in.mode) && (flags & O_ACCMODE) != O_RDONLY)
		r = -EISDIR;
	struct vnode *vn = r == 0 ? vnode_get(vfs, ino) : NULL;
	if (r == 0 && !vn)
		r = -ENOMEM;
	if (r == 0 && trunc && S_ISREG(in.mode) && in.size > 0) {
		struct timespec now;
		vfs_now(&now);
		r = data_truncate(vfs, txn, ino, &in, 0);
		in.mtime = in.ctime = now;
		if (r == 0)
			r = vfs_inode_put(vfs, txn, ino, &in);
	}
	if (r == 0) {
		vn->nopen++;
		if ((flags & O_ACCMODE) != O_RDONLY)
			vn->kernel_dirty = true;
	}
	if (!trunc)
		vfs_read_done(vfs, txn);
	return r;
}

int vfs_open_file(struct vfs *vfs, uint64_t ino, int flags)
{
	if (vfs->rdonly && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)))
		return -EROFS;
	pthread_mutex_lock(&vfs->lock);
	int r = open_locked(vfs, ino, flags);
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_create(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t dir, const char *name,
	       mode_t mode, int flags, struct stat *ret_st)
{
	struct idx_txn *txn;
	struct idx_dirent de;
	uint64_t ino;
	pthread_mutex_lock(&vfs->lock);
	int r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = check_name(name);
	if (r == 0)
		r = idx_dirent_get(txn, &vfs->view, dir, name, strlen(name), &de);
	if (r == 0) {
		/* it appeared since the kernel looked: open it, unless O_EXCL */
		struct idx_inode in;
		if (flags & O_EXCL) {
			r = -EEXIST;
			goto out;
		}
		r = open_locked(vfs, de.ino, flags);
		if (r == 0)
			r = vfs_inode_get(vfs, vfs->txn, de.ino, &in);
		if (r == 0) {
			vnode_get(vfs, de.ino)->nlookup++;
			vfs_stat_of(vfs, de.ino, &in, ret_st);
		}
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	r = make_node(vfs, ctx, dir, name, S_IFREG | (mode & 07777), 0, NULL, ret_st, &ino);
	if (r == 0) {
		struct vnode *vn = vnode_get(vfs, ino);
		vn->nopen++;
		vn->kernel_dirty = true;
	}
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_link(struct vfs *vfs, uint64_t ino, uint64_t dir, const char *name, struct stat *ret_st)
{
	struct idx_txn *txn;
	struct idx_inode din, in;
	struct idx_dirent de;
	struct timespec now;
	vfs_now(&now);
	int r = check_name(name);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vfs->lock);
	r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, ino, &in);
	if (r < 0)
		goto out;
	if (S_ISDIR(in.mode)) {
		r = -EPERM;
		goto out;
	}
	if (in.nlink >= UINT32_MAX - 1) {
		r = -EMLINK;
		goto out;
	}
	r = dir_get(vfs, txn, dir, &din);
	if (r < 0)
		goto out;
	r = idx_dirent_get(txn, &vfs->view, dir, name, strlen(name), &de);
	if (r == 0) {
		r = -EEXIST;
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	r = store_space_admit(vfs->store, 0);
	if (r < 0)
		goto out;
	struct vnode *vn = vnode_get(vfs, ino);
	if (!vn) {
		r = -ENOMEM;
		goto out;
	}

	de = (struct idx_dirent){ .ino = ino, .type = (uint8_t)IFTODT(in.mode) };
	r = vfs_changed(vfs, idx_dirent_put(txn, &vfs->view, dir, name, strlen(name), &de));
	if (r < 0)
		goto out;
	if (in.nlink == 0) {   /* linkat() of an open, unlinked file: no longer an orphan */
		r = idx_orphan_del(txn, vfs->view.level[0].tree, ino);
		r = vfs_changed(vfs, r == -ENOENT ? 0 : r);
		if (r < 0)
			goto out;
	}
	in.nlink++;
	in.ctime = now;
	r = vfs_inode_put(vfs, txn, ino, &in);
	if (r < 0)
		goto out;
	din.mtime = din.ctime = now;
	r = vfs_inode_put(vfs, txn, dir, &din);
	if (r < 0)
		goto out;
	vn->nlookup++;
	vfs_stat_of(vfs, ino, &in, ret_st);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

/* ---- removing names ---------------------------------------------------------------- */

static int first_entry(const char *name, size_t namelen, const struct idx_dirent *de, void *arg)
{
	return 1;
}

static int dir_is_empty(struct vfs *vfs, struct idx_txn *txn, uint64_t dir)
{
	int r = idx_dirent_foreach(txn, &vfs->view, dir, NULL, 0, first_entry, NULL);
	return r < 0 ? r : r == 0;
}

/*
 * Removes the name @name (whose entry is @de, inode @in) from directory @dir
 * (inode @din, updated in memory only) and drops the link it held.
 */
static int drop_name(struct vfs *vfs, struct idx_txn *txn, uint64_t dir, struct idx_inode *din,
		     const char *name, const struct idx_dirent *de, struct idx_inode *in,
		     const struct timespec *now)
{
	int r = vfs_changed(vfs, idx_dirent_del(txn, &vfs->view, dir, name, strlen(name)));
	if (r < 0)
		return r;
	if (S_ISDIR(in->mode)) {
		in->nlink = 0;
		din->nlink--;
	} else {
		in->nlink--;
	}
	in->ctime = *now;
	if (in->nlink > 0)
		return vfs_inode_put(vfs, txn, de->ino, in);
	r = vfs_inode_put(vfs, txn, de->ino, in);
	if (r < 0)
		return r;
	return inode_unlinked(vfs, txn, de->ino);
}

static int remove_name(struct vfs *vfs, uint64_t dir, const char *name, bool want_dir)
{
	struct idx_txn *txn;
	struct idx_inode din, in;
	struct idx_dirent de;
	struct timespec now;
	vfs_now(&now);
	int r = check_name(name);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vfs->lock);
	r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = dir_get(vfs, txn, dir, &din);
	if (r < 0)
		goto out;
	r = idx_dirent_get(txn, &vfs->view, dir, name, strlen(name), &de);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, de.ino, &in);
	if (r < 0)
		goto out;
	if (want_dir && !S_ISDIR(in.mode)) {
		r = -ENOTDIR;
		goto out;
	}
	if (!want_dir && S_ISDIR(in.mode)) {
		r = -EISDIR;
		goto out;
	}
	if (want_dir) {
		r = dir_is_empty(vfs, txn, de.ino);
		if (r <= 0) {
			r = r == 0 ? -ENOTEMPTY : r;
			goto out;
		}
	}
	r = drop_name(vfs, txn, dir, &din, name, &de, &in, &now);
	if (r < 0)
		goto out;
	din.mtime = din.ctime = now;
	r = vfs_inode_put(vfs, txn, dir, &din);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_unlink(struct vfs *vfs, uint64_t dir, const char *name)
{
	return remove_name(vfs, dir, name, false);
}

int vfs_rmdir(struct vfs *vfs, uint64_t dir, const char *name)
{
	if (!strcmp(name, "."))
		return -EINVAL;
	if (!strcmp(name, ".."))
		return -ENOTEMPTY;
	return remove_name(vfs, dir, name, true);
}

/* Is directory @ino @dir itself or one of its ancestors? */
static int is_ancestor(struct vfs *vfs, struct idx_txn *txn, uint64_t ino, uint64_t dir)
{
	for (unsigned depth = 0; depth < 1u << 20; depth++) {
		struct idx_inode in;
		if (dir == ino)
			return 1;
		if (dir == IDX_ROOT_INO)
			return 0;
		int r = vfs_inode_get(vfs, txn, dir, &in);
		if (r < 0)
			return r;
		dir = in.parent;
	}
	return -ELOOP;
}

/* Puts @ino under @name in @dir, replacing whatever was there. */
static int set_name(struct vfs *vfs, struct idx_txn *txn, uint64_t dir, const char *name,
		    uint64_t ino, mode_t mode)
{
	struct idx_dirent de = { .ino = ino, .type = (uint8_t)IFTODT(mode) };
	return vfs_changed(vfs, idx_dirent_put(txn, &vfs->view, dir, name, strlen(name), &de));
}

int vfs_rename(struct vfs *vfs, uint64_t dir, const char *name, uint64_t newdir,
	       const char *newname, unsigned flags)
{
	struct idx_txn *txn;
	struct idx_inode sdir, ddir, src, dst;
	struct idx_dirent sde, dde;
	struct timespec now;
	bool exchange = flags & VFS_RENAME_EXCHANGE;
	bool same_dir = dir == newdir;
	vfs_now(&now);

	if ((flags & VFS_RENAME_EXCHANGE) && (flags & VFS_RENAME_NOREPLACE))
		return -EINVAL;
	if (flags & ~(unsigned)(VFS_RENAME_EXCHANGE | VFS_RENAME_NOREPLACE))
		return -EINVAL;
	int r = check_name(name);
	if (r == 0)
		r = check_name(newname);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vfs->lock);
	r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = dir_get(vfs, txn, dir, &sdir);
	if (r == 0)
		r = dir_get(vfs, txn, newdir, &ddir);
	if (r < 0)
		goto out;
	r = idx_dirent_get(txn, &vfs->view, dir, name, strlen(name), &sde);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, sde.ino, &src);
	if (r < 0)
		goto out;
	r = idx_dirent_get(txn, &vfs->view, newdir, newname, strlen(newname), &dde);
	bool dst_exists = r == 0;
	if (r < 0 && r != -ENOENT)
		goto out;
	if (dst_exists) {
		r = vfs_inode_get(vfs, txn, dde.ino, &dst);
		if (r < 0)
			goto out;
	}
	r = 0;

	if (exchange && !dst_exists) {
		r = -ENOENT;
		goto out;
	}
	if ((flags & VFS_RENAME_NOREPLACE) && dst_exists) {
		r = -EEXIST;
		goto out;
	}
	if (dst_exists && dde.ino == sde.ino)
		goto out;   /* the same file: POSIX says do nothing */
	/* a directory may not move below itself */
	if (S_ISDIR(src.mode) && !same_dir) {
		r = is_ancestor(vfs, txn, sde.ino, newdir);
		if (r != 0) {
			r = r > 0 ? -EINVAL : r;
			goto out;
		}
	}
	if (exchange && S_ISDIR(dst.mode) && !same_dir) {
		r = is_ancestor(vfs, txn, dde.ino, dir);
		if (r != 0) {
			r = r > 0 ? -EINVAL : r;
			goto out;
		}
	}
	if (dst_exists && !exchange) {
		if (S_ISDIR(src.mode) && !S_ISDIR(dst.mode)) {
			r = -ENOTDIR;
			goto out;
		}
		if (!S_ISDIR(src.mode) && S_ISDIR(dst.mode)) {
			r = -EISDIR;
			goto out;
		}
		if (S_ISDIR(dst.mode)) {
			r = dir_is_empty(vfs, txn, dde.ino);
			if (r <= 0) {
				r = r == 0 ? -ENOTEMPTY : r;
				goto out;
			}
			r = 0;
		}
	}

	/* checks done; changes follow */
	if (exchange) {
		r = set_name(vfs, txn, newdir, newname, sde.ino, src.mode);
		if (r == 0)
			r = set_name(vfs, txn, dir, name, dde.ino, dst.mode);
		if (r < 0)
			goto out;
		if (!same_dir && S_ISDIR(src.mode) != S_ISDIR(dst.mode)) {
			int moved = S_ISDIR(src.mode) ? 1 : -1;   /* dirs into newdir */
			ddir.nlink += moved;
			sdir.nlink -= moved;
		}
		src.parent = S_ISDIR(src.mode) ? newdir : 0;
		dst.parent = S_ISDIR(dst.mode) ? dir : 0;
		src.ctime = dst.ctime = now;
		r = vfs_inode_put(vfs, txn, sde.ino, &src);
		if (r == 0)
			r = vfs_inode_put(vfs, txn, dde.ino, &dst);
	} else {
		if (dst_exists) {
			/* the replaced name goes first; its directory's count with it */
			r = drop_name(vfs, txn, newdir, &ddir, newname, &dde, &dst, &now);
			if (r < 0)
				goto out;
			if (same_dir)
				sdir.nlink = ddir.nlink;
		}
		r = set_name(vfs, txn, newdir, newname, sde.ino, src.mode);
		if (r == 0)
			r = vfs_changed(vfs, idx_dirent_del(txn, &vfs->view, dir, name, strlen(name)));
		if (r < 0)
			goto out;
		if (S_ISDIR(src.mode) && !same_dir) {
			sdir.nlink--;
			ddir.nlink++;
			src.parent = newdir;
		}
		src.ctime = now;
		r = vfs_inode_put(vfs, txn, sde.ino, &src);
	}
	if (r < 0)
		goto out;
	sdir.mtime = sdir.ctime = now;
	if (same_dir) {
		r = vfs_inode_put(vfs, txn, dir, &sdir);
	} else {
		ddir.mtime = ddir.ctime = now;
		r = vfs_inode_put(vfs, txn, dir, &sdir);
		if (r == 0)
			r = vfs_inode_put(vfs, txn, newdir, &ddir);
	}
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

ssize_t vfs_readlink(struct vfs *vfs, uint64_t ino, char *buf, size_t size)
{
	struct idx_txn *txn;
	struct idx_inode in;
	struct idx_extent ext;
	ssize_t r;
	pthread_mutex_lock(&vfs->lock);
	r = vfs_read_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, ino, &in);
	if (r == 0 && !S_ISLNK(in.mode))
		r = -EINVAL;
	if (r == 0)
		r = idx_extent_get(txn, &vfs->view, ino, 0, &ext);
	if (r == 0 && ext.kind != IDX_EXTENT_INLINE)
		r = -EUCLEAN;
	if (r == 0) {
		size_t n = ext.length < size ? ext.length : size;
		memcpy(buf, ext.inline_data, n);
		r = (ssize_t)n;
	} else if (r == -ENOENT) {
		r = -EUCLEAN;   /* a symlink without its target */
	}
	vfs_read_done(vfs, txn);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

/* ---- open files ---------------------------------------------------------------------- */

int vfs_release(struct vfs *vfs, uint64_t ino)
{
	int r = 0;
	pthread_mutex_lock(&vfs->lock);
	struct vnode *vn = vnode_find(vfs, ino);
	if (vn) {
		if (vn->nopen)
			vn->nopen--;
		if (!vn->nopen && vn->nwb && !vfs->rdonly)
			r = data_flush_vnode(vfs, vn);
		maybe_free(vfs, vn);
	}
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

/* ---- directories --------------------------------------------------------------------- */

struct vfs_dir {
	uint64_t ino;
	off_t last_pos;                       /* position after last_name; 0: none */
	size_t last_len;
	char last_name[IDX_FILENAME_MAX + 1];
};

int vfs_opendir(struct vfs *vfs, uint64_t ino, struct vfs_dir **ret_dir)
{
	struct idx_txn *txn;
	struct idx_inode in;
	pthread_mutex_lock(&vfs->lock);
	int r = vfs_read_txn(vfs, &txn);
	if (r == 0) {
		r = vfs_inode_get(vfs, txn, ino, &in);
		if (r == 0 && !S_ISDIR(in.mode))
			r = -ENOTDIR;
		vfs_read_done(vfs, txn);
	}
	pthread_mutex_unlock(&vfs->lock);
	if (r < 0)
		return r;
	struct vfs_dir *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->ino = ino;
	*ret_dir = d;
	return 0;
}

void vfs_releasedir(struct vfs *vfs, struct vfs_dir *dir)
{
	free(dir);
}

struct readdir_walk {
	struct vfs *vfs;
	struct idx_txn *txn;
	struct vfs_dir *dir;
	bool plus;
	vfs_fill_fn fill;
	void *arg;
	off_t pos;           /* position of the next entry */
	off_t skip;          /* entries still to pass over (after a seek) */
	int error;
};

static int readdir_entry(const char *name, size_t namelen, const struct idx_dirent *de, void *arg)
{
	struct readdir_walk *w = arg;
	struct idx_inode in;
	struct stat st;
	char cname[IDX_FILENAME_MAX + 1];

	if (w->skip > 0) {
		w->skip--;
		w->pos++;
		return 0;
	}
	memcpy(cname, name, namelen);
	cname[namelen] = 0;
	memset(&st, 0, sizeof(st));
	st.st_ino = de->ino;
	st.st_mode = (mode_t)DTTOIF(de->type);
	if (w->plus) {
		int r = vfs_inode_get(w->vfs, w->txn, de->ino, &in);
		if (r < 0) {
			w->error = r == -ENOENT ? -EUCLEAN : r;
			return 1;
		}
		vfs_stat_of(w->vfs, de->ino, &in, &st);
	}
	if (w->fill(w->arg, cname, &st, w->pos + 1))
		return 1;   /* full: this entry waits for the next call */
	if (w->plus) {
		struct vnode *vn = vnode_get(w->vfs, de->ino);
		if (!vn) {
			w->error = -ENOMEM;
			return 1;
		}
		vn->nlookup++;
	}
	w->pos++;
	memcpy(w->dir->last_name, name, namelen);
	w->dir->last_len = namelen;
	w->dir->last_pos = w->pos;
	return 0;
}

int vfs_readdir(struct vfs *vfs, struct vfs_dir *dir, off_t pos, bool plus,
		vfs_fill_fn fill, void *arg)
{
	struct idx_txn *txn;
	struct idx_inode din;
	struct stat st;
	pthread_mutex_lock(&vfs->lock);
	int r = vfs_read_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, dir->ino, &din);
	if (r < 0)
		goto done;
	if (pos == 0) {
		memset(&st, 0, sizeof(st));
		st.st_ino = dir->ino;
		st.st_mode = S_IFDIR;
		if (fill(arg, ".", &st, 1))
			goto done;
		pos = 1;
	}
	if (pos == 1) {
		memset(&st, 0, sizeof(st));
		st.st_ino = din.parent;
		st.st_mode = S_IFDIR;
		if (fill(arg, "..", &st, 2))
			goto done;
		pos = 2;
	}
	struct readdir_walk w = { .vfs = vfs, .txn = txn, .dir = dir, .plus = plus, .fill = fill,
				  .arg = arg, .pos = pos };
	if (din.nlink == 0) {
		/* removed while open: empty */
	} else if (pos == 2) {
		r = idx_dirent_foreach(txn, &vfs->view, dir->ino, NULL, 0, readdir_entry, &w);
	} else if (pos == dir->last_pos) {
		r = idx_dirent_foreach(txn, &vfs->view, dir->ino, dir->last_name, dir->last_len,
				       readdir_entry, &w);
	} else {
		/* a seek elsewhere: count from the start */
		w.pos = 2;
		w.skip = pos - 2;
		r = idx_dirent_foreach(txn, &vfs->view, dir->ino, NULL, 0, readdir_entry, &w);
	}
	if (r > 0)
		r = 0;
	if (w.error)
		r = w.error;
	/* a listing is an access of the directory */
	struct timespec now;
	vfs_now(&now);
	if (r == 0 && pos == 2 && !vfs->rdonly && !vfs->broken && vfs_atime_due(&din, &now)) {
		vfs_read_done(vfs, txn);
		txn = NULL;
		if (vfs_write_txn(vfs, &txn) == 0) {
			din.atime = now;
			vfs_inode_put(vfs, txn, dir->ino, &din);
		}
	}
done:
	vfs_read_done(vfs, txn);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

void vfs_set_kernel_times(struct vfs *vfs, bool on)
{
	vfs->kernel_times = on;
}

void vfs_set_kernel_writeback(struct vfs *vfs, vfs_writeback_fn fn, void *arg)
{
	vfs->kernel_writeback = fn;
	vfs->kernel_writeback_arg = arg;
}

/*
 * Makes the kernel send us every write it holds for inodes opened for
 * writing since the last snapshot.  Without the volume lock: the writes it
 * sends are served by other threads, which need it.
 */
static void kernel_writeback(struct vfs *vfs)
{
	uint64_t *inos = NULL;
	size_t n = 0, cap = 0;
	if (!vfs->kernel_writeback)
		return;
	pthread_mutex_lock(&vfs->lock);
	for (size_t i = 0; i < vfs->hsize; i++)
		for (struct vnode *vn = vfs->htab[i]; vn; vn = vn->hnext) {
			if (!vn->kernel_dirty)
				continue;
			if (ARRAY_RESERVE(inos, n, cap, 64) < 0)
				goto unlock;   /* best effort, as before */
			inos[n++] = vn->ino;
		}
unlock:
	pthread_mutex_unlock(&vfs->lock);
	for (size_t i = 0; i < n; i++)
		vfs->kernel_writeback(vfs->kernel_writeback_arg, inos[i]);
	pthread_mutex_lock(&vfs->lock);
	for (size_t i = 0; i < n; i++) {
		struct vnode *vn = vnode_find(vfs, inos[i]);
		if (vn && !vn->nopen)
			vn->kernel_dirty = false;   /* closed, and written back: clean */
	}
	pthread_mutex_unlock(&vfs->lock);
	free(inos);
}

int vfs_snapshot(struct vfs *vfs, const char *name)
{
	struct idx_txn *txn;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	kernel_writeback(vfs);
	pthread_mutex_lock(&vfs->lock);
	/* everything buffered goes into the batch, so into the snapshot */
	int r = data_flush_all(vfs);
	if (r == 0)
		r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = snapshot_take(txn, vfs->name, name, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
	if (r == -EEXIST || r == -ENOENT)
		goto out;   /* refused before any change */
	r = vfs_changed(vfs, r);
	/* the tree moved on to a new generation: so does the writable view */
	if (r == 0)
		r = vfs_changed(vfs, idx_view_live(txn, vfs->vol.tree, &vfs->view));
	if (r == 0)
		r = vfs_commit(vfs);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_fsyncdir(struct vfs *vfs, uint64_t ino)
{
	if (vfs->rdonly)
		return 0;
	pthread_mutex_lock(&vfs->lock);
	int r = vfs_make_durable(vfs);
	if (vfs->broken && r == 0)
		r = -EIO;
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_statfs(struct vfs *vfs, struct statvfs *ret_st)
{
	if (fstatvfs(vfs->store->dirfd, ret_st) < 0)
		return -errno;
	/*
	 * The space reserve is the index's (store.h): it is neither free nor
	 * used for the volume's files, so the size leaves it out too, and df
	 * says 0 available when writes start to fail.
	 */
	fsblkcnt_t reserve = (fsblkcnt_t)(store_space_reserve(ret_st) / ret_st->f_frsize);
	ret_st->f_blocks = ret_st->f_blocks > reserve ? ret_st->f_blocks - reserve : 0;
	ret_st->f_bfree = ret_st->f_bfree > reserve ? ret_st->f_bfree - reserve : 0;
	ret_st->f_bavail = ret_st->f_bavail > reserve ? ret_st->f_bavail - reserve : 0;
	ret_st->f_namemax = IDX_FILENAME_MAX;
	if (vfs->rdonly)
		ret_st->f_flag |= ST_RDONLY;
	return 0;
}

/* ---- extended attributes -------------------------------------------------------------- */

/* The namespaces local filesystems store; anything else is EOPNOTSUPP. */
static int xattr_name_check(const char *name)
{
	static const char *const prefixes[] = {
		XATTR_USER_PREFIX, XATTR_TRUSTED_PREFIX, XATTR_SECURITY_PREFIX,
	};
	size_t len = strlen(name);
	if (len == 0 || len > IDX_XATTR_NAME_MAX)
		return -ERANGE;
	if (!strcmp(name, ACL_XATTR_ACCESS) || !strcmp(name, ACL_XATTR_DEFAULT))
		return 0;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t plen = strlen(prefixes[i]);
		if (!strncmp(name, prefixes[i], plen))
			return len > plen ? 0 : -EINVAL;   /* "user." alone names nothing */
	}
	return -EOPNOTSUPP;
}

ssize_t vfs_getxattr(struct vfs *vfs, uint64_t ino, const char *name, void *buf, size_t size)
{
	struct idx_txn *txn;
	struct idx_inode in;
	const void *val;
	size_t len;
	ssize_t r = xattr_name_check(name);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vfs->lock);
	r = vfs_read_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, ino, &in);
	if (r == 0) {
		r = idx_xattr_get(txn, &vfs->view, ino, name, &val, &len);
		if (r == -ENOENT)
			r = -ENODATA;   /* the inode is there, the attribute is not */
	}
	if (r == 0) {
		if (size == 0)
			r = (ssize_t)len;
		else if (size < len)
			r = -ERANGE;
		else {
			memcpy(buf, val, len);
			r = (ssize_t)len;
		}
	}
	vfs_read_done(vfs, txn);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

struct xattr_list {
	char *buf;
	size_t size, len;
	bool privileged;
};

static int list_xattr(const char *name, const void *value, size_t len, void *arg)
{
	struct xattr_list *l = arg;
	size_t n = strlen(name) + 1;
	/* like local filesystems: trusted.* is listed only to the privileged */
	if (!l->privileged && !strncmp(name, XATTR_TRUSTED_PREFIX, XATTR_TRUSTED_PREFIX_LEN))
		return 0;
	if (l->size && l->len + n <= l->size)
		memcpy(l->buf + l->len, name, n);
	l->len += n;
	return 0;
}

ssize_t vfs_listxattr(struct vfs *vfs, const struct vfs_ctx *ctx, uint64_t ino, char *buf,
		      size_t size)
{
	struct idx_txn *txn;
	struct idx_inode in;
	struct xattr_list l = { buf, size, 0, ctx->uid == 0 };
	pthread_mutex_lock(&vfs->lock);
	ssize_t r = vfs_read_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, ino, &in);
	if (r == 0)
		r = idx_xattr_foreach(txn, &vfs->view, ino, list_xattr, &l);
	if (r == 0)
		r = size && l.len > size ? -ERANGE : (ssize_t)l.len;
	vfs_read_done(vfs, txn);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

/* A change of an xattr: checks, then the change and the inode's ctime. */
static int xattr_change(struct vfs *vfs, uint64_t ino, const char *name, const void *value,
			size_t size, int flags, bool remove)
{
	struct idx_txn *txn;
	struct idx_inode in;
	const void *old;
	size_t oldlen;
	struct timespec now;
	vfs_now(&now);
	int r = xattr_name_check(name);
	if (r < 0)
		return r;
	if (!remove && size > IDX_XATTR_VALUE_MAX)
		return -E2BIG;
	bool acl_access = !strcmp(name, ACL_XATTR_ACCESS);
	bool acl_default = !strcmp(name, ACL_XATTR_DEFAULT);
	if (!remove && (acl_access || acl_default) && acl_valid(value, size) < 0)
		return -EINVAL;
	pthread_mutex_lock(&vfs->lock);
	r = vfs_write_txn(vfs, &txn);
	if (r < 0)
		goto out;
	r = vfs_inode_get(vfs, txn, ino, &in);
	if (r < 0)
		goto out;
	if (acl_default && !S_ISDIR(in.mode)) {
		r = -EACCES;   /* only directories have default ACLs */
		goto out;
	}
	r = idx_xattr_get(txn, &vfs->view, ino, name, &old, &oldlen);
	if (r < 0 && r != -ENOENT)
		goto out;
	bool exists = r == 0;
	if ((remove || (flags & XATTR_REPLACE)) && !exists) {
		r = -ENODATA;
		goto out;
	}
	if ((flags & XATTR_CREATE) && exists) {
		r = -EEXIST;
		goto out;
	}
	mode_t perms;
	if (remove) {
		r = vfs_changed(vfs, idx_xattr_del(txn, &vfs->view, ino, name));
	} else if (acl_access && acl_mode(value, size, &perms)) {
		/* the ACL says no more than a mode: keep the mode, not the ACL (as ext4) */
		in.mode = (in.mode & ~(mode_t)0777) | perms;
		r = exists ? vfs_changed(vfs, idx_xattr_del(txn, &vfs->view, ino, name)) : 0;
	} else {
		if (acl_access)
			in.mode = (in.mode & ~(mode_t)0777) | perms;   /* group bits show the mask */
		r = vfs_changed(vfs, idx_xattr_put(txn, &vfs->view, ino, name, value, size));
	}
	if (r < 0)
		goto out;
	in.ctime = now;
	r = vfs_inode_put(vfs, txn, ino, &in);
out:
	pthread_mutex_unlock(&vfs->lock);
	return r;
}

int vfs_setxattr(struct vfs *vfs, uint64_t ino, const char *name, const void *value,
		 size_t size, int flags)
{
	return xattr_change(vfs, ino, name, value, size, flags, false);
}

int vfs_removexattr(struct vfs *vfs, uint64_t ino, const char *name)
{
	return xattr_change(vfs, ino, name, NULL, 0, 0, true);
}
