/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsck.c — checking and repairing a store (see fsck.h, docs/invariants.md
 * for what each check verifies, docs/man/fsck.volfs.8 for the tool).
 *
 * How a run goes, and why in this order:
 *  0. A child process reads the whole index (probe_index): a page damaged
 *     past LMDB's own checks kills the child, not fsck, which reports it
 *     and stops before it opens the store.
 *  1. Open the store: read-only for a check; read-write for a repair, which
 *     also does the recovery every read-write open does (temp files of dead
 *     processes removed, interrupted volume removals finished).
 *  2. Find out which volumes are mounted: a repair takes every volume's lock
 *     and holds it to the end, so no daemon starts meanwhile; a volume whose
 *     lock is held is mounted and is never repaired.  Store-wide repairs
 *     (reference counts, chunk files) are made only when no volume is
 *     mounted read-write: a daemon's open batch may hold references and
 *     chunk files fsck cannot see.
 *  3. One transaction (read, or write for a repair) for the index checks,
 *     the directory checks of every view and the checks of the chunk files'
 *     presence and names.  Chunk files are removed only inside the write
 *     transaction, after the record lookup that finds them unreferenced:
 *     chunk files are made only inside write transactions (chunk_put), so
 *     none can be in flight while we hold the only one.
 *  4. Commit (after syncfs if a repair wrote chunk files: I36), then read and
 *     hash every chunk outside any transaction (it can take long, and a
 *     transaction would keep daemons waiting or pin old pages).
 *  5. List the files, byte ranges and snapshots that name missing or corrupt
 *     chunks.  Their extents are left as they are: a read of such a block
 *     fails with EIO in the daemon (chunk_read verifies), and nothing is
 *     invented in their place.
 *
 * Repairs never make up data: they recount, relink into /lost+found, drop
 * names and extents that point nowhere or past the end of a file, and
 * remove files that no record names.  Snapshots are read-only: problems in
 * a snapshot's view are reported and left.
 */
#include "fsck.h"

#include "array.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "proc.h"
#include "scan.h"
#include "store.h"
#include "volume.h"

static const struct {
	const char *name;
	const char *inv;
} checks[FSCK_CHECK_COUNT] = {
	[FSCK_INDEX_PAGES] = { "check_index_pages", "I35" },
	[FSCK_META] = { "check_meta", "I2" },
	[FSCK_COUNTERS] = { "check_counters", "I4" },
	[FSCK_TREE_GENS] = { "check_tree_gens", "I17" },
	[FSCK_TREE_PARENTS] = { "check_tree_parents", "I19" },
	[FSCK_SNAPSHOTS] = { "check_snapshots", "I18" },
	[FSCK_VOLUMES] = { "check_volumes", "I20" },
	[FSCK_ROOT] = { "check_root", "I23" },
	[FSCK_DIRENT_TARGETS] = { "check_dirent_targets", "I24" },
	[FSCK_DIR_PARENTS] = { "check_dir_parents", "I25" },
	[FSCK_TREE_REACHABILITY] = { "check_tree_reachability", "I26" },
	[FSCK_NLINK] = { "check_nlink", "I27" },
	[FSCK_ORPHANS] = { "check_orphans", "I28" },
	[FSCK_EXTENTS_WITHIN_SIZE] = { "check_extents_within_size", "I32" },
	[FSCK_JOURNAL] = { "check_journal", "I39" },
	[FSCK_CHUNK_REFCOUNTS] = { "check_chunk_refcounts", "I10" },
	[FSCK_DEAD_LIST] = { "check_dead_list", "I11" },
	[FSCK_CHUNK_PRESENCE] = { "check_chunk_presence", "I7" },
	[FSCK_UNREFERENCED_CHUNKS] = { "check_unreferenced_chunks", "I8" },
	[FSCK_TMP_EMPTY] = { "check_tmp_empty", "I5" },
	[FSCK_CHUNK_HASHES] = { "check_chunk_hashes", "I6" },
};

const char *fsck_check_name(enum fsck_check c)
{
	return c < FSCK_CHECK_COUNT ? checks[c].name : "?";
}

#define LEFTOVERS_LISTED 20   /* leftovers named one by one; the rest are counted */

struct fvol {
	char name[IDX_NAME_MAX + 1];
	struct idx_volume vol;
	int lock_fd;
	bool mounted;
	bool selected;
	bool ok;                 /* its tree can be viewed */
};

struct ftree {
	uint64_t id;
	struct idx_tree t;
};

struct fsnap {
	uint64_t volume;
	char name[IDX_NAME_MAX + 1];
	struct idx_snapshot s;
	bool ok;
};

struct bad_chunk {
	struct idx_chunk_id id;
	const char *why;         /* "missing", "corrupt" */
};

struct crec {
	struct idx_chunk_id id;
	struct idx_chunk c;
};

struct fsck {
	const struct fsck_options *o;
	struct fsck_result *res;
	FILE *out;
	struct store *store;
	struct idx_txn *txn;
	bool repair;             /* PREEN or REPAIR: the write transaction is open */
	bool store_repair;       /* repair, and no volume is mounted read-write   */
	bool changed;            /* the transaction holds repairs                 */
	bool chunks_written;     /* a repair wrote chunk files: syncfs first      */
	uint64_t max_tree_seen;  /* largest tree id in versioned and orphan keys  */
	struct fvol *vols;
	size_t nvols;
	struct ftree *trees;
	size_t ntrees;
	struct fsnap *snaps;
	size_t nsnaps;
	struct bad_chunk *bad;
	size_t nbad, badcap;
	struct crec *recs;       /* chunk records, key order */
	size_t nrecs, recscap;
	uint64_t leftovers_listed;
};

/* ---- small helpers ------------------------------------------------------ */

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, IDX_CHUNK_ID_SIZE);
}

static void hex_of(const void *p, size_t len, char *out, size_t outlen)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = p;
	size_t i = 0;
	for (; i < len && 2 * i + 3 < outlen; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * i] = 0;
}

static __attribute__((format(printf, 4, 5)))
void problem(struct fsck *f, enum fsck_check c, int fix, const char *fmt, ...)
{
	va_list ap;
	f->res->found[c]++;
	f->res->errors++;
	fprintf(f->out, "%s: %s: ", checks[c].name, checks[c].inv);
	va_start(ap, fmt);
	vfprintf(f->out, fmt, ap);
	va_end(ap);
	if (fix > 0) {
		f->res->fixed[c]++;
		f->res->errors_fixed++;
		fputs(": fixed", f->out);
	} else if (fix < 0) {
		fprintf(f->out, ": repair failed: %s", strerror(-fix));
	} else if (f->repair) {
		fputs(": not repaired", f->out);
	}
	fputc('\n', f->out);
}

static __attribute__((format(printf, 2, 3)))
void note(struct fsck *f, const char *fmt, ...)
{
	va_list ap;
	fputs("note: ", f->out);
	va_start(ap, fmt);
	vfprintf(f->out, fmt, ap);
	va_end(ap);
	fputc('\n', f->out);
}

/* A check could not go on: a damaged index is a problem, anything else operational. */
static void stopped(struct fsck *f, enum fsck_check c, int r, const char *what)
{
	if (r == -EUCLEAN) {
		problem(f, c, 0, "%s: the index is damaged here (see check_index_pages)", what);
		return;
	}
	f->res->operational_error = true;
	fprintf(f->out, "%s: %s: %s: check stopped\n", checks[c].name, what, strerror(-r));
}

/* Result of a repair write: 1 (fixed) or the error. */
static int fixed(struct fsck *f, int r)
{
	if (r < 0)
		return r;
	f->changed = true;
	return 1;
}

