/* ph_sched -- drives one DAG run to its end.
 *
 * Creates the run and its task instances in the store, then reacts to
 * events: when a task instance reaches a final state, only its direct
 * downstreams are re-evaluated (per edge, counts kept per task), with
 * Airflow's trigger rules and early decisions; skips and upstream_failed
 * cascade in the same iteration.  Ready tasks start in priority order up
 * to the parallelism; tasks that need no worker (empty) complete in the
 * scheduler.  Retries with Airflow's backoff, reschedule-mode sensors
 * (no process held while waiting), branch and short-circuit skips.  The
 * run's final state comes from its leaf tasks.
 */
#ifndef PH_SCHED_H
#define PH_SCHED_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ph_plan.h"
#include "ph_store.h"

typedef struct ph_sched ph_sched;

typedef struct ph_sched_opts {
  int parallelism;        /* worker processes at once (>= 1) */
  const char *worker_exe; /* this binary, for posix_spawn */
  const char *lua_dir;    /* the Lua DSL folder, passed to plugins */
  double kill_grace;      /* seconds between SIGTERM and SIGKILL */
  gint64 xcom_max;        /* bytes */
  int progress;           /* 0 quiet, 1 log lines on stderr, 2 TTY line */
  const char *only_task;  /* run just this task, ignoring dependencies */
  const char *run_type;   /* manual (default), scheduled or backfill */
  const char *interval_end; /* ISO end of the data interval (default: the
                             * logical date) */
} ph_sched_opts;

/* A scheduler for plan (borrowed) writing to store (borrowed). */
ph_sched *ph_sched_new(const ph_plan *plan, ph_store *store,
                       const ph_sched_opts *opts);
void ph_sched_free(ph_sched *s);

/* Creates the DAG run.  logical_date: ISO-8601 text or NULL (now);
 * params: overrides of the DAG's params (borrowed, may be NULL);
 * run_id: NULL to generate one.  With only_task set and an existing
 * run_id, the run is reused.  FALSE with error on bad input. */
gboolean ph_sched_create_run(ph_sched *s, const char *logical_date,
                             JsonObject *params, const char *run_id,
                             GError **error);
/* Loads an existing run to carry it on after the host died: final task
 * states are kept (a task that succeeded never runs again); a try whose
 * worker is gone (or is killed now, since nothing listens to it) counts
 * as a failed try, retried if its retries allow; everything else is
 * re-evaluated.  FALSE with error when the run is unknown, finished, or
 * still driven by a live host process. */
gboolean ph_sched_resume_run(ph_sched *s, const char *run_id, GError **error);

/* Borrowed run id (after ph_sched_create_run). */
const char *ph_sched_get_run_id(const ph_sched *s);
/* Why the run was stopped before its end (borrowed): the store could not
 * commit what it did, so ph_sched_run stopped starting tasks, killed the
 * running tries and returned FALSE.  NULL when it was not stopped. */
const char *ph_sched_get_fatal(const ph_sched *s);

/* Runs until every task instance is final.  Returns TRUE if the run
 * succeeded. */
gboolean ph_sched_run(ph_sched *s);

/* Writes the {"run_id","state","tasks":{id:{state,tries}},"xcoms":{...}}
 * summary; caller frees. */
JsonNode *ph_sched_summary(ph_sched *s);

#endif
