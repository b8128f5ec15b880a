/* ph_dataset -- see ph_dataset.h. */
#include "ph_dataset.h"

#include <stdarg.h>
#include <string.h>

#include "ph_util.h"

char *ph_dataset_uri_problem(const char *uri) {
  size_t n = strlen(uri);
  if (n == 0)
    return g_strdup("a dataset URI cannot be empty");
  if (n > 3000)
    return g_strdup_printf("dataset URI is %zu bytes; at most 3000", n);
  for (const char *c = uri; *c; c++)
    if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
      return g_strdup_printf("dataset URI '%s' has a space or a non-ASCII "
                             "character at position %d; use URI escapes "
                             "(%%20)",
                             uri, (int)(c - uri) + 1);
  return NULL;
}

JsonArray *ph_dataset_schedule(JsonObject *dag_args) {
  JsonArray *out = json_array_new();
  JsonNode *sn = json_object_get_member(dag_args, "schedule");
  JsonNode *dn =
      sn && JSON_NODE_HOLDS_OBJECT(sn)
          ? json_object_get_member(json_node_get_object(sn), "datasets")
          : NULL;
  JsonArray *a =
      dn && JSON_NODE_HOLDS_ARRAY(dn) ? json_node_get_array(dn) : NULL;
  for (guint i = 0; a && i < json_array_get_length(a); i++) {
    JsonNode *e = json_array_get_element(a, i);
    if (JSON_NODE_HOLDS_VALUE(e) &&
        json_node_get_value_type(e) == G_TYPE_STRING)
      json_array_add_string_element(out, json_node_get_string(e));
  }
  return out;
}

JsonObject *ph_dataset_refs(const ph_plan *plan) {
  JsonObject *o = json_object_new();
  JsonArray *outs = json_array_new(), *ins = json_array_new();
  json_object_set_string_member(o, "dag_id", ph_plan_get_dag_id(plan));
  for (guint i = 0; i < ph_plan_n_tasks(plan); i++) {
    const ph_task_spec *t = ph_plan_get_task(plan, i);
    for (guint k = 0; t->outlets && k < json_array_get_length(t->outlets);
         k++) {
      JsonObject *e = json_object_new();
      JsonObject *src = json_array_get_object_element(t->outlets, k);
      json_object_set_string_member(e, "task_id", t->id);
      json_object_set_string_member(e, "uri",
                                    json_object_get_string_member(src, "uri"));
      json_object_set_double_member(
          e, "max_lag", json_object_get_double_member(src, "max_lag"));
      json_object_set_string_member(e, "auto",
                                    json_object_get_string_member(src, "auto"));
      json_array_add_object_element(outs, e);
    }
    for (guint k = 0; t->inlets && k < json_array_get_length(t->inlets); k++) {
      JsonObject *e = json_object_new();
      json_object_set_string_member(e, "task_id", t->id);
      json_object_set_string_member(
          e, "uri", json_array_get_string_element(t->inlets, k));
      json_array_add_object_element(ins, e);
    }
  }
  json_object_set_array_member(o, "outlets", outs);
  json_object_set_array_member(o, "inlets", ins);
  json_object_set_array_member(
      o, "schedule",
      ph_dataset_schedule(ph_dag_get_args(ph_plan_get_dag(plan))));
  return o;
}

/* Prepares sql on the store's handle, or NULL. */
static ph_db_stmt *prep(ph_store *st, const char *sql) {
  ph_db_stmt *q = NULL;
  if (!(q = ph_db_prepare(ph_store_get_db(st), sql)))
    return NULL;
  return q;
}

/* Runs sql with text arguments (NULL binds NULL), for writes. */
static void exec_text(ph_store *st, const char *sql, int n, ...) {
  ph_db_stmt *q = prep(st, sql);
  if (!q)
    return;
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++) {
    const char *v = va_arg(ap, const char *);
    if (v)
      ph_db_bind_text(q, i + 1, v);
  }
  va_end(ap);
  ph_store_step(st, q);
  ph_db_finalize(q);
}

