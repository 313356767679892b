/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * schema.h — the canonical layout of every index record (format version 1).
 * Private to index/.  docs/format.md describes the same bytes with a worked
 * example; change both together, and bump IDX_FORMAT_VERSION.
 *
 * All integers are big-endian, in keys (so that byte order is numeric order)
 * and in values (one rule everywhere).  Structs are packed and their sizes
 * asserted: they are the bytes on disk, read and written with memcpy.
 *
 * Named databases (LMDB "DBIs") and their keys:
 *
 *   meta       "format" | "secret" | "created" | "next_volume" | "next_tree"
 *              | "log_head" | "log_size"
 *   volumes    name bytes (1..128, no NUL)                  -> disk_volume
 *   trees      be64 tree                                    -> disk_tree
 *   snapshots  be64 volume, name bytes                      -> disk_snapshot
 *   inodes     be64 tree, be64 ino,               be64 ~gen -> 'V' disk_inode | 'T'
 *   dirents    be64 tree, be64 dir, name, 0x00,   be64 ~gen -> 'V' disk_dirent | 'T'
 *   extents    be64 tree, be64 ino, be64 block,   be64 ~gen -> 'V' disk_extent [inline bytes] | 'T'
 *   xattrs     be64 tree, be64 ino, name, 0x00,   be64 ~gen -> 'V' value bytes | 'T'
 *   chunks     16-byte chunk id                             -> disk_chunk
 *   deadchunks 16-byte chunk id                             -> (empty)
 *   orphans    be64 tree, be64 ino                          -> (empty)
 *   changes    be64 tree, be64 gen, u8 db, logical key       -> be64 older gen (0: none)
 *   journal    be64 tree, be64 ino, be64 block, be32 seq     -> 'L' disk_journal_ref
 *                                                              | be32 offset, bytes (format 2, 3)
 *
 * Versioned records (inodes, dirents, extents, xattrs):
 *  1. A key is  tree | logical key | ~gen.  The logical key of a database is
 *     prefix-free (fixed width, or NUL-terminated names), so all versions of
 *     one logical key are adjacent, newest (largest gen) first because the
 *     generation is stored inverted.
 *  2. The value's first byte is 'V' (a value follows) or 'T' (a tombstone: the
 *     key is deleted as of this generation).
 *  3. The version visible at generation r is the first one at or after the
 *     key  tree | logical | ~r  that has the same logical key.
 *  4. The change log: whenever a tree with a snapshot (S > 0) gets a new
 *     version (not one changed in place), `changes` records it under its
 *     generation, with the generation of the version it hides (0 if none).
 *     Deleting a snapshot and rollback read only the log of the generations
 *     they concern, so their cost follows what changed, not the tree's size.
 *     The db byte is the DBI number of the versioned database (schema order
 *     below: inodes 4, dirents 5, extents 6, xattrs 7).
 *
 * The journal (not versioned; only live trees have records): partial-block
 * writes that an fsync made durable before their block was written back as
 * a chunk.  A block's content is its extent with its journal records laid
 * over it in seq order, cut at the file's size.  Writing the block back
 * deletes its records in the same transaction.  Format 2 added it.  Since
 * format 4 a record's bytes stay in the write-ahead log (index/wal), where
 * the fsync that made them durable wrote them, and the record names them
 * there; records of formats 2 and 3 hold their bytes and remain readable.
 */
#ifndef VOLFS_INDEX_SCHEMA_H
#define VOLFS_INDEX_SCHEMA_H

#include <stdint.h>

#define DB_META       "meta"
#define DB_VOLUMES    "volumes"
#define DB_TREES      "trees"
#define DB_SNAPSHOTS  "snapshots"
#define DB_INODES     "inodes"
#define DB_DIRENTS    "dirents"
#define DB_EXTENTS    "extents"
#define DB_XATTRS     "xattrs"
#define DB_CHUNKS     "chunks"
#define DB_DEADCHUNKS "deadchunks"
#define DB_ORPHANS    "orphans"
#define DB_CHANGES    "changes"
#define DB_JOURNAL    "journal"

#define META_FORMAT      "format"       /* be32 */
#define META_SECRET      "secret"       /* IDX_SECRET_SIZE bytes */
#define META_CREATED     "created"      /* be64 ns since the epoch */
#define META_NEXT_VOLUME "next_volume"  /* be64 */
#define META_NEXT_TREE   "next_tree"    /* be64 */
#define META_LOG_HEAD    "log_head"     /* be64: where the next batch's frames go (wal.h) */
#define META_LOG_SIZE    "log_size"     /* be64: bytes of index/wal; default 1 GiB */

#define VERSION_VALUE     'V'
#define JOURNAL_LOGGED    'L'   /* a journal value naming its bytes in the log */
#define VERSION_TOMBSTONE 'T'

struct disk_time {
	uint64_t sec;       /* be64, two's complement */
	uint32_t nsec;      /* be32 */
} __attribute__((packed));
_Static_assert(sizeof(struct disk_time) == 12, "disk_time");

struct disk_volume {
	uint64_t id;
	uint64_t tree;
	uint32_t block_size;
	uint32_t flags;
	uint64_t quota;
	uint64_t created_ns;
} __attribute__((packed));
_Static_assert(sizeof(struct disk_volume) == 40, "disk_volume");

struct disk_tree {
	uint64_t volume;
	uint64_t parent;
	uint64_t parent_gen;
	uint64_t gen;
	uint64_t snap_gen;
	uint64_t next_ino;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct disk_tree) == 52, "disk_tree");

struct disk_snapshot {
	uint64_t tree;
	uint64_t gen;
	uint64_t created_ns;
} __attribute__((packed));
_Static_assert(sizeof(struct disk_snapshot) == 24, "disk_snapshot");

struct disk_inode {
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint32_t flags;
	uint64_t size;
	uint64_t rdev;
	uint64_t parent;     /* directories: the parent directory (root: itself) */
	uint64_t blocks;     /* 512-byte units held by the file's extents */
	struct disk_time atime, mtime, ctime, btime;
} __attribute__((packed));
_Static_assert(sizeof(struct disk_inode) == 100, "disk_inode");

struct disk_dirent {
	uint64_t ino;
	uint8_t type;
} __attribute__((packed));
_Static_assert(sizeof(struct disk_dirent) == 9, "disk_dirent");

struct disk_extent {
	uint8_t kind;        /* 1 chunk, 2 inline */
	uint32_t length;
	uint8_t chunk[16];   /* chunk id; zero for inline */
} __attribute__((packed));
/* an inline extent's bytes follow the struct */
_Static_assert(sizeof(struct disk_extent) == 21, "disk_extent");

struct disk_chunk {
	uint64_t refs;
	uint32_t length;
} __attribute__((packed));
_Static_assert(sizeof(struct disk_chunk) == 12, "disk_chunk");

/* After the tag 'L': where a journal record's bytes are in the write-ahead log. */
struct disk_journal_ref {
	uint32_t offset;     /* within the block */
	uint32_t length;     /* > 0 */
	uint64_t lsn;        /* log position of the bytes (wal.h) */
	uint64_t hash;       /* XXH3-64 of the bytes, seeded with lsn */
} __attribute__((packed));
_Static_assert(sizeof(struct disk_journal_ref) == 24, "disk_journal_ref");

#endif
