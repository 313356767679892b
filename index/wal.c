/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wal.c — the write-ahead log of the daemon's batch (see wal.h for its
 * invariants, docs/format.md §4.11 for the bytes).
 *
 * A frame, big-endian, starting at a multiple of WAL_ALIGN:
 *
 *   0   8  magic "VOLFSWL1"
 *   8   8  txnid: the LMDB write transaction the frame continues
 *  16   4  seq: 0 for that transaction's first frame, then one more each
 *  20   4  number of operations
 *  24   8  length of the operations, bytes
 *  32      operations: u8 kind (1 put, 2 delete), u8 database (enum
 *          dbi_index), be16 key length, be32 value length, key, value
 *   .   8  XXH3-64 of every byte of the frame before it
 *          zeros up to the next multiple of WAL_ALIGN
 *
 * Frames never share a block: a frame being written cannot tear one that was
 * acknowledged before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "internal.h"
#include "wal.h"

#define WAL_MAGIC "VOLFSWL1"
#define WAL_ALIGN 4096
#define FRAME_HEAD 32
#define FRAME_TAIL 8
#define OP_HEAD 8
#define OP_PUT 1
#define OP_DEL 2
/* A larger buffer is given back after its frame is written. */
#define WAL_BUF_KEEP (4u << 20)

