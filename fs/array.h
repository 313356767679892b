/* SPDX-License-Identifier: GPL-2.0-or-later */
/* array.h — growing arrays: the one helper fs/ and tools/ share for them. */
#ifndef VOLFS_FS_ARRAY_H
#define VOLFS_FS_ARRAY_H

#include <errno.h>
#include <stdlib.h>

/*
 * Makes room for one more element in array @arr of @n used and @cap
 * allocated elements, doubling it (to @first the first time).  Evaluates to
 * 0, or -ENOMEM with the array as it was.  @arr and @cap are lvalues.
 */
#define ARRAY_RESERVE(arr, n, cap, first) ({                                  \
	int array_r_ = 0;                                                     \
	if ((n) >= (cap)) {                                                   \
		size_t array_c_ = (cap) ? (size_t)(cap) * 2 : (size_t)(first);    \
		void *array_p_ = reallocarray((arr), array_c_, sizeof(*(arr)));  \
		if (array_p_) {                                               \
			(arr) = array_p_;                                     \
			(cap) = array_c_;                                     \
		} else {                                                      \
			array_r_ = -ENOMEM;                                   \
		}                                                             \
	}                                                                     \
	array_r_;                                                             \
})

#endif
