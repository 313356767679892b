/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsck.h — checking and repairing a volfs store (fsck.volfs), without FUSE.
 *
 * One function per check, each named after the check of
 * docs/invariants.md that it implements; fsck_store() runs them in order.
 * Messages go to options->out, one line per problem, starting with the
 * check's name and the invariant it breaks ("check_nlink: I27: …").
 *
 * Modes: FSCK_CHECK opens the store read-only and changes nothing;
 * FSCK_PREEN and FSCK_REPAIR open it read-write, take the lock of every
 * volume they repair (a mounted volume's lock is held by its daemon: that
 * volume is checked but never repaired) and make their index repairs in one
 * write transaction.  PREEN makes only the repairs that lose nothing;
 * REPAIR also deletes records that do not decode.
 */
#ifndef VOLFS_FS_FSCK_H
#define VOLFS_FS_FSCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fsck_mode {
	FSCK_CHECK,    /* -n */
	FSCK_PREEN,    /* -p */
	FSCK_REPAIR,   /* -y */
};

/* The checks, in the order they run. */
enum fsck_check {
	FSCK_INDEX_PAGES,           /* I35, and I3 I12 I13 (record shapes)   */
	FSCK_META,                  /* I2, I37                                */
	FSCK_COUNTERS,              /* I4                                     */
	FSCK_TREE_GENS,             /* I17                                    */
	FSCK_TREE_PARENTS,          /* I19                                    */
	FSCK_SNAPSHOTS,             /* I18                                    */
	FSCK_VOLUMES,               /* I20                                    */
	FSCK_ROOT,                  /* I23                  (every view)      */
	FSCK_DIRENT_TARGETS,        /* I24                                    */
	FSCK_DIR_PARENTS,           /* I25                                    */
	FSCK_TREE_REACHABILITY,     /* I26                                    */
	FSCK_NLINK,                 /* I27                                    */
	FSCK_ORPHANS,               /* I28                  (live views)      */
	FSCK_EXTENTS_WITHIN_SIZE,   /* I32                                    */
	FSCK_JOURNAL,               /* I39                  (live views)      */
	FSCK_CHUNK_REFCOUNTS,       /* I10                                    */
	FSCK_DEAD_LIST,             /* I11                                    */
	FSCK_CHUNK_PRESENCE,        /* I7, I36                                */
	FSCK_UNREFERENCED_CHUNKS,   /* I8, and I1 for chunks/                 */
	FSCK_TMP_EMPTY,             /* I5                                     */
	FSCK_CHUNK_HASHES,          /* I6, I9               (reads all data)  */
	FSCK_CHECK_COUNT
};

/* "check_nlink", … */
const char *fsck_check_name(enum fsck_check c);

struct fsck_options {
	enum fsck_mode mode;
	bool no_data;                 /* skip check_chunk_hashes                  */
	bool progress;                /* progress and MB/s on @progress_out       */
	FILE *out;                    /* messages; NULL: stdout                    */
	FILE *progress_out;           /* NULL: stderr                              */
	const char *const *volumes;   /* the volumes whose trees to check; NULL: all */
	size_t nvolumes;
};

struct fsck_result {
	/* problems each check found, and how many of them it repaired */
	uint64_t found[FSCK_CHECK_COUNT];
	uint64_t fixed[FSCK_CHECK_COUNT];
	uint64_t errors, errors_fixed;       /* sums of the above                     */
	/*
	 * Leftovers of a crash: chunk files no record names and temp files of
	 * dead processes.  Harmless (docs/durability.md), so not errors; a
	 * repair removes them.
	 */
	uint64_t leftovers, leftovers_removed, leftover_bytes;
	uint64_t lost_chunks;                /* missing or corrupt chunks named by records */
	uint64_t journal_records;            /* fsync'd writes the next mount replays      */
	unsigned log_frames;                 /* frames of index/wal a read-write open replays */
	uint64_t volumes_mounted;            /* volumes mounted read-write                 */
	bool repair_refused;                 /* a volume to repair is mounted: exit 4      */
	uint64_t chunks_hashed, bytes_hashed;
	bool operational_error;              /* a check could not run to its end          */
};

/*
 * Checks (and in PREEN/REPAIR mode repairs) the store at @store_path.
 * Returns fsck(8)'s exit status: 0 clean; 1 errors corrected; 4 errors left
 * uncorrected; 8 an operational error (or'ed together).  @res may be NULL.
 */
int fsck_store(const char *store_path, const struct fsck_options *opts,
	       struct fsck_result *res);

/* The exit status a result stands for (as fsck_store() returns it). */
int fsck_exit_status(const struct fsck_result *res);

#endif
