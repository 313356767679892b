/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * env.c — the LMDB environment, transactions and map growth.
 *
 * Invariants:
 *  1. Every commit is synchronous (no MDB_NOSYNC/MDB_NOMETASYNC): a commit
 *     that returned is on disk, and a crash at any moment leaves the last
 *     committed state, never a torn one.
 *  2. The map never has to be full in the middle of a transaction that cannot
 *     be repeated: idx_txn_begin() grows it while a quarter is still free, and
 *     idx_update() repeats a transaction that filled it anyway.
 *  3. LMDB changes the map size only when no transaction of this process is
 *     open: map_lock is held shared by every transaction, exclusively around
 *     mdb_env_set_mapsize().
 *  4. Whoever waits for LMDB's writer lock holds index/wait.lock shared for
 *     the wait, so a holder that batches (and polls idx_env_writer_waiting)
 *     learns of it; flock dies with its process, so a crashed waiter never
 *     leaves a false signal behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_MAP_SIZE (1ull << 30)   /* grows by doubling; the file stays sparse */
#define MAX_MAP_SIZE     (1ull << 44)   /* 16 TiB: beyond that, -ENOSPC           */
#define MAX_DBS          16

static const char *const dbi_names[DBI_COUNT] = {
	[DBI_META] = DB_META,
	[DBI_VOLUMES] = DB_VOLUMES,
	[DBI_TREES] = DB_TREES,
	[DBI_SNAPSHOTS] = DB_SNAPSHOTS,
	[DBI_INODES] = DB_INODES,
	[DBI_DIRENTS] = DB_DIRENTS,
	[DBI_EXTENTS] = DB_EXTENTS,
	[DBI_XATTRS] = DB_XATTRS,
	[DBI_CHUNKS] = DB_CHUNKS,
	[DBI_DEADCHUNKS] = DB_DEADCHUNKS,
	[DBI_ORPHANS] = DB_ORPHANS,
	[DBI_CHANGES] = DB_CHANGES,
	[DBI_JOURNAL] = DB_JOURNAL,
};

int idx_errno(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return -EUCLEAN;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL:
		return -E2BIG;
	case MDB_BAD_VALSIZE:
		return -EINVAL;
	default:
		/* positive codes are errno values from the system */
		return rc > 0 ? -rc : -EIO;
	}
}

/* Does LMDB's main database, which names the others, hold no record at all? */
static bool main_db_empty(MDB_txn *txn)
{
	MDB_dbi main_dbi;
	MDB_stat st;
	return mdb_dbi_open(txn, NULL, 0, &main_dbi) == 0 && mdb_stat(txn, main_dbi, &st) == 0 &&
	       st.ms_entries == 0;
}

static int open_dbis(struct idx_env *env, bool create)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(env->mdb, NULL, create ? 0 : MDB_RDONLY, &txn);
	if (rc)
		return idx_errno(rc);
	for (int i = 0; i < DBI_COUNT; i++) {
		rc = mdb_dbi_open(txn, dbi_names[i], create ? MDB_CREATE : 0, &env->dbi[i]);
		if (rc) {
			/*
			 * Without our databases, an empty file is an init that never
			 * committed; one with other records is not a volfs index, or
			 * one whose main database is damaged.
			 */
			int r = rc != MDB_NOTFOUND ? idx_errno(rc) :
				main_db_empty(txn) ? -ENODATA : -EUCLEAN;
			mdb_txn_abort(txn);
			return r;
		}
	}
	/* handles opened in a transaction live on only if it commits */
	return idx_errno(mdb_txn_commit(txn));
}

int idx_env_open(const char *dir, unsigned flags, uint64_t initial_map_size,
		 struct idx_env **ret_env)
{
	char path[PATH_MAX];
	struct stat st;
	int r;

	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (!(flags & IDX_ENV_CREATE) && stat(path, &st) < 0)
		return -errno;

