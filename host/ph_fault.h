/* ph_fault -- fault injection for debug builds (curl's and SQLite's
 * torture habit).  PIPEHOST_FAULT="POINT:N" makes the Nth call of
 * ph_fault_hit(POINT) in this process return TRUE, so the caller takes its
 * failure path.  Points: store_write, log_open, spawn, plugin_load;
 * exec_note_delay makes the host slow to note where an exec'd command's
 * output starts; slurm_kill_before_submit and slurm_kill_after_submit
 * kill the host (SIGKILL) just before and just after it submits Slurm
 * jobs.
 * Release builds compile every check to FALSE. */
#ifndef PH_FAULT_H
#define PH_FAULT_H

#include <glib.h>

#ifdef PH_FAULT_INJECTION
/* TRUE when this call of point is the one PIPEHOST_FAULT names. */
gboolean ph_fault_hit(const char *point);
#else
#define ph_fault_hit(point) FALSE
#endif

#endif
