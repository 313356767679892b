/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pages.h — memory straight from mmap, not malloc, for the buffers that
 * live for seconds to minutes, up to the dirty limit of them (write buffers,
 * cached chunks): when they are freed that memory must go back to the
 * system.  malloc would keep them in its heap (glibc serves 128 KiB from
 * mmap only until the first such free), while its short-lived scratch
 * buffers do best there.  Under AddressSanitizer they come from calloc, so
 * that it still checks their bounds (it does not check mmap's).
 */
#ifndef VOLFS_FS_PAGES_H
#define VOLFS_FS_PAGES_H

#include <stdlib.h>
#include <sys/mman.h>

/* @size zeroed bytes, or NULL. */
static inline void *pages_alloc(size_t size)
{
#ifdef __SANITIZE_ADDRESS__
	return calloc(1, size);
#else
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
#endif
}

/* Frees what pages_alloc(@size) returned (NULL: nothing). */
static inline void pages_free(void *p, size_t size)
{
#ifdef __SANITIZE_ADDRESS__
	(void)size;
	free(p);
#else
	if (p)
		munmap(p, size);
#endif
}

#endif
