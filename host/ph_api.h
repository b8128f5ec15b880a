/* ph_api -- the REST API of `pipehost webserver`: a subset of Airflow's
 * stable REST API v1 (field names dag_id, dag_run_id, logical_date, state,
 * task_id, try_number, map_index, start_date, end_date, conf,
 * total_entries), over the same store as the CLI.  Transport-free: the
 * webserver (cmd_webserver.c) hands each request here and sends the reply.
 *
 * Under /api/v1: health, version, openapi.json; dags, dags/{id};
 * dags/{id}/dagRuns (GET; POST triggers a run); dagRuns/{run_id};
 * taskInstances[/{task_id}[/{map_index}]]; taskInstances/{task_id}/logs/
 * {try} (with a continuation token, for tailing); xcomEntries[/{key}];
 * pools, variables, connections (passwords never returned).  `~` as a DAG
 * id means every DAG.  Lists take limit (default 100, at most 1000) and
 * offset.  Errors are application/problem+json (RFC 7807).
 *
 * Security: every write needs "Authorization: Bearer TOKEN" (or, from
 * the UI on loopback, the CSRF cookie and header), reads too when the
 * server is not bound to loopback; request bodies are capped;
 * log paths outside the store's logs folder are refused.
 */
#ifndef PH_API_H
#define PH_API_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ph_store.h"

typedef struct ph_api ph_api;

/* The largest request body accepted (bytes). */
#define PH_API_MAX_BODY (1 << 20)

/* An API over store (borrowed; one thread uses it).  token: the bearer
 * token writes need; reads_need_token: reads need it too.  exe: this
 * pipehost binary (a triggered run is `exe run FILE ...`). */
ph_api *ph_api_new(ph_store *store, const char *token,
                   gboolean reads_need_token, const char *exe);
void ph_api_free(ph_api *api);

/* A reply: status, content type (static) and body (owned). */
typedef struct {
  int status;
  const char *content_type;
  char *body;
  gsize len;
} ph_api_reply;

/* One request: method, path (no query), query (name -> value, may be
 * NULL), the headers it may carry (each may be NULL) and its body. */
typedef struct {
  const char *method, *path;
  GHashTable *query;
  const char *authorization; /* "Bearer TOKEN" */
  const char *accept;
  const char *cookie;        /* the UI's ph_csrf cookie rides here */
  const char *csrf;          /* X-CSRF-Token */
  const char *body;
  gsize body_len;
} ph_api_request;

/* Fills *out with an RFC 7807 problem (application/problem+json), as
 * Airflow's API gives it: {type, title, status, detail}. */
void ph_api_problem(ph_api_reply *out, int status, const char *detail);
/* Handles one request; fills *out (free out->body).  Besides /api/v1:
 * /object/grid_data?dag_id=&num_runs= (the UI's grid, Airflow's path). */
void ph_api_handle(ph_api *api, const ph_api_request *req, ph_api_reply *out);

/* The DAGs of the webserver's --dags-dir (taken): an array of objects
 * {dag_id, fileloc, schedule_interval, timetable_description,
 * next_dagrun_create_after}; /dags lists them with the DAGs that have
 * runs, and a DAG there can be triggered before it ever ran. */
void ph_api_set_dir_dags(ph_api *api, JsonArray *dags);

/* TRUE when a request with this Authorization header may read. */
gboolean ph_api_may_read(ph_api *api, const char *authorization);

/* For the graph view: the DAG file of dag_id's run run_id (NULL: its
 * latest run) in *file, and each task's state in that run as a new object
 * {task_id: {state, map_index, mapped_states}} (a mapped task's instances
 * rolled up, mapped_states counting them by state), as the grid has it;
 * NULL when the DAG or run is unknown. */
JsonObject *ph_api_run_states(ph_api *api, const char *dag_id,
                              const char *run_id, char **file);

/* The value of the UI's CSRF cookie and header (caller frees): a write
 * that carries both, equal to this, needs no bearer token (only offered
 * on loopback, see cmd webserver). */
char *ph_api_csrf(ph_api *api);

#endif /* PH_API_H */
