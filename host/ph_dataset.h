/* ph_dataset -- datasets (Airflow's datasets, Dagster's assets): what a
 * task updates (outlets) and reads (inlets), the DAGs scheduled on them,
 * their freshness, and the events that record each update.
 *
 * A dataset is a URI.  A successful try of a task with outlets records an
 * event per outlet (a mapped task: one per instance).  A DAG with
 * `schedule: {datasets: [URI, ...]}` is due once every one of its URIs
 * has an event since that DAG's last dataset-triggered run began (as
 * Airflow's dataset-triggered DAG runs).  An outlet may carry a freshness
 * policy {max_lag} (Dagster's FreshnessPolicy); with auto: lazy the
 * scheduler starts the producing DAG only when the dataset would
 * otherwise miss it.  The tables live in the store (schema version 5).
 */
#ifndef PH_DATASET_H
#define PH_DATASET_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ph_plan.h"
#include "ph_store.h"

/* Why uri cannot name a dataset (caller frees), or NULL when it can: a
 * non-empty printable ASCII text without spaces, at most 3000 bytes (as
 * Airflow's Dataset). */
char *ph_dataset_uri_problem(const char *uri);

/* What plan declares about datasets, as a new JSON object: {dag_id,
 * outlets: [{task_id, uri, max_lag, auto}], inlets: [{task_id, uri}],
 * schedule: [uri, ...]}.  schedule is from `schedule: {datasets: [...]}`
 * (empty when the DAG is scheduled otherwise). */
JsonObject *ph_dataset_refs(const ph_plan *plan);

/* The URIs of a DAG's `schedule: {datasets: [...]}` (a new array, empty
 * when it is scheduled otherwise), from its args. */
JsonArray *ph_dataset_schedule(JsonObject *dag_args);

/* Records refs (ph_dataset_refs) in the store: the DAG's producers,
 * readers and schedule replace what it declared before; each outlet's
 * dataset is known from now on, with its freshness.  Commits on its own
 * when no transaction is open. */
void ph_dataset_register(ph_store *st, JsonObject *refs);

/* Records that a try of task (map_index) in run of dag updated uri at
 * time ts (UNIX seconds). */
void ph_dataset_record(ph_store *st, const char *uri, const char *dag_id,
                       const char *run_id, const char *task_id, int map_index,
                       double ts);

/* TRUE when every URI of uris (strings) has an event after since. */
gboolean ph_dataset_ready(ph_store *st, JsonArray *uris, double since);

/* Every known dataset as a new JSON array, by URI: {uri, max_lag, auto,
 * last_update (null: never), events, lag (seconds since the last update,
 * null: never), stale (past max_lag, or never updated, with a max_lag),
 * producers: ["dag.task"], readers: ["dag.task"], consumers: ["dag"]}.
 * now is the time lag is measured at. */
JsonNode *ph_dataset_list(ph_store *st, double now);

/* One dataset as ph_dataset_list gives it, plus "events": its last
 * limit events, newest first [{timestamp (ISO), time (UNIX seconds),
 * dag_id, run_id, task_id, map_index}]; NULL when uri is unknown. */
JsonNode *ph_dataset_show(ph_store *st, const char *uri, int limit,
                          double now);

/* The DAGs to start now for freshness (auto: lazy), as a new array of
 * {dag_id, uri, reason}: a dataset with a max_lag whose last update plus
 * its max_lag, less the producer's last successful run time, has come
 * (or that was never updated) -- and only then: not while a run of the
 * producer that began after the last update is running, nor within
 * min(max_lag, 300 s) of such a run's start. */
JsonNode *ph_dataset_lazy_due(ph_store *st, double now);

#endif /* PH_DATASET_H */
