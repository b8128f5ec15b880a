/* ph_api -- see ph_api.h. */
#include "ph_api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "ph_dataset.h"
#include "ph_util.h"

#define DOCS                                                                   \
  "https://airflow.apache.org/docs/apache-airflow/stable/"                     \
  "stable-rest-api-ref.html#section/Errors/"

struct ph_api {
  ph_store *st;
  char *token;
  gboolean reads_need_token;
  char *exe;
  char *logs_dir;   /* realpath of the store's logs folder */
  gboolean ui_csrf; /* writes with the UI's CSRF cookie and header pass */
  GHashTable *stmts; /* sql text -> prepared statement (prep) */
  GHashTable *counts; /* count() query and args -> total, while the store
                         is unchanged */
  gint64 data_version; /* the store's, when counts and replies were kept */
  GHashTable *replies; /* cache key -> kept 200 reply (GBytes), while the
                          store is unchanged */
  gsize replies_size;  /* their bytes */
  gboolean no_cache;   /* PIPEHOST_WEB_CACHE=0 */
  JsonArray *dir_dags; /* the --dags-dir's DAGs, or NULL */
};

static void finalize_stmt(gpointer q) { ph_db_finalize(q); }

ph_api *ph_api_new(ph_store *store, const char *token,
                   gboolean reads_need_token, const char *exe) {
  ph_api *a = g_new0(ph_api, 1);
  a->st = store;
  a->token = g_strdup(token);
  a->reads_need_token = reads_need_token;
  a->ui_csrf = !reads_need_token; /* loopback only: off it, the UI asks for
                                     the token */
  a->exe = g_strdup(exe);
  a->stmts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                   finalize_stmt);
  a->counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  a->replies = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify)g_bytes_unref);
  a->data_version = -1;
  a->no_cache = !g_strcmp0(g_getenv("PIPEHOST_WEB_CACHE"), "0");
  g_autofree char *logs =
      g_build_filename(ph_store_get_home(store), "logs", NULL);
  g_mkdir_with_parents(logs, 0755);
  char *real = realpath(logs, NULL);
  a->logs_dir = g_strdup(real ? real : logs);
  free(real);
  return a;
}

void ph_api_free(ph_api *api) {
  if (!api)
    return;
  g_hash_table_unref(api->stmts);
  g_hash_table_unref(api->counts);
  g_hash_table_unref(api->replies);
  if (api->dir_dags)
    json_array_unref(api->dir_dags);
  g_free(api->token);
  g_free(api->exe);
  g_free(api->logs_dir);
  g_free(api);
}

/* ---- replies */

static void reply_json(ph_api_reply *out, int status, JsonNode *n,
                       const char *ctype) {
  out->status = status;
  out->content_type = ctype ? ctype : "application/json";
  out->body = ph_util_json_write(n, PH_JSON_COMPACT);
  out->len = strlen(out->body);
  json_node_unref(n);
}

/* A reply of the text w wrote (w is freed). */
static void reply_writer(ph_api_reply *out, int status, ph_jsonw *w) {
  out->status = status;
  out->content_type = "application/json";
  out->body = ph_jsonw_free_to_text(w, &out->len);
}

void ph_api_problem(ph_api_reply *out, int status, const char *detail) {
  static const struct {
    int status;
    const char *type, *title;
  } kinds[] = {{400, "BadRequest", "Bad Request"},
               {401, "Unauthenticated", "Unauthorized"},
               {403, "PermissionDenied", "Forbidden"},
               {404, "NotFound", "Not Found"},
               {405, "MethodNotAllowed", "Method Not Allowed"},
               {409, "AlreadyExists", "Conflict"},
               {413, "BadRequest", "Payload Too Large"},
               {500, "Unknown", "Internal Server Error"}};
  guint k = G_N_ELEMENTS(kinds) - 1;
  for (guint i = 0; i < G_N_ELEMENTS(kinds); i++)
    if (kinds[i].status == status)
      k = i;
  JsonObject *o = json_object_new();
  g_autofree char *type = g_strconcat(DOCS, kinds[k].type, NULL);
  json_object_set_string_member(o, "type", type);
  json_object_set_string_member(o, "title", kinds[k].title);
  json_object_set_int_member(o, "status", status);
  json_object_set_string_member(o, "detail", detail);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  reply_json(out, status, n, "application/problem+json");
}

/* A time column as ISO 8601, or null. */
static void set_time(JsonObject *o, const char *name, ph_db_stmt *q, int c) {
  if (ph_db_column_type(q, c) == PH_DB_NULL) {
    json_object_set_null_member(o, name);
    return;
  }
  g_autofree char *iso = ph_util_iso8601(ph_db_column_double(q, c));
  json_object_set_string_member(o, name, iso);
}

static void set_text(JsonObject *o, const char *name, ph_db_stmt *q, int c) {
  const char *v = ph_db_column_text(q, c);
  if (v)
    json_object_set_string_member(o, name, v);
  else
    json_object_set_null_member(o, name);
}

/* A statement for sql, prepared once and kept (by its text); give it back
 * with done().  NULL when it cannot be prepared (a table a newer feature
 * makes is missing: the caller answers with nothing). */
static ph_db_stmt *prep(ph_api *api, const char *sql) {
  ph_db_stmt *q = g_hash_table_lookup(api->stmts, sql);
  if (q)
    return q;
  if (!(q = ph_db_prepare_cached(ph_store_get_db(api->st), sql)))
    return NULL;
  g_hash_table_insert(api->stmts, g_strdup(sql), q);
  return q;
}

/* Ends the use of a statement from prep(): ready for the next. */
static void done(ph_db_stmt *q) {
  ph_db_reset(q);
  ph_db_clear_bindings(q);
}

/* limit and offset of a list request; FALSE after a 400. */
static gboolean paging(GHashTable *query, int *limit, int *offset,
                       ph_api_reply *out) {
  const char *l = query ? g_hash_table_lookup(query, "limit") : NULL;
  const char *o = query ? g_hash_table_lookup(query, "offset") : NULL;
  char *end = NULL;
  *limit = 100;
  *offset = 0;
  if (l) {
    long v = strtol(l, &end, 10);
    if (*end || v < 0) {
      ph_api_problem(out, 400, "limit must be a whole number of 0 or more");
      return FALSE;
    }
    *limit = v == 0 ? 100 : (int)MIN(v, 1000L); /* Airflow clamps */
  }
  if (o) {
    long v = strtol(o, &end, 10);
    if (*end || v < 0) {
      ph_api_problem(out, 400, "offset must be a whole number of 0 or more");
      return FALSE;
    }
    *offset = (int)MIN(v, (long)G_MAXINT);
  }
  return TRUE;
}

/* {plural: items, total_entries: total} */
static JsonNode *collection(const char *plural, JsonArray *items,
                            gint64 total) {
  JsonObject *o = json_object_new();
  json_object_set_array_member(o, plural, items);
  json_object_set_int_member(o, "total_entries", total);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  return n;
}

/* The number sql (SELECT count(*) ..., with up to two arguments a and b)
 * gives.  A total over many rows costs a scan of an index (10,000 runs of
 * a DAG: 0.5 ms), so totals are kept until the store changes: SQLite's
 * data_version moves whenever another connection commits. */
/* Forgets the kept totals and replies when the store changed since they
 * were kept; FALSE when nothing may be kept (the version is unknown). */
static gboolean store_unchanged(ph_api *api) {
  gint64 version = ph_store_data_version(api->st);
  if (version < 0 || version != api->data_version) {
    g_hash_table_remove_all(api->counts);
    g_hash_table_remove_all(api->replies);
    api->replies_size = 0;
    api->data_version = version;
  }
  return version >= 0;
}

static gint64 count(ph_api *api, const char *sql, const char *a,
                    const char *b) {
  gboolean version = store_unchanged(api);
  g_autofree char *key =
      g_strdup_printf("%s\x1f%s\x1f%s", sql, a ? a : "", b ? b : "");
  gint64 *kept = g_hash_table_lookup(api->counts, key);
  if (kept)
    return *kept;
  ph_db_stmt *q = prep(api, sql);
  gint64 n = 0;
  if (!q)
    return 0;
  if (a)
    ph_db_bind_text(q, 1, a);
  if (b)
    ph_db_bind_text(q, 2, b);
  if (ph_store_step(api->st, q) == PH_DB_ROW)
    n = ph_db_column_int64(q, 0);
  done(q);
  if (version)
    g_hash_table_insert(api->counts, g_steal_pointer(&key),
                        g_memdup2(&n, sizeof n));
  return n;
}

/* ---- DAGs: every DAG with runs in the store */

static JsonObject *dag_object(ph_db_stmt *q) {
  JsonObject *o = json_object_new();
  set_text(o, "dag_id", q, 0);
  set_text(o, "dag_display_name", q, 0);
  set_text(o, "fileloc", q, 1);
  json_object_set_boolean_member(o, "is_paused", FALSE);
  json_object_set_boolean_member(o, "is_active", TRUE);
  json_object_set_null_member(o, "description");
  json_object_set_array_member(o, "owners", json_array_new());
  json_object_set_array_member(o, "tags", json_array_new());
  json_object_set_null_member(o, "schedule_interval");
  json_object_set_null_member(o, "timetable_description");
  json_object_set_null_member(o, "next_dagrun_create_after");
  return o;
}

/* The --dags-dir's entry of dag (borrowed), or NULL. */
static JsonObject *dir_dag(ph_api *api, const char *dag) {
  for (guint i = 0;
       api->dir_dags && i < json_array_get_length(api->dir_dags); i++) {
    JsonObject *d = json_array_get_object_element(api->dir_dags, i);
    if (!g_strcmp0(json_object_get_string_member(d, "dag_id"), dag))
      return d;
  }
  return NULL;
}

/* o with what the --dags-dir says of its DAG (schedule, next run, file). */
static void add_dir_facts(ph_api *api, JsonObject *o) {
  JsonObject *d = dir_dag(api, json_object_get_string_member(o, "dag_id"));
  if (!d)
    return;
  static const char *const keys[] = {"fileloc", "schedule_interval",
                                     "timetable_description",
                                     "next_dagrun_create_after"};
  for (guint k = 0; k < G_N_ELEMENTS(keys); k++)
    json_object_set_member(
        o, keys[k], json_node_copy(json_object_get_member(d, keys[k])));
}

/* A DAG object for a --dags-dir DAG that has no runs. */
static JsonObject *dir_only(ph_api *api, JsonObject *d) {
  JsonObject *o = json_object_new();
  const char *id = json_object_get_string_member(d, "dag_id");
  json_object_set_string_member(o, "dag_id", id);
  json_object_set_string_member(o, "dag_display_name", id);
  json_object_set_boolean_member(o, "is_paused", FALSE);
  json_object_set_boolean_member(o, "is_active", TRUE);
  json_object_set_null_member(o, "description");
  json_object_set_array_member(o, "owners", json_array_new());
  json_object_set_array_member(o, "tags", json_array_new());
  add_dir_facts(api, o);
  return o;
}