int wal_open(const char *dir, int *ret_fd)
{
	char path[4096];
	if (snprintf(path, sizeof(path), "%s/wal", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		/* a new log: its name must survive a crash before any frame relies on it */
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int r = dfd < 0 || fsync(dfd) < 0 ? -errno : 0;
		if (dfd >= 0)
			close(dfd);
		if (r < 0) {
			close(fd);
			return r;
		}
	} else if (errno == EEXIST) {
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

static int buf_reserve(struct wal_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64 * 1024;
	while (cap < b->len + more)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

static int note(struct idx_txn *txn, uint8_t kind, int db, const MDB_val *key, const MDB_val *val)
{
	struct wal_buf *b = &txn->env->wal_buf;
	size_t vlen = val ? val->mv_size : 0;
	if (key->mv_size > UINT16_MAX || vlen > UINT32_MAX)
		return -E2BIG;
	if (b->len == 0)
		b->len = FRAME_HEAD;   /* filled in by wal_write_frame() */
	int r = buf_reserve(b, OP_HEAD + key->mv_size + vlen + FRAME_TAIL + WAL_ALIGN);
	if (r < 0)
		return r;
	uint8_t *p = b->data + b->len;
	p[0] = kind;
	p[1] = (uint8_t)db;
	p[2] = (uint8_t)(key->mv_size >> 8);
	p[3] = (uint8_t)key->mv_size;
	put_be32(p + 4, (uint32_t)vlen);
	memcpy(p + OP_HEAD, key->mv_data, key->mv_size);
	if (vlen)
		memcpy(p + OP_HEAD + key->mv_size, val->mv_data, vlen);
	b->len += OP_HEAD + key->mv_size + vlen;
	txn->wal_ops++;
	return 0;
}

int wal_note_put(struct idx_txn *txn, int db, const MDB_val *key, const MDB_val *val)
{
	return note(txn, OP_PUT, db, key, val);
}

int wal_note_del(struct idx_txn *txn, int db, const MDB_val *key)
{
	return note(txn, OP_DEL, db, key, NULL);
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int wal_write_frame(struct idx_txn *txn)
{
	struct idx_env *env = txn->env;
	struct wal_buf *b = &env->wal_buf;
	if (txn->wal_failed)
		return -EIO;
	if (txn->wal_ops == 0)
		return 0;   /* nothing changed since the last frame: that one holds */

	size_t body = b->len - FRAME_HEAD;
	size_t total = b->len + FRAME_TAIL;
	size_t padded = (total + WAL_ALIGN - 1) / WAL_ALIGN * WAL_ALIGN;
	uint8_t *h = b->data;   /* note() reserved room for the tail and the padding */
	memcpy(h, WAL_MAGIC, 8);
	put_be64(h + 8, mdb_txn_id(txn->mdb));
	put_be32(h + 16, txn->wal_seq);
	put_be32(h + 20, txn->wal_ops);
	put_be64(h + 24, body);
	put_be64(h + b->len, XXH3_64bits(h, b->len));
	memset(h + total, 0, padded - total);

	int r = pwrite_all(env->wal_fd, h, padded, txn->wal_off);
	if (r == 0 && fdatasync(env->wal_fd) < 0)
		r = -errno;
	if (r < 0) {
		/* a later frame would follow a broken one, and replay stops there */
		txn->wal_failed = true;
		return r;
	}
	txn->wal_off += padded;
	txn->wal_seq++;
	txn->wal_ops = 0;
	b->len = 0;
	if (b->cap > WAL_BUF_KEEP) {
		free(b->data);
		*b = (struct wal_buf){ 0 };
	}
	return 0;
}

/*
 * Reads the frame at @off if it is the valid frame @seq of @txnid: *ret_frame
 * (malloc'd, the whole frame) and *ret_next (where the next one starts).
 * Returns 1 for a frame, 0 for none (the end of the valid frames).
 */
static int read_frame(int fd, uint64_t off, uint64_t txnid, uint32_t seq, uint64_t file_size,
		      uint8_t **ret_frame, uint64_t *ret_next)
{
	uint8_t h[FRAME_HEAD];
	if (off + FRAME_HEAD + FRAME_TAIL > file_size)
		return 0;
	ssize_t n = pread(fd, h, sizeof(h), (off_t)off);
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(h) || memcmp(h, WAL_MAGIC, 8) != 0 ||
	    get_be64(h + 8) != txnid || get_be32(h + 16) != seq)
		return 0;
	uint64_t body = get_be64(h + 24);
	if (body > file_size - off - FRAME_HEAD - FRAME_TAIL)
		return 0;
	size_t len = FRAME_HEAD + (size_t)body + FRAME_TAIL;
	uint8_t *f = malloc(len);
	if (!f)
		return -ENOMEM;
	n = pread(fd, f, len, (off_t)off);
	if (n != (ssize_t)len || memcmp(f, h, FRAME_HEAD) != 0 ||
	    XXH3_64bits(f, len - FRAME_TAIL) != get_be64(f + len - FRAME_TAIL)) {
		int r = n < 0 ? -errno : 0;
		free(f);
		return r;
	}
	*ret_frame = f;
	*ret_next = (off + len + WAL_ALIGN - 1) / WAL_ALIGN * WAL_ALIGN;
	return 1;
}

/* Applies the operations of a valid frame; -EUCLEAN if they do not parse. */
static int apply_frame(struct idx_env *env, MDB_txn *mtxn, const uint8_t *f)
{
	uint32_t count = get_be32(f + 20);
	const uint8_t *p = f + FRAME_HEAD, *end = p + get_be64(f + 24);
	for (uint32_t i = 0; i < count; i++) {
		if ((size_t)(end - p) < OP_HEAD)
			return -EUCLEAN;
		uint8_t kind = p[0], db = p[1];
		size_t klen = (size_t)p[2] << 8 | p[3];
		size_t vlen = get_be32(p + 4);
		if (db >= DBI_COUNT || klen == 0 || (size_t)(end - p) - OP_HEAD < klen + vlen)
			return -EUCLEAN;
		MDB_val k = { .mv_size = klen, .mv_data = (void *)(p + OP_HEAD) };
		MDB_val v = { .mv_size = vlen, .mv_data = (void *)(p + OP_HEAD + klen) };
		int rc;
		if (kind == OP_PUT)
			rc = mdb_put(mtxn, env->dbi[db], &k, &v, 0);
		else if (kind == OP_DEL && vlen == 0)
			rc = mdb_del(mtxn, env->dbi[db], &k, NULL);
		else
			return -EUCLEAN;
		if (rc != 0 && !(kind == OP_DEL && rc == MDB_NOTFOUND))
			return idx_errno(rc);
		p += OP_HEAD + klen + vlen;
	}
	return p == end ? 0 : -EUCLEAN;
}

/* Visits the valid frames on top of @last_txnid, applying them to @mtxn unless NULL. */
static int scan_frames(int fd, uint64_t last_txnid, struct idx_env *env, MDB_txn *mtxn,
		       unsigned *ret_frames)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	uint64_t off = 0;
	unsigned frames = 0;
	for (;;) {
		uint8_t *f = NULL;
		uint64_t next = 0;
		int r = read_frame(fd, off, last_txnid + 1, frames, (uint64_t)st.st_size, &f, &next);
		if (r <= 0) {
			if (r == 0)
				*ret_frames = frames;
			return r;
		}
		if (mtxn)
			r = apply_frame(env, mtxn, f);
		free(f);
		if (r < 0)
			return r;
		frames++;
		off = next;
	}
}

int wal_replay(struct idx_env *env, MDB_txn *mtxn, unsigned *ret_frames)
{
	return scan_frames(env->wal_fd, mdb_txn_id(mtxn) - 1, env, mtxn, ret_frames);
}

int wal_pending(int fd, uint64_t last_txnid, unsigned *ret_frames)
{
	return scan_frames(fd, last_txnid, NULL, NULL, ret_frames);
}
