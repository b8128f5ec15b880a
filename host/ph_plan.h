/* ph_plan -- the validated, resolved DAG the scheduler runs.
 *
 * ph_plan_build() checks a loaded ph_dag against the plugin registry
 * before anything runs: unknown operators, unknown / missing / mistyped
 * params, host keys of the wrong type, unknown upstream ids, cycles (the
 * cycle is printed).  Every error names the file and line, with the
 * nearest valid name as a hint.  The result is read-only.
 */
#ifndef PH_PLAN_H
#define PH_PLAN_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ph_dag.h"
#include "ph_registry.h"

typedef struct ph_plan ph_plan;

/* A resolved task.  A read-only view owned by the plan. */
#define PH_WEIGHT_DOWNSTREAM 0
#define PH_WEIGHT_UPSTREAM 1
#define PH_WEIGHT_ABSOLUTE 2

/* ph_task_spec.executor */
enum { PH_EXECUTOR_LOCAL = 0, PH_EXECUTOR_SLURM = 1 };

typedef struct ph_task_spec {
  const char *id;
  int line;
  const char *group;           /* innermost task group (full id), or NULL */
  const char *op_name;         /* as written in the DAG */
  const ph_operator *op;       /* borrowed from the registry */
  const ph_plugin *plugin;     /* borrowed */
  const char *plugin_path;     /* borrowed */
  int rule;                    /* PH_TR_* */
  int retries;
  double retry_delay;          /* seconds */
  double backoff;              /* 0 = off, else the multiplier (true = 2) */
  double max_retry_delay;      /* seconds, 0 = none */
  double execution_timeout;    /* seconds, 0 = none */
  double memory_limit;         /* bytes of address space, 0 = none */
  const char *pool;
  const char *queue; /* Airflow's queue: ignored by the local executor
                        (as Airflow ignores it outside Celery); NULL */
  int pool_slots;
  /* where its tries run: PH_EXECUTOR_LOCAL (a worker on this machine) or
   * PH_EXECUTOR_SLURM (a batch job); `executor`, else PIPEHOST_EXECUTOR */
  int executor;
  /* executor slurm: the job's options {partition, cpus_per_task, mem,
   * gres, time, account, qos, constraint, extra_args}, checked; or NULL */
  JsonObject *slurm;
  int priority_weight;         /* effective weight (weight_rule applied) */
  int weight_rule;             /* PH_WEIGHT_* */
  const char *doc;
  /* sensors */
  double poke_interval;        /* seconds */
  double timeout;              /* seconds */
  double max_wait;             /* seconds, 0 = none */
  int reschedule;              /* mode: reschedule */
  int soft_fail;
  int exponential_backoff;
  /* result caching: reuse the result of a successful try with the same
   * fingerprint (operator, plugin version, rendered params, input file
   * hashes, upstream fingerprints or XCom hashes) */
  int cache;
  /* notifications: email is JSON text (an address or a list), or NULL */
  const char *email;
  int email_on_failure, email_on_retry;
  const char *email_conn_id;
  /* run only if this task succeeded (or was skipped) in the DAG's previous
   * run */
  int depends_on_past;
  /* dynamic task mapping (Airflow's expand / expand_kwargs): the task
   * runs as one instance per item, map_index 0..n-1.  expand maps param
   * names to a literal list or to {"from": TASK_ID, "key": KEY} (that
   * upstream's XCom, a list); several params form a cartesian product,
   * the first one outermost.  expand_kwargs is a literal list of objects
   * or {"from": TASK_ID, "key": KEY}.  Both NULL: not mapped. */
  JsonObject *expand;
  JsonNode *expand_kwargs;
  /* datasets (Airflow's outlets / inlets): outlets is an array of
   * objects {uri, max_lag (seconds, 0 = none), auto ("lazy" or "")},
   * inlets an array of URIs; NULL when none */
  JsonArray *outlets;
  JsonArray *inlets;
  int max_map_length;          /* default 1024 */
  int max_active_tis;          /* max_active_tis_per_dag, 0 = no limit */
  /* operator params: declared defaults applied, not yet rendered */
  JsonObject *params;
  const guint *up;             /* direct upstream task indexes */
  guint n_up;
  const guint *down;           /* direct downstream task indexes */
  guint n_down;
} ph_task_spec;

/* Builds the plan.  On success returns it; on failure returns NULL and
 * appends every error (char*, "FILE:LINE: ...") to errors (which must have
 * g_free as its free func).  Load errors already on dag are appended
 * first.  dag must outlive the plan. */
ph_plan *ph_plan_build(ph_dag *dag, const ph_registry *reg, GPtrArray *errors);
void ph_plan_free(ph_plan *p);

const char *ph_plan_get_dag_id(const ph_plan *p);
const char *ph_plan_get_file(const ph_plan *p);
ph_dag *ph_plan_get_dag(const ph_plan *p);
/* DAG-level params defaults (object, borrowed, never NULL). */
JsonObject *ph_plan_get_params(const ph_plan *p);
guint ph_plan_n_tasks(const ph_plan *p);
const ph_task_spec *ph_plan_get_task(const ph_plan *p, guint i);
/* Index of task id, or -1. */
int ph_plan_lookup(const ph_plan *p, const char *task_id);
/* Task indexes in a topological order (borrowed, n_tasks long). */
const guint *ph_plan_topo_order(const ph_plan *p);
/* Names of the host-owned task keys (NULL-terminated, static). */
const char *const *ph_plan_host_keys(void);

#endif
