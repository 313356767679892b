/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * store.c — a volfs store on the host: creating it, opening it, volume locks.
 *
 * What makes a directory a store:
 *  1. It holds index/data.mdb and that index holds a meta record (format
 *     version, secret, creation time).  The meta record is written by the
 *     one transaction that finishes store_init(); until it commits, the
 *     directory is not a store (store_open() reports -ENODATA).
 *  2. A store_init() that crashed before that commit leaves only the
 *     skeleton (index/ chunks/ tmp/ run/, perhaps an index without meta).
 *     store_init() may run again over exactly such a skeleton and finish the
 *     job: nothing in it can hold user data, because no volume can exist
 *     before the meta record does.  Anything else in the directory, or an
 *     index that has a meta record (or that LMDB cannot read), makes
 *     store_init() refuse with -EEXIST and touch nothing.
 *  3. A read-write store_open() finishes the removal of volumes that a
 *     crash interrupted (trees flagged IDX_TREE_DOOMED) and frees dead
 *     chunks: volume_finish_removals().
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "volume.h"

#define STORE_DIR_MODE 0700

/* The subdirectories every store has, in the order they are made. */
static const char *const store_subdirs[] = { "index", "chunks", "tmp", "run" };

const char *store_path_resolve(const char *opt)
{
	const char *env;

	if (opt)
		return opt;
	env = getenv("VOLFS_STORE");
	if (env && *env)
		return env;
	return STORE_DEFAULT_PATH;
}

/* "@path/@rel" in a fresh allocation; NULL when out of memory. */
static char *path_join(const char *path, const char *rel)
{
	char *out;

	if (asprintf(&out, "%s/%s", path, rel) < 0)
		return NULL;
	return out;
}

static bool is_subdir_name(const char *name)
{
	for (size_t i = 0; i < sizeof(store_subdirs) / sizeof(store_subdirs[0]); i++)
		if (strcmp(name, store_subdirs[i]) == 0)
			return true;
	return false;
}

/*
 * Whether the directory @dirfd holds only what an interrupted store_init()
 * leaves: the four subdirectories (any of them may be missing).  Returns 1 if
 * so, 0 if it holds anything else, or -errno.
 */
static int dir_is_skeleton(int dirfd)
{
	DIR *d;
	struct dirent *de;
	int fd, r = 1;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!is_subdir_name(de->d_name) ||
		    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode)) {
			r = 0;
			break;
		}
	}
	if (r == 1 && errno)
		r = -errno;
	closedir(d);
	return r;
}

/*
 * Whether @index_dir holds an index with a meta record: 0 if it holds none
 * (no data.mdb, or an init that never committed), -EEXIST if it does, or
 * cannot be read as an index at all, else -errno.  Opens read-only: looking
 * changes nothing.
 */
static int index_check_empty(const char *index_dir)
{
	struct idx_env *env = NULL;
	struct idx_txn *txn = NULL;
	struct idx_meta meta;
	int r;

	r = idx_env_open(index_dir, IDX_ENV_RDONLY, 0, &env);
	if (r == -ENOENT || r == -ENODATA)
		return 0;
	if (r == -EUCLEAN)
		return -EEXIST;
	if (r < 0)
		return r;
	r = idx_txn_begin(env, IDX_TXN_RDONLY, &txn);
	if (r < 0)
		goto out;
	r = idx_meta_get(txn, &meta);
	explicit_bzero(&meta, sizeof(meta));
	if (r == -ENODATA)
		r = 0;
	else if (r == 0 || r == -EPROTONOSUPPORT || r == -EUCLEAN)
		r = -EEXIST;
out:
	idx_txn_abort(txn);
	idx_env_close(env);
	return r;
}

static int fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int meta_init_fn(struct idx_txn *txn, void *arg)
{
	return idx_meta_init(txn, arg);
}

