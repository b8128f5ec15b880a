/* ph_clean -- `pipehost db clean`: Airflow's `airflow db clean` for the
 * store.  Finished runs that ended before a cutoff go, with their task
 * instances, tries, XComs, experiments and lineage records (archived
 * first, unless told not to, into a SQLite file of their own under
 * $PIPEHOST_HOME/archive/), and then their logs and per-run artifacts.
 *
 * Kept whatever their age: a run not finished (running or queued: a
 * resume may still need it), the latest run of each DAG (the scheduler
 * takes its next run from it), a run a cached result replays (its XComs),
 * a run a lineage record names as its cache source, and a run whose
 * experiment is a registered model version.  Artifacts of cached tasks
 * live under their fingerprint, not under a run, and are never touched.
 *
 * Separately, log retention: the log files of kept finished runs older
 * than another cutoff can go while their rows stay.
 */
#ifndef PH_CLEAN_H
#define PH_CLEAN_H

#include <glib.h>

#include "ph_store.h"

typedef struct ph_clean_opts {
  double older_than;      /* seconds: runs that ended before now - this;
                           * < 0: no run is deleted */
  const char *dag_id;     /* only this DAG's runs (NULL: every DAG) */
  double logs_older_than; /* >= 0: also the log files of the finished runs
                           * that ended before now - this (rows kept);
                           * < 0: none */
  gboolean dry_run;       /* count only; change nothing */
  gboolean skip_archive;  /* delete rows without archiving them */
} ph_clean_opts;

typedef struct ph_clean_report {
  guint64 runs, task_instances, tries, xcoms, experiments, lineage;
  guint64 kept_unfinished, kept_latest, kept_referenced; /* old enough but
                                                          * kept */
  guint64 log_files; /* log files deleted (or, dry, to delete) */
  guint64 dirs;      /* run directories of logs and artifacts removed */
  char *archive;     /* the archive file written, or NULL (owned) */
} ph_clean_report;

/* Cleans st as o says, filling r (free its archive with
 * ph_clean_report_clear).  The rows go in one transaction; the files
 * after it commits.  FALSE with error set when the store could not be
 * changed (nothing of it is then recorded). */
gboolean ph_clean_run(ph_store *st, const ph_clean_opts *o, ph_clean_report *r,
                      GError **error);

/* Frees what r owns. */
void ph_clean_report_clear(ph_clean_report *r);

#endif
