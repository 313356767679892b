/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * wal.c — the write-ahead log of the daemon's batch (see wal.h for its
 * invariants, docs/format.md §4.11 for the bytes).
 *
 * The log is a stream of bytes addressed by position (lsn), which only
 * grows; byte lsn lives at offset lsn % capacity of index/wal, so the file
 * is used round and round.  A frame, big-endian, starting at a multiple of
 * WAL_ALIGN:
 *
 *   0   8  magic "VOLFSWL2"
 *   8   8  lsn: the frame's own position
 *  16   8  txnid: the LMDB write transaction the frame continues
 *  24   4  seq: 0 for that transaction's first frame, then one more each
 *  28   4  number of operations
 *  32   8  length of the operations, bytes
 *  40      operations: u8 kind (1 put, 2 delete, 3 data), u8 database (enum
 *          dbi_index; 0 for data), be16 key length (0 for data), be32 value
 *          length, key, value
 *   .   8  XXH3-64 of every byte of the frame before it
 *          zeros up to the next multiple of WAL_ALIGN
 *
 * A data operation holds the bytes of a journal record put after it; the
 * record names them by position (schema.h), and they must stay readable as
 * long as a committed record names them.  Format 3 wrote frames with magic
 * "VOLFSWL1", no lsn field (a 32-byte header) and always from offset 0; a
 * store upgraded from it may still hold such frames of a batch that died,
 * and they are replayed.
 *
 * Frames never share a block: a frame being written cannot tear one that was
 * acknowledged before it.
 *
 * Frames are written with direct I/O where the file system has it: the log
 * is written once and read back only after a crash or for a journal record,
 * so its bytes need not pass through (and push other files out of) the page
 * cache.  The buffer is WAL_ALIGN-aligned and frames start and end on
 * WAL_ALIGN, as direct I/O asks.  fdatasync() still follows each frame: the
 * device's cache must be flushed either way.  Reads go through the page
 * cache, which a direct write keeps coherent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "internal.h"
#include "wal.h"

#define WAL_MAGIC "VOLFSWL2"
#define WAL_MAGIC_V1 "VOLFSWL1"
#define WAL_ALIGN 4096
#define FRAME_HEAD 40
#define FRAME_HEAD_V1 32
#define FRAME_TAIL 8
#define OP_HEAD 8
#define OP_PUT 1
#define OP_DEL 2
#define OP_DATA 3
/* A larger buffer is given back after its frame is written. */
#define WAL_BUF_KEEP (4u << 20)

int wal_open(const char *dir, bool direct, int *ret_fd, int *ret_direct_fd)
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
	/* -1: none asked for, or the file system has none (EINVAL) */
	*ret_direct_fd = direct ? open(path, O_WRONLY | O_DIRECT | O_CLOEXEC) : -1;
	return 0;
}

static int buf_reserve(struct wal_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64 * 1024;
	while (cap < b->len + more)
		cap *= 2;
	uint8_t *p = aligned_alloc(WAL_ALIGN, cap);   /* for direct I/O; cap is a multiple */
	if (!p)
		return -ENOMEM;
	if (b->data)
		memcpy(p, b->data, b->len);
	free(b->data);
	b->data = p;
	b->cap = cap;
	return 0;
}

/* Appends an operation to the next frame; *ret_at: where its value is in the buffer. */
static int note(struct idx_txn *txn, uint8_t kind, int db, const MDB_val *key, const MDB_val *val,
		size_t *ret_at)
{
	struct wal_buf *b = &txn->env->wal_buf;
	size_t klen = key ? key->mv_size : 0, vlen = val ? val->mv_size : 0;
	if (klen > UINT16_MAX || vlen > UINT32_MAX)
		return -E2BIG;
	if (b->len == 0)
		b->len = FRAME_HEAD;   /* filled in by wal_write_frame() */
	int r = buf_reserve(b, OP_HEAD + klen + vlen + FRAME_TAIL + WAL_ALIGN);
	if (r < 0)
		return r;
	uint8_t *p = b->data + b->len;
	p[0] = kind;
	p[1] = (uint8_t)db;
	p[2] = (uint8_t)(klen >> 8);
	p[3] = (uint8_t)klen;
	put_be32(p + 4, (uint32_t)vlen);
	if (klen)
		memcpy(p + OP_HEAD, key->mv_data, klen);
	if (vlen)
		memcpy(p + OP_HEAD + klen, val->mv_data, vlen);
	if (ret_at)
		*ret_at = b->len + OP_HEAD + klen;
	b->len += OP_HEAD + klen + vlen;
	txn->wal_ops++;
	return 0;
}