static struct ftree *tree_find(struct fsck *f, uint64_t id)
{
	size_t lo = 0, hi = f->ntrees;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->trees[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->ntrees && f->trees[lo].id == id ? &f->trees[lo] : NULL;
}

static void bad_add(struct fsck *f, const struct idx_chunk_id *id, const char *why)
{
	if (ARRAY_RESERVE(f->bad, f->nbad, f->badcap, 64) < 0) {
		f->res->operational_error = true;
		return;
	}
	f->bad[f->nbad++] = (struct bad_chunk){ .id = *id, .why = why };
	f->res->lost_chunks++;
}

static const struct bad_chunk *bad_find(const struct fsck *f, const struct idx_chunk_id *id)
{
	return f->nbad ? bsearch(id, f->bad, f->nbad, sizeof(*f->bad), id_cmp) : NULL;
}

/* ---- loading the unversioned records -------------------------------------------- */

static int load_volume(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct fsck *f = arg;
	struct idx_volume v;
	size_t cap = f->nvols;   /* exact growth: volumes are few */
	if (klen == 0 || klen > IDX_NAME_MAX || idx_decode_volume(val, vlen, &v) < 0)
		return 0;        /* reported by check_index_pages */
	struct fvol *nv = reallocarray(f->vols, cap + 1, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	f->vols = nv;
	struct fvol *fv = &f->vols[f->nvols++];
	memset(fv, 0, sizeof(*fv));
	memcpy(fv->name, key, klen);
	fv->vol = v;
	fv->lock_fd = -1;
	return 0;
}

static int load_tree(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct fsck *f = arg;
	struct idx_tree t;
	if (klen != 8 || idx_decode_tree(val, vlen, &t) < 0)
		return 0;
	struct ftree *nt = reallocarray(f->trees, f->ntrees + 1, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	f->trees = nt;
	f->trees[f->ntrees++] = (struct ftree){ .id = idx_decode_be64(key), .t = t };
	return 0;
}

static int load_snapshot(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct fsck *f = arg;
	struct idx_snapshot s;
	if (klen <= 8 || klen > 8 + IDX_NAME_MAX || idx_decode_snapshot(val, vlen, &s) < 0)
		return 0;
	struct fsnap *ns = reallocarray(f->snaps, f->nsnaps + 1, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	f->snaps = ns;
	struct fsnap *fs = &f->snaps[f->nsnaps++];
	memset(fs, 0, sizeof(*fs));
	fs->volume = idx_decode_be64(key);
	memcpy(fs->name, (const uint8_t *)key + 8, klen - 8);
	fs->s = s;
	return 0;
}

static int load_chunk(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct fsck *f = arg;
	struct idx_chunk c;
	if (klen != IDX_CHUNK_ID_SIZE || idx_decode_chunk(val, vlen, &c) < 0)
		return 0;
	if (ARRAY_RESERVE(f->recs, f->nrecs, f->recscap, 64) < 0)
		return -ENOMEM;
	memcpy(f->recs[f->nrecs].id.bytes, key, IDX_CHUNK_ID_SIZE);
	f->recs[f->nrecs].c = c;
	f->nrecs++;
	return 0;
}

static int load_chunk_records(struct fsck *f)
{
	free(f->recs);
	f->recs = NULL;
	f->nrecs = f->recscap = 0;
	return idx_scan_raw(f->txn, IDX_DB_CHUNKS, load_chunk, f, NULL);
}

static int load_records(struct fsck *f)
{
	int r = idx_scan_raw(f->txn, IDX_DB_VOLUMES, load_volume, f, NULL);
	if (r == 0)
		r = idx_scan_raw(f->txn, IDX_DB_TREES, load_tree, f, NULL);
	if (r == 0)
		r = idx_scan_raw(f->txn, IDX_DB_SNAPSHOTS, load_snapshot, f, NULL);
	return r;
}

/* ---- check_index_pages: every record of every database decodes ------------ */

struct bad_rec {
	enum idx_db db;
	uint8_t *key;
	size_t klen;
	const char *why;
};

/* ---- probe_index: can LMDB read the index without crashing? ------------------------- */

/*
 * LMDB trusts its pages: one damaged in a way its own checks miss (say, a
 * record whose length runs past the end of the map) crashes the process
 * that reads it, or deletes the record, where fsck should report it.  So before anything
 * else a child process reads every record of every database, every byte
 * of it, and tells the parent through a pipe which database it is in.
 * If the child dies, fsck reports the index damaged there (I35) and stops
 * before it has opened the store, let alone changed anything.  A child
 * that cannot open the store exits PROBE_NOT_OPENED: the parent's own
 * open then says why.
 */
enum { PROBE_READ_ALL = 0, PROBE_NOT_OPENED = 3 };
#define PROBE_LMDB_TABLES 0xff   /* the pipe's byte while LMDB's own tables are read */

static int probe_step(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	volatile uint8_t *sum = arg;
	for (size_t i = 0; i < klen; i++)
		*sum ^= ((const uint8_t *)key)[i];
	for (size_t i = 0; i < vlen; i++)
		*sum ^= ((const uint8_t *)val)[i];
	return 0;
}

static _Noreturn void probe_child(const char *store_path, int fd)
{
	/* die of the signal itself, quietly: no core file, no sanitizer report */
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	struct store *s;
	struct idx_txn *txn;
	volatile uint8_t sum = 0;
	uint64_t n;
	uint8_t where = PROBE_LMDB_TABLES;
	if (write(fd, &where, 1) != 1 || store_open(store_path, STORE_RDONLY, &s) < 0)
		_exit(PROBE_NOT_OPENED);
	if (idx_txn_begin(s->idx, IDX_TXN_RDONLY, &txn) < 0)
		_exit(PROBE_NOT_OPENED);
	idx_scan_lmdb(txn, &n);   /* errors are check_index_pages' to report */
	for (enum idx_db db = 0; db < IDX_DB_COUNT; db++) {
		where = (uint8_t)db;
		if (write(fd, &where, 1) != 1)
			_exit(PROBE_NOT_OPENED);
		idx_scan_raw(txn, db, probe_step, (void *)&sum, &n);
	}
	idx_txn_abort(txn);   /* its reader slot is free again */
	store_close(s);
	_exit(PROBE_READ_ALL);
}

/* false: the index cannot be read safely; the problem is reported. */
static bool probe_index(struct fsck *f, const char *store_path)
{
	int pipefd[2];
	fflush(f->out);   /* or the child's copy of the buffer is written twice */
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return true;   /* no probe: read the index as before */
	pid_t pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return true;
	}
	if (pid == 0) {
		close(pipefd[0]);
		probe_child(store_path, pipefd[1]);
	}
	close(pipefd[1]);
	uint8_t where = PROBE_LMDB_TABLES, b;
	ssize_t got;
	while ((got = read(pipefd[0], &b, 1)) == 1 || (got < 0 && errno == EINTR))
		if (got == 1)
			where = b;
	close(pipefd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return true;
	if (WIFEXITED(status) && (WEXITSTATUS(status) == PROBE_READ_ALL ||
				  WEXITSTATUS(status) == PROBE_NOT_OPENED))
		return true;
	char how[64];
	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "%s", strsignal(WTERMSIG(status)));
	else
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
	char what[64];
	if (where == PROBE_LMDB_TABLES)
		snprintf(what, sizeof(what), "LMDB's table of databases");
	else
		snprintf(what, sizeof(what), "database %s", idx_db_name(where));
	problem(f, FSCK_INDEX_PAGES, 0, "%s: reading it crashed (%s): a page of the index "
		"is damaged past what LMDB checks; nothing was checked further or changed; "
		"restore the store from a backup", what, how);
	return false;
}

struct pages_walk {
	struct fsck *f;
	enum idx_db db;
	struct bad_rec *bad;
	size_t nbad, cap;
};

static int pages_step(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct pages_walk *w = arg;
	struct idx_version v;
	const char *why;
	if (idx_db_versioned(w->db)) {
		why = idx_version_parse(w->db, key, klen, val, vlen, &v);
		if (!why && v.tree > w->f->max_tree_seen)
			w->f->max_tree_seen = v.tree;
	} else {
		why = idx_record_check(w->db, key, klen, val, vlen);
		if (!why && (w->db == IDX_DB_ORPHANS || w->db == IDX_DB_CHANGES ||
			     w->db == IDX_DB_JOURNAL) &&
		    idx_decode_be64(key) > w->f->max_tree_seen)
			w->f->max_tree_seen = idx_decode_be64(key);
	}
	if (!why)
		return 0;
	if (ARRAY_RESERVE(w->bad, w->nbad, w->cap, 64) < 0)
		return -ENOMEM;
	uint8_t *copy = malloc(klen ? klen : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, key, klen);
	w->bad[w->nbad++] = (struct bad_rec){ .db = w->db, .key = copy, .klen = klen, .why = why };
	return 0;
}

/*
 * Walks every record of every database and LMDB's own tables: a damaged
 * page shows as an error of the walk (I35), a record that breaks format.md
 * as a parse failure (I3, I12, I13).  Repair (-y only) deletes records that
 * do not decode where later checks rebuild what they meant: versioned
 * records, chunk records, the dead list and orphans.  Volumes, trees,
 * snapshots and meta are never deleted.
 */
static void check_index_pages(struct fsck *f)
{
	const enum fsck_check c = FSCK_INDEX_PAGES;
	uint64_t n;
	int r = idx_scan_lmdb(f->txn, &n);
	if (r < 0)
		problem(f, c, 0, "LMDB's table of databases or its free list cannot be read (%s): "
			"restore the store from a backup", strerror(-r));
	for (enum idx_db db = 0; db < IDX_DB_COUNT; db++) {
		struct pages_walk w = { .f = f, .db = db };
		r = idx_scan_raw(f->txn, db, pages_step, &w, &n);
		if (r == -EUCLEAN)
			problem(f, c, 0, "database %s: a damaged page after %" PRIu64 " records "
				"(LMDB rejects it, or its keys are out of order): the rest of it "
				"cannot be read; restore the store from a backup", idx_db_name(db), n);
		else if (r < 0)
			stopped(f, c, r, idx_db_name(db));
		bool deletable = idx_db_versioned(db) || db == IDX_DB_CHUNKS ||
				 db == IDX_DB_DEADCHUNKS || db == IDX_DB_ORPHANS ||
				 db == IDX_DB_CHANGES || db == IDX_DB_JOURNAL;
		for (size_t i = 0; i < w.nbad; i++) {
			char hex[2 * 64 + 1];
			int fix = 0;
			hex_of(w.bad[i].key, w.bad[i].klen < 64 ? w.bad[i].klen : 64, hex, sizeof(hex));
			if (deletable && f->store_repair && f->o->mode == FSCK_REPAIR)
				fix = fixed(f, idx_raw_del(f->txn, db, w.bad[i].key, w.bad[i].klen));
			problem(f, c, fix, "database %s: record %s%s: %s%s", idx_db_name(db), hex,
				w.bad[i].klen > 64 ? "…" : "", w.bad[i].why,
				fix > 0 ? " (deleted)" : deletable || !f->repair ? "" :
				" (left: needs manual repair)");
			free(w.bad[i].key);
		}
		free(w.bad);
	}
}

/* ---- check_meta, check_counters ---------------------------------------------------- */

struct meta_walk {
	unsigned seen;                      /* bit per known key */
	uint64_t next_volume, next_tree;
};

static int meta_step(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	static const char *const names[] = { "format", "secret", "created", "next_volume",
					     "next_tree" };
	struct meta_walk *w = arg;
	for (unsigned i = 0; i < 5; i++) {
		if (klen != strlen(names[i]) || memcmp(key, names[i], klen) != 0)
			continue;
		if (idx_record_check(IDX_DB_META, key, klen, val, vlen))
			return 0;
		w->seen |= 1u << i;
		if (i == 3)
			w->next_volume = idx_decode_be64(val);
		if (i == 4)
			w->next_tree = idx_decode_be64(val);
	}
	return 0;
}

/* I2, I37: the five meta records, each of its size (the secret was read at open). */
static void check_meta(struct fsck *f, struct meta_walk *mw)
{
	static const char *const names[] = { "format", "secret", "created", "next_volume",
					     "next_tree" };
	int r = idx_scan_raw(f->txn, IDX_DB_META, meta_step, mw, NULL);
	if (r < 0) {
		stopped(f, FSCK_META, r, "meta");
		return;
	}
	/* next_volume and next_tree: check_counters, which can rebuild them */
	for (unsigned i = 0; i < 3; i++)
		if (!(mw->seen & (1u << i)))
			problem(f, FSCK_META, 0, "meta record '%s' is missing or of the wrong size",
				names[i]);
}

/* I4: the id counters exceed every id in use.  Repair raises them. */
static void check_counters(struct fsck *f, const struct meta_walk *mw)
{
	uint64_t max_vol = 0, max_tree = f->max_tree_seen;
	for (size_t i = 0; i < f->nvols; i++) {
		if (f->vols[i].vol.id > max_vol)
			max_vol = f->vols[i].vol.id;
		if (f->vols[i].vol.tree > max_tree)
			max_tree = f->vols[i].vol.tree;
	}
	for (size_t i = 0; i < f->ntrees; i++) {
		const struct ftree *t = &f->trees[i];
		if (t->t.volume > max_vol)
			max_vol = t->t.volume;
		if (t->id > max_tree)
			max_tree = t->id;
		if (t->t.parent > max_tree)
			max_tree = t->t.parent;
	}
	for (size_t i = 0; i < f->nsnaps; i++) {
		if (f->snaps[i].volume > max_vol)
			max_vol = f->snaps[i].volume;
		if (f->snaps[i].s.tree > max_tree)
			max_tree = f->snaps[i].s.tree;
	}
	const struct {
		const char *key;
		uint64_t have, max;
		unsigned bit;
	} ctr[] = {
		{ "next_volume", mw->next_volume, max_vol, 1u << 3 },
		{ "next_tree", mw->next_tree, max_tree, 1u << 4 },
	};
	for (size_t i = 0; i < 2; i++) {
		bool missing = !(mw->seen & ctr[i].bit);
		if (!missing && ctr[i].have > ctr[i].max)
			continue;
		int fix = 0;
		if (f->store_repair) {
			uint8_t be[8];
			uint64_t v = ctr[i].max + 1;
			for (int b = 0; b < 8; b++)
				be[b] = (uint8_t)(v >> (56 - 8 * b));
			fix = fixed(f, idx_raw_put(f->txn, IDX_DB_META, ctr[i].key, strlen(ctr[i].key),
						   be, 8));
		}
		if (missing)
			problem(f, FSCK_META, fix, "meta record '%s' is missing or of the wrong size "
				"(the largest id in use is %" PRIu64 ")", ctr[i].key, ctr[i].max);
		else
			problem(f, FSCK_COUNTERS, fix, "%s is %" PRIu64 " but id %" PRIu64 " is in use",
				ctr[i].key, ctr[i].have, ctr[i].max);
	}
}

/* ---- trees, snapshots, volumes -------------------------------------------------------- */

/* I17: every tree has G >= 1 and S < G. */
static void check_tree_gens(struct fsck *f)
{
	for (size_t i = 0; i < f->ntrees; i++) {
		const struct idx_tree *t = &f->trees[i].t;
		if (t->gen == 0 || t->snap_gen >= t->gen)
			problem(f, FSCK_TREE_GENS, 0, "tree %" PRIu64 ": G = %" PRIu64 ", S = %" PRIu64,
				f->trees[i].id, t->gen, t->snap_gen);
	}
}

/* I19: clone parents exist, are read at or below their S, and chains are short. */
static void check_tree_parents(struct fsck *f)
{
	const enum fsck_check c = FSCK_TREE_PARENTS;
	for (size_t i = 0; i < f->ntrees; i++) {
		uint64_t id = f->trees[i].id;
		const struct idx_tree *t = &f->trees[i].t;
		if ((t->parent == 0) != (t->parent_gen == 0)) {
			problem(f, c, 0, "tree %" PRIu64 ": parent %" PRIu64 " with parent_gen %" PRIu64,
				id, t->parent, t->parent_gen);
			continue;
		}
		if (!t->parent)
			continue;
		const struct ftree *p = tree_find(f, t->parent);
		if (!p) {
			problem(f, c, 0, "tree %" PRIu64 ": parent tree %" PRIu64 " does not exist",
				id, t->parent);
			continue;
		}
		if (t->parent_gen > p->t.snap_gen)
			problem(f, c, 0, "tree %" PRIu64 ": reads parent %" PRIu64 " at generation %"
				PRIu64 ", above its S = %" PRIu64, id, t->parent, t->parent_gen,
				p->t.snap_gen);
		unsigned depth = 1;
		const struct ftree *cur = &f->trees[i];
		while (cur && cur->t.parent && depth <= IDX_VIEW_DEPTH) {
			cur = tree_find(f, cur->t.parent);
			depth++;
			if (cur && cur->id == id)
				break;
		}
		if (cur && (cur->id == id || depth > IDX_VIEW_DEPTH))
			problem(f, c, 0, "tree %" PRIu64 ": its chain of parents %s", id,
				cur->id == id ? "loops" : "is longer than 32 trees");
	}
}

static struct fvol *vol_by_id(struct fsck *f, uint64_t id)
{
	for (size_t i = 0; i < f->nvols; i++)
		if (f->vols[i].vol.id == id)
			return &f->vols[i];
	return NULL;
}

/* I18: every snapshot reads an existing tree of its volume at a generation <= S. */
static void check_snapshots(struct fsck *f)
{
	const enum fsck_check c = FSCK_SNAPSHOTS;
	for (size_t i = 0; i < f->nsnaps; i++) {
		struct fsnap *s = &f->snaps[i];
		const struct ftree *t = tree_find(f, s->s.tree);
		const struct fvol *v = vol_by_id(f, s->volume);
		if (!v)
			problem(f, c, 0, "snapshot %s of volume id %" PRIu64 ": no such volume",
				s->name, s->volume);
		else if (!t)
			problem(f, c, 0, "snapshot %s@%s: tree %" PRIu64 " does not exist", v->name,
				s->name, s->s.tree);
		else if (t->t.volume != s->volume)
			problem(f, c, 0, "snapshot %s@%s: tree %" PRIu64 " belongs to volume id %" PRIu64,
				v->name, s->name, s->s.tree, t->t.volume);
		else if (s->s.gen == 0 || s->s.gen > t->t.snap_gen)
			problem(f, c, 0, "snapshot %s@%s: generation %" PRIu64 " is not in 1..S = %" PRIu64,
				v->name, s->name, s->s.gen, t->t.snap_gen);
		else
			s->ok = true;
	}
}

/* I20: every volume's tree exists, is its own and alive; sane name, block size, flags. */
static void check_volumes(struct fsck *f)
{
	const enum fsck_check c = FSCK_VOLUMES;
	for (size_t i = 0; i < f->nvols; i++) {
		struct fvol *v = &f->vols[i];
		const struct ftree *t = tree_find(f, v->vol.tree);
		if (!volume_name_valid(v->name))
			problem(f, c, 0, "volume '%s': invalid name", v->name);
		if (!volume_block_size_valid(v->vol.block_size))
			problem(f, c, 0, "volume %s: invalid block size %" PRIu32, v->name,
				v->vol.block_size);
		if (v->vol.flags & ~(uint32_t)IDX_VOLUME_NO_VERIFY_DEDUP)
			problem(f, c, 0, "volume %s: unknown flags %#" PRIx32, v->name, v->vol.flags);
		if (!t)
			problem(f, c, 0, "volume %s: its tree %" PRIu64 " does not exist", v->name,
				v->vol.tree);
		else if (t->t.flags & IDX_TREE_DOOMED)
			problem(f, c, 0, "volume %s: its tree %" PRIu64 " is being removed", v->name,
				v->vol.tree);
		else if (t->t.volume != v->vol.id)
			problem(f, c, 0, "volume %s: its tree %" PRIu64 " belongs to volume id %" PRIu64,
				v->name, v->vol.tree, t->t.volume);
		else
			v->ok = volume_block_size_valid(v->vol.block_size);
	}
}

/* ---- the directory checks: a model of one view --------------------------------------- */

#define NO_NAME SIZE_MAX

struct minode {
	uint64_t ino;
	struct idx_inode in;
	uint32_t names;          /* visible dirents (in directories) naming it */
	uint32_t subdirs;        /* directories: entries that are directories   */
	size_t first_name;       /* a dirent naming it, or NO_NAME              */
	uint32_t walk;           /* reachability: stamp of the last walk that saw it */
	bool reached;
};

struct mdirent {
	uint64_t dir;
	char *name;
	size_t namelen;
	struct idx_dirent de;
};

struct model {
	char label[2 * IDX_NAME_MAX + 32];
	struct idx_view view;
	bool live;
	bool fixable;            /* repairs allowed in this view */
	uint32_t bs;
	uint64_t tree;
	struct minode *in;
	size_t nin, incap;
	struct mdirent *de;
	size_t nde, decap;
	uint64_t *dirs;
	size_t ndirs, dircap;
};

static struct minode *m_find(struct model *m, uint64_t ino)
{
	size_t lo = 0, hi = m->nin;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->in[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->nin && m->in[lo].ino == ino ? &m->in[lo] : NULL;
}

static int m_inode(uint64_t ino, const struct idx_inode *in, void *arg)
{
	struct model *m = arg;
	if (ARRAY_RESERVE(m->in, m->nin, m->incap, 64) < 0)
		return -ENOMEM;
	m->in[m->nin++] = (struct minode){ .ino = ino, .in = *in, .first_name = NO_NAME };
	return 0;
}

static int m_dir_id(const struct idx_version *v, const char *why, void *arg)
{
	struct model *m = arg;
	if (why)
		return 0;
	if (m->ndirs && m->dirs[m->ndirs - 1] == v->ino)
		return 0;
	if (ARRAY_RESERVE(m->dirs, m->ndirs, m->dircap, 64) < 0)
		return -ENOMEM;
	m->dirs[m->ndirs++] = v->ino;
	return 0;
}

struct m_dirent_arg {
	struct model *m;
	uint64_t dir;
};

static int m_dirent(const char *name, size_t namelen, const struct idx_dirent *de, void *arg)
{
	struct m_dirent_arg *a = arg;
	struct model *m = a->m;
	if (ARRAY_RESERVE(m->de, m->nde, m->decap, 64) < 0)
		return -ENOMEM;
	char *copy = strndup(name, namelen);
	if (!copy)
		return -ENOMEM;
	m->de[m->nde++] = (struct mdirent){ .dir = a->dir, .name = copy, .namelen = namelen,
					    .de = *de };
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void model_clear(struct model *m)
{
	for (size_t i = 0; i < m->nde; i++)
		free(m->de[i].name);
	free(m->in);
	free(m->de);
	free(m->dirs);
	m->in = NULL;
	m->de = NULL;
	m->dirs = NULL;
	m->nin = m->incap = m->nde = m->decap = m->ndirs = m->dircap = 0;
}

/* Reads the view: its inodes, and the entries of every directory id any level names. */
static int model_load(struct fsck *f, struct model *m)
{
	model_clear(m);
	int r = idx_inode_foreach(f->txn, &m->view, m_inode, m);
	for (unsigned l = 0; r == 0 && l < m->view.depth; l++)
		r = idx_scan_versions_tree(f->txn, IDX_DB_DIRENTS, m->view.level[l].tree,
					   m_dir_id, m);
	if (r < 0)
		return r;
	if (m->ndirs)
		qsort(m->dirs, m->ndirs, sizeof(*m->dirs), u64_cmp);
	size_t n = 0;
	for (size_t i = 0; i < m->ndirs; i++)
		if (n == 0 || m->dirs[n - 1] != m->dirs[i])
			m->dirs[n++] = m->dirs[i];
	m->ndirs = n;
	for (size_t i = 0; r == 0 && i < m->ndirs; i++) {
		struct m_dirent_arg a = { m, m->dirs[i] };
		r = idx_dirent_foreach(f->txn, &m->view, m->dirs[i], NULL, 0, m_dirent, &a);
	}
	if (r < 0)
		return r;
	for (size_t i = 0; i < m->nde; i++) {
		struct minode *d = m_find(m, m->de[i].dir);
		struct minode *t = m_find(m, m->de[i].de.ino);
		if (!d || !S_ISDIR(d->in.mode) || !t)
			continue;
		t->names++;
		if (t->first_name == NO_NAME)
			t->first_name = i;
		if (S_ISDIR(t->in.mode))
			d->subdirs++;
	}
	return 0;
}

/* The entries of @dir: [*ret_first, *ret_end) of m->de (they are grouped by directory). */
static void m_entries(const struct model *m, uint64_t dir, size_t *ret_first, size_t *ret_end)
{
	size_t lo = 0, hi = m->nde;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->de[mid].dir < dir)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < m->nde && m->de[end].dir == dir)
		end++;
	*ret_first = lo;
	*ret_end = end;
}

/* A path of @ino for messages: "/a/b", or "<ino N>/…" if it hangs off no name. */
static void m_path(struct model *m, uint64_t ino, char *buf, size_t len)
{
	const char *parts[64];
	size_t nparts = 0;
	uint64_t cur = ino;
	bool rooted = false;
	uint64_t seen[64];
	while (nparts < 64) {
		if (cur == IDX_ROOT_INO) {
			rooted = true;
			break;
		}
		struct minode *n = m_find(m, cur);
		bool again = false;
		for (size_t i = 0; i < nparts; i++)
			again |= seen[i] == cur;
		if (!n || n->first_name == NO_NAME || again)
			break;
		seen[nparts] = cur;
		parts[nparts++] = m->de[n->first_name].name;
		cur = m->de[n->first_name].dir;
	}
	size_t off = 0;
	if (!rooted)
		off = (size_t)snprintf(buf, len, "<ino %" PRIu64 ">", cur);
	else if (nparts == 0)
		off = (size_t)snprintf(buf, len, "/");
	else
		buf[0] = 0;
	for (size_t i = nparts; i-- > 0 && off < len;)
		off += (size_t)snprintf(buf + off, len - off, "/%s", parts[i]);
}

static uint8_t dt_of(uint32_t mode)
{
	return (uint8_t)IFTODT(mode);
}

/* I23: the root is a directory that is its own parent. */
static void check_root(struct fsck *f, struct model *m)
{
	const enum fsck_check c = FSCK_ROOT;
	struct minode *root = m_find(m, IDX_ROOT_INO);
	if (!root) {
		problem(f, c, 0, "%s: the root directory (inode 1) is missing", m->label);
		return;
	}
	if (!S_ISDIR(root->in.mode)) {
		problem(f, c, 0, "%s: the root (inode 1) is not a directory (mode %o)", m->label,
			root->in.mode);
		return;
	}
	if (root->in.parent != IDX_ROOT_INO) {
		int fix = 0;
		if (m->fixable) {
			struct idx_inode in = root->in;
			in.parent = IDX_ROOT_INO;
			fix = fixed(f, idx_inode_put(f->txn, &m->view, IDX_ROOT_INO, &in));
		}
		problem(f, c, fix, "%s: the root's parent is %" PRIu64 ", not 1", m->label,
			root->in.parent);
	}
}

/*
 * I24: every entry is in a directory and names an inode of its type.
 * Repair: an entry in something that is no directory, or naming no inode,
 * is deleted (there is nothing to reach through it); a wrong type is set
 * from the inode.  Returns whether it changed anything.
 */
static bool check_dirent_targets(struct fsck *f, struct model *m)
{
	const enum fsck_check c = FSCK_DIRENT_TARGETS;
	bool changed = false;
	char path[1024];
	for (size_t i = 0; i < m->nde; i++) {
		struct mdirent *e = &m->de[i];
		struct minode *d = m_find(m, e->dir);
		struct minode *t = m_find(m, e->de.ino);
		int fix = 0;
		if (!d || !S_ISDIR(d->in.mode)) {
			if (m->fixable)
				fix = fixed(f, idx_dirent_del(f->txn, &m->view, e->dir, e->name, e->namelen));
			problem(f, c, fix, "%s: entry '%s' is in inode %" PRIu64 ", which %s", m->label,
				e->name, e->dir, d ? "is not a directory" : "does not exist");
		} else if (!t) {
			m_path(m, e->dir, path, sizeof(path));
			if (m->fixable)
				fix = fixed(f, idx_dirent_del(f->txn, &m->view, e->dir, e->name, e->namelen));
			problem(f, c, fix, "%s: %s%s%s names inode %" PRIu64 ", which does not exist",
				m->label, path, strcmp(path, "/") ? "/" : "", e->name, e->de.ino);
		} else if (e->de.type != dt_of(t->in.mode)) {
			m_path(m, e->dir, path, sizeof(path));
			if (m->fixable) {
				struct idx_dirent de = { .ino = e->de.ino, .type = dt_of(t->in.mode) };
				fix = fixed(f, idx_dirent_put(f->txn, &m->view, e->dir, e->name,
							      e->namelen, &de));
			}
			problem(f, c, fix, "%s: %s%s%s has type %u, its inode %" PRIu64 " type %u",
				m->label, path, strcmp(path, "/") ? "/" : "", e->name, e->de.type,
				e->de.ino, dt_of(t->in.mode));
		}
		changed |= fix > 0;
	}
	return changed;
}

/* The /lost+found directory of a live view, made if missing: its ino, or -errno. */
static int lost_found(struct fsck *f, struct model *m, uint64_t *ret_ino)
{
	static const char name[] = "lost+found";
	struct idx_dirent de;
	struct idx_inode in, root;
	int r = idx_dirent_get(f->txn, &m->view, IDX_ROOT_INO, name, strlen(name), &de);
	if (r == 0) {
		r = idx_inode_get(f->txn, &m->view, de.ino, &in);
		if (r < 0)
			return r;
		if (!S_ISDIR(in.mode))
			return -ENOTDIR;
		*ret_ino = de.ino;
		return 0;
	}
	if (r != -ENOENT)
		return r;
	uint64_t ino;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	r = idx_inode_get(f->txn, &m->view, IDX_ROOT_INO, &root);
	if (r == 0)
		r = idx_ino_alloc(f->txn, &m->view, &ino);
	if (r < 0)
		return r;
	in = (struct idx_inode){ .mode = S_IFDIR | 0700, .nlink = 2, .parent = IDX_ROOT_INO,
				 .atime = now, .mtime = now, .ctime = now, .btime = now };
	de = (struct idx_dirent){ .ino = ino, .type = DT_DIR };
	root.nlink++;
	root.mtime = root.ctime = now;
	r = idx_inode_put(f->txn, &m->view, ino, &in);
	if (r == 0)
		r = idx_dirent_put(f->txn, &m->view, IDX_ROOT_INO, name, strlen(name), &de);
	if (r == 0)
		r = idx_inode_put(f->txn, &m->view, IDX_ROOT_INO, &root);
	if (r < 0)
		return r;
	f->changed = true;
	note(f, "%s: made /lost+found (inode %" PRIu64 ")", m->label, ino);
	*ret_ino = ino;
	return 0;
}

/* Links @n into /lost+found as "#<ino>"; a directory also gets it as parent. */
static int relink(struct fsck *f, struct model *m, struct minode *n)
{
	uint64_t lf = 0;
	char name[32];
	int r = lost_found(f, m, &lf);
	if (r < 0)
		return r;
	int len = snprintf(name, sizeof(name), "#%" PRIu64, n->ino);
	struct idx_dirent de = { .ino = n->ino, .type = dt_of(n->in.mode) };
	r = idx_dirent_put(f->txn, &m->view, lf, name, (size_t)len, &de);
	if (r < 0 || !S_ISDIR(n->in.mode))
		return r;
	struct idx_inode in = n->in, lfin;
	in.parent = lf;
	r = idx_inode_put(f->txn, &m->view, n->ino, &in);
	if (r == 0)
		r = idx_inode_get(f->txn, &m->view, lf, &lfin);
	if (r == 0) {
		lfin.nlink++;
		r = idx_inode_put(f->txn, &m->view, lf, &lfin);
	}
	return r;
}

/* Marks everything below directory @top reached (a breadth-first walk). */
static int reach_from(struct model *m, struct minode *top)
{
	uint64_t *queue = NULL;
	size_t qn = 0, qcap = 0, qi = 0;
	top->reached = true;
	if (!S_ISDIR(top->in.mode))
		return 0;
	if (ARRAY_RESERVE(queue, qn, qcap, 64) < 0)
		return -ENOMEM;
	queue[qn++] = top->ino;
	while (qi < qn) {
		size_t first, end;
		m_entries(m, queue[qi++], &first, &end);
		for (size_t i = first; i < end; i++) {
			struct minode *t = m_find(m, m->de[i].de.ino);
			if (!t || t->reached)
				continue;
			t->reached = true;
			if (!S_ISDIR(t->in.mode))
				continue;
			if (ARRAY_RESERVE(queue, qn, qcap, 64) < 0) {
				free(queue);
				return -ENOMEM;
			}
			queue[qn++] = t->ino;
		}
	}
	free(queue);
	return 0;
}

/*
 * I26: every inode with links is reachable from the root, and directories
 * hold no loop.  Each unreachable piece is reported once, by its top: a
 * directory whose name is in no reachable directory (or that closes a
 * loop), or a file with no name in a directory.  Repair links the top into
 * /lost+found as "#<ino>" (breaking a loop by dropping the entry that
 * closes it).  Returns whether it changed anything.
 */
static bool check_tree_reachability(struct fsck *f, struct model *m)
{
	const enum fsck_check c = FSCK_TREE_REACHABILITY;
	bool changed = false;
	struct minode *root = m_find(m, IDX_ROOT_INO);
	uint32_t walk = 0;
	if (root && S_ISDIR(root->in.mode) && reach_from(m, root) < 0) {
		f->res->operational_error = true;
		return false;
	}
	/* directories first: relinking one brings what is below it back */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < m->nin; i++) {
			struct minode *n = &m->in[i];
			if (n->reached || (n->in.nlink == 0 && n->names == 0) ||
			    (pass == 0) != S_ISDIR(n->in.mode))
				continue;
			struct minode *top = n;
			bool loop = false;
			walk++;
			while (top->first_name != NO_NAME) {
				struct minode *p = m_find(m, m->de[top->first_name].dir);
				if (!p || p->reached || !S_ISDIR(p->in.mode))
					break;
				if (p->walk == walk || p == top) {
					loop = true;
					break;
				}
				top->walk = walk;
				top = p;
			}
			int fix = 0;
			if (m->fixable) {
				int r = 0;
				if (loop) {
					struct mdirent *e = &m->de[top->first_name];
					r = idx_dirent_del(f->txn, &m->view, e->dir, e->name, e->namelen);
				}
				if (r == 0)
					r = relink(f, m, top);
				fix = fixed(f, r);
			}
			problem(f, c, fix, "%s: %s inode %" PRIu64 "%s is not reachable from /%s",
				m->label, S_ISDIR(top->in.mode) ? "directory" : "file", top->ino,
				S_ISDIR(top->in.mode) ? " (and what is below it)" : "",
				loop ? " (its directories form a loop)" : "");
			changed |= fix > 0;
			if (reach_from(m, top) < 0) {
				f->res->operational_error = true;
				return changed;
			}
		}
	}
	return changed;
}

/*
 * I25: a directory has one name and its parent is the directory holding it;
 * the root has none; other inodes have parent 0.  Repair sets `parent`.
 */
static bool check_dir_parents(struct fsck *f, struct model *m)
{
	const enum fsck_check c = FSCK_DIR_PARENTS;
	bool changed = false;
	char path[1024];
	for (size_t i = 0; i < m->nin; i++) {
		struct minode *n = &m->in[i];
		uint64_t want;
		int fix = 0;
		if (!S_ISDIR(n->in.mode))
			want = 0;
		else if (n->ino == IDX_ROOT_INO)
			want = IDX_ROOT_INO;
		else if (n->first_name != NO_NAME)
			want = m->de[n->first_name].dir;
		else
			continue;   /* unnamed: an orphan, or check_tree_reachability's */
		if (S_ISDIR(n->in.mode) && n->names > (n->ino == IDX_ROOT_INO ? 0u : 1u)) {
			m_path(m, n->ino, path, sizeof(path));
			problem(f, c, 0, "%s: directory %s (inode %" PRIu64 ") has %" PRIu32 " names",
				m->label, path, n->ino, n->names);
		}
		if (n->in.parent == want)
			continue;
		if (m->fixable) {
			struct idx_inode in = n->in;
			in.parent = want;
			fix = fixed(f, idx_inode_put(f->txn, &m->view, n->ino, &in));
		}
		m_path(m, n->ino, path, sizeof(path));
		problem(f, c, fix, "%s: %s (inode %" PRIu64 ") has parent %" PRIu64 ", want %" PRIu64,
			m->label, path, n->ino, n->in.parent, want);
		changed |= fix > 0;
	}
	return changed;
}

/*
 * I27: nlink = 2 + subdirectories for a directory, the number of names
 * otherwise.  Repair sets it, never to 0 (an inode with no name is
 * check_tree_reachability's), and takes an inode it gives links back off
 * the orphan list.
 */
static bool check_nlink(struct fsck *f, struct model *m)
{
	const enum fsck_check c = FSCK_NLINK;
	bool changed = false;
	char path[1024];
	for (size_t i = 0; i < m->nin; i++) {
		struct minode *n = &m->in[i];
		if (n->in.nlink == 0 && n->names == 0)
			continue;   /* an orphan: check_orphans */
		uint32_t want = S_ISDIR(n->in.mode) ? 2 + n->subdirs : n->names;
		if (n->in.nlink == want)
			continue;
		int fix = 0;
		if (m->fixable && want > 0) {
			struct idx_inode in = n->in;
			in.nlink = want;
			int r = idx_inode_put(f->txn, &m->view, n->ino, &in);
			if (r == 0 && n->in.nlink == 0) {
				r = idx_orphan_del(f->txn, m->tree, n->ino);
				if (r == -ENOENT)
					r = 0;
			}
			fix = fixed(f, r);
		}
		m_path(m, n->ino, path, sizeof(path));
		problem(f, c, fix, "%s: %s (inode %" PRIu64 ") has nlink %" PRIu32 ", want %" PRIu32,
			m->label, path, n->ino, n->in.nlink, want);
		changed |= fix > 0;
	}
	return changed;
}

struct orphan_arg {
	uint64_t tree;
	uint64_t *inos;
	size_t n, cap;
};

static int collect_orphan(uint64_t tree, uint64_t ino, void *arg)
{
	struct orphan_arg *a = arg;
	if (tree != a->tree)
		return 0;
	if (ARRAY_RESERVE(a->inos, a->n, a->cap, 64) < 0)
		return -ENOMEM;
	a->inos[a->n++] = ino;
	return 0;
}

/*
 * I28 (live views): an inode has nlink 0 exactly when it is on the orphan
 * list.  Repair lists an unlisted one (the next mount frees it) and takes
 * off the list what is linked or gone.
 */
static void check_orphans(struct fsck *f, struct model *m)
{
	const enum fsck_check c = FSCK_ORPHANS;
	struct orphan_arg a = { .tree = m->tree };
	int r = idx_orphan_foreach(f->txn, collect_orphan, &a);
	if (r < 0) {
		stopped(f, c, r, m->label);
		free(a.inos);
		return;
	}
	for (size_t i = 0; i < m->nin; i++) {
		struct minode *n = &m->in[i];
		if (n->in.nlink != 0 || n->names != 0)
			continue;
		if (bsearch(&n->ino, a.inos, a.n, sizeof(*a.inos), u64_cmp))
			continue;
		int fix = m->fixable ? fixed(f, idx_orphan_add(f->txn, m->tree, n->ino)) : 0;
		problem(f, c, fix, "%s: inode %" PRIu64 " has no links but is not on the orphan list "
			"(it would never be freed)", m->label, n->ino);
	}
	for (size_t i = 0; i < a.n; i++) {
		struct minode *n = m_find(m, a.inos[i]);
		if (n && n->in.nlink == 0)
			continue;
		int fix = m->fixable ? fixed(f, idx_orphan_del(f->txn, m->tree, a.inos[i])) : 0;
		problem(f, c, fix, "%s: inode %" PRIu64 " is on the orphan list but %s", m->label,
			a.inos[i], n ? "has links" : "does not exist");
	}
	free(a.inos);
}

struct ext_list {
	struct ext_item {
		uint64_t block;
		struct idx_extent e;
		uint8_t data[IDX_INLINE_MAX];
	} *items;
	size_t n, cap;
};

static int collect_extent(uint64_t block, const struct idx_extent *e, void *arg)
{
	struct ext_list *l = arg;
	if (ARRAY_RESERVE(l->items, l->n, l->cap, 64) < 0)
		return -ENOMEM;
	struct ext_item *it = &l->items[l->n++];
	it->block = block;
	it->e = *e;
	if (e->kind == IDX_EXTENT_INLINE && e->length <= IDX_INLINE_MAX) {
		memcpy(it->data, e->inline_data, e->length);
		it->e.inline_data = it->data;
	}
	return 0;
}

/* Cuts the extent @it of @ino to @len bytes (> 0); the bytes are read and stored again. */
static int trim_extent(struct fsck *f, struct model *m, uint64_t ino, struct ext_item *it,
		       uint32_t len)
{
	struct idx_extent e = it->e;
	if (e.kind == IDX_EXTENT_INLINE) {
		e.length = len;
		return chunk_is_zero(it->data, len) ? idx_extent_del(f->txn, &m->view, ino, it->block)
						     : idx_extent_put(f->txn, &m->view, ino, it->block, &e);
	}
	uint8_t *buf = malloc(e.length);
	if (!buf)
		return -ENOMEM;
	int r = chunk_read(f->store->chunks, &e.chunk, buf, e.length);
	if (r == 0 && chunk_is_zero(buf, len)) {
		r = idx_extent_del(f->txn, &m->view, ino, it->block);
	} else if (r == 0) {
		e.length = len;
		r = chunk_put(f->store->chunks, f->txn, buf, len, 0, &e.chunk);
		if (r == 0) {
			f->chunks_written = true;
			r = idx_extent_put(f->txn, &m->view, ino, it->block, &e);
		}
	}
	free(buf);
	return r;
}

/*
 * I32: no extent lies past the end of its file.  Repair deletes extents
 * wholly past the end and cuts the one that straddles it (if its chunk can
 * be read; a lost chunk is left for the list of lost data).
 */
static void check_extents_within_size(struct fsck *f, struct model *m)
{
	const enum fsck_check c = FSCK_EXTENTS_WITHIN_SIZE;
	char path[1024];
	for (size_t i = 0; i < m->nin; i++) {
		struct minode *n = &m->in[i];
		if (!S_ISREG(n->in.mode) && !S_ISLNK(n->in.mode))
			continue;
		struct ext_list l = { 0 };
		int r = idx_extent_foreach(f->txn, &m->view, n->ino, 0, collect_extent, &l);
		if (r < 0) {
			stopped(f, c, r, m->label);
			free(l.items);
			continue;
		}
		uint64_t size = n->in.size, bs = m->bs;
		uint64_t nblocks = size / bs + (size % bs != 0);
		for (size_t k = 0; k < l.n; k++) {
			struct ext_item *it = &l.items[k];
			uint64_t start = it->block * bs;
			int fix = 0;
			if (it->e.length > bs) {
				m_path(m, n->ino, path, sizeof(path));
				problem(f, c, 0, "%s: %s: block %" PRIu64 " holds %" PRIu32 " bytes, more "
					"than the block size", m->label, path, it->block, it->e.length);
				continue;
			}
			if (it->block < nblocks && start + it->e.length <= size)
				continue;
			m_path(m, n->ino, path, sizeof(path));
			if (it->block >= nblocks) {
				if (m->fixable)
					fix = fixed(f, idx_extent_del(f->txn, &m->view, n->ino, it->block));
				problem(f, c, fix, "%s: %s: block %" PRIu64 " lies past the end of the file "
					"(size %" PRIu64 ")", m->label, path, it->block, size);
			} else {
				if (m->fixable)
					fix = fixed(f, trim_extent(f, m, n->ino, it,
								   (uint32_t)(size - start)));
				problem(f, c, fix, "%s: %s: block %" PRIu64 " ends at byte %" PRIu64
					", past the end of the file (size %" PRIu64 ")", m->label, path,
					it->block, start + it->e.length, size);
			}
		}
		free(l.items);
	}
}

struct journal_arg {
	struct model *m;
	struct idx_txn *txn;
	uint8_t *bytes;         /* a block's worth, for reading records' bytes */
	struct journal_bad {
		uint64_t ino, block;
		const char *why;
	} *bad;
	size_t nbad, cap;
	uint64_t records;
};

static int journal_record(const struct idx_journal_rec *rec, void *arg)
{
	struct journal_arg *a = arg;
	struct minode *n = m_find(a->m, rec->ino);
	const char *why = NULL;
	a->records++;
	if (!n)
		why = "its inode does not exist";
	else if (!S_ISREG(n->in.mode))
		why = "its inode is not a regular file";
	else if (rec->block * a->m->bs >= n->in.size)
		why = "its block lies past the end of the file";
	else if (rec->offset > a->m->bs || rec->length > a->m->bs - rec->offset)
		why = "its bytes end past the block";
	else if (idx_journal_read(a->txn, rec, a->bytes) < 0)
		why = "its bytes are not in the write-ahead log (their checksum fails)";
	if (!why)
		return 0;
	if (a->nbad && a->bad[a->nbad - 1].ino == rec->ino && a->bad[a->nbad - 1].block == rec->block)
		return 0;   /* one report per block */
	if (ARRAY_RESERVE(a->bad, a->nbad, a->cap, 16) < 0)
		return -ENOMEM;
	a->bad[a->nbad++] = (struct journal_bad){ rec->ino, rec->block, why };
	return 0;
}

/*
 * I39 (live views): journal records (partial writes an fsync made durable,
 * which the next read-write mount lays over their blocks) belong to blocks
 * of regular files, below the end.  Repair deletes a bad block's records.
 * Records that pass are not an error: a daemon that stopped uncleanly left
 * them, and the next mount replays them.
 */
static void check_journal(struct fsck *f, struct model *m)
{
	const enum fsck_check c = FSCK_JOURNAL;
	struct journal_arg a = { .m = m, .txn = f->txn, .bytes = malloc(m->bs) };
	int r = a.bytes ? idx_journal_foreach(f->txn, m->tree, journal_record, &a) : -ENOMEM;
	if (r < 0)
		stopped(f, c, r, m->label);
	for (size_t i = 0; r == 0 && i < a.nbad; i++) {
		struct journal_bad *b = &a.bad[i];
		int fix = m->fixable ? fixed(f, idx_journal_del_blocks(f->txn, m->tree, b->ino,
									b->block, b->block + 1)) : 0;
		problem(f, c, fix, "%s: journal records of inode %" PRIu64 " block %" PRIu64
			": %s", m->label, b->ino, b->block, b->why);
	}
	f->res->journal_records += a.records;
	free(a.bytes);
	free(a.bad);
}

/* Runs the directory checks on one view; repairs reload the model before the next check. */
static void check_view(struct fsck *f, struct model *m)
{
	int r = model_load(f, m);
	if (r < 0) {
		stopped(f, FSCK_ROOT, r, m->label);
		return;
	}
	check_root(f, m);
	if (check_dirent_targets(f, m))
		r = model_load(f, m);
	if (r == 0 && check_tree_reachability(f, m))
		r = model_load(f, m);
	if (r == 0 && check_dir_parents(f, m))
		r = model_load(f, m);
	if (r == 0 && check_nlink(f, m))
		r = model_load(f, m);
	if (r == 0 && m->live)
		check_orphans(f, m);
	if (r == 0)
		check_extents_within_size(f, m);
	if (r == 0 && m->live)
		check_journal(f, m);
	if (r < 0)
		stopped(f, FSCK_NLINK, r, m->label);
}

static bool vol_selected(const struct fsck *f, const char *name)
{
	if (!f->o->volumes || f->o->nvolumes == 0)
		return true;
	for (size_t i = 0; i < f->o->nvolumes; i++)
		if (!strcmp(f->o->volumes[i], name))
			return true;
	return false;
}

static void check_views(struct fsck *f)
{
	struct model m = { 0 };
	for (size_t i = 0; i < f->nvols; i++) {
		struct fvol *v = &f->vols[i];
		if (!v->selected || !v->ok)
			continue;
		memset(&m, 0, sizeof(m));
		snprintf(m.label, sizeof(m.label), "volume %s", v->name);
		m.live = true;
		m.fixable = f->repair && !v->mounted;
		m.bs = v->vol.block_size;
		m.tree = v->vol.tree;
		int r = idx_view_live(f->txn, v->vol.tree, &m.view);
		if (r < 0)
			stopped(f, FSCK_ROOT, r, m.label);
		else
			check_view(f, &m);
		model_clear(&m);
		for (size_t s = 0; s < f->nsnaps; s++) {
			struct fsnap *sn = &f->snaps[s];
			if (sn->volume != v->vol.id || !sn->ok)
				continue;
			memset(&m, 0, sizeof(m));
			snprintf(m.label, sizeof(m.label), "snapshot %s@%s", v->name, sn->name);
			m.bs = v->vol.block_size;
			m.tree = sn->s.tree;
			r = idx_view_at(f->txn, sn->s.tree, sn->s.gen, &m.view);
			if (r < 0)
				stopped(f, FSCK_ROOT, r, m.label);
			else
				check_view(f, &m);
			model_clear(&m);
		}
	}
}

/* ---- chunks ----------------------------------------------------------------------------- */

struct cref {
	struct idx_chunk_id id;
	uint32_t length;
};

struct cref_list {
	struct cref *v;
	size_t n, cap;
};

static int collect_cref(const struct idx_version *v, const char *why, void *arg)
{
	struct cref_list *l = arg;
	if (why || v->tombstone || v->extent.kind != IDX_EXTENT_CHUNK)
		return 0;
	if (ARRAY_RESERVE(l->v, l->n, l->cap, 64) < 0)
		return -ENOMEM;
	l->v[l->n++] = (struct cref){ .id = v->extent.chunk, .length = v->extent.length };
	return 0;
}

/*
 * I10: every chunk's refs equals the extent versions naming it, counted over
 * every version of every tree (not views: a version only a snapshot sees
 * still holds its chunk).  Repair writes the count (0 puts the chunk on the
 * dead list) or makes the missing record.
 */
static void check_chunk_refcounts(struct fsck *f)
{
	const enum fsck_check c = FSCK_CHUNK_REFCOUNTS;
	struct cref_list l = { 0 };
	char hex[CHUNK_HEX_SIZE];
	int r = idx_scan_versions(f->txn, IDX_DB_EXTENTS, collect_cref, &l);
	if (r == 0)
		r = load_chunk_records(f);
	if (r < 0) {
		stopped(f, c, r, "extents");
		free(l.v);
		return;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), id_cmp);
	size_t i = 0, k = 0;
	while (i < l.n || k < f->nrecs) {
		int cmp = i == l.n ? 1 : k == f->nrecs ? -1 : id_cmp(&l.v[i].id, &f->recs[k].id);
		int fix = 0;
		if (cmp > 0) {
			/* a record no version names */
			struct crec *rec = &f->recs[k++];
			if (rec->c.refs == 0)
				continue;   /* dead: gc's */
			chunk_id_to_hex(&rec->id, hex);
			if (f->store_repair) {
				struct idx_chunk z = { .refs = 0, .length = rec->c.length };
				fix = fixed(f, idx_raw_chunk_set(f->txn, &rec->id, &z));
			}
			problem(f, c, fix, "chunk %s: refs %" PRIu64 ", but no extent names it", hex,
				rec->c.refs);
			continue;
		}
		/* the versions naming l.v[i].id */
		size_t j = i;
		bool lengths_differ = false;
		while (j < l.n && id_cmp(&l.v[j].id, &l.v[i].id) == 0) {
			lengths_differ |= l.v[j].length != l.v[i].length;
			j++;
		}
		uint64_t count = j - i;
		chunk_id_to_hex(&l.v[i].id, hex);
		if (lengths_differ)
			problem(f, c, 0, "chunk %s: extents name it with different lengths", hex);
		if (cmp < 0) {
			if (f->store_repair) {
				struct idx_chunk nc = { .refs = count, .length = l.v[i].length };
				fix = fixed(f, idx_raw_chunk_set(f->txn, &l.v[i].id, &nc));
			}
			problem(f, c, fix, "chunk %s: %" PRIu64 " extents name it, but it has no record",
				hex, count);
		} else {
			struct crec *rec = &f->recs[k++];
			if (rec->c.length != l.v[i].length)
				problem(f, c, 0, "chunk %s: record length %" PRIu32 ", extents say %" PRIu32,
					hex, rec->c.length, l.v[i].length);
			if (rec->c.refs != count) {
				if (f->store_repair) {
					struct idx_chunk nc = { .refs = count, .length = rec->c.length };
					fix = fixed(f, idx_raw_chunk_set(f->txn, &rec->id, &nc));
				}
				problem(f, c, fix, "chunk %s: refs %" PRIu64 ", but %" PRIu64
					" extent versions name it", hex, rec->c.refs, count);
			}
		}
		i = j;
	}
	free(l.v);
}