#define DAGS_SQL                                                               \
  "SELECT dag_id, (SELECT dag_file FROM dag_run r2 WHERE r2.dag_id=r.dag_id "  \
  "ORDER BY start_date DESC LIMIT 1) FROM dag_run r "

static gint by_dag_id(gconstpointer a, gconstpointer b) {
  return g_strcmp0(
      json_object_get_string_member(*(JsonObject *const *)a, "dag_id"),
      json_object_get_string_member(*(JsonObject *const *)b, "dag_id"));
}

/* GET dags: the DAGs with runs in the store and those of --dags-dir. */
static void get_dags(ph_api *api, GHashTable *query, ph_api_reply *out) {
  int limit, offset;
  if (!paging(query, &limit, &offset, out))
    return;
  GPtrArray *all =
      g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  ph_db_stmt *q = prep(api, DAGS_SQL "GROUP BY dag_id ORDER BY dag_id");
  while (q && ph_store_step(api->st, q) == PH_DB_ROW) {
    JsonObject *o = dag_object(q);
    add_dir_facts(api, o);
    g_ptr_array_add(all, o);
  }
  if (q)
    done(q);
  for (guint i = 0; i < all->len; i++)
    g_hash_table_add(seen, (gpointer)json_object_get_string_member(
                               all->pdata[i], "dag_id"));
  for (guint i = 0;
       api->dir_dags && i < json_array_get_length(api->dir_dags); i++) {
    JsonObject *d = json_array_get_object_element(api->dir_dags, i);
    if (!g_hash_table_contains(seen,
                               json_object_get_string_member(d, "dag_id")))
      g_ptr_array_add(all, dir_only(api, d));
  }
  g_hash_table_unref(seen);
  g_ptr_array_sort(all, by_dag_id);
  JsonArray *a = json_array_new();
  for (guint i = (guint)offset;
       i < all->len && i < (guint)offset + (guint)limit; i++)
    json_array_add_object_element(a, json_object_ref(all->pdata[i]));
  reply_json(out, 200, collection("dags", a, all->len), NULL);
  g_ptr_array_unref(all);
}

static gboolean get_dag(ph_api *api, const char *dag, ph_api_reply *out) {
  /* the DAG's newest run, found by the (dag_id, start_date) index */
  ph_db_stmt *q = prep(api, "SELECT dag_id, dag_file FROM dag_run WHERE "
                            "dag_id=? ORDER BY start_date DESC LIMIT 1");
  JsonObject *o = NULL;
  if (q) {
    ph_db_bind_text(q, 1, dag);
    if (ph_store_step(api->st, q) == PH_DB_ROW)
      o = dag_object(q);
    done(q);
  }
  if (o) {
    add_dir_facts(api, o);
  } else if (dir_dag(api, dag)) {
    o = dir_only(api, dir_dag(api, dag));
  } else {
    g_autofree char *d =
        g_strdup_printf("DAG with dag_id: '%s' not found", dag);
    if (out)
      ph_api_problem(out, 404, d);
    return FALSE;
  }
  if (out) {
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    reply_json(out, 200, n, NULL);
  } else {
    json_object_unref(o);
  }
  return TRUE;
}

/* ---- DAG runs */

#define RUN_COLS                                                               \
  "SELECT run_id, dag_id, logical_date, start_date, end_date, run_type, "      \
  "state, conf FROM dag_run "

/* A DAGRun as Airflow's API gives it, written to w; start and end < 0 are
 * null, conf is JSON text (anything but an object gives {}). */
static void run_write(ph_jsonw *w, const char *run_id, const char *dag_id,
                      const char *logical_date, double start, double end,
                      const char *run_type, const char *state,
                      const char *conf) {
  ph_jsonw_begin_object(w);
  ph_jsonw_key(w, "dag_run_id");
  ph_jsonw_string(w, run_id);
  ph_jsonw_key(w, "dag_id");
  ph_jsonw_string(w, dag_id);
  ph_jsonw_key(w, "logical_date");
  ph_jsonw_string(w, logical_date);
  ph_jsonw_key(w, "execution_date");
  ph_jsonw_string(w, logical_date);
  static const char *const times[] = {"start_date", "end_date"};
  for (guint i = 0; i < 2; i++) {
    double t = i ? end : start;
    g_autofree char *iso = t >= 0 ? ph_util_iso8601(t) : NULL;
    ph_jsonw_key(w, times[i]);
    ph_jsonw_string(w, iso);
  }
  static const char *const nulls[] = {"data_interval_start",
                                      "data_interval_end",
                                      "last_scheduling_decision"};
  for (guint i = 0; i < G_N_ELEMENTS(nulls); i++) {
    ph_jsonw_key(w, nulls[i]);
    ph_jsonw_null(w);
  }
  ph_jsonw_key(w, "run_type");
  ph_jsonw_string(w, run_type);
  ph_jsonw_key(w, "state");
  ph_jsonw_string(w, state);
  ph_jsonw_key(w, "external_trigger");
  ph_jsonw_bool(w, !g_strcmp0(run_type, "manual"));
  ph_jsonw_key(w, "conf");
  /* most runs have no conf: no parser for those */
  JsonNode *c = conf && strcmp(conf, "{}") ? json_from_string(conf, NULL)
                                           : NULL;
  if (c && JSON_NODE_HOLDS_OBJECT(c))
    ph_jsonw_node(w, c);
  else
    ph_jsonw_raw(w, "{}");
  if (c)
    json_node_unref(c);
  ph_jsonw_key(w, "note");
  ph_jsonw_null(w);
  ph_jsonw_end_object(w);
}

/* The DAGRun of a RUN_COLS row, written to w. */
static void run_row(ph_jsonw *w, ph_db_stmt *q) {
  const char *col[8];
  for (int i = 0; i < 8; i++)
    col[i] = ph_db_column_text(q, i);
  run_write(
      w, col[0], col[1], col[2],
      ph_db_column_type(q, 3) == PH_DB_NULL ? -1 : ph_db_column_double(q, 3),
      ph_db_column_type(q, 4) == PH_DB_NULL ? -1 : ph_db_column_double(q, 4),
      col[5], col[6], col[7]);
}

static void get_runs(ph_api *api, const char *dag, GHashTable *query,
                     ph_api_reply *out) {
  int limit, offset;
  if (!paging(query, &limit, &offset, out))
    return;
  gboolean all = !strcmp(dag, "~");
  if (!all && !get_dag(api, dag, NULL)) {
    g_autofree char *d =
        g_strdup_printf("DAG with dag_id: '%s' not found", dag);
    ph_api_problem(out, 404, d);
    return;
  }
  /* order_by: Airflow's field names, "-" for descending */
  const char *ob = query ? g_hash_table_lookup(query, "order_by") : NULL;
  const char *order = "start_date DESC, rowid DESC";
  if (ob) {
    static const char *const fields[][3] = {
        {"start_date", "start_date, rowid", "start_date DESC, rowid DESC"},
        {"end_date", "end_date, rowid", "end_date DESC, rowid DESC"},
        {"logical_date", "logical_date, rowid",
         "logical_date DESC, rowid DESC"},
        {"execution_date", "logical_date, rowid",
         "logical_date DESC, rowid DESC"},
        {"dag_run_id", "run_id", "run_id DESC"},
        {"state", "state, rowid", "state DESC, rowid DESC"}};
    gboolean desc = ob[0] == '-';
    order = NULL;
    for (guint i = 0; i < G_N_ELEMENTS(fields); i++)
      if (!strcmp(ob + desc, fields[i][0]))
        order = fields[i][desc ? 2 : 1];
    if (!order) {
      g_autofree char *d = g_strdup_printf(
          "Ordering with '%s' is disallowed or the attribute does not exist "
          "on the model",
          ob);
      ph_api_problem(out, 400, d);
      return;
    }
  }
  /* one DAG's runs come off the (dag_id, start_date) index */
  g_autofree char *sql = g_strdup_printf(
      RUN_COLS "%s ORDER BY %s LIMIT ?2 OFFSET ?3",
      all ? "WHERE ?1 IS NULL" : "WHERE dag_id=?1", order);
  ph_db_stmt *q = prep(api, sql);
  ph_jsonw *w = ph_jsonw_new();
  ph_jsonw_begin_object(w);
  ph_jsonw_key(w, "dag_runs");
  ph_jsonw_begin_array(w);
  if (q) {
    if (!all)
      ph_db_bind_text(q, 1, dag);
    ph_db_bind_int64(q, 2, limit);
    ph_db_bind_int64(q, 3, offset);
    while (ph_store_step(api->st, q) == PH_DB_ROW)
      run_row(w, q);
    done(q);
  }
  ph_jsonw_end_array(w);
  ph_jsonw_key(w, "total_entries");
  ph_jsonw_int(w, all ? count(api, "SELECT count(*) FROM dag_run", NULL, NULL)
                      : count(api, "SELECT count(*) FROM dag_run WHERE dag_id=?",
                              dag, NULL));
  ph_jsonw_end_object(w);
  reply_writer(out, 200, w);
}

/* Whether dag has a run run_id (a 404 in out when not, if out is given);
 * when w is given, the run is written to it. */
static gboolean find_run(ph_api *api, const char *dag, const char *run_id,
                         ph_jsonw *w, ph_api_reply *out) {
  ph_db_stmt *q = prep(api, RUN_COLS "WHERE run_id=? AND dag_id=?");
  gboolean found = FALSE;
  if (q) {
    ph_db_bind_text(q, 1, run_id);
    ph_db_bind_text(q, 2, dag);
    if (ph_store_step(api->st, q) == PH_DB_ROW) {
      found = TRUE;
      if (w)
        run_row(w, q);
    }
    done(q);
  }
  if (!found && out) {
    g_autofree char *d = g_strdup_printf(
        "DAGRun with DAG ID: '%s' and DagRun ID: '%s' not found", dag, run_id);
    ph_api_problem(out, 404, d);
  }
  return found;
}

/* The logical date of dag's run run_id (caller frees), or NULL after a
 * 404 in out. */
static char *run_logical_date(ph_api *api, const char *dag,
                              const char *run_id, ph_api_reply *out) {
  ph_db_stmt *q = prep(api, "SELECT logical_date FROM dag_run WHERE "
                            "run_id=? AND dag_id=?");
  char *ld = NULL;
  if (q) {
    ph_db_bind_text(q, 1, run_id);
    ph_db_bind_text(q, 2, dag);
    if (ph_store_step(api->st, q) == PH_DB_ROW)
      ld = g_strdup(ph_db_column_text(q, 0));
    done(q);
  }
  if (!ld)
    find_run(api, dag, run_id, NULL, out); /* the 404 */
  return ld;
}

static void reply_object(ph_api_reply *out, int status, JsonObject *o) {
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  reply_json(out, status, n, NULL);
}

/* POST dags/{dag}/dagRuns: a manual run now (or at logical_date), started
 * as `pipehost run FILE` in the background, with its own log. */
