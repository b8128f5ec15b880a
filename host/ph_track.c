/* ph_track -- see ph_track.h. */
#include "ph_track.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_util.h"

static const char *const track_schema =
    "CREATE TABLE IF NOT EXISTS experiment("
    " id INTEGER PRIMARY KEY, dag_id TEXT, run_id TEXT NOT NULL,"
    " task_id TEXT NOT NULL, try_number INTEGER NOT NULL, operator TEXT,"
    " params TEXT NOT NULL DEFAULT '{}', metrics TEXT NOT NULL DEFAULT '{}',"
    " artifacts TEXT NOT NULL DEFAULT '{}', state TEXT DEFAULT 'running',"
    " created REAL, UNIQUE(run_id, task_id, try_number));"
    "CREATE TABLE IF NOT EXISTS model_version("
    " name TEXT NOT NULL, version INTEGER NOT NULL, path TEXT NOT NULL,"
    " experiment_id INTEGER, created REAL, PRIMARY KEY(name, version));"
    "CREATE TABLE IF NOT EXISTS model_alias("
    " name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,"
    " set_at REAL, PRIMARY KEY(name, alias));"
    "CREATE TABLE IF NOT EXISTS result_cache("
    " fingerprint TEXT PRIMARY KEY, dag_id TEXT, run_id TEXT, task_id TEXT,"
    " try_number INTEGER, created REAL);"
    "CREATE TABLE IF NOT EXISTS lineage("
    " run_id TEXT NOT NULL, task_id TEXT NOT NULL, fingerprint TEXT,"
    " doc TEXT, cached_from TEXT, PRIMARY KEY(run_id, task_id));";

gboolean ph_track_init(ph_store *st, GError **error) {
  if (ph_store_is_pg(st))
    return TRUE; /* made with the store's PostgreSQL schema */
  ph_db *db = ph_store_get_db(st);
  if (!ph_db_exec(db, track_schema)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "pipehost store: cannot create the tracking tables: %s",
                ph_db_errmsg(db));
    return FALSE;
  }
  return TRUE;
}

/* Prepares sql, or NULL. */
static ph_db_stmt *prep(ph_store *st, const char *sql) {
  ph_db_stmt *q = NULL;
  if (!(q = ph_db_prepare(ph_store_get_db(st), sql)))
    return NULL;
  return q;
}

static void bind_try(ph_db_stmt *q, const ph_track_try *w) {
  ph_db_bind_text(q, 1, w->dag_id);
  ph_db_bind_text(q, 2, w->run_id);
  ph_db_bind_text(q, 3, w->task_id);
  ph_db_bind_int64(q, 4, w->try_number);
  ph_db_bind_text(q, 5, w->op);
  ph_db_bind_double(q, 6, ph_util_now());
}

static gint64 ensure_experiment(ph_store *st, const ph_track_try *w) {
  gint64 id = -1;
  ph_db_stmt *q = prep(st, "INSERT OR IGNORE INTO experiment(dag_id, run_id, "
                           "task_id, try_number, operator, created) "
                           "VALUES(?,?,?,?,?,?)");
  if (!q)
    return -1;
  bind_try(q, w);
  ph_store_step(st, q);
  ph_db_finalize(q);
  q = prep(st, "SELECT id FROM experiment WHERE run_id=? AND task_id=? AND "
               "try_number=?");
  if (!q)
    return -1;
  ph_db_bind_text(q, 1, w->run_id);
  ph_db_bind_text(q, 2, w->task_id);
  ph_db_bind_int64(q, 3, w->try_number);
  if (ph_store_step(st, q) == PH_DB_ROW)
    id = ph_db_column_int64(q, 0);
  ph_db_finalize(q);
  return id;
}

gboolean ph_track_log(ph_store *st, const ph_track_try *who, const char *kind,
                      const char *json, GError **error) {
  gboolean ok = FALSE;
  JsonNode *n = NULL;
  const char *col = NULL;
  char *sql = NULL, *canon = NULL;
  if (kind && !strcmp(kind, "params"))
    col = "params";
  else if (kind && !strcmp(kind, "metrics"))
    col = "metrics";
  else if (kind && !strcmp(kind, "artifacts"))
    col = "artifacts";
  if (!col) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "track: unknown kind '%s' (params, metrics or artifacts)",
                kind ? kind : "(null)");
    goto out;
  }
  n = json ? json_from_string(json, NULL) : NULL;
  if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "track: %s must be a JSON object", kind);
    goto out;
  }
  if (!strcmp(col, "metrics")) {
    JsonObject *o = json_node_get_object(n);
    GList *ms = json_object_get_members(o);
    for (GList *l = ms; l; l = l->next) {
      JsonNode *v = json_object_get_member(o, l->data);
      if (!JSON_NODE_HOLDS_VALUE(v) ||
          (json_node_get_value_type(v) != G_TYPE_DOUBLE &&
           json_node_get_value_type(v) != G_TYPE_INT64)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "track: metric '%s' is not a number", (char *)l->data);
        g_list_free(ms);
        goto out;
      }
    }
    g_list_free(ms);
  }
  gint64 id = ensure_experiment(st, who);
  sql = g_strdup_printf("UPDATE experiment SET %s=json_patch(%s, ?) WHERE id=?",
                        col, col);
  ph_db_stmt *q = prep(st, sql);
  if (!q || id < 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "track: store error: %s", ph_db_errmsg(ph_store_get_db(st)));
    ph_db_finalize(q);
    goto out;
  }
  canon = ph_util_json_dup(n);
  ph_db_bind_text(q, 1, canon);
  ph_db_bind_int64(q, 2, id);
  ok = ph_store_step(st, q) == PH_DB_DONE;
  if (!ok)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "track: store error: %s", ph_db_errmsg(ph_store_get_db(st)));
  ph_db_finalize(q);