struct id_list {
	struct idx_chunk_id *v;
	size_t n, cap;
};

static int collect_dead(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct id_list *l = arg;
	(void)val;
	(void)vlen;
	if (klen != IDX_CHUNK_ID_SIZE)
		return 0;
	if (ARRAY_RESERVE(l->v, l->n, l->cap, 64) < 0)
		return -ENOMEM;
	memcpy(l->v[l->n++].bytes, key, IDX_CHUNK_ID_SIZE);
	return 0;
}

/* I11: the dead list holds exactly the chunks with refs 0.  Repair adds and removes. */
static void check_dead_list(struct fsck *f)
{
	const enum fsck_check c = FSCK_DEAD_LIST;
	struct id_list dead = { 0 };
	char hex[CHUNK_HEX_SIZE];
	int r = idx_scan_raw(f->txn, IDX_DB_DEADCHUNKS, collect_dead, &dead, NULL);
	if (r == 0)
		r = load_chunk_records(f);
	if (r < 0) {
		stopped(f, c, r, "deadchunks");
		free(dead.v);
		return;
	}
	size_t i = 0, k = 0;
	while (i < dead.n || k < f->nrecs) {
		int cmp = i == dead.n ? 1 : k == f->nrecs ? -1 : id_cmp(&dead.v[i], &f->recs[k].id);
		int fix = 0;
		if (cmp < 0) {
			chunk_id_to_hex(&dead.v[i], hex);
			if (f->store_repair)
				fix = fixed(f, idx_raw_dead_set(f->txn, &dead.v[i], false));
			problem(f, c, fix, "chunk %s is on the dead list but has no record", hex);
			i++;
		} else if (cmp > 0) {
			struct crec *rec = &f->recs[k++];
			if (rec->c.refs != 0)
				continue;
			chunk_id_to_hex(&rec->id, hex);
			if (f->store_repair)
				fix = fixed(f, idx_raw_dead_set(f->txn, &rec->id, true));
			problem(f, c, fix, "chunk %s has no references but is not on the dead list "
				"(its space would never come back)", hex);
		} else {
			struct crec *rec = &f->recs[k++];
			i++;
			if (rec->c.refs == 0)
				continue;
			chunk_id_to_hex(&rec->id, hex);
			if (f->store_repair)
				fix = fixed(f, idx_raw_dead_set(f->txn, &rec->id, false));
			problem(f, c, fix, "chunk %s has %" PRIu64 " references but is on the dead list "
				"(gc would delete live data)", hex, rec->c.refs);
		}
	}
	free(dead.v);
}