void ph_dataset_register(ph_store *st, JsonObject *refs) {
  const char *dag = json_object_get_string_member(refs, "dag_id");
  gboolean own = ph_store_pending_age(st) < 0;
  ph_store_begin(st);
  exec_text(st, "DELETE FROM dataset_ref WHERE dag_id=?", 1, dag);
  static const char *const kinds[] = {"outlets", "inlets", "schedule"};
  static const char *const kind_names[] = {"outlet", "inlet", "schedule"};
  for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
    JsonArray *a = json_object_get_array_member(refs, kinds[k]);
    for (guint i = 0; i < json_array_get_length(a); i++) {
      JsonNode *en = json_array_get_element(a, i);
      JsonObject *e =
          JSON_NODE_HOLDS_OBJECT(en) ? json_node_get_object(en) : NULL;
      const char *uri = e ? json_object_get_string_member(e, "uri")
                          : json_node_get_string(en);
      const char *task = e ? json_object_get_string_member(e, "task_id") : "";
      exec_text(st, "INSERT OR IGNORE INTO dataset_ref VALUES(?,?,?,?)", 4, uri,
                dag, task, kind_names[k]);
      /* an outlet declares the freshness; a reader only makes it known */
      ph_db_stmt *q =
          prep(st, k == 0 ? "INSERT INTO dataset(uri, max_lag, auto, "
                            "registered) VALUES(?,?,?,?) ON CONFLICT(uri) DO "
                            "UPDATE SET max_lag=excluded.max_lag, "
                            "auto=excluded.auto"
                          : "INSERT OR IGNORE INTO dataset(uri, max_lag, auto,"
                            " registered) VALUES(?,?,?,?)");
      if (!q)
        continue;
      ph_db_bind_text(q, 1, uri);
      if (k == 0) {
        double lag = json_object_get_double_member(e, "max_lag");
        if (lag > 0)
          ph_db_bind_double(q, 2, lag);
        ph_db_bind_text(q, 3, json_object_get_string_member(e, "auto"));
      }
      ph_db_bind_double(q, 4, ph_util_now());
      ph_store_step(st, q);
      ph_db_finalize(q);
    }
  }
  if (own)
    ph_store_commit(st, NULL);
}

void ph_dataset_record(ph_store *st, const char *uri, const char *dag_id,
                       const char *run_id, const char *task_id, int map_index,
                       double ts) {
  ph_db_stmt *q =
      prep(st, "INSERT INTO dataset_event(uri, dag_id, run_id, task_id, "
               "map_index, timestamp) VALUES(?,?,?,?,?,?)");
  if (!q)
    return;
  ph_db_bind_text(q, 1, uri);
  ph_db_bind_text(q, 2, dag_id);
  ph_db_bind_text(q, 3, run_id);
  ph_db_bind_text(q, 4, task_id);
  ph_db_bind_int64(q, 5, map_index);
  ph_db_bind_double(q, 6, ts);
  ph_store_step(st, q);
  ph_db_finalize(q);
}

gboolean ph_dataset_ready(ph_store *st, JsonArray *uris, double since) {
  ph_db_stmt *q = prep(st, "SELECT 1 FROM dataset_event WHERE uri=? AND "
                           "timestamp>? LIMIT 1");
  gboolean all = q && json_array_get_length(uris) > 0;
  for (guint i = 0; all && i < json_array_get_length(uris); i++) {
    ph_db_reset(q);
    ph_db_bind_text(q, 1, json_array_get_string_element(uris, i));
    ph_db_bind_double(q, 2, since);
    all = ph_store_step(st, q) == PH_DB_ROW;
  }
  if (q)
    ph_db_finalize(q);
  return all;
}

