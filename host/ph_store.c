/* ph_store -- see ph_store.h. */
#include "ph_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "ph_fault.h"
#include "ph_util.h"

struct ph_store {
  sqlite3 *db;
  char *home;
  GHashTable *stmts; /* sql text (static) -> sqlite3_stmt* */
  int in_txn;
  int batch;     /* a write opens the transaction itself (ph_store_batch) */
  double txn_t0; /* monotonic time the open transaction began */
};

static const char *const schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    /* checkpoint the WAL every ~40 MiB, not every 4 MiB: commits stay
     * durable (they are in the WAL), the fsyncs of checkpoints get rarer */
    "PRAGMA wal_autocheckpoint=10000;"
    "PRAGMA foreign_keys=OFF;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "INSERT OR IGNORE INTO meta VALUES('schema_version','1');"
    "CREATE TABLE IF NOT EXISTS dag_run("
    " run_id TEXT PRIMARY KEY, dag_id TEXT NOT NULL, dag_file TEXT,"
    " state TEXT NOT NULL, run_type TEXT, logical_date TEXT, conf TEXT,"
    " start_date REAL, end_date REAL, host_pid INTEGER);"
    "CREATE INDEX IF NOT EXISTS dag_run_start ON dag_run(start_date);"
    "CREATE TABLE IF NOT EXISTS task_instance("
    " run_id TEXT NOT NULL, task_id TEXT NOT NULL, state TEXT,"
    " operator TEXT, try_number INTEGER DEFAULT 0, max_tries INTEGER,"
    " start_date REAL, end_date REAL, pid INTEGER, hostname TEXT,"
    " reason TEXT, PRIMARY KEY(run_id, task_id));"
    "CREATE TABLE IF NOT EXISTS task_try("
    " run_id TEXT NOT NULL, task_id TEXT NOT NULL, try_number INTEGER,"
    " state TEXT, start_date REAL, end_date REAL, pid INTEGER,"
    " reason TEXT, log_path TEXT, PRIMARY KEY(run_id, task_id, try_number));"
    "CREATE TABLE IF NOT EXISTS xcom("
    " run_id TEXT NOT NULL, task_id TEXT NOT NULL, key TEXT NOT NULL,"
    " value TEXT, timestamp REAL, PRIMARY KEY(run_id, task_id, key));"
    "CREATE TABLE IF NOT EXISTS variable(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS pool(name TEXT PRIMARY KEY, slots INTEGER "
    "NOT NULL);"
    "CREATE TABLE IF NOT EXISTS pool_slot(run_id TEXT NOT NULL, task_id TEXT "
    "NOT NULL, pool TEXT NOT NULL, slots INTEGER NOT NULL, pid INTEGER, "
    "PRIMARY KEY(run_id, task_id));"
    "CREATE TABLE IF NOT EXISTS connection(conn_id TEXT PRIMARY KEY, uri "
    "TEXT);";

char *ph_store_default_home(void) {
  const char *h = g_getenv("PIPEHOST_HOME");
  if (h && *h)
    return g_strdup(h);
  return g_build_filename(g_get_home_dir(), ".pipehost", NULL);
}

static void finalize_stmt(gpointer p) { sqlite3_finalize(p); }

ph_store *ph_store_open(const char *home, GError **error) {
  ph_store *s = NULL;
  sqlite3 *db = NULL;
  char *emsg = NULL;
  g_autofree char *path = g_build_filename(home, "pipehost.db", NULL);
  if (g_mkdir_with_parents(home, 0700) != 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: cannot create the pipehost home directory", home);
    goto out;
  }
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", path,
                db ? sqlite3_errmsg(db) : "out of memory");
    goto out;
  }
  sqlite3_busy_timeout(db, 10000);
  if (sqlite3_exec(db, schema, NULL, NULL, &emsg) != SQLITE_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: not a usable pipehost store: %s", path, emsg);
    sqlite3_free(emsg);
    goto out;
  }
  s = g_new0(ph_store, 1);
  s->db = db;
  db = NULL;
  s->home = g_strdup(home);
  s->stmts = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                   finalize_stmt);
out:
  if (db)
    sqlite3_close(db);
  return s;
}

void ph_store_close(ph_store *s) {
  if (!s)
    return;
  if (s->in_txn)
    ph_store_commit(s, NULL);
  g_hash_table_unref(s->stmts);
  sqlite3_close(s->db);
  g_free(s->home);
  g_free(s);
}