static void trigger(ph_api *api, const char *dag, const char *body, gsize len,
                    ph_api_reply *out) {
  JsonNode *bn = len ? json_from_string(body, NULL) : NULL;
  JsonObject *b =
      bn && JSON_NODE_HOLDS_OBJECT(bn) ? json_node_get_object(bn) : NULL;
  char *file = NULL, *run_id = NULL, *ld = NULL, *conf = NULL, *log = NULL,
       *bad = NULL, *dir = NULL;
  if (len && !b) {
    ph_api_problem(out, 400,
            "the body must be a JSON object: {dag_run_id?, "
            "logical_date?, conf?}");
    goto out;
  }
  ph_db_stmt *q = prep(api, "SELECT dag_file FROM dag_run WHERE dag_id=? "
                            "ORDER BY start_date DESC LIMIT 1");
  if (q) {
    ph_db_bind_text(q, 1, dag);
    if (ph_store_step(api->st, q) == PH_DB_ROW && ph_db_column_text(q, 0))
      file = g_strdup(ph_db_column_text(q, 0));
    done(q);
  }
  if (!file && dir_dag(api, dag))
    file =
        g_strdup(json_object_get_string_member(dir_dag(api, dag), "fileloc"));
  if (!file) {
    ph_api_problem(out, 404, "DAG not found");
    goto out;
  }
  JsonNode *cn = b ? json_object_get_member(b, "conf") : NULL;
  if (cn && !JSON_NODE_HOLDS_OBJECT(cn) && !JSON_NODE_HOLDS_NULL(cn)) {
    ph_api_problem(out, 400, "conf must be an object");
    goto out;
  }
  if (cn && JSON_NODE_HOLDS_OBJECT(cn))
    conf = ph_util_json_dup(cn);
  const char *given =
      b ? json_object_get_string_member_with_default(b, "logical_date", NULL)
        : NULL;
  GDateTime *dt = given ? g_date_time_new_from_iso8601(given, NULL)
                        : g_date_time_new_now_utc();
  if (!dt) {
    ph_api_problem(out, 400,
            "logical_date must be an ISO 8601 date-time with a "
            "time zone");
    goto out;
  }
  GDateTime *utc = g_date_time_to_utc(dt);
  ld = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%S+00:00");
  g_date_time_unref(utc);
  g_date_time_unref(dt);
  const char *rid =
      b ? json_object_get_string_member_with_default(b, "dag_run_id", NULL)
        : NULL;
  run_id = rid ? g_strdup(rid) : g_strdup_printf("manual__%s", ld);
  bad = ph_util_id_problem(PH_ID_RUN, run_id);
  if (bad) {
    ph_api_problem(out, 400, bad);
    goto out;
  }
  if (count(api, "SELECT count(*) FROM dag_run WHERE run_id=?", run_id, NULL)) {
    g_autofree char *d = g_strdup_printf(
        "DAGRun with DAG ID: '%s' and DAGRun ID: '%s' already exists", dag,
        run_id);
    ph_api_problem(out, 409, d);
    goto out;
  }
  dir = g_build_filename(ph_store_get_home(api->st), "logs", "webserver", NULL);
  g_mkdir_with_parents(dir, 0755);
  log = g_strdup_printf("%s/%s.log", dir, run_id);
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const char *argv[] = {api->exe,  "run",      file,
                        "--quiet", "--run-id", run_id,
                        "--date",  ld,         conf ? "--conf" : NULL,
                        conf,      NULL};
  GError *err = NULL;
  gboolean ok = fd >= 0 && g_spawn_async_with_fds(NULL, (char **)argv, NULL,
                                                  G_SPAWN_DEFAULT, NULL, NULL,
                                                  NULL, -1, fd, fd, &err);
  if (fd >= 0)
    close(fd);
  if (!ok) {
    g_autofree char *d = g_strdup_printf(
        "cannot start the run: %s", err ? err->message : g_strerror(errno));
    g_clear_error(&err);
    ph_api_problem(out, 500, d);
    goto out;
  }
  /* the run records itself; until then it is queued */
  ph_jsonw *w = ph_jsonw_new();
  run_write(w, run_id, dag, ld, -1, -1, "manual", "queued", conf);
  reply_writer(out, 200, w);
out:
  if (bn)
    json_node_unref(bn);
  g_free(file);
  g_free(run_id);
  g_free(ld);
  g_free(conf);
  g_free(log);
  g_free(bad);
  g_free(dir);
}

/* POST dags/{dag}/clearTaskInstances (Airflow's body: dag_run_id,
 * task_ids, only_failed, dry_run -- both true by default, as Airflow's --
 * include_downstream): `pipehost clear` says (or does) it; a real clear
 * then resumes the run in the background. */
static void clear_tis(ph_api *api, const char *dag, const char *body, gsize len,
                      ph_api_reply *out) {
  JsonNode *bn = len ? json_from_string(body, NULL) : NULL;
  JsonObject *b =
      bn && JSON_NODE_HOLDS_OBJECT(bn) ? json_node_get_object(bn) : NULL;
  GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
  char *sout = NULL, *serr = NULL;
  const char *run =
      b ? json_object_get_string_member_with_default(b, "dag_run_id", NULL)
        : NULL;
  if (!run) {
    ph_api_problem(out, 400,
            "the body needs dag_run_id (pipehost clears one run "
            "at a time)");
    goto out;
  }
  if (!find_run(api, dag, run, NULL, out))
    goto out;
  gboolean dry =
      json_object_get_boolean_member_with_default(b, "dry_run", TRUE);
  gboolean failed =
      json_object_get_boolean_member_with_default(b, "only_failed", TRUE);
  gboolean down = json_object_get_boolean_member_with_default(
      b, "include_downstream", FALSE);
  g_ptr_array_add(argv, g_strdup(api->exe));
  g_ptr_array_add(argv, g_strdup("clear"));
  g_ptr_array_add(argv, g_strdup(run));
  g_ptr_array_add(argv, g_strdup("--json"));
  if (dry)
    g_ptr_array_add(argv, g_strdup("--dry-run"));
  if (failed)
    g_ptr_array_add(argv, g_strdup("--failed-only"));
  if (down)
    g_ptr_array_add(argv, g_strdup("--downstream"));
  JsonNode *tn = json_object_get_member(b, "task_ids");
  JsonArray *ta =
      tn && JSON_NODE_HOLDS_ARRAY(tn) ? json_node_get_array(tn) : NULL;
  for (guint i = 0; ta && i < json_array_get_length(ta); i++) {
    const char *t = json_array_get_string_element(ta, i);
    if (!t) {
      ph_api_problem(out, 400, "task_ids must be a list of task ids");
      goto out;
    }
    g_ptr_array_add(argv, g_strdup("--task"));
    g_ptr_array_add(argv, g_strdup(t));
  }
  g_ptr_array_add(argv, NULL);
  int status = 0;
  GError *err = NULL;
  if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL,
                    NULL, &sout, &serr, &status, &err)) {
    ph_api_problem(out, 500, err->message);
    g_error_free(err);
    goto out;
  }
  JsonNode *res = g_spawn_check_wait_status(status, NULL) && sout
                      ? json_from_string(sout, NULL)
                      : NULL;
  if (!res) {
    g_autofree char *why = g_strstrip(g_strdup(serr ? serr : ""));
    ph_api_problem(out, 409, *why ? why : "the run cannot be cleared now");
    goto out;
  }
  JsonArray *cleared =
      json_object_get_array_member(json_node_get_object(res), "task_instances");
  if (!dry && json_array_get_length(cleared)) {
    const char *resume[] = {api->exe, "resume", run, "--quiet", NULL};
    g_autofree char *dir =
        g_build_filename(ph_store_get_home(api->st), "logs", "webserver", NULL);
    g_mkdir_with_parents(dir, 0755);
    g_autofree char *log = g_strdup_printf("%s/%s.resume.log", dir, run);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    g_spawn_async_with_fds(NULL, (char **)resume, NULL, G_SPAWN_DEFAULT, NULL,
                           NULL, NULL, -1, fd, fd, NULL);
    if (fd >= 0)
      close(fd);
  }
  reply_json(out, 200, res, NULL);
out:
  if (bn)
    json_node_unref(bn);
  g_ptr_array_unref(argv);
  g_free(sout);
  g_free(serr);
}

/* ---- task instances */

#define TI_COLS                                                                \
  "SELECT t.task_id, r.dag_id, t.run_id, r.logical_date, t.start_date, "       \
  "t.end_date, t.state, t.try_number, t.map_index, t.max_tries, t.operator, "  \
  "t.pid, t.hostname FROM task_instance t JOIN dag_run r ON "                  \
  "r.run_id=t.run_id "

/* start_date, end_date and duration of a row whose start and end times
 * are in columns col and col + 1, to w. */
static void write_times(ph_jsonw *w, ph_db_stmt *q, int col) {
  static const char *const times[] = {"start_date", "end_date"};
  for (int i = 0; i < 2; i++) {
    g_autofree char *iso =
        ph_db_column_type(q, col + i) == PH_DB_NULL
            ? NULL
            : ph_util_iso8601(ph_db_column_double(q, col + i));
    ph_jsonw_key(w, times[i]);
    ph_jsonw_string(w, iso);
  }
  ph_jsonw_key(w, "duration");
  if (ph_db_column_type(q, col) != PH_DB_NULL &&
      ph_db_column_type(q, col + 1) != PH_DB_NULL)
    ph_jsonw_double(w, ph_db_column_double(q, col + 1) -
                           ph_db_column_double(q, col));
  else
    ph_jsonw_null(w);
}

/* An integer column as name: its value, or null. */
static void write_int_or_null(ph_jsonw *w, const char *name, ph_db_stmt *q,
                              int col) {
  ph_jsonw_key(w, name);
  if (ph_db_column_type(q, col) == PH_DB_NULL)
    ph_jsonw_null(w);
  else
    ph_jsonw_int(w, (int)ph_db_column_int64(q, col));
}

/* A TaskInstance of a TI_COLS row, as Airflow's API gives it, to w;
 * with rendered_fields (its latest try's, JSON object text; "{}" when it
 * has no templates) when rendered is given. */
static void ti_write(ph_jsonw *w, ph_db_stmt *q, const char *rendered) {
  static const char *const text_keys[] = {"task_id", "task_display_name",
                                          "dag_id", "dag_run_id",
                                          "execution_date"};
  static const int text_cols[] = {0, 0, 1, 2, 3};
  ph_jsonw_begin_object(w);
  for (guint i = 0; i < G_N_ELEMENTS(text_cols); i++) {
    ph_jsonw_key(w, text_keys[i]);
    ph_jsonw_string(w, ph_db_column_text(q, text_cols[i]));
  }
  write_times(w, q, 4);
  const char *st = ph_db_column_text(q, 6);
  ph_jsonw_key(w, "state"); /* "none" is Airflow's null: no status */
  ph_jsonw_string(w, st && strcmp(st, "none") ? st : NULL);
  static const char *const ints[] = {"try_number", "map_index", "max_tries"};
  for (int i = 0; i < 3; i++) {
    ph_jsonw_key(w, ints[i]);
    ph_jsonw_int(w, (int)ph_db_column_int64(q, 7 + i));
  }
  ph_jsonw_key(w, "operator");
  ph_jsonw_string(w, ph_db_column_text(q, 10));
  write_int_or_null(w, "pid", q, 11);
  ph_jsonw_key(w, "hostname");
  ph_jsonw_string(w, ph_db_column_text(q, 12));
  ph_jsonw_key(w, "executor");
  ph_jsonw_string(w, "local");
  if (rendered) {
    JsonNode *n = json_from_string(rendered, NULL);
    ph_jsonw_key(w, "rendered_fields");
    if (n && JSON_NODE_HOLDS_OBJECT(n))
      ph_jsonw_node(w, n);
    else
      ph_jsonw_raw(w, "{}");
    if (n)
      json_node_unref(n);
  }
  ph_jsonw_end_object(w);
}

