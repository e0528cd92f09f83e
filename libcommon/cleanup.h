/* cleanup.h: temporary files that must not outlive the process.
 *
 * Outputs are written under a temporary name and renamed into place when
 * complete (output.h).  Whoever creates such a file tracks its name here until
 * it is renamed or removed; a tool killed by SIGINT, SIGTERM or SIGHUP then
 * removes every tracked file in the signal handler (unlink(2) is
 * async-signal-safe) and dies of the same signal, so that its parent still
 * sees how it ended.  A tool that dies of an error removes them too
 * (sl_cleanup_run, from sl_die).
 *
 * Tracking is lock-free (C11 atomics on a fixed table of slots), so it is
 * safe from any thread and from a signal handler. */
#ifndef SL_CLEANUP_H
#define SL_CLEANUP_H

/* Tracks path (copied); returns a handle for sl_cleanup_drop, or -1 when the
 * table is full or the name too long (then the file is simply not removed on
 * a signal). */
int sl_cleanup_track(const char *path);
/* Stops tracking: the file was renamed into place or already removed.  A
 * handle of -1 is ignored. */
void sl_cleanup_drop(int handle);
/* Removes every tracked file now and stops tracking them. */
void sl_cleanup_run(void);
/* Installs the handler for SIGINT, SIGTERM and SIGHUP (a signal the process
 * ignores, as a background job ignores SIGINT, stays ignored). */
void sl_cleanup_install_signals(void);

#endif
