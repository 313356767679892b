/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pl_replay.c — build the store "as the disk may hold it after a power cut"
 * from plshim's log (tests/crash/powerloss.sh).
 *
 *   pl_replay LOG DIR SEED [K]
 *   pl_replay dump LOG           print the records, one a line
 *
 * DIR holds a copy of the store taken before the logged run (the "disk" at the
 * start); it is changed in place.  K is the crash point: records 0..K-1 of LOG
 * had been issued when the power went, the rest never were (default: chosen
 * from SEED: see pick_k()).  Prints one line:
 *   k=K (HOW) n=N cutoff=TS applied=A covered=C dropped=D torn=T unknown=U
 * where TS is the CLOCK_MONOTONIC time of record K (the first one that never
 * happened; 18446744073709551615 when K = N): every fsync that returned to a
 * program before TS is one the program may rely on at this crash point.
 *
 * The model (conservative: it lets the disk lose or keep everything POSIX
 * lets it lose or keep, and a little more):
 *
 *  - A write (pwrite, write, ftruncate, O_TRUNC) is durable once a barrier
 *    covering it has *returned* before K: fsync/fdatasync of the same inode
 *    whose call began after the write returned (the shim logs data operations
 *    after they return, barriers when they begin and when they end), or a
 *    syncfs/sync that began after it.  A write to an O_DSYNC/O_SYNC
 *    descriptor is durable when it returns (LMDB writes its meta page so).
 *  - A name operation (a file created by open, link, rename, unlink, mkdir)
 *    is durable once an fsync of its parent directory (both parents for a
 *    rename) or a syncfs/sync that began after it has returned before K.
 *    An fsync of the file itself does not make its name durable (POSIX does
 *    not promise it; ext4 happens to).
 *  - Every other operation before K is kept or dropped at random (one half
 *    each), independently of the others — a disk may write back any subset
 *    of the dirty pages and, without a journal, any subset of the directory
 *    changes.  A kept write of more than 512 bytes is torn one time in three:
 *    each 512-byte sector of it kept or dropped at random.  Kept operations
 *    are applied in log order, so a later write to the same bytes wins (per
 *    file order).  An operation that cannot apply because one it depends on
 *    was dropped (a link into a directory whose mkdir was dropped) is dropped.
 *  - Inodes are followed by number: writes go to the inode whatever its
 *    names, so an O_TMPFILE whose link was dropped, or a file whose name was
 *    dropped, keeps its data but is unreachable, as on a disk.
 *  - Operations issued after K are never applied, and an operation in flight
 *    at K is not applied in part (the shim logs data operations when they
 *    return).
 *
 * PL_REPLAY_NO_BARRIERS=1 ignores every barrier (everything before K is at
 * risk): a check that the trials notice lost data, which they must then report.
 *
 * Exit 0, or 2 on a usage or I/O error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pl_log.h"
#include "xorshift.h"

#define OBJDIR ".plobj"

static __attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "pl_replay: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* ---- random ---------------------------------------------------------------- */

static uint64_t rng;

static uint64_t next_rand(void)
{
	return xorshift64s(&rng);
}

/* ---- uint64 -> int64 hash map ---------------------------------------------- */

struct map {
	uint64_t *keys;
	int64_t *vals;
	size_t cap, n;
};

static size_t slot(const struct map *m, uint64_t key)
{
	size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 7) & (m->cap - 1);
	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static void map_put(struct map *m, uint64_t key, int64_t val)
{
	key |= 1ull << 63;   /* 0 marks an empty slot */
	if (2 * (m->n + 1) > m->cap) {
		struct map b = { .cap = m->cap ? m->cap * 2 : 1024 };
		b.keys = calloc(b.cap, sizeof(*b.keys));
		b.vals = calloc(b.cap, sizeof(*b.vals));
		if (!b.keys || !b.vals)
			die("out of memory");
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i]) {
				size_t j = slot(&b, m->keys[i]);
				b.keys[j] = m->keys[i];
				b.vals[j] = m->vals[i];
				b.n++;
			}
		free(m->keys);
		free(m->vals);
		*m = b;
	}
	size_t i = slot(m, key);
	if (!m->keys[i])
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
}

static bool map_get(const struct map *m, uint64_t key, int64_t *val)
{
	if (!m->cap)
		return false;
	size_t i = slot(m, key | 1ull << 63);
	if (!m->keys[i])
		return false;
	*val = m->vals[i];
	return true;
}

static uint64_t path_key(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
	return h;
}

/* the parent of @path ("." for a top-level name) */
static uint64_t parent_key(const char *p, size_t len)
{
	while (len && p[len - 1] != '/')
		len--;
	if (!len)
		return path_key(".", 1);
	return path_key(p, len - 1);
}

