/* ph_openlineage -- OpenLineage run events for DAG runs and task tries,
 * sent to an HTTP endpoint so that Marquez or any OpenLineage backend
 * sees pipehost's runs (https://openlineage.io/spec/2-0-2).
 *
 * Configured by the environment:
 *   PIPEHOST_OPENLINEAGE_URL        the endpoint events are POSTed to, e.g.
 *                                   http://marquez:5000/api/v1/lineage;
 *                                   unset: no events, no cost
 *   PIPEHOST_OPENLINEAGE_NAMESPACE  the jobs' namespace (default pipehost)
 *   PIPEHOST_OPENLINEAGE_TIMEOUT    seconds per request (default 5)
 *
 * Events go out from a thread of their own, in order; a run never waits
 * for the backend except at its end: ph_openlineage_free drains the queue
 * for at most the timeout (plus the request in flight), then drops what
 * is left and says how many.  A backend that fails costs a
 * warning on stderr, never the run.  libcurl is loaded only when the URL
 * is set: the host's start-up does not pay for it.
 */
#ifndef PH_OPENLINEAGE_H
#define PH_OPENLINEAGE_H

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct ph_openlineage ph_openlineage;

/* The emitter, or NULL when PIPEHOST_OPENLINEAGE_URL is unset or libcurl
 * cannot be loaded (then a warning says so). */
ph_openlineage *ph_openlineage_new(void);
/* Sends what is queued (each request within the timeout), then frees.
 * NULL is a no-op. */
void ph_openlineage_free(ph_openlineage *ol);

/* One run event.  type: START, COMPLETE, FAIL or ABORT.  job: the job's
 * name ("dag" for a DAG run, "dag.task" or "dag.task[N]" for a try);
 * run_key: what identifies the run (its runId is a UUID derived from it,
 * so START and its end share it); parent_job/parent_key: the DAG run a
 * try belongs to (NULL for a DAG run).  inputs/outputs: arrays of dataset
 * URIs (may be NULL).  error: a FAIL's message (may be NULL). */
void ph_openlineage_emit(ph_openlineage *ol, const char *type,
                         const char *job, const char *run_key,
                         const char *parent_job, const char *parent_key,
                         JsonArray *inputs, JsonArray *outputs,
                         const char *error);

/* The UUID (version 5 layout) that run_key gets as runId; caller frees. */
char *ph_openlineage_run_id(const char *run_key);

/* A dataset URI as an OpenLineage dataset {namespace, name}, by the
 * naming conventions: "s3://bucket/a/b" is s3://bucket + a/b,
 * "file:///x/y" is file + /x/y; a text with no scheme is in
 * default_ns.  New object. */
JsonObject *ph_openlineage_dataset(const char *uri, const char *default_ns);

#endif /* PH_OPENLINEAGE_H */