	struct idx_env *env = calloc(1, sizeof(*env));
	if (!env)
		return -ENOMEM;
	env->rdonly = flags & IDX_ENV_RDONLY;
	env->wait_fd = env->probe_fd = -1;

	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	/* a resize waiting for readers to drain must not be starved by new ones */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&env->map_lock, &attr);
	pthread_rwlockattr_destroy(&attr);

	r = idx_errno(mdb_env_create(&env->mdb));
	if (r < 0) {
		env->mdb = NULL;
		goto fail;
	}
	r = idx_errno(mdb_env_set_maxdbs(env->mdb, MAX_DBS));
	if (r < 0)
		goto fail;
	/* LMDB keeps the larger of this and the size recorded in the file */
	r = idx_errno(mdb_env_set_mapsize(env->mdb,
			initial_map_size ? initial_map_size : DEFAULT_MAP_SIZE));
	if (r < 0)
		goto fail;
	/*
	 * MDB_NOTLS: read transactions are not tied to threads, so FUSE worker
	 * threads may hand them around.  No MDB_NOSYNC: see invariant 1.
	 */
	r = idx_errno(mdb_env_open(env->mdb, dir,
			MDB_NOTLS | (env->rdonly ? MDB_RDONLY : 0), 0600));
	if (r < 0)
		goto fail;
	r = open_dbis(env, flags & IDX_ENV_CREATE);
	if (r < 0)
		goto fail;
	if (!env->rdonly) {
		snprintf(path, sizeof(path), "%s/wait.lock", dir);
		env->wait_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		env->probe_fd = open(path, O_RDWR | O_CLOEXEC);
		if (env->wait_fd < 0 || env->probe_fd < 0) {
			r = -errno;
			goto fail;
		}
	}

	*ret_env = env;
	return 0;
fail:
	idx_env_close(env);
	return r;
}

void idx_env_close(struct idx_env *env)
{
	if (!env)
		return;
	if (env->mdb)
		mdb_env_close(env->mdb);
	if (env->wait_fd >= 0)
		close(env->wait_fd);
	if (env->probe_fd >= 0)
		close(env->probe_fd);
	pthread_rwlock_destroy(&env->map_lock);
	free(env);
}

uint64_t idx_env_map_size(struct idx_env *env)
{
	MDB_envinfo info;
	mdb_env_info(env->mdb, &info);
	return info.me_mapsize;
}

/*
 * Sets the map size to @size (0: adopt the size another process set).
 * Called with no transaction of this thread open.
 */
static int set_map_size(struct idx_env *env, uint64_t size)
{
	pthread_rwlock_wrlock(&env->map_lock);
	int r = idx_errno(mdb_env_set_mapsize(env->mdb, size));
	pthread_rwlock_unlock(&env->map_lock);
	return r;
}

/* Doubles the map (at least past what is in use), up to MAX_MAP_SIZE. */
static int grow_map(struct idx_env *env)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(env->mdb, &info);
	mdb_env_stat(env->mdb, &st);
	uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	uint64_t size = (uint64_t)info.me_mapsize * 2;
	if (size < used * 2)
		size = used * 2;
	if (info.me_mapsize >= MAX_MAP_SIZE)
		return -ENOSPC;
	if (size > MAX_MAP_SIZE)
		size = MAX_MAP_SIZE;
	return set_map_size(env, size);
}

static bool map_nearly_full(struct idx_env *env)
{
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(env->mdb, &info);
	mdb_env_stat(env->mdb, &st);
	uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	return used + info.me_mapsize / 4 > info.me_mapsize;
}

int idx_txn_begin(struct idx_env *env, unsigned flags, struct idx_txn **ret_txn)
{
	bool rdonly = (flags & IDX_TXN_RDONLY) || env->rdonly;
	int r;

	if (env->rdonly && !(flags & IDX_TXN_RDONLY))
		return -EROFS;
	if (!rdonly && map_nearly_full(env)) {
		r = grow_map(env);
		if (r < 0 && r != -ENOSPC)
			return r;
	}

	struct idx_txn *txn = calloc(1, sizeof(*txn));
	if (!txn)
		return -ENOMEM;
	txn->env = env;
	txn->rdonly = rdonly;

	for (int attempt = 0;; attempt++) {
		pthread_rwlock_rdlock(&env->map_lock);
		/* invariant 4: announce the wait for the writer lock */
		if (!rdonly)
			flock(env->wait_fd, LOCK_SH);
		int rc = mdb_txn_begin(env->mdb, NULL, rdonly ? MDB_RDONLY : 0, &txn->mdb);
		if (!rdonly)
			flock(env->wait_fd, LOCK_UN);
		if (rc == 0)
			break;
		pthread_rwlock_unlock(&env->map_lock);
		/* another process grew the map: adopt its size and try again */
		if (rc == MDB_MAP_RESIZED && attempt < 3) {
			r = set_map_size(env, 0);
			if (r == 0)
				continue;
		} else {
			r = idx_errno(rc);
		}
		free(txn);
		return r;
	}
	*ret_txn = txn;
	return 0;
}