out:
  g_free(sql);
  g_free(canon);
  if (n)
    json_node_unref(n);
  return ok;
}

void ph_track_try_end(ph_store *st, const ph_track_try *who,
                      const char *state) {
  ph_db_stmt *q = prep(st, "UPDATE experiment SET state=? WHERE run_id=? "
                           "AND task_id=? AND try_number=?");
  if (!q)
    return;
  ph_db_bind_text(q, 1, state);
  ph_db_bind_text(q, 2, who->run_id);
  ph_db_bind_text(q, 3, who->task_id);
  ph_db_bind_int64(q, 4, who->try_number);
  ph_store_step(st, q);
  ph_db_finalize(q);
}

static gboolean valid_name(const char *s) {
  if (!s || !*s || strlen(s) > 200)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum(*p) && !strchr("_-.", *p))
      return FALSE;
  return TRUE;
}

char *ph_track_model_register(ph_store *st, const ph_track_try *who,
                              const char *name, const char *path,
                              GError **error) {
  if (!valid_name(name)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "model name '%s' is not valid (letters, digits, _ - . only)",
                name ? name : "");
    return NULL;
  }
  if (!path || !g_file_test(path, G_FILE_TEST_EXISTS)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "model file '%s' does not exist", path ? path : "");
    return NULL;
  }
  gint64 exp = ensure_experiment(st, who);
  gint64 version = 1;
  char *abs = NULL;
  ph_db_stmt *q =
      prep(st, "SELECT COALESCE(MAX(version), 0) + 1 FROM model_version "
               "WHERE name=?");
  if (!q)
    goto fail;
  ph_db_bind_text(q, 1, name);
  if (ph_store_step(st, q) == PH_DB_ROW)
    version = ph_db_column_int64(q, 0);
  ph_db_finalize(q);
  q = prep(st, "INSERT INTO model_version(name, version, path, experiment_id,"
               " created) VALUES(?,?,?,?,?)");
  if (!q)
    goto fail;
  abs = g_canonicalize_filename(path, NULL);
  ph_db_bind_text(q, 1, name);
  ph_db_bind_int64(q, 2, version);
  ph_db_bind_text(q, 3, abs);
  ph_db_bind_int64(q, 4, exp);
  ph_db_bind_double(q, 5, ph_util_now());
  int rc = ph_store_step(st, q);
  ph_db_finalize(q);
  if (rc != PH_DB_DONE)
    goto fail;
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "name");
  json_builder_add_string_value(b, name);
  json_builder_set_member_name(b, "version");
  json_builder_add_int_value(b, version);
  json_builder_end_object(b);
  JsonNode *root = json_builder_get_root(b);
  char *out = ph_util_json_dup(root);
  json_node_unref(root);
  g_object_unref(b);
  g_free(abs);
  return out;
fail:
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
              "model registry: store error: %s",
              ph_db_errmsg(ph_store_get_db(st)));
  g_free(abs);
  return NULL;
}

static void add_json_member(JsonBuilder *b, const char *name,
                            const char *text) {
  json_builder_set_member_name(b, name);
  JsonNode *n = text ? json_from_string(text, NULL) : NULL;
  json_builder_add_value(b, n ? n : json_node_new(JSON_NODE_NULL));
}

static void add_text_member(JsonBuilder *b, const char *name,
                            const char *text) {
  json_builder_set_member_name(b, name);
  if (text)
    json_builder_add_string_value(b, (const char *)text);
  else
    json_builder_add_null_value(b);
}

/* The version a reference names, or -1; stores the model name. */
static gint64 resolve_ref(ph_store *st, const char *ref, char **name) {
  gint64 v = -1;
  const char *at = strchr(ref, '@');
  const char *colon = strchr(ref, ':');
  ph_db_stmt *q = NULL;
  if (at) {
    *name = g_strndup(ref, at - ref);
    q = prep(st, "SELECT version FROM model_alias WHERE name=? AND alias=?");
    if (!q)
      return -1;
    ph_db_bind_text(q, 2, at + 1);
  } else if (colon) {
    *name = g_strndup(ref, colon - ref);
    char *end = NULL;
    gint64 n = g_ascii_strtoll(colon + 1, &end, 10);
    if (!end || *end || end == colon + 1)
      return -1;
    q = prep(st,
             "SELECT version FROM model_version WHERE name=? AND version=?");
    if (!q)
      return -1;
    ph_db_bind_int64(q, 2, n);
  } else {
    *name = g_strdup(ref);
    q = prep(st, "SELECT MAX(version) FROM model_version WHERE name=?");
    if (!q)
      return -1;
  }
  ph_db_bind_text(q, 1, *name);
  if (ph_store_step(st, q) == PH_DB_ROW &&
      ph_db_column_type(q, 0) != PH_DB_NULL)
    v = ph_db_column_int64(q, 0);
  ph_db_finalize(q);
  return v;
}

