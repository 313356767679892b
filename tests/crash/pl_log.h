/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pl_log.h — the record format shared by plshim.c (writes it) and
 * pl_replay.c (reads it).  Power-loss simulation, tests/crash/powerloss.sh.
 *
 * A log is a sequence of records, each one header followed by `plen` bytes of
 * path, `p2len` bytes of a second path and, for PL_WRITE, `len` bytes of data.
 * Paths are relative to the store directory (PLSHIM_ROOT), without a NUL.
 * Records are appended in the order of `seq` (one counter per process, taken
 * under a mutex together with `ts`, so the file order is the time order).
 * Host byte order: the log never leaves the machine that wrote it.
 */
#ifndef VOLFS_PL_LOG_H
#define VOLFS_PL_LOG_H

#include <stdint.h>

#define PL_MAGIC 0x31524c50u   /* "PLR1" */

enum pl_type {
	PL_OPEN = 1,      /* ino opened by path (flags: CREATED, TMPFILE, DIR, SYNC) */
	PL_WRITE,         /* ino: len bytes at off (flag SYNC: O_DSYNC/O_SYNC fd) */
	PL_TRUNC,         /* ino: size becomes len */
	PL_LINK,          /* ino gets the name path */
	PL_RENAME,        /* ino: name path becomes path2 */
	PL_UNLINK,        /* the name path goes (flag DIR: rmdir) */
	PL_MKDIR,         /* directory ino made at path */
	PL_FSYNC_BEGIN,   /* fsync/fdatasync of ino called (flag DATASYNC) */
	PL_FSYNC_END,     /* ... returned 0; off = seq of its BEGIN */
	PL_SYNCFS_BEGIN,  /* syncfs(2) on the store's filesystem, or sync(2), called */
	PL_SYNCFS_END,    /* ... returned; off = seq of its BEGIN */
};

enum pl_flags {
	PL_F_CREATED = 1,   /* PL_OPEN: the open made the name (O_CREAT, it did not exist) */
	PL_F_TMPFILE = 2,   /* PL_OPEN: O_TMPFILE, no name; path is the directory */
	PL_F_DIR = 4,       /* PL_OPEN, PL_UNLINK: a directory */
	PL_F_SYNC = 8,      /* PL_OPEN, PL_WRITE: O_DSYNC or O_SYNC */
	PL_F_DATASYNC = 16, /* PL_FSYNC_*: fdatasync */
	PL_F_TRUNC = 32,    /* PL_OPEN: O_TRUNC of an existing file */
};

struct pl_rec {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint64_t seq;
	uint64_t ts;     /* CLOCK_MONOTONIC, ns, after the call returned (BEGIN: before) */
	uint64_t ino;
	int64_t off;
	uint64_t len;
	uint32_t plen;
	uint32_t p2len;
};

#endif