static void get_tis(ph_api *api, const char *dag, const char *run_id,
                    GHashTable *query, ph_api_reply *out) {
  int limit, offset;
  if (!paging(query, &limit, &offset, out))
    return;
  if (!find_run(api, dag, run_id, NULL, out))
    return;
  ph_db_stmt *q = prep(api, TI_COLS "WHERE t.run_id=? ORDER BY min(t.rowid) "
                                    "OVER (PARTITION BY t.task_id), "
                                    "t.map_index LIMIT ? OFFSET ?");
  ph_jsonw *w = ph_jsonw_new();
  ph_jsonw_begin_object(w);
  ph_jsonw_key(w, "task_instances");
  ph_jsonw_begin_array(w);
  if (q) {
    ph_db_bind_text(q, 1, run_id);
    ph_db_bind_int64(q, 2, limit);
    ph_db_bind_int64(q, 3, offset);
    while (ph_store_step(api->st, q) == PH_DB_ROW)
      ti_write(w, q, NULL);
    done(q);
  }
  ph_jsonw_end_array(w);
  ph_jsonw_key(w, "total_entries");
  ph_jsonw_int(w, count(api, "SELECT count(*) FROM task_instance WHERE run_id=?",
                        run_id, NULL));
  ph_jsonw_end_object(w);
  reply_writer(out, 200, w);
}

/* map_index from a path part or the query (default -1); FALSE after 400 */
static gboolean map_index_of(const char *text, int *mi, ph_api_reply *out) {
  char *end = NULL;
  *mi = -1;
  if (!text)
    return TRUE;
  long v = strtol(text, &end, 10);
  if (*end || v < -1 || v > G_MAXINT) {
    ph_api_problem(out, 400, "map_index must be a whole number of -1 or more");
    return FALSE;
  }
  *mi = (int)v;
  return TRUE;
}

/* map_index from the query (default -1) and whether dag has run run_id;
 * FALSE after a 400 or a 404 in out. */
static gboolean instance_of(ph_api *api, const char *dag, const char *run_id,
                            GHashTable *query, int *mi, ph_api_reply *out) {
  return map_index_of(query ? g_hash_table_lookup(query, "map_index") : NULL,
                      mi, out) &&
         find_run(api, dag, run_id, NULL, out);
}

static void get_ti(ph_api *api, const char *dag, const char *run_id,
                   const char *task, const char *mis, ph_api_reply *out) {
  int mi;
  if (!map_index_of(mis, &mi, out))
    return;
  if (!find_run(api, dag, run_id, NULL, out))
    return;
  /* the latest try's rendered params */
  g_autofree char *rendered = NULL;
  ph_db_stmt *rq = prep(api, "SELECT rendered FROM task_try WHERE run_id=? "
                             "AND task_id=? AND map_index=? ORDER BY "
                             "try_number DESC LIMIT 1");
  if (rq) {
    ph_db_bind_text(rq, 1, run_id);
    ph_db_bind_text(rq, 2, task);
    ph_db_bind_int64(rq, 3, mi);
    if (ph_store_step(api->st, rq) == PH_DB_ROW)
      rendered = g_strdup(ph_db_column_text(rq, 0));
    done(rq);
  }
  ph_db_stmt *q =
      prep(api, TI_COLS "WHERE t.run_id=? AND t.task_id=? AND t.map_index=?");
  ph_jsonw *w = ph_jsonw_new();
  gboolean found = FALSE;
  if (q) {
    ph_db_bind_text(q, 1, run_id);
    ph_db_bind_text(q, 2, task);
    ph_db_bind_int64(q, 3, mi);
    if ((found = ph_store_step(api->st, q) == PH_DB_ROW))
      ti_write(w, q, rendered ? rendered : "{}");
    done(q);
  }
  if (!found) {
    g_free(ph_jsonw_free_to_text(w, NULL));
    ph_api_problem(out, 404, "Task instance not found");
    return;
  }
  reply_writer(out, 200, w);
}

/* GET .../taskInstances/{task}/tries[?map_index=N]: every try of the task
 * instance, oldest first (Airflow 2.10's listTaskInstanceTries), each with
 * its state, times, pid and reason (pipehost's own field). */
static void get_tries(ph_api *api, const char *dag, const char *run_id,
                      const char *task, GHashTable *query,
                      ph_api_reply *out) {
  int mi;
  if (!map_index_of(query ? g_hash_table_lookup(query, "map_index") : NULL, &mi,
                    out))
    return;
  g_autofree char *ld = run_logical_date(api, dag, run_id, out);
  if (!ld)
    return;
  ph_db_stmt *q = prep(api, "SELECT try_number, state, start_date, "
                            "end_date, pid, reason FROM task_try WHERE "
                            "run_id=? AND task_id=? AND map_index=? ORDER "
                            "BY try_number");
  ph_jsonw *w = ph_jsonw_new();
  ph_jsonw_begin_object(w);
  ph_jsonw_key(w, "task_instances");
  ph_jsonw_begin_array(w);
  int n = 0;
  if (q) {
    ph_db_bind_text(q, 1, run_id);
    ph_db_bind_text(q, 2, task);
    ph_db_bind_int64(q, 3, mi);
    while (ph_store_step(api->st, q) == PH_DB_ROW) {
      n++;
      ph_jsonw_begin_object(w);
      static const char *const keys[] = {"task_id", "dag_id", "dag_run_id",
                                         "execution_date"};
      const char *vals[] = {task, dag, run_id, ld};
      for (guint k = 0; k < G_N_ELEMENTS(keys); k++) {
        ph_jsonw_key(w, keys[k]);
        ph_jsonw_string(w, vals[k]);
      }
      ph_jsonw_key(w, "map_index");
      ph_jsonw_int(w, mi);
      ph_jsonw_key(w, "try_number");
      ph_jsonw_int(w, (int)ph_db_column_int64(q, 0));
      const char *st = ph_db_column_text(q, 1);
      ph_jsonw_key(w, "state");
      ph_jsonw_string(w, st && strcmp(st, "none") ? st : NULL);
      write_times(w, q, 2);
      write_int_or_null(w, "pid", q, 4);
      ph_jsonw_key(w, "reason");
      ph_jsonw_string(w, ph_db_column_text(q, 5));
      ph_jsonw_end_object(w);
    }
    done(q);
  }
  ph_jsonw_end_array(w);
  ph_jsonw_key(w, "total_entries");
  ph_jsonw_int(w, n);
  ph_jsonw_end_object(w);
  reply_writer(out, 200, w);
}

/* GET .../taskInstances/{task}/explain[?map_index=N] (pipehost's own): why
 * the task instance is (not) running, as `pipehost tasks explain --json`
 * says it -- its trigger rule, each upstream instance's state. */
static void get_explain(ph_api *api, const char *dag, const char *run_id,
                        const char *task, GHashTable *query,
                        ph_api_reply *out) {
  int mi;
  if (!instance_of(api, dag, run_id, query, &mi, out))
    return;
  char mis[16];
  g_snprintf(mis, sizeof mis, "%d", mi);
  const char *argv[] = {api->exe, "tasks",       "explain", run_id, task,
                        "--json", "--map-index", mis,       NULL};
  char *sout = NULL, *serr = NULL;
  int status = 0;
  GError *err = NULL;
  if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                    &sout, &serr, &status, &err)) {
    ph_api_problem(out, 500, err->message);
    g_error_free(err);
  } else if (!g_spawn_check_wait_status(status, NULL)) {
    g_autofree char *why = g_strstrip(g_strdup(serr ? serr : ""));
    ph_api_problem(out, 404, *why ? why : "Task instance not found");
  } else {
    out->status = 200;
    out->content_type = "application/json";
    out->len = strlen(sout);
    out->body = g_steal_pointer(&sout);
  }
  g_free(sout);
  g_free(serr);
}

/* ---- logs, with a continuation token: the offset, signed with the
 * server's token (clients treat it as opaque, as Airflow's) */

static char *sign(ph_api *api, gint64 offset) {
  g_autofree char *pos = g_strdup_printf("%" G_GINT64_FORMAT, offset);
  g_autofree char *mac =
      g_compute_hmac_for_string(G_CHECKSUM_SHA256, (const guchar *)api->token,
                                strlen(api->token), pos, -1);
  return g_strdup_printf("%s.%.16s", pos, mac);
}

static gboolean unsign(ph_api *api, const char *token, gint64 *offset) {
  const char *dot = strchr(token, '.');
  if (!dot)
    return FALSE;
  g_autofree char *pos = g_strndup(token, (gsize)(dot - token));
  char *end = NULL;
  gint64 v = g_ascii_strtoll(pos, &end, 10);
  if (*end || v < 0)
    return FALSE;
  g_autofree char *again = sign(api, v);
  if (strcmp(again, token))
    return FALSE;
  *offset = v;
  return TRUE;
}

static void get_log(ph_api *api, const char *dag, const char *run_id,
                    const char *task, const char *try_s, GHashTable *query,
                    const char *accept, ph_api_reply *out) {
  int mi, try_n;
  char *end = NULL;
  long tv = strtol(try_s, &end, 10);
  if (*end || tv < 1) {
    ph_api_problem(out, 400, "task_try_number must be a whole number of 1 or more");
    return;
  }
  try_n = (int)tv;
  if (!instance_of(api, dag, run_id, query, &mi, out))
    return;
  gint64 from = 0;
  const char *tok = query ? g_hash_table_lookup(query, "token") : NULL;
  if (tok && !unsign(api, tok, &from)) {
    ph_api_problem(out, 400,
            "Bad Signature. Please use only the tokens provided by the API.");
    return;
  }
  g_autofree char *path = ph_store_log_path(api->st, run_id, task, mi, try_n);
  if (!path) {
    ph_api_problem(out, 404, "TaskInstance not found");
    return;
  }
  /* only files under the store's logs folder are served */
  char *real = realpath(path, NULL);
  gboolean inside = real && g_str_has_prefix(real, api->logs_dir) &&
                    real[strlen(api->logs_dir)] == '/';
  if (!inside) {
    free(real);
    ph_api_problem(out, real ? 403 : 404,
            real ? "the log path is outside the store's logs folder"
                 : "the log file is gone (db clean or log retention)");
    return;
  }
  FILE *f = fopen(real, "rb");
  free(real);
  GString *text = g_string_new(NULL);
  if (f) {
    if (fseeko(f, (off_t)from, SEEK_SET) == 0) {
      char buf[65536];
      size_t n;
      while (text->len < PH_API_MAX_BODY &&
             (n = fread(buf, 1, sizeof buf, f)) > 0)
        g_string_append_len(text, buf, (gssize)n);
    }
    fclose(f);
  }
  if (accept && strstr(accept, "text/plain")) {
    out->status = 200;
    out->content_type = "text/plain; charset=utf-8";
    out->len = text->len;
    out->body = g_string_free(text, FALSE);
    return;
  }
  JsonObject *o = json_object_new();
  g_autofree char *valid = g_utf8_make_valid(text->str, (gssize)text->len);
  json_object_set_string_member(o, "content", valid);
  g_autofree char *next = sign(api, from + (gint64)text->len);
  json_object_set_string_member(o, "continuation_token", next);
  g_string_free(text, TRUE);
  reply_object(out, 200, o);
}