/* A model version as a JSON node, or NULL. */
static JsonNode *model_node(ph_store *st, const char *name, gint64 version) {
  JsonNode *root = NULL;
  ph_db_stmt *q = prep(
      st, "SELECT m.path, m.created, e.dag_id, e.run_id, e.task_id, "
          "e.params, e.metrics, e.id, (SELECT json_group_array(alias) FROM "
          "(SELECT alias FROM model_alias a WHERE a.name=m.name AND "
          "a.version=m.version ORDER BY alias) AS al) FROM model_version m "
          "LEFT "
          "JOIN experiment e ON e.id = m.experiment_id WHERE m.name=? AND "
          "m.version=?");
  if (!q)
    return NULL;
  ph_db_bind_text(q, 1, name);
  ph_db_bind_int64(q, 2, version);
  if (ph_store_step(st, q) == PH_DB_ROW) {
    JsonBuilder *b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, version);
    add_text_member(b, "path", ph_db_column_text(q, 0));
    add_json_member(b, "aliases", ph_db_column_text(q, 8));
    const char *m = ph_db_column_text(q, 6);
    add_json_member(b, "metrics", m ? m : "{}");
    const char *p = ph_db_column_text(q, 5);
    add_json_member(b, "params", p ? p : "{}");
    add_text_member(b, "dag_id", ph_db_column_text(q, 2));
    add_text_member(b, "run_id", ph_db_column_text(q, 3));
    add_text_member(b, "task_id", ph_db_column_text(q, 4));
    json_builder_set_member_name(b, "experiment_id");
    json_builder_add_int_value(b, ph_db_column_int64(q, 7));
    g_autofree char *created = ph_util_iso8601(ph_db_column_double(q, 1));
    json_builder_set_member_name(b, "created");
    json_builder_add_string_value(b, created);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    g_object_unref(b);
  }
  ph_db_finalize(q);
  return root;
}

char *ph_track_model_get(ph_store *st, const char *ref) {
  char *name = NULL, *out = NULL;
  if (!ref)
    return NULL;
  gint64 v = resolve_ref(st, ref, &name);
  if (v > 0) {
    JsonNode *n = model_node(st, name, v);
    if (n) {
      out = ph_util_json_dup(n);
      json_node_unref(n);
    }
  }
  g_free(name);
  return out;
}

gboolean ph_track_model_set_alias(ph_store *st, const char *name,
                                  gint64 version, const char *alias,
                                  GError **error) {
  if (!valid_name(alias)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "alias '%s' is not valid (letters, digits, _ - . only)",
                alias ? alias : "");
    return FALSE;
  }
  JsonNode *n = name ? model_node(st, name, version) : NULL;
  if (!n) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "model '%s' has no version %" G_GINT64_FORMAT, name ? name : "",
                version);
    return FALSE;
  }
  json_node_unref(n);
  ph_db_stmt *q = prep(st, "INSERT OR REPLACE INTO model_alias(name, alias,"
                           " version, set_at) VALUES(?,?,?,?)");
  if (!q)
    goto fail;
  ph_db_bind_text(q, 1, name);
  ph_db_bind_text(q, 2, alias);
  ph_db_bind_int64(q, 3, version);
  ph_db_bind_double(q, 4, ph_util_now());
  int rc = ph_store_step(st, q);
  ph_db_finalize(q);
  if (rc == PH_DB_DONE)
    return TRUE;
fail:
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
              "model registry: store error: %s",
              ph_db_errmsg(ph_store_get_db(st)));
  return FALSE;
}

gboolean ph_track_cache_lookup(ph_store *st, const char *fp, char **run_id,
                               char **task_id) {
  gboolean found = FALSE;
  /* c.task_id names an instance as ph_store_ti_name does: "task" or, for
   * a mapped one, "task[map_index]" */
  ph_db_stmt *q = prep(st, "SELECT c.run_id, c.task_id FROM result_cache c"
                           " JOIN task_instance t ON t.run_id=c.run_id AND"
                           " c.task_id = t.task_id || CASE WHEN"
                           " t.map_index >= 0 THEN '[' || t.map_index ||"
                           " ']' ELSE '' END WHERE c.fingerprint=? AND"
                           " t.state='success'");
  if (!q)
    return FALSE;
  ph_db_bind_text(q, 1, fp);
  if (ph_store_step(st, q) == PH_DB_ROW) {
    *run_id = g_strdup(ph_db_column_text(q, 0));
    *task_id = g_strdup(ph_db_column_text(q, 1));
    found = TRUE;
  }
  ph_db_finalize(q);
  return found;
}

void ph_track_cache_put(ph_store *st, const char *fp, const ph_track_try *who) {
  ph_db_stmt *q = prep(st, "INSERT OR REPLACE INTO result_cache(dag_id, "
                           "run_id, task_id, try_number, fingerprint, "
                           "created) VALUES(?,?,?,?,?,?)");
  if (!q)
    return;
  ph_db_bind_text(q, 1, who->dag_id);
  ph_db_bind_text(q, 2, who->run_id);
  ph_db_bind_text(q, 3, who->task_id);
  ph_db_bind_int64(q, 4, who->try_number);
  ph_db_bind_text(q, 5, fp);
  ph_db_bind_double(q, 6, ph_util_now());
  ph_store_step(st, q);
  ph_db_finalize(q);
}