int store_init(const char *path)
{
	struct idx_env *env = NULL;
	struct idx_meta meta;
	char *index_dir = NULL;
	int dirfd = -1, r;

	if (mkdir(path, STORE_DIR_MODE) < 0 && errno != EEXIST)
		return -errno;
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;

	/* Rule 2 of the header comment: only a skeleton may be taken over. */
	r = dir_is_skeleton(dirfd);
	if (r == 0)
		r = -EEXIST;
	if (r < 0)
		goto out;
	index_dir = path_join(path, "index");
	if (!index_dir) {
		r = -ENOMEM;
		goto out;
	}
	r = index_check_empty(index_dir);
	if (r < 0)
		goto out;

	for (size_t i = 0; i < sizeof(store_subdirs) / sizeof(store_subdirs[0]); i++) {
		if (mkdirat(dirfd, store_subdirs[i], STORE_DIR_MODE) < 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
	}
	chunk_store_spread(dirfd);
	/* The subdirectories must outlive a crash once the meta record does. */
	if (fsync(dirfd) < 0) {
		r = -errno;
		goto out;
	}

	r = idx_env_open(index_dir, IDX_ENV_CREATE, 0, &env);
	if (r < 0)
		goto out;
	memset(&meta, 0, sizeof(meta));
	meta.format = IDX_FORMAT_VERSION;
	meta.created_ns = now_ns();
	r = fill_random(meta.secret, sizeof(meta.secret));
	if (r == 0)
		r = idx_update(env, meta_init_fn, &meta);
	explicit_bzero(&meta, sizeof(meta));
	if (r == 0) {
		/* the names of data.mdb and lock.mdb, which LMDB just made */
		int fd = openat(dirfd, "index", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) < 0)
			r = -errno;
		if (fd >= 0)
			close(fd);
	}
out:
	idx_env_close(env);
	free(index_dir);
	if (dirfd >= 0)
		close(dirfd);
	return r;
}

static int mark_current_format(struct idx_txn *txn, void *arg)
{
	(void)arg;
	return idx_meta_set_format(txn, IDX_FORMAT_VERSION);
}

#define SPACE_RESERVE_MIN (64ull << 20)
#define SPACE_RESERVE_MAX (1ull << 30)
#define SPACE_UNCHECKED_MAX (64ll << 20)

uint64_t store_space_reserve(const struct statvfs *st)
{
	uint64_t size = (uint64_t)st->f_blocks * st->f_frsize;
	uint64_t reserve = size / 32;
	if (reserve < SPACE_RESERVE_MIN)
		reserve = SPACE_RESERVE_MIN;
	if (reserve > SPACE_RESERVE_MAX)
		reserve = SPACE_RESERVE_MAX;
	return reserve < size / 4 ? reserve : size / 4;
}

int store_space_admit(struct store *store, uint64_t bytes)
{
	/* within what the last look left: other writers of the file system take half at most */
	if (__atomic_sub_fetch(&store->space_unchecked, (int64_t)bytes, __ATOMIC_RELAXED) > 0)
		return 0;
	for (int attempt = 0;; attempt++) {
		struct statvfs st;
		if (fstatvfs(store->dirfd, &st) < 0)
			return 0;   /* cannot tell: the writes themselves will */
		uint64_t avail = (uint64_t)st.f_bavail * st.f_frsize;
		uint64_t need = store_space_reserve(&st) + bytes;
		if (avail >= need) {
			uint64_t spare = (avail - need) / 2;
			int64_t unchecked = spare < (uint64_t)SPACE_UNCHECKED_MAX ?
					    (int64_t)spare : SPACE_UNCHECKED_MAX;
			__atomic_store_n(&store->space_unchecked, unchecked, __ATOMIC_RELAXED);
			return 0;
		}
		if (attempt > 0 || !store->chunks)
			return -ENOSPC;
		chunk_store_release_pool(store->chunks);
	}
}