int wal_note_put(struct idx_txn *txn, int db, const MDB_val *key, const MDB_val *val)
{
	return note(txn, OP_PUT, db, key, val, NULL);
}

int wal_note_del(struct idx_txn *txn, int db, const MDB_val *key)
{
	return note(txn, OP_DEL, db, key, NULL, NULL);
}

int wal_note_data(struct idx_txn *txn, const void *data, size_t len, uint64_t *ret_lsn)
{
	if (!txn->logged || txn->wal_failed)
		return -EINVAL;   /* the bytes would have nowhere to stay */
	size_t at;
	MDB_val v = { .mv_size = len, .mv_data = (void *)data };
	int r = note(txn, OP_DATA, 0, NULL, &v, &at);
	if (r < 0)
		return r;
	txn->wal_data = true;
	*ret_lsn = txn->wal_off + at;   /* the frame goes at wal_off */
	return 0;
}

/* Reads or writes @n bytes at log position @lsn, round the end of the file. */
static int log_io(int fd, void *buf, size_t n, uint64_t lsn, uint64_t capacity, bool write)
{
	uint8_t *p = buf;
	while (n) {
		uint64_t off = lsn % capacity;
		size_t piece = capacity - off < n ? (size_t)(capacity - off) : n;
		ssize_t done = write ? pwrite(fd, p, piece, (off_t)off) : pread(fd, p, piece, (off_t)off);
		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return -errno;
		if (done == 0)
			return write ? -EIO : -ENODATA;   /* reading: past the file's end */
		p += done;
		n -= (size_t)done;
		lsn += (uint64_t)done;
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
	/* invariant 5: never over bytes a committed record may still name */
	if (padded > env->wal_capacity || txn->wal_off + padded > env->wal_tail + env->wal_capacity) {
		txn->wal_failed = true;
		return -ENOSPC;
	}
	uint8_t *h = b->data;   /* note() reserved room for the tail and the padding */
	memcpy(h, WAL_MAGIC, 8);
	put_be64(h + 8, txn->wal_off);
	put_be64(h + 16, mdb_txn_id(txn->mdb));
	put_be32(h + 24, txn->wal_seq);
	put_be32(h + 28, txn->wal_ops);
	put_be64(h + 32, body);
	put_be64(h + b->len, XXH3_64bits(h, b->len));
	memset(h + total, 0, padded - total);

	int r = -EINVAL;
	if (env->wal_direct_fd >= 0) {
		r = log_io(env->wal_direct_fd, h, padded, txn->wal_off, env->wal_capacity, true);
		if (r == -EINVAL) {   /* alignment this file system will not take: buffered from now */
			close(env->wal_direct_fd);
			env->wal_direct_fd = -1;
		}
	}
	if (r == -EINVAL)
		r = log_io(env->wal_fd, h, padded, txn->wal_off, env->wal_capacity, true);
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
	txn->wal_data = false;
	b->len = 0;
	if (b->cap > WAL_BUF_KEEP) {
		free(b->data);
		*b = (struct wal_buf){ 0 };
	}
	return 0;
}

static int read_capacity(struct idx_env *env, MDB_txn *mtxn, uint64_t *ret_capacity);

int wal_read_data(struct idx_txn *txn, uint64_t lsn, void *buf, size_t len)
{
	uint64_t capacity = 0;
	if (txn->env->wal_fd < 0)
		return -ENODATA;
	int r = read_capacity(txn->env, txn->mdb, &capacity);
	return r < 0 ? r : log_io(txn->env->wal_fd, buf, len, lsn, capacity, false);
}

/*
 * Reads the frame at @lsn if it is the valid frame @seq of @txnid: *ret_frame
 * (malloc'd, the whole frame), *ret_head (its header's size) and *ret_next
 * (where the next one starts).  Returns 1 for a frame, 0 for none (the end
 * of the valid frames).
 */
static int read_frame(struct idx_env *env, uint64_t lsn, uint64_t txnid, uint32_t seq,
		      uint8_t **ret_frame, size_t *ret_head, uint64_t *ret_next)
{
	uint8_t h[FRAME_HEAD];
	int r = log_io(env->wal_fd, h, sizeof(h), lsn, env->wal_capacity, false);
	if (r < 0)
		return r == -ENODATA ? 0 : r;
	size_t head;
	if (memcmp(h, WAL_MAGIC, 8) == 0 && get_be64(h + 8) == lsn)
		head = FRAME_HEAD;
	else if (memcmp(h, WAL_MAGIC_V1, 8) == 0 && env->wal_legacy)
		head = FRAME_HEAD_V1;
	else
		return 0;
	const uint8_t *fields = h + head - 24;   /* txnid, seq, count, length end the header */
	if (get_be64(fields) != txnid || get_be32(fields + 8) != seq)
		return 0;
	uint64_t body = get_be64(fields + 16);
	if (body > env->wal_capacity - head - FRAME_TAIL)
		return 0;
	size_t len = head + (size_t)body + FRAME_TAIL;
	uint8_t *f = malloc(len);
	if (!f)
		return -ENOMEM;
	r = log_io(env->wal_fd, f, len, lsn, env->wal_capacity, false);
	if (r < 0 || memcmp(f, h, head) != 0 ||
	    XXH3_64bits(f, len - FRAME_TAIL) != get_be64(f + len - FRAME_TAIL)) {
		free(f);
		return r == -ENODATA ? 0 : r;
	}
	*ret_frame = f;
	*ret_head = head;
	*ret_next = (lsn + len + WAL_ALIGN - 1) / WAL_ALIGN * WAL_ALIGN;
	return 1;
}

/* Applies the operations of a valid frame; -EUCLEAN if they do not parse. */
static int apply_frame(struct idx_env *env, MDB_txn *mtxn, const uint8_t *f, size_t head)
{
	uint32_t count = get_be32(f + head - 12);
	const uint8_t *p = f + head, *end = p + get_be64(f + head - 8);
	for (uint32_t i = 0; i < count; i++) {
		if ((size_t)(end - p) < OP_HEAD)
			return -EUCLEAN;
		uint8_t kind = p[0], db = p[1];
		size_t klen = (size_t)p[2] << 8 | p[3];
		size_t vlen = get_be32(p + 4);
		if (db >= DBI_COUNT || (klen == 0) != (kind == OP_DATA) ||
		    (size_t)(end - p) - OP_HEAD < klen + vlen)
			return -EUCLEAN;
		MDB_val k = { .mv_size = klen, .mv_data = (void *)(p + OP_HEAD) };
		MDB_val v = { .mv_size = vlen, .mv_data = (void *)(p + OP_HEAD + klen) };
		int rc = 0;
		if (kind == OP_PUT)
			rc = mdb_put(mtxn, env->dbi[db], &k, &v, 0);
		else if (kind == OP_DEL && vlen == 0)
			rc = mdb_del(mtxn, env->dbi[db], &k, NULL);
		else if (kind != OP_DATA)   /* data stays where it is, for the records naming it */
			return -EUCLEAN;
		if (rc != 0 && !(kind == OP_DEL && rc == MDB_NOTFOUND))
			return idx_errno(rc);
		p += OP_HEAD + klen + vlen;
	}
	return p == end ? 0 : -EUCLEAN;
}

/*
 * Visits the valid frames from @head on top of @last_txnid, applying them to
 * @mtxn unless NULL; *ret_end: where the next frame would go.
 */
static int scan_frames(struct idx_env *env, uint64_t head, uint64_t last_txnid, MDB_txn *mtxn,
		       unsigned *ret_frames, uint64_t *ret_end)
{
	uint64_t lsn = head;
	unsigned frames = 0;
	for (;;) {
		uint8_t *f = NULL;
		size_t fhead = 0;
		uint64_t next = 0;
		int r = read_frame(env, lsn, last_txnid + 1, frames, &f, &fhead, &next);
		if (r <= 0) {
			if (r == 0) {
				*ret_frames = frames;
				*ret_end = lsn;
			}
			return r;
		}
		if (mtxn)
			r = apply_frame(env, mtxn, f, fhead);
		free(f);
		if (r < 0)
			return r;
		frames++;
		lsn = next;
	}
}

/* The be64 meta record @key that @mtxn sees: 1 found, 0 absent, or an error. */
static int meta_get_be64(struct idx_env *env, MDB_txn *mtxn, const char *key, uint64_t *ret)
{
	MDB_val k = { .mv_size = strlen(key), .mv_data = (void *)key }, v;
	int rc = mdb_get(mtxn, env->dbi[DBI_META], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return idx_errno(rc);
	if (v.mv_size != 8)
		return -EUCLEAN;
	*ret = get_be64(v.mv_data);
	return 1;
}

static int meta_put_be64(struct idx_env *env, MDB_txn *mtxn, const char *key, uint64_t value)
{
	uint8_t be[8];
	put_be64(be, value);
	MDB_val k = { .mv_size = strlen(key), .mv_data = (void *)key };
	MDB_val v = { .mv_size = 8, .mv_data = be };
	return idx_errno(mdb_put(mtxn, env->dbi[DBI_META], &k, &v, 0));
}

/* The log's size, as the meta records @mtxn sees say (schema.h). */
static int read_capacity(struct idx_env *env, MDB_txn *mtxn, uint64_t *ret_capacity)
{
	uint64_t size = WAL_SIZE_DEFAULT;
	int r = meta_get_be64(env, mtxn, META_LOG_SIZE, &size);
	if (r < 0)
		return r;
	if (!wal_size_valid(size))
		return -EUCLEAN;
	*ret_capacity = size;
	return 0;
}

/* Reads the log's size and head, as the meta records @mtxn sees say, into @env. */
static int read_geometry(struct idx_env *env, MDB_txn *mtxn, uint64_t *ret_head)
{
	*ret_head = 0;
	int r = meta_get_be64(env, mtxn, META_LOG_HEAD, ret_head);
	if (r < 0)
		return r;
	/* a store of format 3 (or a new one) has no head: its frames start at 0 */
	env->wal_legacy = r == 0;
	return read_capacity(env, mtxn, &env->wal_capacity);
}

bool wal_size_valid(uint64_t size)
{
	return size >= WAL_SIZE_MIN && size <= WAL_SIZE_MAX && size % WAL_ALIGN == 0;
}

int wal_replay(struct idx_env *env, MDB_txn *mtxn, unsigned *ret_frames)
{
	uint64_t head = 0, end = 0;
	int r = read_geometry(env, mtxn, &head);
	if (r < 0)
		return r;
	r = scan_frames(env, head, mdb_txn_id(mtxn) - 1, mtxn, ret_frames, &end);
	if (r < 0 || *ret_frames == 0)
		return r;
	/* the replayed frames hold bytes their records name: the next batch logs after them */
	return meta_put_be64(env, mtxn, META_LOG_HEAD, end);
}

int wal_pending(struct idx_env *env, MDB_txn *rtxn, uint64_t last_txnid, unsigned *ret_frames)
{
	uint64_t head = 0, end = 0;
	int r = read_geometry(env, rtxn, &head);
	return r < 0 ? r : scan_frames(env, head, last_txnid, NULL, ret_frames, &end);
}

/* The lowest log position a committed journal record names, or @none if none does. */
static int lowest_named(struct idx_txn *txn, uint64_t none, uint64_t *ret_lsn)
{
	MDB_cursor *cur;
	int r = idx_errno(mdb_cursor_open(txn->mdb, idx_dbi(txn, DBI_JOURNAL), &cur));
	if (r < 0)
		return r;
	uint64_t low = none;
	MDB_val k, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct idx_journal_rec rec;
		if (journal_value_decode(&v, &rec) == 0 && !rec.data && rec.lsn < low)
			low = rec.lsn;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return idx_errno(rc);
	*ret_lsn = low;
	return 0;
}

int wal_begin(struct idx_txn *txn)
{
	struct idx_env *env = txn->env;
	uint64_t head = 0;
	int r = read_geometry(env, txn->mdb, &head);
	if (r < 0)
		return r;
	txn->wal_off = txn->wal_start = head;
	/*
	 * Invariant 5.  The tail only rises (records are deleted, and new ones
	 * name bytes past the head), so a tail found once stays a safe bound;
	 * look again, at what is committed, when five eighths of the log seem
	 * in use: past the half at which the daemon writes back the buffers
	 * whose records are old, so that one look lasts a while.
	 */
	if (head - env->wal_tail > env->wal_capacity / 8 * 5 || env->wal_tail > head)
		r = lowest_named(txn, head, &env->wal_tail);
	return r;
}

int wal_end(struct idx_txn *txn)
{
	int r = 0;
	if (txn->wal_data && !txn->wal_failed)
		r = wal_write_frame(txn);
	if (r == 0 && txn->wal_off != txn->wal_start)
		r = meta_put_be64(txn->env, txn->mdb, META_LOG_HEAD, txn->wal_off);
	return r;
}

int idx_log_set_size(struct idx_txn *txn, uint64_t size)
{
	if (txn->rdonly || !wal_size_valid(size))
		return -EINVAL;
	uint64_t low;
	int r = lowest_named(txn, UINT64_MAX, &low);
	if (r < 0)
		return r;
	if (low != UINT64_MAX)
		return -EBUSY;   /* bytes in the log are named: their offsets would change */
	uint8_t be[8];
	put_be64(be, size);
	MDB_val k = { .mv_size = strlen(META_LOG_SIZE), .mv_data = (void *)META_LOG_SIZE };
	MDB_val v = { .mv_size = 8, .mv_data = be };
	return idx_put(txn, DBI_META, &k, &v, 0);
}