void ph_track_lineage_set(ph_store *st, const char *run_id, const char *task_id,
                          const char *fp, const char *doc_json,
                          const char *cached_from) {
  ph_db_stmt *q = prep(st, "INSERT OR REPLACE INTO lineage(run_id, task_id,"
                           " fingerprint, doc, cached_from) "
                           "VALUES(?,?,?,?,?)");
  if (!q)
    return;
  ph_db_bind_text(q, 1, run_id);
  ph_db_bind_text(q, 2, task_id);
  ph_db_bind_text(q, 3, fp);
  ph_db_bind_text(q, 4, doc_json);
  ph_db_bind_text(q, 5, cached_from);
  ph_store_step(st, q);
  ph_db_finalize(q);
}

/* ---- the CLI */

/* Parses options; FALSE (after printing why) on bad usage or --help. */
static gboolean cli_parse(GOptionContext *ctx, int *argc, char ***argv,
                          int min_args, int max_args, const char *what,
                          int *rc) {
  GError *err = NULL;
  if (!g_option_context_parse(ctx, argc, argv, &err)) {
    fprintf(stderr, "pipehost %s: %s\n", what, err->message);
    g_error_free(err);
    *rc = 2;
    return FALSE;
  }
  if (*argc - 1 < min_args || *argc - 1 > max_args) {
    g_autofree char *help = g_option_context_get_help(ctx, TRUE, NULL);
    fprintf(stderr, "pipehost %s: wrong number of arguments\n%s", what, help);
    *rc = 2;
    return FALSE;
  }
  return TRUE;
}

static void print_node(JsonNode *n) {
  g_autofree char *s = ph_util_json_write(n, PH_JSON_PRETTY);
  printf("%s\n", s);
}

/* Runs a query and returns its rows as a JSON array of objects; column
 * names ending in _json hold JSON text. */
static JsonNode *query_rows(ph_store *st, const char *sql, const char *arg1,
                            gint64 limit) {
  JsonArray *a = json_array_new();
  ph_db_stmt *q = prep(st, sql);
  if (q) {
    int np = ph_db_bind_parameter_count(q);
    if (np >= 1)
      ph_db_bind_text(q, 1, arg1);
    if (np >= 2)
      ph_db_bind_int64(q, 2, limit);
    while (ph_store_step(st, q) == PH_DB_ROW) {
      JsonObject *o = json_object_new();
      for (int c = 0; c < ph_db_column_count(q); c++) {
        const char *col = ph_db_column_name(q, c);
        JsonNode *v;
        switch (ph_db_column_type(q, c)) {
        case PH_DB_NULL:
          v = json_node_new(JSON_NODE_NULL);
          break;
        case PH_DB_INTEGER:
          v = json_node_init_int(json_node_alloc(), ph_db_column_int64(q, c));
          break;
        case PH_DB_FLOAT:
          v = json_node_init_double(json_node_alloc(),
                                    ph_db_column_double(q, c));
          break;
        default: {
          const char *t = ph_db_column_text(q, c);
          v = g_str_has_suffix(col, "_json") ? json_from_string(t, NULL) : NULL;
          if (!v)
            v = json_node_init_string(json_node_alloc(), t);
        }
        }
        g_autofree char *key =
            g_str_has_suffix(col, "_json")
                ? g_strndup(col, strlen(col) - strlen("_json"))
                : g_strdup(col);
        json_object_set_member(o, key, v);
      }
      json_array_add_object_element(a, o);
    }
    ph_db_finalize(q);
  }
  JsonNode *n = json_node_new(JSON_NODE_ARRAY);
  json_node_take_array(n, a);
  return n;
}

static char *fmt_value(JsonNode *v) {
  if (!v || JSON_NODE_HOLDS_NULL(v))
    return g_strdup("-");
  if (JSON_NODE_HOLDS_VALUE(v) &&
      json_node_get_value_type(v) == G_TYPE_DOUBLE) {
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    return g_strdup(
        g_ascii_formatd(buf, sizeof buf, "%.6g", json_node_get_double(v)));
  }
  if (JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING)
    return g_strdup(json_node_get_string(v));
  return ph_util_json_dup(v);
}

/* "k=v k=v" of up to max members of object o. */
static char *summary(JsonObject *o, guint max) {
  GString *s = g_string_new(NULL);
  GList *ms = json_object_get_members(o);
  guint i = 0;
  for (GList *l = ms; l && i < max; l = l->next, i++) {
    g_autofree char *v = fmt_value(json_object_get_member(o, l->data));
    g_string_append_printf(s, "%s%s=%s", i ? " " : "", (char *)l->data, v);
  }
  if (g_list_length(ms) > max)
    g_string_append(s, " ...");
  g_list_free(ms);
  return g_string_free(s, FALSE);
}

#define EXP_COLS                                                               \
  "SELECT id, dag_id, run_id, task_id, try_number, operator, state, "          \
  "params AS params_json, metrics AS metrics_json, artifacts AS "              \
  "artifacts_json, created FROM experiment "

/* Experiments by task id, numbers in ids compared as numbers. */
static gint by_task_natural(gconstpointer a, gconstpointer b) {
  const char *ta = json_object_get_string_member(
      json_node_get_object((JsonNode *)a), "task_id");
  const char *tb = json_object_get_string_member(
      json_node_get_object((JsonNode *)b), "task_id");
  g_autofree char *ka = g_utf8_collate_key_for_filename(ta, -1);
  g_autofree char *kb = g_utf8_collate_key_for_filename(tb, -1);
  return strcmp(ka, kb);
}

/* Many experiments (a sweep): one row each, with the params that differ
 * between them and every metric. */