int store_open(const char *path, unsigned flags, struct store **ret_store)
{
	bool rdonly = flags & STORE_RDONLY;
	struct store *store;
	struct idx_txn *txn = NULL;
	char *index_dir = NULL;
	int r;

	store = calloc(1, sizeof(*store));
	if (!store)
		return -ENOMEM;
	store->dirfd = -1;
	store->path = strdup(path);
	index_dir = path_join(path, "index");
	if (!store->path || !index_dir) {
		r = -ENOMEM;
		goto fail;
	}

	store->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (store->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	if (faccessat(store->dirfd, "index/data.mdb", F_OK, 0) < 0) {
		r = errno == ENOENT ? -ENODATA : -errno;
		goto fail;
	}

	r = idx_env_open(index_dir, rdonly ? IDX_ENV_RDONLY : 0, 0, &store->idx);
	if (r == -ENOENT)
		r = -ENODATA;
	if (r < 0)
		goto fail;
	r = idx_txn_begin(store->idx, IDX_TXN_RDONLY, &txn);
	if (r < 0)
		goto fail;
	r = idx_meta_get(txn, &store->meta);
	idx_txn_abort(txn);
	if (r < 0)
		goto fail;
	if (!rdonly && store->meta.format < IDX_FORMAT_VERSION) {
		/* before any batch logs: a volfs without the log must not open it now */
		r = idx_update(store->idx, mark_current_format, NULL);
		if (r < 0)
			goto fail;
		store->meta.format = IDX_FORMAT_VERSION;
	}
	/* what we read includes what a batch made durable through its log */
	r = idx_env_catch_up(store->idx);
	if (r < 0)
		goto fail;

	r = chunk_store_open(path, store->meta.secret,
			     rdonly ? 0 : CHUNK_STORE_CLEAN_TMP |
					  (flags & STORE_RECYCLE ? CHUNK_STORE_RECYCLE : 0),
			     &store->chunks);
	if (r < 0)
		goto fail;

	if (!rdonly && !(flags & STORE_NO_RECOVERY)) {
		r = volume_finish_removals(store);
		if (r < 0)
			goto fail;
	}

	free(index_dir);
	*ret_store = store;
	return 0;

fail:
	free(index_dir);
	store_close(store);
	return r;
}

void store_close(struct store *store)
{
	if (!store)
		return;
	chunk_store_close(store->chunks);
	idx_env_close(store->idx);
	if (store->dirfd >= 0)
		close(store->dirfd);
	explicit_bzero(&store->meta, sizeof(store->meta));
	free(store->path);
	free(store);
}

/* Takes the flock of run/@name without waiting; -EBUSY if held against us. */
static int lock_file(struct store *store, const char *name, int how, int *ret_fd)
{
	int fd = openat(store->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, how | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int store_lock_volume(struct store *store, uint64_t volume_id, int *ret_fd)
{
	char name[64];
	snprintf(name, sizeof(name), "run/vol-%" PRIu64 ".lock", volume_id);
	return lock_file(store, name, LOCK_EX, ret_fd);
}

static void snapshot_lock_name(uint64_t volume_id, const char *snapshot, char *buf, size_t len)
{
	snprintf(buf, len, "run/snap-%" PRIu64 "-%s.lock", volume_id, snapshot);
}

int store_lock_snapshot(struct store *store, uint64_t volume_id, const char *snapshot,
			bool shared, int *ret_fd)
{
	char name[64 + IDX_NAME_MAX];
	snapshot_lock_name(volume_id, snapshot, name, sizeof(name));
	return lock_file(store, name, shared ? LOCK_SH : LOCK_EX, ret_fd);
}

void store_unlock_snapshot_remove(struct store *store, uint64_t volume_id, const char *snapshot,
				  int fd)
{
	char name[64 + IDX_NAME_MAX];
	snapshot_lock_name(volume_id, snapshot, name, sizeof(name));
	/* unlinked while still held: no one can lock this file between the two */
	unlinkat(store->dirfd, name, 0);
	close(fd);
}
