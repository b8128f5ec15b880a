/* ph_trigger -- Airflow's trigger rules as a pure function of the
 * finished-upstream counts (airflow ti_deps/deps/trigger_rule_dep.py). */
#ifndef PH_TRIGGER_H
#define PH_TRIGGER_H

#define PH_TR_ALL_SUCCESS 0
#define PH_TR_ALL_FAILED 1
#define PH_TR_ALL_DONE 2
#define PH_TR_ALL_SKIPPED 3
#define PH_TR_ONE_SUCCESS 4
#define PH_TR_ONE_FAILED 5
#define PH_TR_ONE_DONE 6
#define PH_TR_NONE_FAILED 7
#define PH_TR_NONE_FAILED_MIN_ONE_SUCCESS 8
#define PH_TR_NONE_SKIPPED 9
#define PH_TR_ALWAYS 10
#define PH_TR_ALL_DONE_MIN_ONE_SUCCESS 11
#define PH_TR_COUNT 12

/* Decisions */
#define PH_TR_WAIT 0            /* not yet: stays none */
#define PH_TR_RUN 1             /* dependencies met */
#define PH_TR_SKIP 2            /* set skipped */
#define PH_TR_UPSTREAM_FAILED 3 /* set upstream_failed */

/* Counts of a task's direct upstreams by state.  Only finished upstreams
 * are counted; n is the number of direct upstreams. */
typedef struct ph_tr_counts {
  int n, success, skipped, failed, upstream_failed;
} ph_tr_counts;

/* The rule's id for its name, or -1 when unknown. */
int ph_trigger_from_name(const char *name);
/* The rule's name (static). */
const char *ph_trigger_name(int rule);
/* NULL-terminated list of every rule name (static). */
const char *const *ph_trigger_names(void);
/* Decides with Airflow's early decisions ("fast" fail/skip). */
int ph_trigger_eval(int rule, const ph_tr_counts *c);
/* One sentence saying what the rule waits for and which condition holds
 * the task back now (for `pipehost tasks explain`); caller frees. */
char *ph_trigger_explain(int rule, const ph_tr_counts *c);

#endif