static void print_sweep(JsonArray *sel) {
  guint n = json_array_get_length(sel);
  GPtrArray *cols = g_ptr_array_new_with_free_func(g_free);
  static const char *const sections[] = {"params", "metrics"};
  for (guint sct = 0; sct < G_N_ELEMENTS(sections); sct++) {
    GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *keys = g_ptr_array_new();
    for (guint i = 0; i < n; i++) {
      JsonObject *o = json_object_get_object_member(
          json_array_get_object_element(sel, i), sections[sct]);
      GList *ms = json_object_get_members(o);
      for (GList *l = ms; l; l = l->next)
        if (g_hash_table_add(seen, l->data))
          g_ptr_array_add(keys, l->data);
      g_list_free(ms);
    }
    for (guint k = 0; k < keys->len; k++) {
      const char *key = keys->pdata[k];
      /* a param the same in every experiment says nothing here */
      gboolean differs = sct == 1;
      g_autofree char *first = NULL;
      for (guint i = 0; i < n && !differs; i++) {
        JsonObject *o = json_object_get_object_member(
            json_array_get_object_element(sel, i), sections[sct]);
        g_autofree char *v = fmt_value(json_object_get_member(o, key));
        if (!first)
          first = g_strdup(v);
        else
          differs = strcmp(first, v) != 0;
      }
      if (differs)
        g_ptr_array_add(cols, g_strdup_printf("%s.%s", sections[sct], key));
    }
    g_ptr_array_unref(keys);
    g_hash_table_unref(seen);
  }
  printf("%-22s %-5s", "TASK", "ID");
  for (guint c = 0; c < cols->len; c++)
    printf(" %-12.12s", strchr(cols->pdata[c], '.') + 1);
  printf("\n");
  for (guint i = 0; i < n; i++) {
    JsonObject *e = json_array_get_object_element(sel, i);
    printf("%-22s %-5" G_GINT64_FORMAT, json_object_get_string_member(e, "task_id"),
           json_object_get_int_member(e, "id"));
    for (guint c = 0; c < cols->len; c++) {
      const char *full = cols->pdata[c], *dot = strchr(full, '.');
      g_autofree char *section = g_strndup(full, dot - full);
      g_autofree char *v = fmt_value(json_object_get_member(
          json_object_get_object_member(e, section), dot + 1));
      printf(" %-12.12s", v);
    }
    printf("\n");
  }
  printf("(%u experiments; params the same in all of them are left out: "
         "pipehost experiments show ID)\n",
         n);
  g_ptr_array_unref(cols);
}

