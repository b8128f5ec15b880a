/* ph_scheduler -- the long-running scheduler and the commands around it:
 *
 *   pipehost scheduler --dags-dir DIR   picks up new and changed DAG files
 *                      (by content hash), creates runs when their data
 *                      interval ends, honours start_date, end_date,
 *                      catchup, max_active_runs, max_active_tasks, and
 *                      resumes runs whose process died
 *   pipehost backfill FILE --from --to  the runs of a date range as a queue
 *                      that refills its max_active_runs slots continuously
 *   pipehost trigger FILE|DAG_ID        a manual run now (conf, --wait)
 *   pipehost clear RUN                  resets tasks so `resume` reruns them
 *   pipehost pools set|list|delete      named slot limits
 *
 * Every DAG run is its own `pipehost run` (or `resume`) process, a child of
 * the scheduler in its own process group: runs proceed in parallel, a run
 * that crashes costs that run, and a killed scheduler leaves its runs
 * going; on restart it finds runs whose process died and resumes them.
 */
#ifndef PH_SCHEDULER_H
#define PH_SCHEDULER_H

/* Paths the commands need from the CLI. */
typedef struct ph_scheduler_env {
  const char *exe;         /* this pipehost binary */
  const char *builtin_dir; /* built-in plugins */
  const char *lua_dir;     /* the Lua DSL */
  /* Optional: `pipehost run ARGS` in this process (argv[0] "run"),
   * returning its exit status.  Given, the scheduler forks each run from
   * itself and calls it there, instead of starting the program anew. */
  int (*run_main)(int argc, char **argv);
  /* Optional: loads once, in the scheduler, what every run loads the
   * same (the plugin registry), so that each forked run inherits it. */
  void (*preload)(void);
} ph_scheduler_env;

/* Runs `pipehost CMD ...` for CMD one of scheduler, backfill, trigger,
 * clear, pools (argv[0] is CMD).  Returns the exit status. */
int ph_scheduler_cli(const ph_scheduler_env *env, int argc, char **argv);

#endif