/* ---- the log ------------------------------------------------------------------ */

struct rec {
	struct pl_rec h;        /* copied: records in the log are not aligned */
	char *p1, *p2;          /* NUL-terminated copies */
	const uint8_t *data;
};

static struct rec *recs;
static size_t nrec;

static void load(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("%s: %s", path, strerror(errno));
	if (fseeko(f, 0, SEEK_END) < 0)
		die("%s: %s", path, strerror(errno));
	off_t size = ftello(f);
	rewind(f);
	uint8_t *buf = malloc((size_t)size + 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
		die("%s: cannot read", path);
	fclose(f);
	size_t cap = 0;
	for (off_t pos = 0; pos < size;) {
		if ((size_t)(size - pos) < sizeof(struct pl_rec))
			die("%s: cut record at %lld", path, (long long)pos);
		struct pl_rec hdr;
		memcpy(&hdr, buf + pos, sizeof(hdr));
		const struct pl_rec *h = &hdr;
		if (h->magic != PL_MAGIC)
			die("%s: bad record at %lld", path, (long long)pos);
		size_t dlen = h->type == PL_WRITE ? (size_t)h->len : 0;
		size_t tot = sizeof(*h) + h->plen + h->p2len + dlen;
		if ((size_t)(size - pos) < tot)
			die("%s: cut record at %lld", path, (long long)pos);
		if (nrec == cap) {
			cap = cap ? cap * 2 : 4096;
			recs = realloc(recs, cap * sizeof(*recs));
			if (!recs)
				die("out of memory");
		}
		const char *p = (const char *)(buf + pos + sizeof(hdr));
		struct rec *r = &recs[nrec++];
		r->h = hdr;
		r->p1 = strndup(p, h->plen);
		r->p2 = strndup(p + h->plen, h->p2len);
		r->data = (const uint8_t *)p + h->plen + h->p2len;
		if (!r->p1 || !r->p2)
			die("out of memory");
		pos += (off_t)tot;
	}
}

/* ---- coverage ------------------------------------------------------------------- */

static size_t sync_begin;       /* records before it are durable: a syncfs returned */
static struct map fsync_begin;  /* ino -> records of it before this one are durable */
static struct map dir_ino;      /* path key -> inode of that directory */

static void barriers(size_t k)
{
	struct map seq_idx = { 0 };

	for (size_t i = 0; i < k; i++) {
		const struct pl_rec *h = &recs[i].h;
		int64_t b;
		if (h->type == PL_FSYNC_BEGIN || h->type == PL_SYNCFS_BEGIN) {
			if (map_get(&seq_idx, h->seq, &b))
				die("two records with sequence %" PRIu64 ": the log of more than one "
				    "process (run the daemon in the foreground)", h->seq);
			map_put(&seq_idx, h->seq, (int64_t)i);
		} else if (h->type == PL_FSYNC_END || h->type == PL_SYNCFS_END) {
			if (!map_get(&seq_idx, (uint64_t)h->off, &b))
				die("record %zu: a barrier's end without its beginning", i);
			if (h->type == PL_SYNCFS_END) {
				if ((size_t)b > sync_begin)
					sync_begin = (size_t)b;
			} else {
				int64_t old;
				if (!map_get(&fsync_begin, h->ino, &old) || old < b)
					map_put(&fsync_begin, h->ino, b);
			}
		}
		if ((h->type == PL_OPEN && (h->flags & PL_F_DIR)) || h->type == PL_MKDIR)
			map_put(&dir_ino, path_key(recs[i].p1, h->plen), (int64_t)h->ino);
	}
	free(seq_idx.keys);
	free(seq_idx.vals);
}

static bool ino_synced(uint64_t ino, size_t i)
{
	int64_t b;
	return map_get(&fsync_begin, ino, &b) && (size_t)b > i;
}

static bool dir_synced(uint64_t pkey, size_t i)
{
	int64_t ino;
	return map_get(&dir_ino, pkey, &ino) && ino_synced((uint64_t)ino, i);
}

static bool no_barriers;   /* PL_REPLAY_NO_BARRIERS=1: the harness's own check */

static bool covered(size_t i)
{
	const struct pl_rec *h = &recs[i].h;

	if (no_barriers)
		return h->type > PL_MKDIR;
	if (i < sync_begin)
		return true;
	switch (h->type) {
	case PL_WRITE:
		return (h->flags & PL_F_SYNC) || ino_synced(h->ino, i);
	case PL_TRUNC:
		return ino_synced(h->ino, i);
	case PL_OPEN:
		if (h->flags & PL_F_TRUNC)
			return ino_synced(h->ino, i);
		__attribute__((fallthrough));   /* a name */
	case PL_LINK:
	case PL_MKDIR:
	case PL_UNLINK:
		return dir_synced(parent_key(recs[i].p1, h->plen), i);
	case PL_RENAME:
		return dir_synced(parent_key(recs[i].p1, h->plen), i) &&
		       dir_synced(parent_key(recs[i].p2, h->p2len), i);
	default:
		return true;
	}
}

/* ---- applying ---------------------------------------------------------------------- */

static int outfd;              /* DIR */
static struct map objs;        /* ino -> object number: DIR/.plobj/<n> */
static int64_t nobj;
static size_t n_applied, n_covered, n_dropped, n_torn, n_unknown;

static void obj_name(int64_t n, char *out, size_t size)
{
	snprintf(out, size, OBJDIR "/%" PRId64, n);
}

/* a new, empty object for @ino */
static void obj_new(uint64_t ino, const char *from)
{
	char name[64];
	int64_t n = ++nobj;
	obj_name(n, name, sizeof(name));
	if (from && linkat(outfd, from, outfd, name, 0) == 0) {
		map_put(&objs, ino, n);
		return;
	}
	int fd = openat(outfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		die("%s: %s", name, strerror(errno));
	close(fd);
	map_put(&objs, ino, n);
}

static bool obj_of(uint64_t ino, char *name, size_t size)
{
	int64_t n;
	if (!map_get(&objs, ino, &n))
		return false;
	obj_name(n, name, size);
	return true;
}

static void put_name(const char *obj, const char *path)
{
	unlinkat(outfd, path, 0);
	if (linkat(outfd, obj, outfd, path, 0) < 0 && errno != ENOENT)
		die("link %s: %s", path, strerror(errno));
}

static void apply_write(const struct rec *r, bool torn)
{
	char name[64];
	const struct pl_rec *h = &r->h;
	if (!obj_of(h->ino, name, sizeof(name))) {
		n_unknown++;
		return;
	}
	int fd = openat(outfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s", name, strerror(errno));
	uint64_t off = (uint64_t)h->off, end = off + h->len;
	while (off < end) {
		uint64_t next = torn ? (off / 512 + 1) * 512 : end;
		if (next > end)
			next = end;
		if (!torn || next_rand() % 2) {
			const uint8_t *p = r->data + (off - (uint64_t)h->off);
			if (pwrite(fd, p, (size_t)(next - off), (off_t)off) != (ssize_t)(next - off))
				die("%s: write: %s", name, strerror(errno));
		}
		off = next;
	}
	close(fd);
}

static void apply_trunc(uint64_t ino, uint64_t len)
{
	char name[64];
	if (!obj_of(ino, name, sizeof(name))) {
		n_unknown++;
		return;
	}
	int fd = openat(outfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0)
		die("%s: truncate: %s", name, strerror(errno));
	close(fd);
}

/* the inode @path names in DIR, 0 if none */
static ino_t ino_of(const char *path)
{
	struct stat st;
	return fstatat(outfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_ino : 0;
}

static void replay(size_t k)
{
	char obj[64];

	for (size_t i = 0; i < k; i++) {
		const struct rec *r = &recs[i];
		const struct pl_rec *h = &r->h;
		bool must = covered(i), keep = must || next_rand() % 2;

		/* which inode an open names is known whatever the disk kept */
		if (h->type == PL_OPEN && !(h->flags & PL_F_DIR)) {
			int64_t n;
			if (h->flags & (PL_F_TMPFILE | PL_F_CREATED))
				obj_new(h->ino, NULL);
			else if (!map_get(&objs, h->ino, &n))
				obj_new(h->ino, r->p1);
		}
		switch (h->type) {
		case PL_OPEN:
		case PL_WRITE:
		case PL_TRUNC:
		case PL_LINK:
		case PL_RENAME:
		case PL_UNLINK:
		case PL_MKDIR:
			break;
		default:
			continue;   /* barriers */
		}
		if (h->type == PL_OPEN && !(h->flags & (PL_F_CREATED | PL_F_TRUNC)))
			continue;
		if (!keep) {
			n_dropped++;
			continue;
		}
		n_applied++;
		n_covered += must;
		switch (h->type) {
		case PL_OPEN:
			if (h->flags & PL_F_TRUNC)
				apply_trunc(h->ino, 0);
			else if (obj_of(h->ino, obj, sizeof(obj)))
				put_name(obj, r->p1);
			break;
		case PL_WRITE: {
			bool torn = !must && h->len > 512 && next_rand() % 3 == 0;
			n_torn += torn;
			apply_write(r, torn);
			break;
		}
		case PL_TRUNC:
			apply_trunc(h->ino, h->len);
			break;
		case PL_LINK:
			if (obj_of(h->ino, obj, sizeof(obj)))
				put_name(obj, r->p1);
			else
				n_unknown++;
			break;
		case PL_RENAME:
			if (obj_of(h->ino, obj, sizeof(obj))) {
				ino_t mine = ino_of(obj);
				put_name(obj, r->p2);
				if (ino_of(r->p1) == mine)
					unlinkat(outfd, r->p1, 0);
			} else {
				renameat(outfd, r->p1, outfd, r->p2);
			}
			break;
		case PL_UNLINK:
			unlinkat(outfd, r->p1, h->flags & PL_F_DIR ? AT_REMOVEDIR : 0);
			break;
		case PL_MKDIR:
			if (mkdirat(outfd, r->p1, (mode_t)h->len) < 0 && errno != EEXIST &&
			    errno != ENOENT)
				die("mkdir %s: %s", r->p1, strerror(errno));
			break;
		}
	}
}

static void remove_objects(void)
{
	int fd = openat(outfd, OBJDIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d)
		die(OBJDIR ": %s", strerror(errno));
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && unlinkat(dirfd(d), e->d_name, 0) < 0)
			die(OBJDIR "/%s: %s", e->d_name, strerror(errno));
	closedir(d);
	if (unlinkat(outfd, OBJDIR, AT_REMOVEDIR) < 0)
		die(OBJDIR ": %s", strerror(errno));
}

/*
 * The crash point, when not given.  Uniform over the records, nearly every
 * point is just after a sync and little is at risk; so three times in four
 * the power goes while a barrier runs (k = the index of its END record: it
 * began, never returned), when everything since the last completed one is
 * at risk.
 */
static const char *pick_how = "given";

static size_t pick_k(void)
{
	size_t nend = 0;
	for (size_t i = 0; i < nrec; i++)
		nend += recs[i].h.type == PL_FSYNC_END || recs[i].h.type == PL_SYNCFS_END;
	if (nend && next_rand() % 4) {
		size_t want = (size_t)(next_rand() % nend);
		for (size_t i = 0; i < nrec; i++)
			if ((recs[i].h.type == PL_FSYNC_END || recs[i].h.type == PL_SYNCFS_END) &&
			    !want--) {
				pick_how = recs[i].h.type == PL_FSYNC_END ? "in-fsync" : "in-syncfs";
				return i;
			}
	}
	pick_how = "uniform";
	return 1 + (size_t)(next_rand() % nrec);
}

static void dump(void)
{
	static const char *const names[] = { "?", "open", "write", "trunc", "link", "rename",
		"unlink", "mkdir", "fsync{", "fsync}", "syncfs{", "syncfs}" };
	for (size_t i = 0; i < nrec; i++) {
		const struct pl_rec *h = &recs[i].h;
		printf("%zu seq=%" PRIu64 " ts=%" PRIu64 " %s flags=%u ino=%" PRIu64 " off=%" PRId64
		       " len=%" PRIu64 " %s %s\n", i, h->seq, h->ts,
		       h->type < sizeof(names) / sizeof(names[0]) ? names[h->type] : "?", h->flags,
		       h->ino, h->off, h->len, recs[i].p1, recs[i].p2);
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "dump")) {
		load(argv[2]);
		dump();
		return 0;
	}
	if (argc != 4 && argc != 5)
		die("usage: pl_replay LOG DIR SEED [K]");
	rng = strtoull(argv[3], NULL, 10) * 0x9E3779B97F4A7C15ull + 7;
	next_rand();
	no_barriers = getenv("PL_REPLAY_NO_BARRIERS") && !strcmp(getenv("PL_REPLAY_NO_BARRIERS"), "1");
	load(argv[1]);
	if (!nrec)
		die("%s: empty log", argv[1]);
	size_t k = argc == 5 ? (size_t)strtoull(argv[4], NULL, 10) : pick_k();
	if (k > nrec)
		k = nrec;
	outfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (outfd < 0)
		die("%s: %s", argv[2], strerror(errno));
	if (mkdirat(outfd, OBJDIR, 0700) < 0)
		die("%s/" OBJDIR ": %s", argv[2], strerror(errno));
	barriers(k);
	replay(k);
	remove_objects();
	printf("k=%zu (%s) n=%zu cutoff=%" PRIu64 " applied=%zu covered=%zu dropped=%zu torn=%zu "
	       "unknown=%zu\n", k, pick_how, nrec, k < nrec ? recs[k].h.ts : UINT64_MAX, n_applied,
	       n_covered, n_dropped, n_torn, n_unknown);
	return 0;
}