static int cli_experiments(ph_store *st, int argc, char **argv) {
  const char *sub = argc >= 2 ? argv[1] : "";
  int rc = 2;
  gboolean json = FALSE;
  char *dag = NULL, *run = NULL;
  gint limit = 50;
  GOptionEntry e[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL},
      {"dag", 0, 0, G_OPTION_ARG_STRING, &dag, "only this DAG", "DAG"},
      {"run", 0, 0, G_OPTION_ARG_STRING, &run,
       "experiments of this run "
       "(compare, with the tries its cache hits reused; default: the newest "
       "run that has any)",
       "RUN"},
      {"limit", 'n', 0, G_OPTION_ARG_INT, &limit, "at most N (list)", "N"},
      {0}};
  GOptionContext *ctx = NULL;
  JsonNode *rows = NULL;
  if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "compare")) {
    printf("Usage: pipehost experiments list [--dag DAG] [-n N] [--json]\n"
           "       pipehost experiments show ID [--json]\n"
           "       pipehost experiments compare [ID...] [--run RUN] "
           "[--json]\n"
           "Every try of a task that tracked params, metrics or artifacts "
           "(train does) is an experiment.\n");
    return !strcmp(sub, "--help") || !strcmp(sub, "-h") ? 0 : 2;
  }
  argc--;
  argv++;
  ctx = g_option_context_new(!strcmp(sub, "list")   ? "- list experiments"
                             : !strcmp(sub, "show") ? "ID - one experiment"
                                                    : "[ID...] - side by side");
  g_option_context_add_main_entries(ctx, e, NULL);
  if (!cli_parse(ctx, &argc, &argv, !strcmp(sub, "show") ? 1 : 0,
                 !strcmp(sub, "list")   ? 0
                 : !strcmp(sub, "show") ? 1
                                        : 64,
                 "experiments", &rc))
    goto out;
  rc = 1;
  if (!strcmp(sub, "list")) {
    rows =
        dag ? query_rows(st,
                         EXP_COLS "WHERE dag_id=?1 ORDER BY id DESC "
                                  "LIMIT ?2",
                         dag, limit)
            : query_rows(st,
                         EXP_COLS "WHERE CAST(?1 AS TEXT) IS NULL ORDER BY id "
                                  "DESC LIMIT ?2",
                         NULL, limit);
    if (json) {
      print_node(rows);
    } else {
      JsonArray *a = json_node_get_array(rows);
      printf("%-5s %-18s %-30s %-16s %-3s %-8s %s\n", "ID", "DAG", "RUN",
             "TASK", "TRY", "STATE", "METRICS");
      for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_autofree char *m =
            summary(json_object_get_object_member(o, "metrics"), 4);
        printf("%-5" G_GINT64_FORMAT " %-18s %-30s %-16s %-3" G_GINT64_FORMAT
               " %-8s %s\n",
               json_object_get_int_member(o, "id"),
               json_object_get_string_member_with_default(o, "dag_id", ""),
               json_object_get_string_member(o, "run_id"),
               json_object_get_string_member(o, "task_id"),
               json_object_get_int_member(o, "try_number"),
               json_object_get_string_member_with_default(o, "state", ""), m);
      }
    }
    rc = 0;
    goto out;
  }
  /* show and compare: collect the rows */
  JsonArray *sel = json_array_new();
  if (argc > 1) {
    for (int i = 1; i < argc; i++) {
      JsonNode *r =
          query_rows(st, EXP_COLS "WHERE id=CAST(?1 AS INTEGER)", argv[i], 0);
      JsonArray *ra = json_node_get_array(r);
      if (json_array_get_length(ra) == 0) {
        fprintf(stderr,
                "pipehost experiments: no experiment %s (see "
                "'pipehost experiments list')\n",
                argv[i]);
        json_node_unref(r);
        json_array_unref(sel);
        goto out;
      }
      json_array_add_element(sel,
                             json_node_copy(json_array_get_element(ra, 0)));
      json_node_unref(r);
    }
  } else {
    GError *err = NULL;
    char *rid = NULL;
    if (run) {
      rid = ph_store_run_resolve(st, run, &err);
    } else {
      JsonNode *r = query_rows(st,
                               "SELECT run_id FROM experiment ORDER BY "
                               "id DESC LIMIT 1",
                               NULL, 0);
      JsonArray *ra = json_node_get_array(r);
      if (json_array_get_length(ra))
        rid = g_strdup(json_object_get_string_member(
            json_array_get_object_element(ra, 0), "run_id"));
      json_node_unref(r);
    }
    if (!rid) {
      fprintf(stderr, "pipehost experiments: %s\n",
              err ? err->message : "no experiments recorded yet");
      g_clear_error(&err);
      json_array_unref(sel);
      goto out;
    }
    /* the run's own tries, and those its cache hits reused (a rerun of a
     * sweep that trains one new point still compares the whole sweep) */
    JsonNode *r = query_rows(
        st,
        EXP_COLS "WHERE id IN (SELECT MAX(id) FROM experiment WHERE "
                 "run_id=?1 GROUP BY task_id UNION SELECT MAX(e.id) FROM "
                 "lineage l JOIN result_cache c ON c.fingerprint="
                 "l.fingerprint JOIN experiment e ON e.run_id=c.run_id AND "
                 "e.task_id=c.task_id WHERE l.run_id=?1 AND l.cached_from "
                 "IS NOT NULL GROUP BY l.task_id) ORDER BY task_id",
        rid, 0);
    g_free(rid);
    JsonArray *ra = json_node_get_array(r);
    for (guint i = 0; i < json_array_get_length(ra); i++)
      json_array_add_element(sel,
                             json_node_copy(json_array_get_element(ra, i)));
    json_node_unref(r);
  }
  /* mapped instances in map_index order: train[2] before train[10] */
  GList *els = json_array_get_elements(sel);
  els = g_list_sort(els, by_task_natural);
  JsonArray *sorted = json_array_new();
  for (GList *l = els; l; l = l->next)
    json_array_add_element(sorted, json_node_copy(l->data));
  g_list_free(els);
  json_array_unref(sel);
  sel = sorted;
  rows = json_node_new(JSON_NODE_ARRAY);
  json_node_take_array(rows, sel);
  if (json) {
    print_node(!strcmp(sub, "show") ? json_array_get_element(sel, 0) : rows);
    rc = 0;
    goto out;
  }
  guint n = json_array_get_length(sel);
  if (n == 0) {
    fprintf(stderr, "pipehost experiments: nothing to compare\n");
    goto out;
  }
  if (n > 6) {
    print_sweep(sel);
    rc = 0;
    goto out;
  }
  /* a table: one column per experiment, one row per field */
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  /* artifacts (long paths) are in `experiments show` */
  static const char *const sections[] = {"metrics", "params"};
  for (guint s = 0; s < G_N_ELEMENTS(sections); s++)
    for (guint i = 0; i < n; i++) {
      JsonObject *o = json_object_get_object_member(
          json_array_get_object_element(sel, i), sections[s]);
      GList *ms = json_object_get_members(o);
      for (GList *l = ms; l; l = l->next) {
        char *full = g_strdup_printf("%s.%s", sections[s], (char *)l->data);
        if (g_hash_table_contains(seen, full)) {
          g_free(full);
        } else {
          g_hash_table_add(seen, full);
          g_ptr_array_add(names, full);
        }
      }
      g_list_free(ms);
    }
  printf("%-28s", "");
  for (guint i = 0; i < n; i++)
    printf(" %-24s", json_object_get_string_member(
                         json_array_get_object_element(sel, i), "task_id"));
  printf("\n%-28s", "experiment");
  for (guint i = 0; i < n; i++)
    printf(" %-24" G_GINT64_FORMAT,
           json_object_get_int_member(json_array_get_object_element(sel, i),
                                      "id"));
  printf("\n%-28s", "run");
  for (guint i = 0; i < n; i++)
    printf(" %-24.24s", json_object_get_string_member(
                            json_array_get_object_element(sel, i), "run_id"));
  printf("\n%-28s", "state");
  for (guint i = 0; i < n; i++)
    printf(" %-24s", json_object_get_string_member_with_default(
                         json_array_get_object_element(sel, i), "state", ""));
  printf("\n");
  for (guint k = 0; k < names->len; k++) {
    const char *full = names->pdata[k];
    const char *dot = strchr(full, '.');
    g_autofree char *section = g_strndup(full, dot - full);
    printf("%-28s", full);
    for (guint i = 0; i < n; i++) {
      JsonObject *o = json_object_get_object_member(
          json_array_get_object_element(sel, i), section);
      g_autofree char *v = fmt_value(json_object_get_member(o, dot + 1));
      printf(" %-24s", v);
    }
    printf("\n");
  }
  g_ptr_array_free(names, TRUE);
  g_hash_table_destroy(seen);
  rc = 0;
