/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * volume.h — named volumes of a store: creation, removal, statistics.
 * Functions return 0 or a negative errno and do not log.
 */
#ifndef VOLFS_FS_VOLUME_H
#define VOLFS_FS_VOLUME_H

#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "store.h"

#define VOLUME_BLOCK_MIN     4096u
#define VOLUME_BLOCK_MAX     (1024u * 1024u)
#define VOLUME_BLOCK_DEFAULT (128u * 1024u)

/* [A-Za-z0-9][A-Za-z0-9_.-]{0,127}: also the rule for snapshot names. */
bool volume_name_valid(const char *name);
/* A power of two from VOLUME_BLOCK_MIN to VOLUME_BLOCK_MAX. */
bool volume_block_size_valid(uint64_t size);
/* "131072", "128K", "128k", "1M", "1MiB": -EINVAL for anything else. */
int volume_parse_size(const char *text, uint64_t *ret_size);

/* -EINVAL (name or block size), -EEXIST (name taken). */
int volume_create(struct store *store, const char *name, uint32_t block_size,
		  struct idx_volume *ret_vol);
/*
 * Removes volume @name, its snapshots and every record of its tree, then
 * frees the chunks no one else references.  -ENOENT, -EBUSY (mounted, or
 * one of its snapshots is), -ENOTEMPTY (clones depend on it).
 */
int volume_remove(struct store *store, const char *name);
/*
 * Finishes removals a crash interrupted: reaps every tree flagged
 * IDX_TREE_DOOMED (unless another process holds its volume's lock) and frees
 * dead chunks.  Called by a read-write store_open().
 */
int volume_finish_removals(struct store *store);

struct volume_stats {
	uint64_t files;          /* inodes other than the root directory       */
	uint64_t bytes;          /* sum of the sizes of regular files          */
	uint64_t blocks;         /* extents stored in chunks or inline         */
	uint64_t blocks_shared;  /* of those, chunks with more than one reference */
};

int volume_stats(struct idx_txn *txn, const struct idx_volume *vol, struct volume_stats *ret_stats);

#endif
