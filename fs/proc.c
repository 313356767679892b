/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proc.c — whether a process still runs, from /proc/PID/stat.
 */
#include "proc.h"

#include <stdio.h>
#include <string.h>

bool proc_running(pid_t pid)
{
	char path[64], stat[512];
	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	/* "PID (COMM) STATE ...": COMM may hold anything, so the state follows the last ')' */
	const char *close = strrchr(stat, ')');
	if (!close || close[1] != ' ')
		return false;
	return close[2] != 'Z' && close[2] != 'X' && close[2] != '\0';
}
