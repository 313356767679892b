/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * snapshot.h — snapshots, clones and rollback of volumes (FUSE-free).
 *
 * A snapshot of volume V is (V's tree, generation S): taking one records it
 * and moves the tree on to generation S+1, in one transaction — O(1).  A
 * clone is a new volume whose tree falls through to (tree, S).  Rollback
 * deletes what the tree gained after S.  Deleting a snapshot drops the
 * versions only it could see.  The change log keeps the cost of the last two
 * proportional to what changed (index/schema.h, invariant 4).
 *
 * Functions return 0 or a negative errno and do not log.  Beyond the usual:
 *   -ENOENT     no such volume or snapshot
 *   -EEXIST     the snapshot (or the clone's volume) exists already
 *   -EBUSY      mounted: the volume (rollback) or the snapshot (removal)
 *   -ENOTEMPTY  clones depend on it (snapshot_dependents() names them), or
 *               rollback without destroy_newer while newer snapshots exist
 *   -ELOOP      a clone would be more than IDX_VIEW_DEPTH levels deep
 */
#ifndef VOLFS_FS_SNAPSHOT_H
#define VOLFS_FS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "store.h"

/*
 * Splits "VOL@SNAP" into its parts (buffers of IDX_NAME_MAX + 1 bytes),
 * checking both names: -EINVAL for "VOL", "VOL@", "@SNAP" or a bad name.
 */
int snapshot_parse(const char *spec, char *ret_vol, char *ret_snap);

/* Takes snapshot @snap of volume @vol inside write transaction @txn. */
int snapshot_take(struct idx_txn *txn, const char *vol, const char *snap, int64_t now_ns);
/*
 * The same in a transaction of its own, for a volume that is not mounted:
 * -EBUSY if it is (then its daemon must take the snapshot, see control.h).
 */
int snapshot_create(struct store *store, const char *vol, const char *snap);

int snapshot_remove(struct store *store, const char *vol, const char *snap);
int snapshot_clone(struct store *store, const char *vol, const char *snap, const char *newvol);
/* Refused (-EBUSY) while the volume, or a snapshot it would destroy, is mounted. */
int snapshot_rollback(struct store *store, const char *vol, const char *snap,
		      bool destroy_newer);

/*
 * Writes into @buf the names of the volumes cloned from (@tree, @gen) — or
 * from any generation of @tree if @gen is 0 — comma-separated; returns how
 * many there are.
 */
int snapshot_dependents(struct idx_txn *txn, uint64_t tree, uint64_t gen, char *buf, size_t len);
/* The names of the snapshots of @vol newer than @snap, likewise. */
int snapshot_newer(struct idx_txn *txn, const char *vol, const char *snap, char *buf, size_t len);

struct snapshot_info {
	char volume[IDX_NAME_MAX + 1];
	char name[IDX_NAME_MAX + 1];
	struct idx_snapshot snap;
	uint64_t unique_bytes;   /* what deleting it would give back */
};
typedef int (*snapshot_fn)(const struct snapshot_info *info, void *arg);
/* Every snapshot of @vol (NULL: of every volume), oldest first per volume. */
int snapshot_list(struct idx_txn *txn, const char *vol, snapshot_fn fn, void *arg);

#endif