/*
 * I7: every chunk with references has its file, of its length.  A missing
 * file is lost data and cannot be repaired; a file of the wrong size is
 * corrupt: repair removes it, so that writing those bytes again (which
 * chunk_put does when it finds the file missing) brings the chunk back.
 * Either way reads of the blocks that name it fail with EIO.
 */
static void check_chunk_presence(struct fsck *f)
{
	const enum fsck_check c = FSCK_CHUNK_PRESENCE;
	char rel[CHUNK_RELPATH_SIZE];
	int r = load_chunk_records(f);
	if (r < 0) {
		stopped(f, c, r, "chunks");
		return;
	}
	for (size_t i = 0; i < f->nrecs; i++) {
		struct crec *rec = &f->recs[i];
		struct stat st;
		if (rec->c.refs == 0)
			continue;
		chunk_relpath(&rec->id, rel);
		if (fstatat(f->store->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT) {
				stopped(f, c, -errno, rel);
				continue;
			}
			problem(f, c, 0, "%s is missing (%" PRIu64 " references): lost data, listed "
				"below", rel, rec->c.refs);
			bad_add(f, &rec->id, "missing");
		} else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != rec->c.length) {
			bool removed = f->store_repair && S_ISREG(st.st_mode) &&
				       unlinkat(f->store->dirfd, rel, 0) == 0;
			problem(f, c, 0, "%s has %lld bytes, want %" PRIu32 ": corrupt, listed below%s",
				rel, (long long)st.st_size, rec->c.length,
				removed ? " (damaged file removed)" : "");
			bad_add(f, &rec->id, "corrupt");
		}
	}
	if (f->nbad)
		qsort(f->bad, f->nbad, sizeof(*f->bad), id_cmp);
}

