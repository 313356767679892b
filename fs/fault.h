/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fault.h — a last word when a tool crashes.
 */
#ifndef VOLFS_FS_FAULT_H
#define VOLFS_FS_FAULT_H

/*
 * On SIGSEGV or SIGBUS, writes one line to stderr naming @prog, the signal
 * and the likely cause (an index damaged where LMDB does not check: LMDB
 * trusts its pages), then dies of the signal as before.  @prog must stay
 * valid.  Call once, early in main().
 */
void fault_report_install(const char *prog);

#endif