const char *ph_store_get_home(const ph_store *s) { return s->home; }

/* Prepares (once, cached by the static sql pointer) and binds.  types: one
 * letter per argument: s = const char* (NULL binds NULL), i = int,
 * d = double (< 0 binds NULL for times). */
static sqlite3_stmt *prep(ph_store *s, const char *sql, const char *types,
                          ...) {
  sqlite3_stmt *st = g_hash_table_lookup(s->stmts, sql);
  if (!st) {
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                           NULL) != SQLITE_OK)
      g_error("pipehost store: cannot prepare \"%s\": %s", sql,
              sqlite3_errmsg(s->db));
    g_hash_table_insert(s->stmts, (gpointer)sql, st);
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  va_list ap;
  va_start(ap, types);
  for (int i = 0; types[i]; i++) {
    if (types[i] == 's') {
      const char *v = va_arg(ap, const char *);
      if (v)
        sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
    } else if (types[i] == 'i') {
      sqlite3_bind_int64(st, i + 1, va_arg(ap, int));
    } else if (types[i] == 'd') {
      double d = va_arg(ap, double);
      if (d >= 0)
        sqlite3_bind_double(st, i + 1, d);
    }
  }
  va_end(ap);
  return st;
}

static int step_done(ph_store *s, sqlite3_stmt *st) {
  if (s->batch && !s->in_txn)
    ph_store_begin(s);
  if (ph_fault_hit("store_write")) {
    g_warning("pipehost store: injected write failure");
    sqlite3_reset(st);
    return SQLITE_IOERR;
  }
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    g_warning("pipehost store: %s", sqlite3_errmsg(s->db));
  sqlite3_reset(st);
  return rc;
}

sqlite3 *ph_store_get_db(ph_store *s) { return s->db; }

void ph_store_begin(ph_store *s) {
  if (s->in_txn)
    return;
  /* prepared once, like every statement: this runs per scheduler step */
  sqlite3_stmt *st = prep(s, "BEGIN IMMEDIATE", "");
  if (sqlite3_step(st) == SQLITE_DONE) {
    s->in_txn = 1;
    s->txn_t0 = ph_util_mono();
  }
  sqlite3_reset(st);
}

void ph_store_batch(ph_store *s, gboolean on) { s->batch = on; }

double ph_store_pending_age(const ph_store *s) {
  return s->in_txn ? ph_util_mono() - s->txn_t0 : -1;
}

gboolean ph_store_commit(ph_store *s, GError **error) {
  if (!s->in_txn)
    return TRUE;
  sqlite3_stmt *st = prep(s, "COMMIT", "");
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "pipehost store: commit failed: %s", sqlite3_errmsg(s->db));
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_txn = 0;
    return FALSE;
  }
  s->in_txn = 0;
  return TRUE;
}

gboolean ph_store_run_create(ph_store *s, const char *run_id,
                             const char *dag_id, const char *dag_file,
                             const char *logical_date, const char *conf_json,
                             const char *run_type) {
  sqlite3_stmt *st = prep(
      s,
      "INSERT OR IGNORE INTO dag_run(run_id,dag_id,dag_file,state,run_type,"
      "logical_date,conf,start_date,host_pid) VALUES(?,?,?,'running',?,?,?,?,?)",
      "ssssssdi", run_id, dag_id, dag_file, run_type, logical_date, conf_json,
      ph_util_now(), (int)getpid());
  step_done(s, st);
  return sqlite3_changes(s->db) == 1;
}

void ph_store_run_set_state(ph_store *s, const char *run_id,
                            const char *state) {
  gboolean fin = strcmp(state, "running") && strcmp(state, "queued");
  step_done(s, prep(s,
                    "UPDATE dag_run SET state=?, end_date=? WHERE run_id=?",
                    "sds", state, fin ? ph_util_now() : -1.0, run_id));
}

void ph_store_run_set_host(ph_store *s, const char *run_id, int pid) {
  step_done(s, prep(s, "UPDATE dag_run SET host_pid=? WHERE run_id=?", "is",
                    pid, run_id));
}

static char *col_dup(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? g_strdup((const char *)t) : NULL;
}