/* ---- XComs */

static void get_xcoms(ph_api *api, const char *dag, const char *run_id,
                      const char *task, const char *key, GHashTable *query,
                      ph_api_reply *out) {
  int limit, offset, mi = -2;
  if (!paging(query, &limit, &offset, out))
    return;
  const char *mis = query ? g_hash_table_lookup(query, "map_index") : NULL;
  if (mis && !map_index_of(mis, &mi, out))
    return;
  g_autofree char *ld = run_logical_date(api, dag, run_id, out);
  if (!ld)
    return;
  ph_db_stmt *q = prep(
      api, "SELECT key, timestamp, map_index, task_id, value FROM xcom WHERE "
           "run_id=?1 AND task_id=?2 AND (CAST(?3 AS TEXT) IS NULL OR key=?3) "
           "AND (?4 = -2 "
           "OR map_index=?4) ORDER BY map_index, key LIMIT ?5 OFFSET ?6");
  JsonArray *a = json_array_new();
  if (q) {
    ph_db_bind_text(q, 1, run_id);
    ph_db_bind_text(q, 2, task);
    if (key)
      ph_db_bind_text(q, 3, key);
    ph_db_bind_int64(q, 4, key && mi == -2 ? -1 : mi);
    ph_db_bind_int64(q, 5, limit);
    ph_db_bind_int64(q, 6, offset);
    while (ph_store_step(api->st, q) == PH_DB_ROW) {
      JsonObject *o = json_object_new();
      set_text(o, "key", q, 0);
      set_time(o, "timestamp", q, 1);
      json_object_set_string_member(o, "execution_date", ld);
      json_object_set_int_member(o, "map_index", (int)ph_db_column_int64(q, 2));
      set_text(o, "task_id", q, 3);
      json_object_set_string_member(o, "dag_id", dag);
      if (key) { /* only the single entry carries its value */
        const char *v = ph_db_column_text(q, 4);
        JsonNode *vn = v ? json_from_string(v, NULL) : NULL;
        json_object_set_member(o, "value",
                               vn ? vn : json_node_new(JSON_NODE_NULL));
      }
      json_array_add_object_element(a, o);
    }
    done(q);
  }
  if (key) {
    if (!json_array_get_length(a)) {
      json_array_unref(a);
      ph_api_problem(out, 404, "XCom entry not found");
      return;
    }
    reply_object(out, 200,
                 json_object_ref(json_array_get_object_element(a, 0)));
    json_array_unref(a);
    return;
  }
  guint n = json_array_get_length(a);
  reply_json(out, 200, collection("xcom_entries", a, n + (guint)offset), NULL);
}

/* ---- pools, variables, connections */

static void get_pools(ph_api *api, GHashTable *query, ph_api_reply *out) {
  JsonNode *pn = ph_store_pool_list(api->st);
  JsonObject *po = json_node_get_object(pn);
  JsonArray *a = json_array_new();
  GList *names = json_object_get_members(po);
  for (GList *l = names; l; l = l->next) {
    gint64 slots = json_object_get_int_member(po, l->data);
    gint64 used = count(api,
                        "SELECT coalesce(sum(slots), 0) FROM pool_slot WHERE "
                        "pool=?",
                        l->data, NULL);
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "name", l->data);
    json_object_set_int_member(o, "slots", slots);
    json_object_set_int_member(o, "occupied_slots", used);
    json_object_set_int_member(o, "running_slots", used);
    json_object_set_int_member(o, "queued_slots", 0);
    json_object_set_int_member(o, "open_slots", MAX(0, slots - used));
    json_object_set_null_member(o, "description");
    json_array_add_object_element(a, o);
  }
  g_list_free(names);
  json_node_unref(pn);
  reply_json(out, 200, collection("pools", a, json_array_get_length(a)), NULL);
}

/* A Variable as Airflow's API gives it: a secret's value masked, as
 * Airflow's masker does. */
static JsonObject *var_object(const char *key, const char *value) {
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "key", key);
  json_object_set_string_member(
      o, "value", ph_util_name_is_sensitive(key) ? "***" : value);
  json_object_set_null_member(o, "description");
  return o;
}

/* A collection plural of the store's map {name: text} (taken), each entry
 * made by item(name, text). */
static void reply_map(ph_api_reply *out, const char *plural, JsonNode *map,
                      JsonObject *(*item)(const char *, const char *)) {
  JsonObject *mo = json_node_get_object(map);
  JsonArray *a = json_array_new();
  GList *names = json_object_get_members(mo);
  for (GList *l = names; l; l = l->next)
    json_array_add_object_element(
        a, item(l->data, json_object_get_string_member(mo, l->data)));
  g_list_free(names);
  json_node_unref(map);
  reply_json(out, 200, collection(plural, a, json_array_get_length(a)), NULL);
}

static void get_variables(ph_api *api, GHashTable *query, ph_api_reply *out) {
  reply_map(out, "variables", ph_store_var_list(api->st), var_object);
}

/* A Connection as Airflow's API gives it, from its stored URI: passwords
 * are write-only, never returned. */
static JsonObject *conn_object(const char *id, const char *uri) {
  JsonNode *c = ph_store_conn_json(id, uri, NULL);
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "connection_id", id);
  JsonObject *src = c ? json_node_get_object(c) : NULL;
  static const char *const fields[] = {"conn_type", "host", "login",
                                       "schema"};
  for (guint k = 0; k < G_N_ELEMENTS(fields); k++) {
    const char *v =
        src ? json_object_get_string_member_with_default(src, fields[k], NULL)
            : NULL;
    if (v && *v)
      json_object_set_string_member(o, fields[k], v);
    else
      json_object_set_null_member(o, fields[k]);
  }
  if (src && json_object_has_member(src, "port") &&
      JSON_NODE_HOLDS_VALUE(json_object_get_member(src, "port")))
    json_object_set_int_member(o, "port",
                               json_object_get_int_member(src, "port"));
  else
    json_object_set_null_member(o, "port");
  json_object_set_null_member(o, "description");
  if (c)
    json_node_unref(c);
  return o;
}

/* The request body as a JSON object (a new reference), or NULL after a
 * 400 in out. */
static JsonObject *body_object(const char *body, gsize len,
                               ph_api_reply *out) {
  JsonNode *n = len ? json_from_string(body, NULL) : NULL;
  JsonObject *o = n && JSON_NODE_HOLDS_OBJECT(n)
                      ? json_object_ref(json_node_get_object(n))
                      : NULL;
  if (n)
    json_node_unref(n);
  if (!o)
    ph_api_problem(out, 400, "the body must be a JSON object");
  return o;
}

/* A string member of b, or NULL (also when it is not a string). */
static const char *str_member(JsonObject *b, const char *name) {
  JsonNode *n = json_object_get_member(b, name);
  return n && JSON_NODE_HOLDS_VALUE(n) &&
                 json_node_get_value_type(n) == G_TYPE_STRING
             ? json_node_get_string(n)
             : NULL;
}

/* POST connections: {connection_id, conn_type, host?, login?, password?,
 * schema?, port?} stored as a URI (as `pipehost connections add`); 409
 * when the id exists.  The reply never carries the password. */
static void post_connection(ph_api *api, const char *body, gsize len,
                            ph_api_reply *out) {
  JsonObject *b = body_object(body, len, out);
  if (!b)
    return;
  const char *id = str_member(b, "connection_id"),
             *type = str_member(b, "conn_type");
  g_autofree char *bad = id ? ph_util_id_problem(PH_ID_TASK, id) : NULL;
  gint64 port = json_object_get_int_member_with_default(b, "port", -1);
  g_autofree char *existing = id ? ph_store_conn_get(api->st, id) : NULL;
  if (!id || !type || bad || !g_regex_match_simple("^[A-Za-z][A-Za-z0-9+.-]*$",
                                                     type, 0, 0)) {
    g_autofree char *d = g_strdup_printf(
        "the body needs connection_id (letters, digits, _ . -) and "
        "conn_type (a URI scheme)%s%s",
        bad ? ": " : "", bad ? bad : "");
    ph_api_problem(out, 400, d);
  } else if (port < -1 || port > 65535) {
    ph_api_problem(out, 400, "port must be 0 to 65535");
  } else if (existing) {
    g_autofree char *d =
        g_strdup_printf("Connection '%s' already exists", id);
    ph_api_problem(out, 409, d);
  } else {
    const char *schema = str_member(b, "schema");
    g_autofree char *path = g_strconcat("/", schema ? schema : "", NULL);
    const char *login = str_member(b, "login"), *pw = str_member(b, "password");
    g_autofree char *uri = g_uri_join_with_user(
        G_URI_FLAGS_NONE, type, login && *login ? login : NULL,
        pw && *pw ? pw : NULL, NULL, str_member(b, "host"), (int)port,
        schema ? path : "", NULL, NULL);
    ph_store_conn_set(api->st, id, uri);
    reply_object(out, 200, conn_object(id, uri));
  }
  json_object_unref(b);
}

/* POST variables: {key, value} (a new value or a changed one). */
static void post_variable(ph_api *api, const char *body, gsize len,
                          ph_api_reply *out) {
  JsonObject *b = body_object(body, len, out);
  if (!b)
    return;
  const char *key = str_member(b, "key"), *value = str_member(b, "value");
  if (!key || !*key || !value)
    ph_api_problem(out, 400, "the body needs key and value (strings)");
  else {
    ph_store_var_set(api->st, key, value);
    reply_object(out, 200, var_object(key, value));
  }
  json_object_unref(b);
}

static void get_connections(ph_api *api, GHashTable *query, ph_api_reply *out) {
  reply_map(out, "connections", ph_store_conn_list(api->st), conn_object);
}

/* ---- Prometheus metrics (text exposition format 0.0.4) */

/* "# HELP/# TYPE" of a metric. */
static void metric_head(GString *m, const char *name, const char *type,
                        const char *help) {
  g_string_append_printf(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                         type);
}

/* A gauge per value of a column: name{label="v"} count. */
static void gauge_by(ph_api *api, GString *m, const char *name,
                     const char *help, const char *label, const char *sql,
                     const char *const *all) {
  metric_head(m, name, "gauge", help);
  GHashTable *seen =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  ph_db_stmt *q = prep(api, sql);
  while (q && ph_store_step(api->st, q) == PH_DB_ROW) {
    const char *v = ph_db_column_text(q, 0);
    v = v ? v : "none";
    g_hash_table_add(seen, g_strdup(v));
    g_string_append_printf(m, "%s{%s=\"%s\"} %" G_GINT64_FORMAT "\n", name,
                           label, v, (gint64)ph_db_column_int64(q, 1));
  }
  if (q)
    done(q);
  /* every state is a series, zero or not, so rates never see a gap */
  for (const char *const *a = all; a && *a; a++)
    if (!g_hash_table_contains(seen, *a))
      g_string_append_printf(m, "%s{%s=\"%s\"} 0\n", name, label, *a);
  g_hash_table_unref(seen);
}

