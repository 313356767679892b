/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test.h — the few macros the unit tests share.  A test program runs its
 * cases in order; a failed CHECK prints where and what, marks the case failed
 * and returns from it.  The program exits 1 if any case failed, 77 if told to
 * skip.  A temporary directory per program is under $TMPDIR (made by
 * test_tmpdir(), removed at exit unless VOLFS_TEST_KEEP is set).
 */
#ifndef VOLFS_TEST_H
#define VOLFS_TEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int test_failed;        /* cases failed so far */
extern const char *test_case;  /* name of the running case */

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", \
			__FILE__, __LINE__, test_case, #cond); \
		test_failed++; \
		return; \
	} \
} while (0)

/* Checks that an int-valued expression equals an expected value. */
#define CHECK_EQ(expr, want) do { \
	long long got_ = (long long)(expr), want_ = (long long)(want); \
	if (got_ != want_) { \
		fprintf(stderr, "%s:%d: %s: CHECK_EQ failed: %s is %lld (%s), want %lld\n", \
			__FILE__, __LINE__, test_case, #expr, got_, \
			got_ < 0 && got_ > -4096 ? strerror((int)-got_) : "-", want_); \
		test_failed++; \
		return; \
	} \
} while (0)

#define CHECK_OK(expr) CHECK_EQ(expr, 0)

#define RUN(fn) do { \
	int before_ = test_failed; \
	test_case = #fn; \
	fn(); \
	fprintf(stderr, "%s %s\n", test_failed == before_ ? "ok  " : "FAIL", #fn); \
} while (0)

/* A fresh directory for this program; the path is valid until exit. */
const char *test_tmpdir(void);
/* A fresh, empty subdirectory of test_tmpdir() named @name. */
const char *test_subdir(const char *name);
int test_exit(void);
/*
 * The descriptors of this process open on @path (as /proc/self/fd names
 * it), up to @max of them into @fds: how many, or -errno.
 */
int test_fds_open_on(const char *path, int *fds, int max);
/*
 * Swaps the names @a and @b (of one length, under 16) of entries of
 * directory @dir in every copy of their keys in @store's index file: the
 * page holding them is then out of order, which LMDB never leaves and does
 * not check.  Returns how many keys changed, or -errno.
 */
int test_swap_dirent_names(const char *store, uint64_t dir, const char *a, const char *b);

#endif