char *ph_store_run_resolve(ph_store *s, const char *text, GError **error) {
  sqlite3_stmt *st;
  char *id = NULL;
  if (!strcmp(text, "last") || !strcmp(text, "latest")) {
    st = prep(s, "SELECT run_id FROM dag_run ORDER BY start_date DESC, rowid "
                 "DESC LIMIT 1",
              "");
  } else {
    st = prep(s, "SELECT run_id FROM dag_run WHERE run_id=?", "s", text);
    if (sqlite3_step(st) == SQLITE_ROW) {
      id = col_dup(st, 0);
      sqlite3_reset(st);
      return id;
    }
    sqlite3_reset(st);
    st = prep(s, "SELECT run_id FROM dag_run WHERE substr(run_id,1,?)=? "
                 "LIMIT 2",
              "is", (int)strlen(text), text);
  }
  int n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (n++ == 0)
      id = col_dup(st, 0);
  }
  sqlite3_reset(st);
  if (n == 1)
    return id;
  g_free(id);
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
              n ? "run '%s' is ambiguous: several run ids start with it"
                : "no run '%s' (see `pipehost runs list`)",
              text);
  return NULL;
}

static void add_col(JsonBuilder *b, sqlite3_stmt *st, int i) {
  json_builder_set_member_name(b, sqlite3_column_name(st, i));
  switch (sqlite3_column_type(st, i)) {
  case SQLITE_INTEGER:
    json_builder_add_int_value(b, sqlite3_column_int64(st, i));
    break;
  case SQLITE_FLOAT:
    json_builder_add_double_value(b, sqlite3_column_double(st, i));
    break;
  case SQLITE_NULL:
    json_builder_add_null_value(b);
    break;
  default:
    json_builder_add_string_value(b, (const char *)sqlite3_column_text(st, i));
  }
}

static void add_row(JsonBuilder *b, sqlite3_stmt *st) {
  json_builder_begin_object(b);
  for (int i = 0; i < sqlite3_column_count(st); i++)
    add_col(b, st, i);
  json_builder_end_object(b);
}

JsonNode *ph_store_runs_list(ph_store *s, int limit) {
  sqlite3_stmt *st =
      prep(s,
           "SELECT run_id, dag_id, state, logical_date, start_date, end_date "
           "FROM dag_run ORDER BY start_date DESC, rowid DESC LIMIT ?",
           "i", limit > 0 ? limit : -1);
  JsonBuilder *b = json_builder_new();
  json_builder_begin_array(b);
  while (sqlite3_step(st) == SQLITE_ROW)
    add_row(b, st);
  sqlite3_reset(st);
  json_builder_end_array(b);
  JsonNode *n = json_builder_get_root(b);
  g_object_unref(b);
  return n;
}

JsonNode *ph_store_run_show(ph_store *s, const char *run_id) {
  sqlite3_stmt *st = prep(s,
                          "SELECT run_id, dag_id, dag_file, state, run_type, "
                          "logical_date, conf, start_date, end_date, host_pid "
                          "FROM "
                          "dag_run WHERE run_id=?",
                          "s", run_id);
  if (sqlite3_step(st) != SQLITE_ROW) {
    sqlite3_reset(st);
    return NULL;
  }
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  for (int i = 0; i < sqlite3_column_count(st); i++)
    add_col(b, st, i);
  sqlite3_reset(st);
  json_builder_set_member_name(b, "tasks");
  json_builder_begin_array(b);
  st = prep(s,
            "SELECT task_id, state, operator, try_number, max_tries, "
            "start_date, end_date, pid, reason FROM task_instance WHERE "
            "run_id=? ORDER BY rowid",
            "s", run_id);
  GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
  while (sqlite3_step(st) == SQLITE_ROW) {
    json_builder_begin_object(b);
    for (int i = 0; i < sqlite3_column_count(st); i++)
      add_col(b, st, i);
    json_builder_end_object(b);
    g_ptr_array_add(ids, col_dup(st, 0));
  }
  sqlite3_reset(st);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "tries");
  json_builder_begin_array(b);
  st = prep(s,
            "SELECT task_id, try_number, state, start_date, end_date, pid, "
            "reason, log_path FROM task_try WHERE run_id=? ORDER BY "
            "start_date, rowid",
            "s", run_id);
  while (sqlite3_step(st) == SQLITE_ROW)
    add_row(b, st);
  sqlite3_reset(st);
  json_builder_end_array(b);
  json_builder_end_object(b);
  g_ptr_array_unref(ids);
  JsonNode *n = json_builder_get_root(b);
  g_object_unref(b);
  return n;
}