static void metrics(ph_api *api, GHashTable *query, ph_api_reply *out) {
  static const char *const run_states[] = {"running", "success", "failed",
                                           NULL};
  static const char *const ti_states[] = {"none",
                                          "scheduled",
                                          "running",
                                          "success",
                                          "failed",
                                          "skipped",
                                          "upstream_failed",
                                          "up_for_retry",
                                          "up_for_reschedule",
                                          NULL};
  GString *m = g_string_new(NULL);
  gauge_by(api, m, "pipehost_dag_runs", "DAG runs in the store by state",
           "state", "SELECT state, count(*) FROM dag_run GROUP BY state",
           run_states);
  gauge_by(api, m, "pipehost_task_instances",
           "task instances in the store by state (each mapped instance "
           "counts)",
           "state", "SELECT state, count(*) FROM task_instance GROUP BY state",
           ti_states);
  /* try durations: a histogram of every try that ended */
  static const double bounds[] = {0.01, 0.05, 0.1, 0.5, 1,    5,
                                  10,   30,   60,  300, 1800, 3600};
  metric_head(m, "pipehost_task_try_duration_seconds", "histogram",
              "how long task tries took, from start to end");
  GString *sql = g_string_new("SELECT count(*), coalesce(sum(end_date - "
                              "start_date), 0)");
  for (guint i = 0; i < G_N_ELEMENTS(bounds); i++)
    g_string_append_printf(sql, ", sum(end_date - start_date <= %g)",
                           bounds[i]);
  g_string_append(sql, " FROM task_try WHERE end_date IS NOT NULL AND "
                       "start_date IS NOT NULL");
  ph_db_stmt *q = prep(api, sql->str);
  g_string_free(sql, TRUE);
  if (q && ph_store_step(api->st, q) == PH_DB_ROW) {
    for (guint i = 0; i < G_N_ELEMENTS(bounds); i++)
      g_string_append_printf(m,
                             "pipehost_task_try_duration_seconds_bucket{le=\"%"
                             "g\"} %" G_GINT64_FORMAT "\n",
                             bounds[i],
                             (gint64)ph_db_column_int64(q, (int)i + 2));
    g_string_append_printf(
        m,
        "pipehost_task_try_duration_seconds_bucket{le=\"+Inf\"} "
        "%" G_GINT64_FORMAT "\npipehost_task_try_duration_seconds_sum %.6f\n"
        "pipehost_task_try_duration_seconds_count %" G_GINT64_FORMAT "\n",
        (gint64)ph_db_column_int64(q, 0), ph_db_column_double(q, 1),
        (gint64)ph_db_column_int64(q, 0));
  }
  if (q)
    done(q);
  /* pools: slots and those in use */
  metric_head(m, "pipehost_pool_slots", "gauge",
              "slots of each pool: open and occupied");
  JsonNode *pn = ph_store_pool_list(api->st);
  JsonObject *po = json_node_get_object(pn);
  GList *names = json_object_get_members(po);
  for (GList *l = names; l; l = l->next) {
    gint64 slots = json_object_get_int_member(po, l->data);
    gint64 used = count(api,
                        "SELECT coalesce(sum(slots), 0) FROM pool_slot WHERE "
                        "pool=?",
                        l->data, NULL);
    g_string_append_printf(m,
                           "pipehost_pool_slots{pool=\"%s\",state=\"open\"} "
                           "%" G_GINT64_FORMAT "\n"
                           "pipehost_pool_slots{pool=\"%s\",state="
                           "\"occupied\"} %" G_GINT64_FORMAT "\n",
                           (char *)l->data, MAX(0, slots - used),
                           (char *)l->data, used);
  }
  g_list_free(names);
  json_node_unref(pn);
  /* the scheduler: how long its last loop took, and when it ran */
  g_autofree char *beat = ph_store_meta_get(api->st, "scheduler_heartbeat");
  g_autofree char *loop = ph_store_meta_get(api->st, "scheduler_loop_seconds");
  metric_head(m, "pipehost_scheduler_loop_seconds", "gauge",
              "how long the scheduler's last loop took (its lag behind its "
              "poll interval)");
  g_string_append_printf(m, "pipehost_scheduler_loop_seconds %s\n",
                         loop ? loop : "NaN");
  metric_head(m, "pipehost_scheduler_heartbeat_timestamp_seconds", "gauge",
              "when the scheduler's loop last ran (UNIX time)");
  g_string_append_printf(m,
                         "pipehost_scheduler_heartbeat_timestamp_seconds %s\n",
                         beat ? beat : "NaN");
  out->status = 200;
  out->content_type = "text/plain; version=0.0.4; charset=utf-8";
  out->len = m->len;
  out->body = g_string_free(m, FALSE);
}

/* ---- the UI's grid: the last num_runs runs of a DAG (oldest first) and
 * each task's state in each (a mapped task: its instances' states rolled
 * up as Airflow's grid does, with counts) */

/* Airflow's roll-up order: the first state present wins. */
static int state_rank(const char *st) {
  static const char *const order[] = {"failed",
                                      "upstream_failed",
                                      "up_for_retry",
                                      "up_for_reschedule",
                                      "queued",
                                      "scheduled",
                                      "running",
                                      "none",
                                      "success",
                                      "skipped",
                                      NULL};
  for (int i = 0; order[i]; i++)
    if (!g_strcmp0(st, order[i]))
      return i;
  return 7;
}

/* A run's cells: each task's state {state, map_index, mapped_states},
 * tasks in the order given (the order their rows were made: each task's
 * first row, as the run declared them), a mapped task's instances rolled
 * up as Airflow's grid does (state_rank), mapped_states counting them by
 * state.  Plain structs written straight to JSON: the grid has hundreds. */
typedef struct {
  const char *state; /* the rolled-up one (a key of the row's strings) */
  int map_index;     /* the lowest */
  GArray *counts;    /* (state, n) pairs of the mapped instances */
} cell;

typedef struct {
  const char *state;
  int n;
} state_count;

typedef struct {
  GHashTable *strings; /* every task id and state, owned once */
  GPtrArray *tasks;    /* task ids in order (strings') */
  GHashTable *cells;   /* task id -> cell */
} cell_row;

static void cell_free(gpointer p) {
  cell *c = p;
  g_array_unref(c->counts);
  g_free(c);
}

static cell_row *cell_row_new(void) {
  cell_row *r = g_new0(cell_row, 1);
  r->strings = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  r->tasks = g_ptr_array_new();
  r->cells = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, cell_free);
  return r;
}

static void cell_row_free(gpointer p) {
  cell_row *r = p;
  g_hash_table_unref(r->cells);
  g_ptr_array_unref(r->tasks);
  g_hash_table_unref(r->strings);
  g_free(r);
}

/* text, kept once in r (borrowed back). */
static const char *intern(cell_row *r, const char *text) {
  const char *k = g_hash_table_lookup(r->strings, text);
  if (!k) {
    char *d = g_strdup(text);
    g_hash_table_insert(r->strings, d, d);
    k = d;
  }
  return k;
}

/* Adds a task instance (task, map_index mi, state st) to r. */
static void cells_add(cell_row *r, const char *task, int mi, const char *st) {
  st = intern(r, st ? st : "none");
  cell *c = g_hash_table_lookup(r->cells, task);
  if (!c) {
    c = g_new0(cell, 1);
    c->state = st;
    c->map_index = mi;
    c->counts = g_array_new(FALSE, FALSE, sizeof(state_count));
    const char *t = intern(r, task);
    g_ptr_array_add(r->tasks, (gpointer)t);
    g_hash_table_insert(r->cells, (gpointer)t, c);
  } else {
    if (state_rank(st) < state_rank(c->state))
      c->state = st;
    c->map_index = MIN(c->map_index, mi);
  }
  if (mi < 0)
    return;
  for (guint i = 0; i < c->counts->len; i++) {
    state_count *sc = &g_array_index(c->counts, state_count, i);
    if (sc->state == st) {
      sc->n++;
      return;
    }
  }
  state_count sc = {st, 1};
  g_array_append_val(c->counts, sc);
}

/* r as the object {task_id: {state, map_index, mapped_states}}, to w. */
static void cells_write(ph_jsonw *w, const cell_row *r) {
  ph_jsonw_begin_object(w);
  for (guint i = 0; i < r->tasks->len; i++) {
    const char *t = r->tasks->pdata[i];
    const cell *c = g_hash_table_lookup(r->cells, t);
    ph_jsonw_key(w, t);
    ph_jsonw_begin_object(w);
    ph_jsonw_key(w, "state");
    ph_jsonw_string(w, c->state);
    ph_jsonw_key(w, "map_index");
    ph_jsonw_int(w, c->map_index);
    ph_jsonw_key(w, "mapped_states");
    ph_jsonw_begin_object(w);
    for (guint k = 0; k < c->counts->len; k++) {
      const state_count *sc = &g_array_index(c->counts, state_count, k);
      ph_jsonw_key(w, sc->state);
      ph_jsonw_int(w, sc->n);
    }
    ph_jsonw_end_object(w);
    ph_jsonw_end_object(w);
  }
  ph_jsonw_end_object(w);
}

/* Each task's state in run run_id (see cell_row). */
static cell_row *run_cells(ph_api *api, const char *run_id) {
  cell_row *row = cell_row_new();
  ph_db_stmt *q = prep(api, "SELECT task_id, map_index, state FROM "
                            "task_instance WHERE run_id=? ORDER BY rowid");
  if (!q)
    return row;
  ph_db_bind_text(q, 1, run_id);
  while (ph_store_step(api->st, q) == PH_DB_ROW)
    cells_add(row, ph_db_column_text(q, 0), (int)ph_db_column_int64(q, 1),
              ph_db_column_text(q, 2));
  done(q);
  return row;
}

