/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fault.c — a last word when a tool crashes (see fault.h).
 *
 * The handler only calls write(2) and raise(3), which are
 * async-signal-safe: the lines are made when the handler is installed.
 * SA_RESETHAND restores the default action before the handler runs, so the
 * signal raised again (for one sent by kill(2)) or the faulting instruction
 * run again kills the process as before: same core, same exit status.
 */
#include "fault.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char segv_line[256], bus_line[256];

static void fault_report(int sig)
{
	const char *line = sig == SIGBUS ? bus_line : segv_line;
	ssize_t r = write(STDERR_FILENO, line, strlen(line));
	(void)r;
	raise(sig);
}

void fault_report_install(const char *prog)
{
	static const char *const why =
		"if the store's index is damaged, LMDB crashes reading it: "
		"check the store with fsck.volfs -n";
	snprintf(segv_line, sizeof(segv_line), "%s: crashed (segmentation fault); %s\n", prog, why);
	snprintf(bus_line, sizeof(bus_line), "%s: crashed (bus error); %s\n", prog, why);
	struct sigaction sa = { .sa_handler = fault_report, .sa_flags = SA_RESETHAND };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}