void ph_store_ti_create(ph_store *s, const char *run_id, const char *task_id,
                        const char *op, int max_tries) {
  step_done(s, prep(s,
                    "INSERT OR IGNORE INTO task_instance(run_id,task_id,state,"
                    "operator,try_number,max_tries) VALUES(?,?,'none',?,0,?)",
                    "sssi", run_id, task_id, op, max_tries));
}

void ph_store_ti_set(ph_store *s, const char *run_id, const char *task_id,
                     const char *state, int try_number, double start,
                     double end, int pid, const char *reason) {
  step_done(s, prep(s,
                    "UPDATE task_instance SET state=?, try_number=?, "
                    "start_date=coalesce(?,start_date), end_date=?, "
                    "pid=coalesce(nullif(?,0),pid), reason=? WHERE run_id=? AND "
                    "task_id=?",
                    "sidd" "i" "sss", state, try_number, start, end,
                    pid, reason, run_id, task_id));
}

void ph_store_try_start(ph_store *s, const char *run_id, const char *task_id,
                        int try_number, double start, int pid,
                        const char *log_path) {
  step_done(s, prep(s,
                    "INSERT OR REPLACE INTO task_try(run_id,task_id,"
                    "try_number,state,start_date,pid,log_path) "
                    "VALUES(?,?,?,'running',?,?,?)",
                    "ssidis", run_id, task_id, try_number, start, pid,
                    log_path));
}

void ph_store_try_end(ph_store *s, const char *run_id, const char *task_id,
                      int try_number, const char *state, double end, int pid,
                      const char *reason) {
  step_done(s, prep(s,
                    "UPDATE task_try SET state=?, end_date=?, "
                    "pid=coalesce(nullif(?,0),pid), reason=? WHERE "
                    "run_id=? AND task_id=? AND try_number=?",
                    "sdisssi", state, end, pid, reason, run_id, task_id,
                    try_number));
}

char *ph_store_log_path(ph_store *s, const char *run_id, const char *task_id,
                        int try_number) {
  sqlite3_stmt *st =
      try_number > 0
          ? prep(s,
                 "SELECT log_path FROM task_try WHERE run_id=? AND task_id=? "
                 "AND try_number=?",
                 "ssi", run_id, task_id, try_number)
          : prep(s,
                 "SELECT log_path FROM task_try WHERE run_id=? AND task_id=? "
                 "ORDER BY try_number DESC LIMIT 1",
                 "ss", run_id, task_id);
  char *p = sqlite3_step(st) == SQLITE_ROW ? col_dup(st, 0) : NULL;
  sqlite3_reset(st);
  return p;
}

void ph_store_xcom_set(ph_store *s, const char *run_id, const char *task_id,
                       const char *key, const char *json) {
  step_done(s, prep(s,
                    "INSERT OR REPLACE INTO xcom(run_id,task_id,key,value,"
                    "timestamp) VALUES(?,?,?,?,?)",
                    "ssssd", run_id, task_id, key, json, ph_util_now()));
}

char *ph_store_xcom_get(ph_store *s, const char *run_id, const char *task_id,
                        const char *key) {
  sqlite3_stmt *st = prep(s,
                          "SELECT value FROM xcom WHERE run_id=? AND "
                          "task_id=? AND key=?",
                          "sss", run_id, task_id, key);
  char *v = sqlite3_step(st) == SQLITE_ROW ? col_dup(st, 0) : NULL;
  sqlite3_reset(st);
  return v;
}

void ph_store_xcom_clear(ph_store *s, const char *run_id, const char *task_id) {
  step_done(s, prep(s, "DELETE FROM xcom WHERE run_id=? AND task_id=?", "ss",
                    run_id, task_id));
}

JsonNode *ph_store_xcom_list(ph_store *s, const char *run_id) {
  sqlite3_stmt *st = prep(s,
                          "SELECT task_id, key, value FROM xcom WHERE "
                          "run_id=? ORDER BY task_id, key",
                          "s", run_id);
  JsonObject *root = json_object_new();
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *tid = (const char *)sqlite3_column_text(st, 0);
    const char *key = (const char *)sqlite3_column_text(st, 1);
    const char *val = (const char *)sqlite3_column_text(st, 2);
    JsonObject *t = json_object_has_member(root, tid)
                        ? json_object_get_object_member(root, tid)
                        : NULL;
    if (!t) {
      t = json_object_new();
      json_object_set_object_member(root, tid, t);
    }
    JsonNode *v = val ? json_from_string(val, NULL) : NULL;
    json_object_set_member(t, key, v ? v : json_node_new(JSON_NODE_NULL));
  }
  sqlite3_reset(st);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, root);
  return n;
}