static void grid_data(ph_api *api, GHashTable *query, ph_api_reply *out) {
  const char *dag = query ? g_hash_table_lookup(query, "dag_id") : NULL;
  const char *nr = query ? g_hash_table_lookup(query, "num_runs") : NULL;
  int num = nr ? atoi(nr) : 25;
  num = CLAMP(num, 1, 365);
  if (!dag || !get_dag(api, dag, NULL)) {
    ph_api_problem(out, 404, "DAG not found (dag_id)");
    return;
  }
  ph_jsonw *w = ph_jsonw_new();
  ph_jsonw_begin_object(w);
  ph_jsonw_key(w, "dag_id");
  ph_jsonw_string(w, dag);
  ph_jsonw_key(w, "dag_runs");
  ph_jsonw_begin_array(w);
  ph_db_stmt *q = prep(api, "SELECT * FROM (" RUN_COLS
                            "WHERE dag_id=? ORDER BY start_date DESC, "
                            "rowid DESC LIMIT ?) ORDER BY start_date");
  GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
  if (q) {
    ph_db_bind_text(q, 1, dag);
    ph_db_bind_int64(q, 2, num);
    while (ph_store_step(api->st, q) == PH_DB_ROW) {
      run_row(w, q);
      g_ptr_array_add(ids, g_strdup(ph_db_column_text(q, 0)));
    }
    done(q);
  }
  ph_jsonw_end_array(w);
  /* each run's cells, from one query over the runs' task instances, and
   * the tasks in the order the runs have them */
  GHashTable *rows =
      g_hash_table_new_full(g_str_hash, g_str_equal, NULL, cell_row_free);
  for (guint r = 0; r < ids->len; r++)
    g_hash_table_insert(rows, ids->pdata[r], cell_row_new());
  q = prep(api, "SELECT run_id, task_id, map_index, state FROM task_instance "
                "WHERE run_id IN (SELECT run_id FROM dag_run WHERE dag_id=? "
                "ORDER BY start_date DESC, rowid DESC LIMIT ?) ORDER BY rowid");
  if (q) {
    ph_db_bind_text(q, 1, dag);
    ph_db_bind_int64(q, 2, num);
    while (ph_store_step(api->st, q) == PH_DB_ROW) {
      cell_row *row = g_hash_table_lookup(rows, ph_db_column_text(q, 0));
      if (row)
        cells_add(row, ph_db_column_text(q, 1), (int)ph_db_column_int64(q, 2),
                  ph_db_column_text(q, 3));
    }
    done(q);
  }
  GPtrArray *tasks = g_ptr_array_new_with_free_func(g_free);
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  ph_jsonw_key(w, "instances");
  ph_jsonw_begin_object(w);
  for (guint r = 0; r < ids->len; r++) {
    cell_row *row = g_hash_table_lookup(rows, ids->pdata[r]);
    for (guint i = 0; i < row->tasks->len; i++)
      if (!g_hash_table_contains(seen, row->tasks->pdata[i])) {
        char *t = g_strdup(row->tasks->pdata[i]);
        g_ptr_array_add(tasks, t);
        g_hash_table_add(seen, t);
      }
    ph_jsonw_key(w, ids->pdata[r]);
    cells_write(w, row);
  }
  g_hash_table_unref(rows);
  ph_jsonw_end_object(w);
  ph_jsonw_key(w, "tasks");
  ph_jsonw_begin_array(w);
  for (guint i = 0; i < tasks->len; i++)
    ph_jsonw_string(w, tasks->pdata[i]);
  ph_jsonw_end_array(w);
  ph_jsonw_end_object(w);
  g_hash_table_unref(seen);
  g_ptr_array_unref(tasks);
  g_ptr_array_unref(ids);
  reply_writer(out, 200, w);
}

/* ---- pipehost's own: experiments, models, datasets */

/* A JSON text column parsed (an object), or an empty object. */
static void set_json(JsonObject *o, const char *name, ph_db_stmt *q, int c) {
  const char *t = ph_db_column_text(q, c);
  JsonNode *n = t ? json_from_string(t, NULL) : NULL;
  if (n && JSON_NODE_HOLDS_OBJECT(n)) {
    json_object_set_member(o, name, n);
    return;
  }
  if (n)
    json_node_unref(n);
  json_object_set_object_member(o, name, json_object_new());
}

/* GET experiments?dag_id=&run_id=: tracked tries (a train try's params,
 * metrics, artifacts), newest first; run_id "latest": the newest run that
 * has any. */
static void get_experiments(ph_api *api, GHashTable *query,
                            ph_api_reply *out) {
  int limit, offset;
  if (!paging(query, &limit, &offset, out))
    return;
  const char *dag = query ? g_hash_table_lookup(query, "dag_id") : NULL;
  const char *run = query ? g_hash_table_lookup(query, "run_id") : NULL;
  g_autofree char *latest = NULL;
  if (run && !strcmp(run, "latest")) {
    ph_db_stmt *l = prep(api, "SELECT run_id FROM experiment WHERE ?1 IS "
                              "NULL OR dag_id=?1 ORDER BY id DESC LIMIT 1");
    if (l) {
      if (dag)
        ph_db_bind_text(l, 1, dag);
      if (ph_store_step(api->st, l) == PH_DB_ROW)
        latest = g_strdup(ph_db_column_text(l, 0));
      done(l);
    }
    run = latest ? latest : "";
  }
  ph_db_stmt *q =
      prep(api, "SELECT id, dag_id, run_id, task_id, try_number, operator, "
                "state, params, metrics, artifacts, created FROM experiment "
                "WHERE (CAST(?1 AS TEXT) IS NULL OR dag_id=?1) AND (CAST(?2 AS "
                "TEXT) IS NULL OR "
                "run_id=?2) ORDER BY id DESC LIMIT ?3 OFFSET ?4");
  JsonArray *a = json_array_new();
  gint64 total = 0;
  if (q) {
    if (dag)
      ph_db_bind_text(q, 1, dag);
    if (run)
      ph_db_bind_text(q, 2, run);
    ph_db_bind_int64(q, 3, limit);
    ph_db_bind_int64(q, 4, offset);
    while (ph_store_step(api->st, q) == PH_DB_ROW) {
      JsonObject *o = json_object_new();
      json_object_set_int_member(o, "experiment_id", ph_db_column_int64(q, 0));
      set_text(o, "dag_id", q, 1);
      set_text(o, "dag_run_id", q, 2);
      set_text(o, "task_id", q, 3);
      json_object_set_int_member(o, "try_number",
                                 (int)ph_db_column_int64(q, 4));
      set_text(o, "operator", q, 5);
      set_text(o, "state", q, 6);
      set_json(o, "params", q, 7);
      set_json(o, "metrics", q, 8);
      set_json(o, "artifacts", q, 9);
      set_time(o, "created", q, 10);
      json_array_add_object_element(a, o);
    }
    done(q);
    total = count(
        api,
        "SELECT count(*) FROM experiment WHERE (CAST(?1 AS TEXT) IS NULL OR "
        "dag_id=?1) AND (CAST(?2 AS TEXT) IS NULL OR run_id=?2)",
        dag, run);
  }
  reply_json(out, 200, collection("experiments", a, total), NULL);
}

/* GET models: every registered model, its versions and its aliases. */
static void get_models(ph_api *api, GHashTable *query, ph_api_reply *out) {
  JsonArray *a = json_array_new();
  ph_db_stmt *q =
      prep(api, "SELECT name, version, path, experiment_id, created FROM "
                "model_version ORDER BY name, version");
  ph_db_stmt *al = prep(api, "SELECT alias, version FROM model_alias WHERE "
                             "name=? ORDER BY alias");
  JsonObject *cur = NULL;
  while (q && al && ph_store_step(api->st, q) == PH_DB_ROW) {
    const char *name = ph_db_column_text(q, 0);
    if (!cur || strcmp(json_object_get_string_member(cur, "name"), name)) {
      cur = json_object_new();
      json_object_set_string_member(cur, "name", name);
      json_object_set_array_member(cur, "versions", json_array_new());
      JsonObject *aliases = json_object_new();
      ph_db_reset(al);
      ph_db_bind_text(al, 1, name);
      while (ph_store_step(api->st, al) == PH_DB_ROW)
        json_object_set_int_member(aliases, ph_db_column_text(al, 0),
                                   (int)ph_db_column_int64(al, 1));
      json_object_set_object_member(cur, "aliases", aliases);
      json_array_add_object_element(a, cur);
    }
    JsonObject *v = json_object_new();
    json_object_set_int_member(v, "version", (int)ph_db_column_int64(q, 1));
    set_text(v, "path", q, 2);
    if (ph_db_column_type(q, 3) == PH_DB_NULL)
      json_object_set_null_member(v, "experiment_id");
    else
      json_object_set_int_member(v, "experiment_id", ph_db_column_int64(q, 3));
    set_time(v, "created", q, 4);
    json_array_add_object_element(
        json_object_get_array_member(cur, "versions"), v);
  }
  if (q)
    done(q);
  if (al)
    done(al);
  reply_json(out, 200, collection("models", a, json_array_get_length(a)),
             NULL);
}

/* GET datasets: ph_dataset's list as a collection. */
static void get_datasets(ph_api *api, GHashTable *query, ph_api_reply *out) {
  JsonNode *ds = ph_dataset_list(api->st, ph_util_now());
  JsonArray *a = json_array_ref(json_node_get_array(ds));
  json_node_unref(ds);
  reply_json(out, 200, collection("datasets", a, json_array_get_length(a)),
             NULL);
}

/* ---- the router */

static gboolean authorized(ph_api *api, const char *authorization) {
  if (!authorization || !g_str_has_prefix(authorization, "Bearer "))
    return FALSE;
  const char *t = authorization + 7;
  /* compared in constant time */
  size_t n = strlen(api->token), m = strlen(t);
  unsigned char d = n != m;
  for (size_t i = 0; i < n; i++)
    d |= (unsigned char)(api->token[i] ^ (i < m ? t[i] : 0));
  return d == 0;
}

void ph_api_set_dir_dags(ph_api *api, JsonArray *dags) {
  if (api->dir_dags)
    json_array_unref(api->dir_dags);
  api->dir_dags = dags;
  g_hash_table_remove_all(api->replies); /* a DAG may be known now */
  api->replies_size = 0;
}

gboolean ph_api_may_read(ph_api *api, const char *authorization) {
  return !api->reads_need_token || authorized(api, authorization);
}

JsonObject *ph_api_run_states(ph_api *api, const char *dag_id,
                              const char *run_id, char **file) {
  ph_db_stmt *q =
      prep(api, "SELECT run_id, dag_file FROM dag_run WHERE "
                "dag_id=?1 AND (CAST(?2 AS TEXT) IS NULL OR run_id=?2) ORDER "
                "BY start_date DESC, rowid DESC LIMIT 1");
  char *rid = NULL;
  *file = NULL;
  if (!q)
    return NULL;
  ph_db_bind_text(q, 1, dag_id);
  if (run_id)
    ph_db_bind_text(q, 2, run_id);
  if (ph_store_step(api->st, q) == PH_DB_ROW) {
    rid = g_strdup(ph_db_column_text(q, 0));
    *file = g_strdup(ph_db_column_text(q, 1));
  }
  done(q);
  if (!rid)
    return NULL;
  cell_row *row = run_cells(api, rid);
  ph_jsonw *w = ph_jsonw_new();
  cells_write(w, row);
  cell_row_free(row);
  g_autofree char *text = ph_jsonw_free_to_text(w, NULL);
  JsonNode *n = json_from_string(text, NULL);
  JsonObject *o = json_object_ref(json_node_get_object(n));
  json_node_unref(n);
  g_free(rid);
  return o;
}

char *ph_api_csrf(ph_api *api) {
  return g_compute_hmac_for_string(G_CHECKSUM_SHA256,
                                   (const guchar *)api->token,
                                   strlen(api->token), "pipehost-ui-csrf", -1);
}

