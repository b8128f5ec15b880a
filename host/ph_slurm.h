/* ph_slurm -- the Slurm executor: each try a batch job.
 *
 * A try on Slurm is submitted with `sbatch --parsable` as a job that runs
 * "pipehost __slurm-try" on a compute node.  That process runs the try's
 * worker there, as the local executor does here (ph_exec: its own process,
 * execution_timeout, on_kill), answers the worker's reads (XComs,
 * variables, connections, models) from the store, and writes what the try
 * did -- the worker's messages and its end -- to a result file next to the
 * try's log, atomically (written, synced, renamed), just before the job
 * ends.  The job's output is the try's log.
 *
 * The host learns that a try ended from its result file, and replays it
 * through the same callbacks as a local worker's (ph_exec_callbacks): the
 * scheduler records XComs, branches and the end exactly as for a local
 * try.  Slurm's own view comes from one `squeue` call per poll interval
 * for all jobs (never one call per job), `sacct` when squeue no longer
 * knows a job: a job that ended without a result file (cancelled, killed
 * at its time limit, lost with its node) ends its try with a reason naming
 * the Slurm state.
 *
 * Nothing here stops jobs when the host stops: a resumed run adopts them
 * (ph_slurm_adopt) by the job id recorded with the try.
 *
 * Single-threaded: call everything from the scheduler's thread.
 */
#ifndef PH_SLURM_H
#define PH_SLURM_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ph_exec.h"

typedef struct ph_slurm ph_slurm;

/* A new Slurm executor whose jobs run exe (this binary's path, which must
 * be the same on the compute nodes) with the store at home; callbacks as
 * for ph_exec (on_pid is never called); on_submitted (may be NULL) learns
 * each try's job id once sbatch gave it. */
ph_slurm *
ph_slurm_new(const char *exe, const char *home, const ph_exec_callbacks *cb,
             void (*on_submitted)(void *user, guint job, const char *id),
             void *user);
/* Frees the executor; its jobs go on (a resumed run adopts them). */
void ph_slurm_free(ph_slurm *sl);

/* Prepares job's try for submission: spec as for ph_exec_start, output to
 * log_path, opts the task's slurm options (may be NULL), queue the task's
 * queue (the partition unless opts name one; may be NULL), timeout the
 * try's execution_timeout (0: none), name the job's name.  *intent (caller
 * frees) is the try's identity until its job id is known: record it with
 * the try, durably, before ph_slurm_flush submits, so that a host killed
 * in between is resumed by ph_slurm_adopt finding the job by it (or
 * learning it was never submitted).  FALSE with error: nothing to submit. */
gboolean ph_slurm_enqueue(ph_slurm *sl, guint job, const char *spec,
                          const char *log_path, JsonObject *opts,
                          const char *queue, double timeout, const char *name,
                          char **intent, GError **error);
/* Whether tries wait for ph_slurm_flush. */
gboolean ph_slurm_has_pending(const ph_slurm *sl);
/* Submits the tries enqueued since the last flush: one sbatch per shape
 * (the same options), a job array when a shape has several tries.  Each
 * try's id comes through on_submitted; a submission that fails ends its
 * tries through on_end (executor_reason says why). */
void ph_slurm_flush(ph_slurm *sl);
/* Watches the job of job's try again after a host died: job_id as
 * recorded (an id, or an intent), log_path the try's log.  *resolved
 * (borrowed until the job ends) is the job's id.  FALSE when there is no
 * job to watch: the try was never submitted (or Slurm forgot it, and it
 * left no result). */
gboolean ph_slurm_adopt(ph_slurm *sl, guint job, const char *job_id,
                        const char *log_path, char **resolved);
/* Cancels every job of sl with one scancel (the run stops: the store
 * failed); their ends are not waited for. */
void ph_slurm_cancel_all(ph_slurm *sl);
/* Seconds until ph_slurm_poll has something to look at (-1: no jobs). */
double ph_slurm_next_poll(const ph_slurm *sl);
/* Looks for result files, and asks Slurm about the jobs once per poll
 * interval (PIPEHOST_SLURM_POLL seconds, default 2); dispatches the ends.
 * Returns the number of tries that ended. */
int ph_slurm_poll(ph_slurm *sl);

/* "pipehost __slurm-try LIST": the job's side (see above).  LIST holds
 * one line per try of the submission, "HOME\tSPEC\tRESULT\tLOG"; the job
 * runs line $SLURM_ARRAY_TASK_ID (0 when not an array).  Returns the
 * process's exit status. */
int ph_slurm_try_main(int argc, char **argv);

#endif