bool idx_env_writer_waiting(struct idx_env *env)
{
	if (env->probe_fd < 0)
		return false;
	if (flock(env->probe_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	flock(env->probe_fd, LOCK_UN);
	return false;
}

int idx_cursor(struct idx_txn *txn, enum dbi_index db, MDB_cursor **ret_cursor)
{
	if (!txn->cursor[db]) {
		int r = idx_errno(mdb_cursor_open(txn->mdb, idx_dbi(txn, db), &txn->cursor[db]));
		if (r < 0)
			return r;
	}
	*ret_cursor = txn->cursor[db];
	return 0;
}

static void txn_release(struct idx_txn *txn)
{
	pthread_rwlock_unlock(&txn->env->map_lock);
	free(txn);
}

static void close_cursors(struct idx_txn *txn)
{
	for (int i = 0; i < DBI_COUNT; i++)
		if (txn->cursor[i])
			mdb_cursor_close(txn->cursor[i]);
}

static int note_map_full(struct idx_txn *txn, int rc)
{
	if (rc == MDB_MAP_FULL)
		txn->map_full = true;
	return idx_errno(rc);
}

int idx_put(struct idx_txn *txn, enum dbi_index db, MDB_val *key, MDB_val *val, unsigned flags)
{
	return note_map_full(txn, mdb_put(txn->mdb, idx_dbi(txn, db), key, val, flags));
}

int idx_cursor_put(struct idx_txn *txn, MDB_cursor *cur, MDB_val *key, MDB_val *val, unsigned flags)
{
	return note_map_full(txn, mdb_cursor_put(cur, key, val, flags));
}

int idx_del(struct idx_txn *txn, enum dbi_index db, MDB_val *key)
{
	return note_map_full(txn, mdb_del(txn->mdb, idx_dbi(txn, db), key, NULL));
}

int idx_cursor_del(struct idx_txn *txn, MDB_cursor *cur)
{
	return note_map_full(txn, mdb_cursor_del(cur, 0));
}

/* Commits and frees @txn; *ret_map_full tells whether the map filled. */
static int txn_commit(struct idx_txn *txn, bool *ret_map_full)
{
	close_cursors(txn);
	int r = note_map_full(txn, mdb_txn_commit(txn->mdb));
	*ret_map_full = txn->map_full;
	txn_release(txn);
	return r;
}

int idx_txn_commit(struct idx_txn *txn)
{
	bool map_full;
	return txn_commit(txn, &map_full);
}

void idx_txn_abort(struct idx_txn *txn)
{
	if (!txn)
		return;
	close_cursors(txn);
	mdb_txn_abort(txn->mdb);
	txn_release(txn);
}

bool idx_txn_is_rdonly(const struct idx_txn *txn)
{
	return txn->rdonly;
}

int idx_update(struct idx_env *env, idx_update_fn fn, void *arg)
{
	for (;;) {
		struct idx_txn *txn;
		int r = idx_txn_begin(env, 0, &txn);
		if (r < 0)
			return r;
		bool map_full = false;
		r = fn(txn, arg);
		if (r < 0) {
			map_full = txn->map_full;
			idx_txn_abort(txn);
		} else {
			/* a positive result from @fn is passed through on success */
			int c = txn_commit(txn, &map_full);
			if (c < 0)
				r = c;
		}
		if (r >= 0 || !map_full)
			return r;
		/* the map filled: LMDB has poisoned the transaction; grow and repeat */
		r = grow_map(env);
		if (r < 0)
			return r;
	}
}