/* The value of cookie name in a Cookie header (caller frees), or NULL. */
static char *cookie_value(const char *header, const char *name) {
  if (!header)
    return NULL;
  g_auto(GStrv) parts = g_strsplit(header, ";", 0);
  size_t n = strlen(name);
  for (char **p = parts; *p; p++) {
    const char *c = *p;
    while (*c == ' ')
      c++;
    if (!strncmp(c, name, n) && c[n] == '=')
      return g_strdup(c + n + 1);
  }
  return NULL;
}

/* A write from the UI: its CSRF header equals its cookie and the value
 * the server derives from its token (compared in constant time). */
static gboolean csrf_ok(ph_api *api, const ph_api_request *req) {
  g_autofree char *want = ph_api_csrf(api);
  g_autofree char *cookie = cookie_value(req->cookie, "ph_csrf");
  if (!cookie || !req->csrf || strlen(req->csrf) != strlen(want) ||
      strlen(cookie) != strlen(want))
    return FALSE;
  unsigned char d = 0;
  for (size_t i = 0; want[i]; i++)
    d |= (unsigned char)((want[i] ^ req->csrf[i]) | (want[i] ^ cookie[i]));
  return d == 0;
}

static void grid_data(ph_api *api, GHashTable *query, ph_api_reply *out);

static void route(ph_api *api, const ph_api_request *req, ph_api_reply *out) {
  const char *method = req->method, *path = req->path;
  GHashTable *query = req->query;
  const char *authorization = req->authorization, *accept = req->accept,
             *body = req->body;
  gsize body_len = req->body_len;
  memset(out, 0, sizeof *out);
  gboolean get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
  if (get && !strcmp(path, "/object/grid_data")) {
    if (api->reads_need_token && !authorized(api, authorization)) {
      ph_api_problem(out, 401, "reads need a bearer token");
      return;
    }
    grid_data(api, query, out);
    return;
  }
  if (!g_str_has_prefix(path, "/api/v1/")) {
    ph_api_problem(out, 404, "no such endpoint; the API is under /api/v1");
    return;
  }
  g_auto(GStrv) p = g_strsplit(path + strlen("/api/v1/"), "/", 0);
  guint n = g_strv_length(p);
  if (n && !*p[n - 1])
    n--; /* a trailing slash */
  /* health, version and the document need no token (as Airflow's) */
  if (get && n == 1 && !strcmp(p[0], "health")) {
    JsonObject *o = json_object_new(), *db = json_object_new(),
               *sc = json_object_new();
    gboolean ok = !ph_store_get_error(api->st);
    json_object_set_string_member(db, "status", ok ? "healthy" : "unhealthy");
    json_object_set_object_member(o, "metadatabase", db);
    /* a scheduler is healthy when its loop ran in the last 30 s (Airflow's
     * scheduler_health_check_threshold) */
    g_autofree char *beat = ph_store_meta_get(api->st, "scheduler_heartbeat");
    double t = beat ? g_ascii_strtod(beat, NULL) : 0;
    if (t > 0) {
      g_autofree char *iso = ph_util_iso8601(t);
      json_object_set_string_member(sc, "latest_scheduler_heartbeat", iso);
    } else {
      json_object_set_null_member(sc, "latest_scheduler_heartbeat");
    }
    json_object_set_string_member(
        sc, "status",
        t > 0 && ph_util_now() - t < 30 ? "healthy" : "unhealthy");
    json_object_set_object_member(o, "scheduler", sc);
    reply_object(out, 200, o);
    return;
  }
  if (get && n == 1 && !strcmp(p[0], "version")) {
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "version", PH_VERSION);
    json_object_set_null_member(o, "git_version");
    reply_object(out, 200, o);
    return;
  }
  if (get && n == 1 && !strcmp(p[0], "openapi.json")) {
    GBytes *doc = g_resources_lookup_data("/org/pipehost/web/openapi.json",
                                          G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
    if (!doc) {
      ph_api_problem(out, 500,
              "the OpenAPI document is not compiled into this "
              "program");
      return;
    }
    gsize len = 0;
    const char *data = g_bytes_get_data(doc, &len);
    out->status = 200;
    out->content_type = "application/json";
    out->body = g_strndup(data, len);
    out->len = len;
    g_bytes_unref(doc);
    return;
  }
  if (((!get && !(api->ui_csrf && csrf_ok(api, req))) ||
       (get && api->reads_need_token)) &&
      !authorized(api, authorization)) {
    ph_api_problem(out, 401,
            get ? "reads need a bearer token when the webserver is "
                  "not bound to loopback (pipehost webserver "
                  "--print-token)"
                : "writes need Authorization: Bearer TOKEN "
                  "(pipehost webserver --print-token)");
    return;
  }
  if (body_len > PH_API_MAX_BODY) {
    ph_api_problem(out, 413, "the request body is over 1 MiB");
    return;
  }
  const char *what = p[0] ? p[0] : "";
  /* the collections at the top: GET NAME */
  static const struct {
    const char *name;
    void (*get)(ph_api *, GHashTable *, ph_api_reply *);
  } top[] = {{"metrics", metrics},         {"dags", get_dags},
             {"pools", get_pools},         {"variables", get_variables},
             {"connections", get_connections},
             {"experiments", get_experiments},
             {"models", get_models},       {"datasets", get_datasets}};
  for (guint i = 0; get && n == 1 && i < G_N_ELEMENTS(top); i++)
    if (!strcmp(what, top[i].name)) {
      top[i].get(api, query, out);
      return;
    }
  gboolean conns = !strcmp(what, "connections"),
           vars = !strcmp(what, "variables");
  if ((conns || vars) && n == 1 && !strcmp(method, "POST")) {
    if (conns)
      post_connection(api, body, body_len, out);
    else
      post_variable(api, body, body_len, out);
    return;
  }
  if ((conns || vars) && n == 2 && !strcmp(method, "DELETE")) {
    if (conns ? ph_store_conn_delete(api->st, p[1])
              : ph_store_var_delete(api->st, p[1])) {
      out->status = 204;
      out->content_type = "application/json";
      out->body = g_strdup("");
      return;
    }
    g_autofree char *d = g_strdup_printf("%s '%s' not found",
                                         conns ? "Connection" : "Variable",
                                         p[1]);
    ph_api_problem(out, 404, d);
    return;
  }
  if (n >= 2 && !strcmp(what, "dags")) {
    const char *dag = p[1];
    if (get && n == 2) {
      get_dag(api, dag, out);
      return;
    }
    if (n == 3 && !strcmp(p[2], "clearTaskInstances") &&
        !strcmp(method, "POST")) {
      clear_tis(api, dag, body, body_len, out);
      return;
    }
    if (n >= 3 && !strcmp(p[2], "dagRuns")) {
      if (n == 3 && get) {
        get_runs(api, dag, query, out);
        return;
      }
      if (n == 3 && !strcmp(method, "POST")) {
        trigger(api, dag, body, body_len, out);
        return;
      }
      if (n == 4 && get) {
        ph_jsonw *w = ph_jsonw_new();
        if (find_run(api, dag, p[3], w, out))
          reply_writer(out, 200, w);
        else
          g_free(ph_jsonw_free_to_text(w, NULL));
        return;
      }
      if (n >= 5 && get && !strcmp(p[4], "taskInstances")) {
        if (n == 5) {
          get_tis(api, dag, p[3], query, out);
          return;
        }
        if (n == 6 || (n == 7 && g_ascii_isdigit(p[6][0]))) {
          get_ti(api, dag, p[3], p[5], n == 7 ? p[6] : NULL, out);
          return;
        }
        if (n == 7 && !strcmp(p[6], "tries")) {
          get_tries(api, dag, p[3], p[5], query, out);
          return;
        }
        if (n == 7 && !strcmp(p[6], "explain")) {
          get_explain(api, dag, p[3], p[5], query, out);
          return;
        }
        if (n == 8 && !strcmp(p[6], "logs")) {
          get_log(api, dag, p[3], p[5], p[7], query, accept, out);
          return;
        }
        if ((n == 7 || n == 8) && !strcmp(p[6], "xcomEntries")) {
          get_xcoms(api, dag, p[3], p[5], n == 8 ? p[7] : NULL, query, out);
          return;
        }
      }
    }
  }
  if (!get && strcmp(method, "POST")) {
    ph_api_problem(out, 405,
            "this endpoint takes GET (POST triggers a run, makes a "
            "connection or a variable; DELETE removes one)");
    return;
  }
  ph_api_problem(out, 404, "no such endpoint (see /api/v1/openapi.json)");
}

/* The bytes of kept replies one API holds at most. */
#define REPLIES_MAX (8u << 20)

/* The cache key of a request whose reply depends on the store alone (a
 * GET of the grid, runs or task instances; not logs, which are files, nor
 * DAGs, explain or metrics, which read files or the clock), or NULL. */
static char *cache_key(const ph_api_request *req) {
  if (strcmp(req->method, "GET"))
    return NULL;
  if (strcmp(req->path, "/object/grid_data")) {
    if (!g_str_has_prefix(req->path, "/api/v1/dags/"))
      return NULL;
    g_auto(GStrv) p = g_strsplit(req->path + strlen("/api/v1/"), "/", 0);
    guint n = g_strv_length(p);
    gboolean runs = n >= 3 && !strcmp(p[2], "dagRuns");
    gboolean tis = n >= 5 && !strcmp(p[4], "taskInstances");
    if (!runs || !(n <= 4 || (tis && (n <= 6 || (n == 7 && g_ascii_isdigit(
                                                               p[6][0]))))))
      return NULL;
  }
  GString *k = g_string_new(req->path);
  if (req->query) {
    GList *names = g_list_sort(g_hash_table_get_keys(req->query),
                               (GCompareFunc)strcmp);
    for (GList *l = names; l; l = l->next)
      g_string_append_printf(k, "%c%s=%s", l == names ? '?' : '&',
                             (char *)l->data,
                             (char *)g_hash_table_lookup(req->query, l->data));
    g_list_free(names);
  }
  return g_string_free(k, FALSE);
}

void ph_api_handle(ph_api *api, const ph_api_request *req, ph_api_reply *out) {
  /* a reply that depends on the store alone is kept until the store
   * changes (SQLite's data_version): a UI polling an idle store, or many
   * clients reading the same page, cost one query */
  g_autofree char *key = api->no_cache ? NULL : cache_key(req);
  if (key && ph_api_may_read(api, req->authorization) &&
      store_unchanged(api)) {
    GBytes *kept = g_hash_table_lookup(api->replies, key);
    if (kept) {
      gsize len = 0;
      const char *bytes = g_bytes_get_data(kept, &len);
      out->status = 200;
      out->content_type = "application/json";
      out->body = g_memdup2(bytes, len);
      out->len = len;
      return;
    }
  } else {
    g_clear_pointer(&key, g_free);
  }
  route(api, req, out);
  if (key && out->status == 200 && out->len <= REPLIES_MAX / 16) {
    if (api->replies_size + out->len > REPLIES_MAX) {
      g_hash_table_remove_all(api->replies);
      api->replies_size = 0;
    }
    g_hash_table_insert(api->replies, g_steal_pointer(&key),
                        g_bytes_new(out->body, out->len));
    api->replies_size += out->len;
  }
}
