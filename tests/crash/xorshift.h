/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xorshift.h — the seeded random numbers of the crash-trial programs: the
 * same seed gives the same run, so a failing trial can be replayed.
 */
#ifndef VOLFS_TESTS_CRASH_XORSHIFT_H
#define VOLFS_TESTS_CRASH_XORSHIFT_H

#include <stdint.h>

/* xorshift64*: the next number from *@state (which must not be 0). */
static inline uint64_t xorshift64s(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 2685821657736338717ull;
}

#endif
