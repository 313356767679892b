/* SPDX-License-Identifier: GPL-2.0-or-later */
/* acl.c — POSIX ACL arithmetic on the xattr form; see acl.h. */
#include "acl.h"

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#define ACL_VERSION 2

enum acl_tag {
	TAG_USER_OBJ  = 0x01,
	TAG_USER      = 0x02,
	TAG_GROUP_OBJ = 0x04,
	TAG_GROUP     = 0x08,
	TAG_MASK      = 0x10,
	TAG_OTHER     = 0x20,
};

struct acl_entry {
	uint16_t tag;    /* le16 */
	uint16_t perm;   /* le16 */
	uint32_t id;     /* le32 */
} __attribute__((packed));
_Static_assert(sizeof(struct acl_entry) == 8, "acl_entry");

static size_t entries(size_t len)
{
	return (len - 4) / sizeof(struct acl_entry);
}

static struct acl_entry get_entry(const void *value, size_t i)
{
	struct acl_entry e;
	memcpy(&e, (const uint8_t *)value + 4 + i * sizeof(e), sizeof(e));
	e.tag = le16toh(e.tag);
	e.perm = le16toh(e.perm);
	e.id = le32toh(e.id);
	return e;
}

static void set_perm(void *value, size_t i, unsigned perm)
{
	uint16_t p = htole16((uint16_t)perm);
	memcpy((uint8_t *)value + 4 + i * sizeof(struct acl_entry) + 2, &p, 2);
}

int acl_valid(const void *value, size_t len)
{
	uint32_t version;
	unsigned seen = 0, named = 0;
	if (len < 4 || (len - 4) % sizeof(struct acl_entry))
		return -EINVAL;
	memcpy(&version, value, 4);
	if (le32toh(version) != ACL_VERSION)
		return -EINVAL;
	for (size_t i = 0; i < entries(len); i++) {
		struct acl_entry e = get_entry(value, i);
		if (e.perm & ~7u)
			return -EINVAL;
		switch (e.tag) {
		case TAG_USER_OBJ:
		case TAG_GROUP_OBJ:
		case TAG_MASK:
		case TAG_OTHER:
			if (seen & e.tag)
				return -EINVAL;   /* each at most once */
			seen |= e.tag;
			break;
		case TAG_USER:
		case TAG_GROUP:
			named++;
			break;
		default:
			return -EINVAL;
		}
	}
	if ((seen & (TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER)) !=
	    (TAG_USER_OBJ | TAG_GROUP_OBJ | TAG_OTHER))
		return -EINVAL;
	if (named && !(seen & TAG_MASK))
		return -EINVAL;
	return 0;
}

bool acl_mode(const void *value, size_t len, mode_t *ret_mode)
{
	unsigned user = 0, group = 0, mask = 0, other = 0;
	bool has_mask = false, extended = false;
	for (size_t i = 0; i < entries(len); i++) {
		struct acl_entry e = get_entry(value, i);
		switch (e.tag) {
		case TAG_USER_OBJ: user = e.perm; break;
		case TAG_GROUP_OBJ: group = e.perm; break;
		case TAG_OTHER: other = e.perm; break;
		case TAG_MASK: mask = e.perm; has_mask = true; extended = true; break;
		default: extended = true;
		}
	}
	*ret_mode = (mode_t)(user << 6 | (has_mask ? mask : group) << 3 | other);
	return !extended;
}

void acl_chmod(void *value, size_t len, mode_t mode)
{
	bool has_mask = false;
	for (size_t i = 0; i < entries(len); i++)
		has_mask |= get_entry(value, i).tag == TAG_MASK;
	for (size_t i = 0; i < entries(len); i++) {
		struct acl_entry e = get_entry(value, i);
		if (e.tag == TAG_USER_OBJ)
			set_perm(value, i, (mode >> 6) & 7);
		else if (e.tag == TAG_MASK || (e.tag == TAG_GROUP_OBJ && !has_mask))
			set_perm(value, i, (mode >> 3) & 7);
		else if (e.tag == TAG_OTHER)
			set_perm(value, i, mode & 7);
	}
}

bool acl_inherit(const void *def, size_t len, void *out, mode_t *mode)
{
	/* POSIX.1e: the new ACL is the default ACL, each base entry cut by the mode */
	memcpy(out, def, len);
	size_t group_at = SIZE_MAX, mask_at = SIZE_MAX;
	mode_t m = *mode;
	for (size_t i = 0; i < entries(len); i++) {
		struct acl_entry e = get_entry(out, i);
		if (e.tag == TAG_USER_OBJ)
			set_perm(out, i, e.perm & ((m >> 6) & 7));
		else if (e.tag == TAG_OTHER)
			set_perm(out, i, e.perm & (m & 7));
		else if (e.tag == TAG_GROUP_OBJ)
			group_at = i;
		else if (e.tag == TAG_MASK)
			mask_at = i;
	}
	size_t g = mask_at != SIZE_MAX ? mask_at : group_at;
	if (g != SIZE_MAX)
		set_perm(out, g, get_entry(out, g).perm & ((m >> 3) & 7));
	mode_t perms;
	bool minimal = acl_mode(out, len, &perms);
	*mode = (m & ~(mode_t)0777) | perms;
	return !minimal;
}