out:
  if (rows)
    json_node_unref(rows);
  g_free(dag);
  g_free(run);
  if (ctx)
    g_option_context_free(ctx);
  return rc;
}

static int cli_models(ph_store *st, int argc, char **argv) {
  const char *sub = argc >= 2 ? argv[1] : "";
  int rc = 2;
  gboolean json = FALSE;
  char *alias = NULL;
  GOptionEntry e[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL},
      {"alias", 0, 0, G_OPTION_ARG_STRING, &alias,
       "alias to set (promote; default production)", "ALIAS"},
      {0}};
  GOptionContext *ctx = NULL;
  JsonNode *rows = NULL;
  if (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "promote")) {
    printf("Usage: pipehost models list [--json]\n"
           "       pipehost models show NAME [--json]\n"
           "       pipehost models promote NAME VERSION [--alias ALIAS]\n"
           "Models are registered by train (register: NAME); predict loads "
           "NAME@ALIAS, NAME:VERSION or NAME (latest).\n");
    return !strcmp(sub, "--help") || !strcmp(sub, "-h") ? 0 : 2;
  }
  argc--;
  argv++;
  ctx = g_option_context_new(!strcmp(sub, "list")   ? "- registered models"
                             : !strcmp(sub, "show") ? "NAME - its versions"
                                                    : "NAME VERSION - set an "
                                                      "alias");
  g_option_context_add_main_entries(ctx, e, NULL);
  int nargs = !strcmp(sub, "list") ? 0 : !strcmp(sub, "show") ? 1 : 2;
  if (!cli_parse(ctx, &argc, &argv, nargs, nargs, "models", &rc))
    goto out;
  rc = 1;
  if (!strcmp(sub, "promote")) {
    char *end = NULL;
    gint64 v = g_ascii_strtoll(argv[2], &end, 10);
    GError *err = NULL;
    if (!end || *end || v <= 0) {
      fprintf(stderr,
              "pipehost models promote: VERSION must be a number, "
              "not '%s'\n",
              argv[2]);
      rc = 2;
      goto out;
    }
    ph_store_begin(st);
    if (!ph_track_model_set_alias(st, argv[1], v, alias ? alias : "production",
                                  &err) ||
        !ph_store_commit(st, &err)) {
      fprintf(stderr, "pipehost models promote: %s\n", err->message);
      g_error_free(err);
      goto out;
    }
    printf("%s version %" G_GINT64_FORMAT " is now %s@%s\n", argv[1], v,
           argv[1], alias ? alias : "production");
    rc = 0;
    goto out;
  }
  const char *sql =
      !strcmp(sub, "list")
          ? "SELECT m.name, m.version, m.path, (SELECT json_group_array(alias)"
            " FROM model_alias a WHERE a.name=m.name AND a.version=m.version)"
            " AS aliases_json, e.metrics AS metrics_json, e.run_id, e.task_id"
            " FROM model_version m LEFT JOIN experiment e ON "
            "e.id=m.experiment_id WHERE CAST(?1 AS TEXT) IS NULL AND "
            "m.version=(SELECT "
            "MAX(version) FROM model_version x WHERE x.name=m.name) OR "
            "m.version IN (SELECT version FROM model_alias a WHERE "
            "a.name=m.name) ORDER BY m.name, m.version DESC"
          : "SELECT m.name, m.version, m.path, (SELECT json_group_array(alias)"
            " FROM model_alias a WHERE a.name=m.name AND a.version=m.version)"
            " AS aliases_json, e.metrics AS metrics_json, e.run_id, e.task_id"
            " FROM model_version m LEFT JOIN experiment e ON "
            "e.id=m.experiment_id WHERE m.name=?1 ORDER BY m.version DESC";
  rows = query_rows(st, sql, !strcmp(sub, "show") ? argv[1] : NULL, 0);
  JsonArray *a = json_node_get_array(rows);
  if (!strcmp(sub, "show") && json_array_get_length(a) == 0) {
    fprintf(stderr, "pipehost models: no model named '%s'\n", argv[1]);
    goto out;
  }
  if (json) {
    print_node(rows);
  } else {
    printf("%-20s %-4s %-18s %-22s %s\n", "NAME", "VER", "ALIASES", "TASK",
           "METRICS");
    for (guint i = 0; i < json_array_get_length(a); i++) {
      JsonObject *o = json_array_get_object_element(a, i);
      JsonArray *al = json_object_get_array_member(o, "aliases");
      GString *as = g_string_new(NULL);
      for (guint k = 0; al && k < json_array_get_length(al); k++)
        g_string_append_printf(as, "%s%s", k ? "," : "",
                               json_array_get_string_element(al, k));
      JsonNode *mn = json_object_get_member(o, "metrics");
      g_autofree char *m = mn && JSON_NODE_HOLDS_OBJECT(mn)
                               ? summary(json_node_get_object(mn), 4)
                               : g_strdup("");
      printf("%-20s %-4" G_GINT64_FORMAT " %-18s %-22s %s\n",
             json_object_get_string_member(o, "name"),
             json_object_get_int_member(o, "version"), as->len ? as->str : "-",
             json_object_get_string_member_with_default(o, "task_id", "-"), m);
      g_string_free(as, TRUE);
    }
  }
  rc = 0;