/* The refs of uri of one kind as "dag.task" (or "dag" for schedule). */
static JsonArray *refs_of(ph_store *st, const char *uri, const char *kind) {
  JsonArray *a = json_array_new();
  ph_db_stmt *q = prep(st, "SELECT dag_id, task_id FROM dataset_ref WHERE "
                           "uri=? AND kind=? ORDER BY dag_id, task_id");
  if (!q)
    return a;
  ph_db_bind_text(q, 1, uri);
  ph_db_bind_text(q, 2, kind);
  while (ph_store_step(st, q) == PH_DB_ROW) {
    const char *dag = ph_db_column_text(q, 0);
    const char *task = ph_db_column_text(q, 1);
    g_autofree char *name =
        task && *task ? g_strdup_printf("%s.%s", dag, task) : g_strdup(dag);
    json_array_add_string_element(a, name);
  }
  ph_db_finalize(q);
  return a;
}

/* The list entry of the dataset row of q (uri, max_lag, auto, last,
 * events). */
static JsonObject *entry(ph_store *st, ph_db_stmt *q, double now) {
  JsonObject *o = json_object_new();
  const char *uri = ph_db_column_text(q, 0);
  double lag = ph_db_column_double(q, 1);
  gboolean never = ph_db_column_type(q, 3) == PH_DB_NULL;
  double last = ph_db_column_double(q, 3);
  json_object_set_string_member(o, "uri", uri);
  if (lag > 0)
    json_object_set_double_member(o, "max_lag", lag);
  else
    json_object_set_null_member(o, "max_lag");
  json_object_set_string_member(
      o, "auto", ph_db_column_text(q, 2) ? ph_db_column_text(q, 2) : "");
  if (never) {
    json_object_set_null_member(o, "last_update");
    json_object_set_null_member(o, "lag");
  } else {
    g_autofree char *iso = ph_util_iso8601(last);
    json_object_set_string_member(o, "last_update", iso);
    json_object_set_double_member(o, "lag", now - last);
  }
  json_object_set_int_member(o, "events", ph_db_column_int64(q, 4));
  json_object_set_boolean_member(o, "stale",
                                 lag > 0 && (never || now - last > lag));
  json_object_set_array_member(o, "producers", refs_of(st, uri, "outlet"));
  json_object_set_array_member(o, "readers", refs_of(st, uri, "inlet"));
  json_object_set_array_member(o, "consumers", refs_of(st, uri, "schedule"));
  return o;
}

/* The datasets known: declared by a DAG, or updated. */
#define LIST_SQL                                                               \
  "SELECT u.uri, d.max_lag, d.auto, (SELECT max(timestamp) FROM "              \
  "dataset_event e WHERE e.uri=u.uri), (SELECT count(*) FROM dataset_event e " \
  "WHERE e.uri=u.uri) FROM (SELECT uri FROM dataset UNION SELECT uri FROM "    \
  "dataset_ref UNION SELECT DISTINCT uri FROM dataset_event) u LEFT JOIN "     \
  "dataset d ON d.uri=u.uri"

JsonNode *ph_dataset_list(ph_store *st, double now) {
  JsonArray *a = json_array_new();
  ph_db_stmt *q = prep(st, LIST_SQL " ORDER BY u.uri");
  while (q && ph_store_step(st, q) == PH_DB_ROW)
    json_array_add_object_element(a, entry(st, q, now));
  if (q)
    ph_db_finalize(q);
  JsonNode *n = json_node_new(JSON_NODE_ARRAY);
  json_node_take_array(n, a);
  return n;
}