static bool is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[len] == 0;
}

static void leftover(struct fsck *f, const char *what, const char *rel, off_t size, bool removed)
{
	f->res->leftovers++;
	f->res->leftover_bytes += (uint64_t)size;
	if (removed)
		f->res->leftovers_removed++;
	if (f->leftovers_listed++ < LEFTOVERS_LISTED)
		fprintf(f->out, "leftover: %s %s (%lld bytes)%s\n", what, rel, (long long)size,
			removed ? ": removed" : "");
}

/* Opens directory @rel of the store for listing. */
static DIR *open_dir(struct fsck *f, const char *rel)
{
	int fd = openat(f->store->dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

static void chunk_leaf(struct fsck *f, const char *dir1)
{
	const enum fsck_check c = FSCK_UNREFERENCED_CHUNKS;
	char rel[64];
	snprintf(rel, sizeof(rel), "chunks/%s", dir1);
	DIR *d = open_dir(f, rel);
	if (!d) {
		stopped(f, c, -errno, rel);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[64 + 256];
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", rel, e->d_name);
		if (fstatat(f->store->dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;   /* gone meanwhile */
		struct idx_chunk_id id;
		bool named = strlen(e->d_name) == 32 && is_hex(e->d_name, 32) &&
			     !strncmp(e->d_name, dir1, 2) && chunk_id_from_hex(e->d_name, &id) == 0;
		if (!named || !S_ISREG(st.st_mode)) {
			int fix = 0;
			if (f->store_repair && !S_ISDIR(st.st_mode))
				fix = fixed(f, unlinkat(f->store->dirfd, path, 0) < 0 ? -errno : 0);
			problem(f, c, fix, "%s is not a chunk file (I1)", path);
			continue;
		}
		struct idx_chunk rec;
		int r = idx_chunk_get(f->txn, &id, &rec);
		if (r == 0)
			continue;
		if (r != -ENOENT) {
			stopped(f, c, r, path);
			continue;
		}
		/* written by a batch that never committed: in our write txn none is open (rule 3) */
		bool removed = f->store_repair && unlinkat(f->store->dirfd, path, 0) == 0;
		leftover(f, "chunk file with no record", path, st.st_size, removed);
	}
	closedir(d);
}

/* chunks/ holds two-hex-digit fan-out directories (format.md §1); anything else is stray (I1). */
static void fanout(struct fsck *f)
{
	DIR *d = open_dir(f, "chunks");
	if (!d) {
		stopped(f, FSCK_UNREFERENCED_CHUNKS, -errno, "chunks");
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[16 + 256];
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "chunks/%s", e->d_name);
		if (fstatat(f->store->dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (strlen(e->d_name) != 2 || !is_hex(e->d_name, 2) || !S_ISDIR(st.st_mode)) {
			int fix = 0;
			if (f->store_repair && !S_ISDIR(st.st_mode))
				fix = fixed(f, unlinkat(f->store->dirfd, path, 0) < 0 ? -errno : 0);
			problem(f, FSCK_UNREFERENCED_CHUNKS, fix, "%s does not belong under chunks/ (I1)",
				path);
			continue;
		}
		chunk_leaf(f, e->d_name);
	}
	closedir(d);
}

/*
 * I8: every chunk file has a record.  A file without one was written by a
 * batch that never committed (a crash): a harmless leftover, removed by a
 * repair (inside the write transaction, so no batch can be about to name
 * it).  With a volume mounted, a check may also see chunks of the batch
 * its daemon has open.  Anything under chunks/ that is not a chunk file is
 * an error.
 */
static void check_unreferenced_chunks(struct fsck *f)
{
	fanout(f);
}

/* I5: tmp/ holds no temp files of dead processes (a read-write open removes them). */
static void check_tmp_empty(struct fsck *f)
{
	DIR *d = open_dir(f, "tmp");
	if (!d) {
		stopped(f, FSCK_TMP_EMPTY, -errno, "tmp");
		return;
	}
	struct dirent *e;
	uint64_t running = 0;
	while ((e = readdir(d))) {
		char path[16 + 256];
		struct stat st;
		long pid = 0;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "tmp/%s", e->d_name);
		if (fstatat(f->store->dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
			continue;
		if (sscanf(e->d_name, "%ld.", &pid) == 1 && proc_running((pid_t)pid)) {
			running++;
			continue;
		}
		bool removed = f->store_repair && unlinkat(f->store->dirfd, path, 0) == 0;
		leftover(f, "temp file", path, st.st_size, removed);
	}
	closedir(d);
	if (running)
		note(f, "tmp/ holds %" PRIu64 " files of running processes: chunks being written, "
		     "and emptied chunk files kept for reuse", running);
}

/* ---- chunk hashes (outside any transaction) ------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether chunk @id still has references (a daemon may have freed it meanwhile). */
static bool still_live(struct fsck *f, const struct idx_chunk_id *id)
{
	struct idx_txn *txn;
	struct idx_chunk c;
	bool live = true;
	if (idx_txn_begin(f->store->idx, IDX_TXN_RDONLY, &txn) == 0) {
		int r = idx_chunk_get(txn, id, &c);
		live = !(r == -ENOENT || (r == 0 && c.refs == 0));
		idx_txn_abort(txn);
	}
	return live;
}

/*
 * I6, I9: every live chunk's bytes hash to its name (chunk_read verifies).
 * A corrupt chunk cannot be repaired; repair removes the file (after reading
 * it again), so reads of it keep failing with EIO and a later write of the
 * right bytes puts it back.  Progress and MB/s on a terminal.
 */
static void check_chunk_hashes(struct fsck *f)
{
	const enum fsck_check c = FSCK_CHUNK_HASHES;
	FILE *pout = f->o->progress_out ? f->o->progress_out : stderr;
	uint64_t total = 0, done = 0;
	size_t nlive = 0, ndone = 0;
	char rel[CHUNK_RELPATH_SIZE];
	for (size_t i = 0; i < f->nrecs; i++)
		if (f->recs[i].c.refs) {
			total += f->recs[i].c.length;
			nlive++;
		}
	uint8_t *buf = malloc(VOLUME_BLOCK_MAX);
	if (!buf) {
		stopped(f, c, -ENOMEM, "buffer");
		return;
	}
	double t0 = now_s(), last = 0;
	for (size_t i = 0; i < f->nrecs; i++) {
		struct crec *rec = &f->recs[i];
		if (rec->c.refs == 0 || rec->c.length > VOLUME_BLOCK_MAX || bad_find(f, &rec->id))
			continue;
		int r = chunk_read(f->store->chunks, &rec->id, buf, rec->c.length);
		ndone++;
		done += rec->c.length;
		chunk_relpath(&rec->id, rel);
		if (r == -ENOENT && still_live(f, &rec->id)) {
			problem(f, c, 0, "%s is missing: lost data, listed below", rel);
			bad_add(f, &rec->id, "missing");
		} else if (r == -EIO) {
			bool removed = false;
			if (f->store_repair &&
			    chunk_read(f->store->chunks, &rec->id, buf, rec->c.length) == -EIO)
				removed = chunk_unlink(f->store->chunks, &rec->id) == 0;
			problem(f, c, 0, "%s: its bytes do not match its name: corrupt, listed below%s",
				rel, removed ? " (damaged file removed)" : "");
			bad_add(f, &rec->id, "corrupt");
		} else if (r < 0 && r != -ENOENT) {
			stopped(f, c, r, rel);
		}
		double t = now_s();
		if (f->o->progress && (t - last >= 0.25 || ndone == nlive)) {
			last = t;
			fprintf(pout, "\rcheck_chunk_hashes: %zu/%zu chunks, %.0f/%.0f MiB, %.1f MB/s   ",
				ndone, nlive, done / 1048576.0, total / 1048576.0,
				t > t0 ? done / 1e6 / (t - t0) : 0.0);
			fflush(pout);
		}
	}
	double secs = now_s() - t0;
	if (f->o->progress) {
		fputc('\n', pout);
		note(f, "hashed %zu chunks, %.1f MiB in %.2f s (%.1f MB/s)", ndone, done / 1048576.0,
		     secs, secs > 0 ? done / 1e6 / secs : 0.0);
	}
	f->res->chunks_hashed = ndone;
	f->res->bytes_hashed = done;
	free(buf);
	if (f->nbad)
		qsort(f->bad, f->nbad, sizeof(*f->bad), id_cmp);
}

/* ---- what lost chunks take with them ------------------------------------------------------------ */

struct affected_arg {
	struct fsck *f;
	struct model *m;
	struct minode *n;
	char path[1024];
};

static int affected_extent(uint64_t block, const struct idx_extent *e, void *arg)
{
	struct affected_arg *a = arg;
	const struct bad_chunk *b;
	char hex[CHUNK_HEX_SIZE];
	if (e->kind != IDX_EXTENT_CHUNK || !(b = bad_find(a->f, &e->chunk)))
		return 0;
	if (!a->path[0])
		m_path(a->m, a->n->ino, a->path, sizeof(a->path));
	uint64_t start = block * a->m->bs;
	chunk_id_to_hex(&e->chunk, hex);
	fprintf(a->f->out, "lost data: %s: %s (inode %" PRIu64 "): bytes %" PRIu64 "-%" PRIu64
		": chunk %s %s; reads there fail with EIO\n", a->m->label, a->path, a->n->ino,
		start, start + e->length - 1, hex, b->why);
	return 0;
}

static void list_affected_view(struct fsck *f, struct model *m)
{
	if (model_load(f, m) < 0)
		return;
	for (size_t i = 0; i < m->nin; i++) {
		struct affected_arg a = { .f = f, .m = m, .n = &m->in[i] };
		if (S_ISREG(m->in[i].in.mode))
			idx_extent_foreach(f->txn, &m->view, m->in[i].ino, 0, affected_extent, &a);
	}
}

/* Lists every file, byte range and snapshot that names a missing or corrupt chunk. */
static void list_affected(struct fsck *f)
{
	struct model m = { 0 };
	if (idx_txn_begin(f->store->idx, IDX_TXN_RDONLY, &f->txn) < 0)
		return;
	for (size_t i = 0; i < f->nvols; i++) {
		struct fvol *v = &f->vols[i];
		if (!v->ok)
			continue;
		memset(&m, 0, sizeof(m));
		snprintf(m.label, sizeof(m.label), "volume %s", v->name);
		m.bs = v->vol.block_size;
		if (idx_view_live(f->txn, v->vol.tree, &m.view) == 0)
			list_affected_view(f, &m);
		model_clear(&m);
		for (size_t s = 0; s < f->nsnaps; s++) {
			struct fsnap *sn = &f->snaps[s];
			if (sn->volume != v->vol.id || !sn->ok)
				continue;
			memset(&m, 0, sizeof(m));
			snprintf(m.label, sizeof(m.label), "snapshot %s@%s", v->name, sn->name);
			m.bs = v->vol.block_size;
			if (idx_view_at(f->txn, sn->s.tree, sn->s.gen, &m.view) == 0)
				list_affected_view(f, &m);
			model_clear(&m);
		}
	}
	idx_txn_abort(f->txn);
	f->txn = NULL;
}

/* ---- the run ------------------------------------------------------------------------------------- */

/* Whether volume @id's lock is held by someone (a read-only probe: creates nothing). */
static bool lock_held(struct fsck *f, uint64_t id)
{
	char name[64];
	bool held = false;
	snprintf(name, sizeof(name), "run/vol-%" PRIu64 ".lock", id);
	int fd = openat(f->store->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		held = errno == EWOULDBLOCK;
	close(fd);   /* drops the probe's lock */
	return held;
}

/* Finds mounted volumes; a repair takes the lock of every other one. */
static int take_locks(struct fsck *f)
{
	for (size_t i = 0; i < f->nvols; i++) {
		struct fvol *v = &f->vols[i];
		if (f->repair) {
			int r = store_lock_volume(f->store, v->vol.id, &v->lock_fd);
			if (r == -EBUSY)
				v->mounted = true;
			else if (r < 0)
				return r;
		} else {
			v->mounted = lock_held(f, v->vol.id);
		}
		if (!v->mounted)
			continue;
		f->res->volumes_mounted++;
		if (f->repair && v->selected) {
			f->res->repair_refused = true;
			fprintf(f->out, "fsck.volfs: volume %s is mounted read-write: it is checked, "
				"not repaired; unmount it to repair it\n", v->name);
		} else if (f->repair) {
			note(f, "volume %s is mounted read-write", v->name);
		}
		else
			note(f, "volume %s is mounted: the check sees its last commit, which may be "
			     "up to the commit interval old", v->name);
	}
	return 0;
}

int fsck_exit_status(const struct fsck_result *res)
{
	int status = 0;
	if (res->errors_fixed)
		status |= 1;
	if (res->errors > res->errors_fixed || res->repair_refused)
		status |= 4;
	if (res->operational_error)
		status |= 8;
	return status;
}

int fsck_store(const char *store_path, const struct fsck_options *opts, struct fsck_result *res)
{
	struct fsck_result dummy;
	struct fsck fs = { .o = opts, .res = res ? res : &dummy };
	struct fsck *f = &fs;
	struct meta_walk mw = { 0 };
	int r;

	memset(f->res, 0, sizeof(*f->res));
	f->out = opts->out ? opts->out : stdout;
	f->repair = opts->mode != FSCK_CHECK;

	if (!probe_index(f, store_path))
		return fsck_exit_status(f->res);
	/* repairs recount before anything is freed: no recovery at open */
	r = store_open(store_path, f->repair ? STORE_NO_RECOVERY : STORE_RDONLY, &f->store);
	if (r < 0) {
		fprintf(f->out, "fsck.volfs: cannot open store %s: %s\n", store_path, strerror(-r));
		if (r == -EUCLEAN)
			fprintf(f->out, "fsck.volfs: I35: the index is damaged: restore the store from "
				"a backup\n");
		f->res->operational_error = true;
		return fsck_exit_status(f->res);
	}
	/* a read-write open replayed them; a read-only one reports what waits */
	r = idx_env_log_pending(f->store->idx, &f->res->log_frames);
	if (r == 0)
		r = idx_txn_begin(f->store->idx, f->repair ? 0 : IDX_TXN_RDONLY, &f->txn);
	if (r == 0)
		r = load_records(f);
	for (size_t i = 0; r == 0 && i < f->nvols; i++)
		f->vols[i].selected = vol_selected(f, f->vols[i].name);
	if (r == 0 && !f->repair)
		r = take_locks(f);
	if (r < 0) {
		fprintf(f->out, "fsck.volfs: %s: %s\n", store_path, strerror(-r));
		f->res->operational_error = true;
		goto out;
	}
	if (f->repair) {
		/* the locks before the write transaction would be better, but the
		 * volume list comes from the index; no daemon writes without the
		 * writer lock we hold, so taking them now loses nothing */
		r = take_locks(f);
		if (r < 0) {
			fprintf(f->out, "fsck.volfs: taking volume locks: %s\n", strerror(-r));
			f->res->operational_error = true;
			goto out;
		}
		f->store_repair = f->res->volumes_mounted == 0;
		if (!f->store_repair)
			note(f, "with a volume mounted, store-wide problems (reference counts, chunk "
			     "files) are reported, not repaired");
	}
	for (size_t i = 0; i < opts->nvolumes && opts->volumes; i++) {
		bool found = false;
		for (size_t k = 0; k < f->nvols; k++)
			found |= !strcmp(f->vols[k].name, opts->volumes[i]);
		if (!found) {
			fprintf(f->out, "fsck.volfs: no volume '%s' in store %s\n", opts->volumes[i],
				store_path);
			f->res->operational_error = true;
		}
	}

	/* deletions here never touch volumes, trees or snapshots: nothing to reload */
	check_index_pages(f);
	check_meta(f, &mw);
	check_counters(f, &mw);
	check_tree_gens(f);
	check_tree_parents(f);
	check_snapshots(f);
	check_volumes(f);
	check_views(f);
	check_chunk_refcounts(f);
	check_dead_list(f);
	if (f->store_repair) {
		uint64_t freed = 0;
		r = chunk_gc(f->store->chunks, f->txn, &freed);
		if (r < 0)
			stopped(f, FSCK_DEAD_LIST, r, "freeing dead chunks");
		else if (freed) {
			f->changed = true;
			note(f, "freed %" PRIu64 " dead chunks", freed);
		}
	}
	check_chunk_presence(f);
	check_unreferenced_chunks(f);
	check_tmp_empty(f);

	if (f->repair && f->changed) {
		if (f->chunks_written && syncfs(f->store->dirfd) < 0) {
			r = -errno;
		} else {
			r = idx_txn_commit(f->txn);
		}
		f->txn = NULL;
		if (r < 0) {
			fprintf(f->out, "fsck.volfs: committing the repairs failed: %s: nothing was "
				"repaired in the index\n", strerror(-r));
			f->res->operational_error = true;
			f->res->errors_fixed = 0;
			memset(f->res->fixed, 0, sizeof(f->res->fixed));
		}
	}
	idx_txn_abort(f->txn);
	f->txn = NULL;
	/* the recovery a read-write open does, now that the counts are right */
	if (f->store_repair && !f->res->operational_error) {
		r = volume_finish_removals(f->store);
		if (r < 0)
			stopped(f, FSCK_DEAD_LIST, r, "finishing interrupted volume removals");
	}

	if (!opts->no_data)
		check_chunk_hashes(f);
	if (f->nbad) {
		fprintf(f->out, "lost data: %zu chunks are missing or corrupt; the blocks that name "
			"them read as EIO until rewritten or deleted:\n", f->nbad);
		list_affected(f);
	}
	if (f->res->leftovers)
		fprintf(f->out, "leftovers of a crash: %" PRIu64 " files, %" PRIu64 " bytes%s\n",
			f->res->leftovers, f->res->leftover_bytes,
			f->res->leftovers_removed == f->res->leftovers ? ", removed" :
			f->repair ? "" : " (harmless; fsck.volfs -p removes them)");
out:
	idx_txn_abort(f->txn);
	for (size_t i = 0; i < f->nvols; i++)
		if (f->vols[i].lock_fd >= 0)
			close(f->vols[i].lock_fd);
	free(f->vols);
	free(f->trees);
	free(f->snaps);
	free(f->bad);
	free(f->recs);
	store_close(f->store);
	return fsck_exit_status(f->res);
}
