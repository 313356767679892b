/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuse_ops.h — the FUSE low-level operations of volfs; userdata is a struct vfs. */
#ifndef VOLFS_FS_FUSE_OPS_H
#define VOLFS_FS_FUSE_OPS_H

#define FUSE_USE_VERSION 312   /* libfuse 3.12 API; Debian 12 has 3.14 */
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops volfs_fuse_ops;

#endif