JsonNode *ph_dataset_show(ph_store *st, const char *uri, int limit,
                          double now) {
  ph_db_stmt *q = prep(st, LIST_SQL " WHERE u.uri=?");
  if (!q)
    return NULL;
  ph_db_bind_text(q, 1, uri);
  JsonObject *o = ph_store_step(st, q) == PH_DB_ROW ? entry(st, q, now) : NULL;
  ph_db_finalize(q);
  if (!o)
    return NULL;
  JsonArray *ev = json_array_new();
  q = prep(st, "SELECT timestamp, dag_id, run_id, task_id, map_index FROM "
               "dataset_event WHERE uri=? ORDER BY timestamp DESC, id DESC "
               "LIMIT ?");
  if (q) {
    ph_db_bind_text(q, 1, uri);
    ph_db_bind_int64(q, 2, limit > 0 ? limit : G_MAXINT64); /* no limit */
    while (ph_store_step(st, q) == PH_DB_ROW) {
      JsonObject *e = json_object_new();
      g_autofree char *iso = ph_util_iso8601(ph_db_column_double(q, 0));
      json_object_set_string_member(e, "timestamp", iso);
      json_object_set_double_member(e, "time", ph_db_column_double(q, 0));
      for (int c = 1; c <= 3; c++)
        json_object_set_string_member(e, ph_db_column_name(q, c),
                                      ph_db_column_text(q, c));
      json_object_set_int_member(e, "map_index", (int)ph_db_column_int64(q, 4));
      json_array_add_object_element(ev, e);
    }
    ph_db_finalize(q);
  }
  json_object_set_array_member(o, "events", ev);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  return n;
}

JsonNode *ph_dataset_lazy_due(ph_store *st, double now) {
  JsonArray *out = json_array_new();
  GHashTable *seen =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  /* per lazy dataset and producing DAG: the last update, the producer's
   * last successful run time, and its latest run since the update */
  ph_db_stmt *q = prep(
      st,
      "SELECT d.uri, d.max_lag, r.dag_id, (SELECT max(timestamp) FROM "
      "dataset_event e WHERE e.uri=d.uri) AS last, (SELECT end_date - "
      "start_date FROM dag_run x WHERE x.dag_id=r.dag_id AND x.state="
      "'success' ORDER BY x.start_date DESC LIMIT 1) FROM dataset d JOIN "
      "dataset_ref r ON r.uri=d.uri AND r.kind='outlet' WHERE d.auto='lazy' "
      "AND d.max_lag > 0 ORDER BY d.uri");
  ph_db_stmt *run =
      prep(st, "SELECT state, start_date FROM dag_run WHERE dag_id=? AND "
               "start_date > coalesce(?, 0) ORDER BY start_date DESC LIMIT 1");
  while (q && run && ph_store_step(st, q) == PH_DB_ROW) {
    const char *uri = ph_db_column_text(q, 0);
    double lag = ph_db_column_double(q, 1);
    const char *dag = ph_db_column_text(q, 2);
    gboolean never = ph_db_column_type(q, 3) == PH_DB_NULL;
    double last = ph_db_column_double(q, 3);
    double margin = MAX(0.0, ph_db_column_double(q, 4));
    if (g_hash_table_contains(seen, dag))
      continue;
    if (!never && now < last + lag - margin)
      continue; /* fresh enough: nothing is started */
    ph_db_reset(run);
    ph_db_bind_text(run, 1, dag);
    if (never)
      ph_db_bind_null(run, 2);
    else
      ph_db_bind_double(run, 2, last);
    if (ph_store_step(st, run) == PH_DB_ROW) {
      const char *state = ph_db_column_text(run, 0);
      double began = ph_db_column_double(run, 1);
      if (!g_strcmp0(state, "running") || now - began < MIN(lag, 300.0))
        continue; /* one is on its way (or just failed: not at once) */
    }
    JsonObject *e = json_object_new();
    json_object_set_string_member(e, "dag_id", dag);
    json_object_set_string_member(e, "uri", uri);
    g_autofree char *why =
        never ? g_strdup_printf("%s was never updated; its max_lag is %gs", uri,
                                lag)
              : g_strdup_printf("%s was updated %.0fs ago; its max_lag is "
                                "%gs and a run takes about %.0fs",
                                uri, now - last, lag, margin);
    json_object_set_string_member(e, "reason", why);
    json_array_add_object_element(out, e);
    g_hash_table_add(seen, g_strdup(dag));
  }
  if (q)
    ph_db_finalize(q);
  if (run)
    ph_db_finalize(run);
  g_hash_table_unref(seen);
  JsonNode *n = json_node_new(JSON_NODE_ARRAY);
  json_node_take_array(n, out);
  return n;
}