/* Variables and connections are both key -> text tables; these four
 * helpers serve both (the SQL text is static, so statements stay
 * cached). */
static void kv_set(ph_store *s, const char *sql, const char *k,
                   const char *v) {
  step_done(s, prep(s, sql, "ss", k, v));
}

static char *kv_get(ph_store *s, const char *sql, const char *k) {
  sqlite3_stmt *st = prep(s, sql, "s", k);
  char *v = sqlite3_step(st) == SQLITE_ROW ? col_dup(st, 0) : NULL;
  sqlite3_reset(st);
  return v;
}

static gboolean kv_delete(ph_store *s, const char *sql, const char *k) {
  step_done(s, prep(s, sql, "s", k));
  return sqlite3_changes(s->db) > 0;
}

static JsonNode *kv_list(ph_store *s, const char *sql) {
  sqlite3_stmt *st = prep(s, sql, "");
  JsonObject *o = json_object_new();
  while (sqlite3_step(st) == SQLITE_ROW)
    json_object_set_string_member(o, (const char *)sqlite3_column_text(st, 0),
                                  (const char *)sqlite3_column_text(st, 1));
  sqlite3_reset(st);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  return n;
}

void ph_store_var_set(ph_store *s, const char *key, const char *value) {
  kv_set(s, "INSERT OR REPLACE INTO variable VALUES(?,?)", key, value);
}

char *ph_store_var_get(ph_store *s, const char *key) {
  return kv_get(s, "SELECT value FROM variable WHERE key=?", key);
}

gboolean ph_store_var_delete(ph_store *s, const char *key) {
  return kv_delete(s, "DELETE FROM variable WHERE key=?", key);
}

JsonNode *ph_store_var_list(ph_store *s) {
  return kv_list(s, "SELECT key, value FROM variable ORDER BY key");
}

void ph_store_conn_set(ph_store *s, const char *conn_id, const char *uri) {
  kv_set(s, "INSERT OR REPLACE INTO connection VALUES(?,?)", conn_id, uri);
}

char *ph_store_conn_get(ph_store *s, const char *conn_id) {
  return kv_get(s, "SELECT uri FROM connection WHERE conn_id=?", conn_id);
}

gboolean ph_store_conn_delete(ph_store *s, const char *conn_id) {
  return kv_delete(s, "DELETE FROM connection WHERE conn_id=?", conn_id);
}

JsonNode *ph_store_conn_list(ph_store *s) {
  return kv_list(s, "SELECT conn_id, uri FROM connection ORDER BY conn_id");
}


JsonNode *ph_store_conn_json(const char *conn_id, const char *uri,
                             GError **error) {
  GUri *u = g_uri_parse(uri, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED_QUERY,
                        error);
  if (!u)
    return NULL;
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "conn_id", conn_id);
  json_object_set_string_member(o, "conn_type", g_uri_get_scheme(u));
  const char *host = g_uri_get_host(u);
  if (host)
    json_object_set_string_member(o, "host", host);
  if (g_uri_get_port(u) > 0)
    json_object_set_int_member(o, "port", g_uri_get_port(u));
  if (g_uri_get_user(u))
    json_object_set_string_member(o, "login", g_uri_get_user(u));
  if (g_uri_get_password(u))
    json_object_set_string_member(o, "password", g_uri_get_password(u));
  const char *path = g_uri_get_path(u);
  if (path && *path)
    json_object_set_string_member(o, "schema", path[0] == '/' ? path + 1 : path);
  JsonObject *extra = json_object_new();
  const char *q = g_uri_get_query(u);
  if (q) {
    GHashTable *params = g_uri_parse_params(q, -1, "&", G_URI_PARAMS_NONE, NULL);
    if (params) {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init(&it, params);
      while (g_hash_table_iter_next(&it, &k, &v))
        json_object_set_string_member(extra, k, v);
      g_hash_table_unref(params);
    }
  }
  json_object_set_object_member(o, "extra", extra);
  json_object_set_string_member(o, "uri", uri);
  g_uri_unref(u);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  return n;
}