out:
  if (rows)
    json_node_unref(rows);
  g_free(alias);
  if (ctx)
    g_option_context_free(ctx);
  return rc;
}

/* Prints the lineage of task in run, indented, following upstream
 * fingerprints recorded in the same run. */
static void print_lineage(ph_store *st, const char *run, const char *task,
                          int depth, GHashTable *done) {
  ph_db_stmt *q = prep(st, "SELECT fingerprint, doc, cached_from FROM "
                           "lineage WHERE run_id=? AND task_id=?");
  if (!q)
    return;
  ph_db_bind_text(q, 1, run);
  ph_db_bind_text(q, 2, task);
  char pad[64];
  int w = MIN(depth * 2, (int)sizeof pad - 1);
  memset(pad, ' ', w);
  pad[w] = 0;
  if (ph_store_step(st, q) != PH_DB_ROW) {
    printf("%s%s: not cached, no fingerprint recorded\n", pad, task);
    ph_db_finalize(q);
    return;
  }
  const char *fp = ph_db_column_text(q, 0);
  const char *cached = ph_db_column_text(q, 2);
  JsonNode *doc = json_from_string(ph_db_column_text(q, 1), NULL);
  printf("%s%s  %s%s%s%s\n", pad, task, fp ? fp : "-",
         cached ? "  (cached: reused from run " : "", cached ? cached : "",
         cached ? ")" : "");
  if (doc && JSON_NODE_HOLDS_OBJECT(doc)) {
    JsonObject *o = json_node_get_object(doc);
    JsonObject *pl = json_object_get_object_member(o, "plugin");
    printf("%s  operator %s (plugin %s %s)\n", pad,
           json_object_get_string_member_with_default(o, "op", "?"),
           pl ? json_object_get_string_member_with_default(pl, "name", "?")
              : "?",
           pl ? json_object_get_string_member_with_default(pl, "version", "?")
              : "?");
    if (json_object_has_member(o, "artifact_dir"))
      printf("%s  artifacts %s\n", pad,
             json_object_get_string_member(o, "artifact_dir"));
    JsonNode *pn = json_object_get_member(o, "params");
    if (pn) {
      g_autofree char *p = ph_util_json_dup(pn);
      printf("%s  params %s\n", pad, p);
    }
    JsonObject *files = json_object_get_object_member(o, "files");
    GList *fl = files ? json_object_get_members(files) : NULL;
    for (GList *l = fl; l; l = l->next)
      printf("%s  input %s %s\n", pad, (char *)l->data,
             json_object_get_string_member(files, l->data));
    g_list_free(fl);
    JsonObject *ups = json_object_get_object_member(o, "upstream");
    GList *ul = ups ? json_object_get_members(ups) : NULL;
    for (GList *l = ul; l; l = l->next) {
      const char *u = l->data;
      printf("%s  upstream %s %s\n", pad, u,
             json_object_get_string_member(ups, u));
      if (!g_hash_table_contains(done, u)) {
        g_hash_table_add(done, g_strdup(u));
        print_lineage(st, run, u, depth + 2, done);
      }
    }
    g_list_free(ul);
  }
  if (doc)
    json_node_unref(doc);
  ph_db_finalize(q);
}

static int cli_lineage(ph_store *st, int argc, char **argv) {
  int rc = 2;
  gboolean json = FALSE;
  char *rid = NULL;
  GOptionEntry e[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL}, {0}};
  GOptionContext *ctx = g_option_context_new(
      "RUN TASK - what a task's result (and its artifacts) was made from: "
      "operator, plugin version, params, input file hashes, upstream "
      "fingerprints");
  g_option_context_add_main_entries(ctx, e, NULL);
  if (!cli_parse(ctx, &argc, &argv, 2, 2, "lineage", &rc))
    goto out;
  rc = 1;
  GError *err = NULL;
  rid = ph_store_run_resolve(st, argv[1], &err);
  if (!rid) {
    fprintf(stderr, "pipehost lineage: %s\n", err->message);
    g_error_free(err);
    goto out;
  }
  if (json) {
    JsonNode *r = query_rows(st,
                             "SELECT task_id, fingerprint, doc AS doc_json, "
                             "cached_from FROM lineage WHERE run_id=?1",
                             rid, 0);
    print_node(r);
    json_node_unref(r);
  } else {
    GHashTable *done =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_add(done, g_strdup(argv[2]));
    printf("run %s\n", rid);
    print_lineage(st, rid, argv[2], 0, done);
    g_hash_table_destroy(done);
  }
  rc = 0;
out:
  g_free(rid);
  g_option_context_free(ctx);
  return rc;
}

int ph_track_cli(ph_store *st, int argc, char **argv) {
  GError *err = NULL;
  if (!ph_track_init(st, &err)) {
    fprintf(stderr, "pipehost: %s\n", err->message);
    g_error_free(err);
    return 1;
  }
  if (!strcmp(argv[0], "experiments"))
    return cli_experiments(st, argc, argv);
  if (!strcmp(argv[0], "models"))
    return cli_models(st, argc, argv);
  return cli_lineage(st, argc, argv);
}
