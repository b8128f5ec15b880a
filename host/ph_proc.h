/* ph_proc -- processes the store names by pid, told apart from later
 * processes that reuse the pid.
 *
 * A pid alone is not an identity: once a process is gone, the kernel hands
 * its pid to the next process, so a pid recorded by an earlier host may
 * now belong to anything.  The identity of a process is its pid plus its
 * start time (field 22 of /proc/PID/stat, clock ticks since boot) plus the
 * boot it started in (/proc/sys/kernel/random/boot_id): the text
 * "TICKS@BOOT".  Every check that acts on a recorded pid (is the run's host
 * alive, is a try's process group still there, is a pool slot's holder
 * alive) compares identities, so a reused pid is never taken for the
 * process that was recorded.
 */
#ifndef PH_PROC_H
#define PH_PROC_H

#include <glib.h>

/* The identity of process pid ("TICKS@BOOT"; a zombie still has one), or
 * NULL when it is gone.  Caller frees. */
char *ph_proc_identity(int pid);

/* TRUE when ident names a process of this machine (this boot, or this
 * PIPEHOST_HOST_ID), or names none (NULL, empty, an older record): its
 * pid can be looked at here.  Another machine's is alive or not by its
 * heartbeat (ph_store_holder_alive). */
gboolean ph_proc_is_local(const char *ident);
/* TRUE when pid runs (not a zombie) and, when ident is non-empty, is the
 * process with that identity.  An empty or NULL ident (a record older than
 * identities) checks only that pid runs. */
gboolean ph_proc_alive(int pid, const char *ident);

/* Stops the process group whose leader was pid with identity ident (a
 * try's worker or command): when the leader is still that process, or
 * when it is gone but members of its group started no earlier than it
 * remain, SIGKILLs the group and waits up to wait seconds until no member
 * is left.  TRUE when nothing of the group runs (also when there was
 * nothing to stop); FALSE when members outlived the wait. */
gboolean ph_proc_group_stop(int pid, const char *ident, double wait);

/* Waits up to wait seconds for process pid with identity ident to end
 * (it need not be our child).  TRUE when it is gone. */
gboolean ph_proc_wait_gone(int pid, const char *ident, double wait);

/* fork() with a pipe from the child to the parent: returns the child's
 * pid in the parent (*fd: the read end) and 0 in the child (*fd: the
 * write end), -1 with errno set when it could not.  Both ends are
 * close-on-exec; stdio is flushed first. */
int ph_proc_fork_pipe(int *fd);

/* Writes all of len bytes of buf to fd (retrying short writes and EINTR,
 * and waiting for room on a non-blocking fd); FALSE on an error. */
gboolean ph_proc_write_all(int fd, const char *buf, size_t len);

#endif
