/* latest_only -- Airflow's LatestOnlyOperator as a branch operator.
 *
 * Follows every direct downstream when the run is the latest: a run that
 * was not created by the schedule (manual, triggered) always is, as in
 * Airflow; a scheduled or backfill run is the latest when now falls
 * within the next run's data interval (next_execution_date,
 * next_data_interval_end] -- taken from the run's context, which the host
 * computes from the DAG's schedule.  Otherwise it
 * follows nothing, so every direct downstream is skipped. */
#include <stdlib.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "pipehost/plugin.h"

typedef struct {
  const ph_host *h;
} lo_state;

static ph_status lo_init(const ph_host *h, ph_task *t, void **out) {
  lo_state *s = calloc(1, sizeof *s);
  if (!s)
    return PH_ERROR;
  s->h = h;
  *out = s;
  return PH_OK;
}

static gint64 iso_unix(const char *iso) {
  GDateTime *dt = iso ? g_date_time_new_from_iso8601(iso, NULL) : NULL;
  gint64 v = dt ? g_date_time_to_unix(dt) : -1;
  if (dt)
    g_date_time_unref(dt);
  return v;
}

static ph_status lo_execute(void *state, ph_task *t) {
  lo_state *s = state;
  const ph_host *h = s->h;
  JsonNode *ctx = json_from_string(h->context_json(t), NULL);
  ph_status st = PH_OK;
  if (!ctx || !JSON_NODE_HOLDS_OBJECT(ctx)) {
    h->set_reason(t, "latest_only: no run context");
    st = PH_FAIL;
    goto out;
  }
  JsonObject *c = json_node_get_object(ctx);
  JsonObject *run = json_object_has_member(c, "dag_run")
                        ? json_object_get_object_member(c, "dag_run")
                        : NULL;
  const char *type =
      run ? json_object_get_string_member_with_default(run, "run_type", "")
          : "";
  gboolean latest = TRUE;
  if (!strcmp(type, "scheduled") || !strcmp(type, "backfill")) {
    /* Airflow: the run is the latest when now lies in the *next* run's
     * data interval (left, right]; a DAG with no next interval is */
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    JsonNode *ln = json_object_get_member(c, "next_execution_date");
    const char *left_iso =
        ln && JSON_NODE_HOLDS_VALUE(ln) ? json_node_get_string(ln) : NULL;
    if (!left_iso)
      left_iso = json_object_get_string_member_with_default(
          c, "data_interval_end", NULL);
    JsonNode *rn = json_object_get_member(c, "next_data_interval_end");
    gint64 left = iso_unix(left_iso);
    gint64 right = iso_unix(rn && JSON_NODE_HOLDS_VALUE(rn)
                                ? json_node_get_string(rn)
                                : NULL);
    latest = left < 0 || right < 0 || (now > left && now <= right);
  }
  JsonArray *down = json_object_has_member(c, "downstream_task_ids")
                        ? json_object_get_array_member(c, "downstream_task_ids")
                        : NULL;
  if (!latest) {
    h->log(t, PH_LOG_INFO, "not the latest run: skipping downstream tasks");
    goto out;
  }
  h->log(t, PH_LOG_INFO, "latest run (%s): downstream tasks proceed",
         *type ? type : "manual");
  for (guint i = 0; down && i < json_array_get_length(down); i++)
    h->branch_follow(t, json_array_get_string_element(down, i));
out:
  if (ctx)
    json_node_unref(ctx);
  return st;
}

static void lo_destroy(void *state) { free(state); }

static const ph_param *const no_params[] = {NULL};

static const ph_operator lo_op = {
    PH_OPERATOR_INIT,
    .type = "latest_only",
    .doc = "Skips its direct downstream tasks unless this is the latest "
           "scheduled run; manual runs always proceed (Airflow's "
           "LatestOnlyOperator)",
    .kind = PH_KIND_BRANCH,
    .params = no_params,
    .init = lo_init,
    .execute = lo_execute,
    .destroy = lo_destroy,
};

static const ph_operator *const ops[] = {&lo_op, NULL};

static const ph_plugin plugin = {
    PH_PLUGIN_INIT,
    .name = "latest_only",
    .version = "1.0.0",
    .license = "MIT",
    .description = "Airflow's LatestOnlyOperator",
    .origin = "pipehost",
    .operators = ops,
};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
