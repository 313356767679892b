/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * acl.h — POSIX ACLs in their xattr form (system.posix_acl_access and
 * system.posix_acl_default), as Linux defines it: a little-endian version 2
 * header, then entries of (tag, perm, id).  The kernel enforces ACLs
 * (FUSE_CAP_POSIX_ACL); volfs keeps the file mode and the access ACL in step
 * and gives new files the ACL their directory's default ACL asks for.
 */
#ifndef VOLFS_FS_ACL_H
#define VOLFS_FS_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ACL_XATTR_ACCESS  "system.posix_acl_access"
#define ACL_XATTR_DEFAULT "system.posix_acl_default"

/* 0 if @value is a well-formed ACL, else -EINVAL. */
int acl_valid(const void *value, size_t len);
/*
 * The permission bits an ACL gives (owner, mask or group, other) in
 * *ret_mode; returns true if the ACL says no more than those bits (then
 * local filesystems keep no ACL at all).
 */
bool acl_mode(const void *value, size_t len, mode_t *ret_mode);
/* Rewrites owner, mask (or group) and other entries in place after a chmod. */
void acl_chmod(void *value, size_t len, mode_t mode);
/*
 * For a new inode of mode *mode under a directory with default ACL @def:
 * writes the new access ACL into @out (len bytes, the size of @def), and
 * narrows *mode to it.  Returns true if the access ACL must be kept.
 */
bool acl_inherit(const void *def, size_t len, void *out, mode_t *mode);

#endif
