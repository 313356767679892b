/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * proc.h — whether a process still runs.
 */
#ifndef VOLFS_FS_PROC_H
#define VOLFS_FS_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * Does process @pid run?  A zombie does not: it holds no files or locks
 * any more, and in a container whose first process never reaps, a killed
 * daemon stays a zombie for good (kill(pid, 0) would call it alive).
 */
bool proc_running(pid_t pid);

#endif