/* ---- pools */
void ph_store_pool_set(ph_store *s, const char *name, int slots) {
  step_done(s, prep(s, "INSERT OR REPLACE INTO pool(name, slots) VALUES(?,?)",
                    "si", name, slots));
}

int ph_store_pool_get(ph_store *s, const char *name) {
  sqlite3_stmt *st = prep(s, "SELECT slots FROM pool WHERE name=?", "s", name);
  int slots = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_reset(st);
  return slots;
}

gboolean ph_store_pool_delete(ph_store *s, const char *name) {
  step_done(s, prep(s, "DELETE FROM pool WHERE name=?", "s", name));
  return sqlite3_changes(s->db) > 0;
}

JsonNode *ph_store_pool_list(ph_store *s) {
  JsonObject *o = json_object_new();
  sqlite3_stmt *st = prep(s, "SELECT name, slots FROM pool ORDER BY name", "");
  while (sqlite3_step(st) == SQLITE_ROW)
    json_object_set_int_member(o, (const char *)sqlite3_column_text(st, 0),
                               sqlite3_column_int(st, 1));
  sqlite3_reset(st);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  return n;
}

char *ph_store_prev_ti_state(ph_store *s, const char *dag_id,
                             const char *logical_date, const char *task_id) {
  sqlite3_stmt *st = prep(
      s,
      "SELECT t.state FROM dag_run r JOIN task_instance t ON "
      "t.run_id=r.run_id AND t.task_id=? WHERE r.dag_id=? AND "
      "r.logical_date < ? ORDER BY r.logical_date DESC LIMIT 1",
      "sss", task_id, dag_id, logical_date);
  char *state = sqlite3_step(st) == SQLITE_ROW ? col_dup(st, 0) : NULL;
  sqlite3_reset(st);
  return state;
}

char *ph_store_run_state(ph_store *s, const char *run_id) {
  sqlite3_stmt *st =
      prep(s, "SELECT state FROM dag_run WHERE run_id=?", "s", run_id);
  char *state = sqlite3_step(st) == SQLITE_ROW ? col_dup(st, 0) : NULL;
  sqlite3_reset(st);
  return state;
}

/* TRUE when pid runs and is no zombie. */
static gboolean pid_running(int pid) {
  if (pid <= 0 || kill(pid, 0) != 0)
    return FALSE;
  g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
  g_autofree char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL))
    return FALSE;
  const char *rp = strrchr(text, ')');
  return !(rp && rp[1] == ' ' && rp[2] == 'Z');
}

gboolean ph_store_pool_take(ph_store *s, const char *pool, int limit,
                            const char *run_id, const char *task_id,
                            int slots) {
  /* slots held by processes that died are free again */
  GArray *dead = g_array_new(FALSE, FALSE, sizeof(int));
  sqlite3_stmt *st =
      prep(s, "SELECT DISTINCT pid FROM pool_slot WHERE pool=?", "s", pool);
  while (sqlite3_step(st) == SQLITE_ROW) {
    int pid = sqlite3_column_int(st, 0);
    if (pid != (int)getpid() && !pid_running(pid))
      g_array_append_val(dead, pid);
  }
  sqlite3_reset(st);
  for (guint i = 0; i < dead->len; i++)
    step_done(s, prep(s, "DELETE FROM pool_slot WHERE pid=?", "i",
                      g_array_index(dead, int, i)));
  g_array_free(dead, TRUE);
  st = prep(s, "SELECT COALESCE(SUM(slots), 0) FROM pool_slot WHERE pool=?",
            "s", pool);
  int used = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
  sqlite3_reset(st);
  /* a task wider than its pool still runs, alone */
  if (used > 0 && used + slots > limit)
    return FALSE;
  step_done(s, prep(s,
                    "INSERT OR REPLACE INTO pool_slot(run_id, task_id, pool,"
                    " slots, pid) VALUES(?,?,?,?,?)",
                    "sssii", run_id, task_id, pool, slots, (int)getpid()));
  return TRUE;
}

void ph_store_pool_release(ph_store *s, const char *run_id,
                           const char *task_id) {
  step_done(s, prep(s, "DELETE FROM pool_slot WHERE run_id=? AND task_id=?",
                    "ss", run_id, task_id));
}
