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
 *  5. Every change goes through idx_put, idx_cursor_put, idx_del,
 *     idx_cursor_del or idx_put_joined, which record it in a logged txn; every
 *     write transaction replays the log before its first change (wal.h).
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
#include "wal.h"

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
	env->wait_fd = env->probe_fd = env->wal_fd = env->wal_direct_fd = -1;

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
		r = wal_open(dir, !(flags & IDX_ENV_LOG_BUFFERED), &env->wal_fd, &env->wal_direct_fd);
		if (r < 0)
			goto fail;
	} else {
		/* to see what waits in the log, and to ask its writer to commit */
		snprintf(path, sizeof(path), "%s/wal", dir);
		env->wal_fd = open(path, O_RDONLY | O_CLOEXEC);
		snprintf(path, sizeof(path), "%s/wait.lock", dir);
		env->wait_fd = open(path, O_RDONLY | O_CLOEXEC);
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
	if (env->wal_fd >= 0)
		close(env->wal_fd);
	if (env->wal_direct_fd >= 0)
		close(env->wal_direct_fd);
	free(env->wal_buf.data);
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

/*
 * wal.h invariant 3: a write transaction just begun first takes in what a
 * batch that never committed logged.  Returns 0 if there was nothing, 1 if
 * frames were replayed and committed (@mtxn is gone: begin again), or an
 * error (@mtxn aborted).
 */
static int replay_log(struct idx_env *env, MDB_txn *mtxn)
{
	unsigned frames = 0;
	int r = wal_replay(env, mtxn, &frames);
	if (r == 0 && frames == 0)
		return 0;
	if (r < 0) {
		mdb_txn_abort(mtxn);
		return r;
	}
	r = idx_errno(mdb_txn_commit(mtxn));
	return r < 0 ? r : 1;
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
		if (rc == 0 && !rdonly) {
			r = replay_log(env, txn->mdb);
			if (r == 0)
				break;
			pthread_rwlock_unlock(&env->map_lock);
			if (r > 0)
				continue;   /* the replayed frames committed: begin on top of them */
			if (r == -ENOSPC && attempt < 3 && grow_map(env) == 0)
				continue;
			free(txn);
			return r;
		}
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
	txn->logged = !rdonly && (flags & IDX_TXN_LOGGED);
	if (txn->logged && (r = wal_begin(txn)) < 0) {
		idx_txn_abort(txn);
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
	if (txn->logged)
		txn->env->wal_buf.len = 0;   /* unwritten operations die with the txn */
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

/* The database @cur is on, for the log. */
static enum dbi_index cursor_db(struct idx_txn *txn, MDB_cursor *cur)
{
	MDB_dbi dbi = mdb_cursor_dbi(cur);
	int db = 0;
	while (db < DBI_COUNT - 1 && txn->env->dbi[db] != dbi)
		db++;
	return (enum dbi_index)db;
}

/* Every change goes through the four functions below: a logged txn records it. */
int idx_put(struct idx_txn *txn, enum dbi_index db, MDB_val *key, MDB_val *val, unsigned flags)
{
	/* the log copies values at the put: a reserved one is not filled yet */
	if (txn->logged && (flags & MDB_RESERVE))
		return -EINVAL;
	int r = note_map_full(txn, mdb_put(txn->mdb, idx_dbi(txn, db), key, val, flags));
	if (r == 0 && txn->logged)
		r = wal_note_put(txn, db, key, val);
	return r;
}

/*
 * Copies the key @k (which may point into a page a change is about to
 * rewrite) into @buf, for the log.
 */
static int key_copy(MDB_val *k, uint8_t buf[static 512])
{
	if (k->mv_size > 511)   /* LMDB's longest key */
		return -E2BIG;
	memcpy(buf, k->mv_data, k->mv_size);
	k->mv_data = buf;
	return 0;
}

int idx_cursor_put(struct idx_txn *txn, MDB_cursor *cur, MDB_val *key, MDB_val *val, unsigned flags)
{
	uint8_t kbuf[512];
	MDB_val k = *key;
	if (txn->logged) {
		int r = key_copy(&k, kbuf);
		if (r < 0)
			return r;
	}
	int r = note_map_full(txn, mdb_cursor_put(cur, key, val, flags));
	if (r == 0 && txn->logged)
		r = wal_note_put(txn, cursor_db(txn, cur), &k, val);
	return r;
}

int idx_del(struct idx_txn *txn, enum dbi_index db, MDB_val *key)
{
	int r = note_map_full(txn, mdb_del(txn->mdb, idx_dbi(txn, db), key, NULL));
	if (r == 0 && txn->logged)
		r = wal_note_del(txn, db, key);
	return r;
}

int idx_cursor_del(struct idx_txn *txn, MDB_cursor *cur)
{
	uint8_t kbuf[512];
	MDB_val k = { 0 };
	if (txn->logged) {
		/* the key's bytes live in the page the delete changes: copy them first */
		int r = idx_errno(mdb_cursor_get(cur, &k, NULL, MDB_GET_CURRENT));
		if (r == 0)
			r = key_copy(&k, kbuf);
		if (r < 0)
			return r;
	}
	int r = note_map_full(txn, mdb_cursor_del(cur, 0));
	if (r == 0 && txn->logged)
		r = wal_note_del(txn, cursor_db(txn, cur), &k);
	return r;
}

int idx_put_joined(struct idx_txn *txn, enum dbi_index db, MDB_val *key,
		   const void *head, size_t head_len, const void *body, size_t body_len)
{
	MDB_val v = { .mv_size = head_len + body_len };
	int r = note_map_full(txn, mdb_put(txn->mdb, idx_dbi(txn, db), key, &v, MDB_RESERVE));
	if (r < 0)
		return r;
	memcpy(v.mv_data, head, head_len);
	if (body_len)
		memcpy((uint8_t *)v.mv_data + head_len, body, body_len);
	if (txn->logged)
		r = wal_note_put(txn, db, key, &v);
	return r;
}

int idx_txn_log_sync(struct idx_txn *txn)
{
	if (!txn->logged)
		return -EINVAL;
	return wal_write_frame(txn);
}

uint64_t idx_txn_log_bytes(const struct idx_txn *txn)
{
	return txn->logged ? txn->wal_off - txn->wal_start + txn->env->wal_buf.len : 0;
}

uint64_t idx_txn_log_head(const struct idx_txn *txn)
{
	return txn->logged ? txn->wal_off + txn->env->wal_buf.len : 0;
}

uint64_t idx_txn_log_size(const struct idx_txn *txn)
{
	return txn->logged ? txn->env->wal_capacity : 0;
}

bool idx_txn_log_holds_data(const struct idx_txn *txn)
{
	return txn->logged && txn->wal_data;
}

bool idx_txn_log_usable(const struct idx_txn *txn)
{
	return txn->logged && !txn->wal_failed;
}

static uint64_t last_txnid(struct idx_env *env)
{
	MDB_envinfo info;
	mdb_env_info(env->mdb, &info);
	return info.me_last_txnid;
}

int idx_env_log_pending(struct idx_env *env, unsigned *ret_frames)
{
	if (env->wal_fd < 0) {
		*ret_frames = 0;
		return 0;
	}
	MDB_txn *rtxn;
	pthread_rwlock_rdlock(&env->map_lock);
	int r = idx_errno(mdb_txn_begin(env->mdb, NULL, MDB_RDONLY, &rtxn));
	if (r == 0) {
		/* a read txn's id is that of the last commit */
		r = wal_pending(env, rtxn, mdb_txn_id(rtxn), ret_frames);
		mdb_txn_abort(rtxn);
	}
	pthread_rwlock_unlock(&env->map_lock);
	return r;
}

int idx_env_catch_up(struct idx_env *env)
{
	unsigned frames;
	int r = idx_env_log_pending(env, &frames);
	if (r < 0 || frames == 0)
		return r;
	if (!env->rdonly) {
		/* the batch's owner hands the writer lock over, or is dead and we replay */
		struct idx_txn *txn = NULL;
		r = idx_txn_begin(env, 0, &txn);
		idx_txn_abort(txn);
		return r;
	}
	/*
	 * Read-only: wait as a writer would (invariant 4), so that a live owner
	 * commits; a dead one's frames stay for the next read-write opener.
	 */
	if (env->wait_fd < 0)
		return 0;
	uint64_t start = last_txnid(env);
	flock(env->wait_fd, LOCK_SH);
	for (int i = 0; i < 100 && frames && last_txnid(env) == start; i++) {
		usleep(2000);
		r = idx_env_log_pending(env, &frames);
		if (r < 0)
			break;
	}
	flock(env->wait_fd, LOCK_UN);
	return r;
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
	if (txn->logged) {
		int r = wal_end(txn);
		if (r < 0) {
			idx_txn_abort(txn);
			return r;
		}
	}
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
