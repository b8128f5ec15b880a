/* sql -- the sql and sql_sensor operators for SQLite and PostgreSQL.
 *
 * A connection (conn_id) names the database: sqlite:///abs/path.db or
 * postgresql://user:pass@host:port/db (extra members become libpq keywords,
 * e.g. sslmode).  Parameters are bound as real bind parameters
 * (sqlite3_bind_*, PQexecParams), never spliced into the SQL text: a list
 * binds ?/$1 in order, an object binds :name.  Without autocommit all
 * statements run in one transaction that is rolled back on any error.
 * The rows of the last statement that returns rows become the XCom (a list
 * of objects, or of lists with output_format: rows; more than max_rows
 * fails loudly) or go to a CSV file (output_csv).  sql_sensor pokes until
 * the first cell of its query is truthy.
 *
 * This is the implementation library (impl/sql.so); sql_ops.c holds the
 * descriptors the host scans (plugins/common/lazy.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "../common/putil.h"
#include "pipehost/plugin.h"

typedef struct {
  const ph_host *h;
  GMutex lock; /* guards the handles on_kill uses */
  sqlite3 *lite;
  PGcancel *cancel;
  volatile int killed;
} sql_state;

/* The result being collected: column names and rows of JSON values. */
typedef struct {
  GPtrArray *cols;  /* char* */
  GPtrArray *rows;  /* JsonArray* */
  gboolean has_rows;
} rowset;

static ph_status sql_init(const ph_host *h, ph_task *t, void **out) {
  sql_state *s = g_new0(sql_state, 1);
  s->h = h;
  g_mutex_init(&s->lock);
  *out = s;
  return PH_OK;
}

static void sql_destroy(void *sv) {
  sql_state *s = sv;
  g_mutex_clear(&s->lock);
  g_free(s);
}

/* May run on another thread while a statement runs. */
static void sql_kill(void *sv) {
  sql_state *s = sv;
  s->killed = 1;
  g_mutex_lock(&s->lock);
  if (s->lite)
    sqlite3_interrupt(s->lite);
  if (s->cancel) {
    char buf[256];
    PQcancel(s->cancel, buf, sizeof buf);
  }
  g_mutex_unlock(&s->lock);
}

static void rowset_clear(rowset *r) {
  g_ptr_array_set_size(r->cols, 0);
  g_ptr_array_set_size(r->rows, 0);
  r->has_rows = FALSE;
}

/* A JSON scalar as bind text (NULL for null); objects and arrays as JSON. */
static char *bind_text(JsonNode *v) {
  if (!v || JSON_NODE_HOLDS_NULL(v))
    return NULL;
  if (JSON_NODE_HOLDS_VALUE(v)) {
    GType t = json_node_get_value_type(v);
    if (t == G_TYPE_STRING)
      return g_strdup(json_node_get_string(v));
    if (t == G_TYPE_INT64)
      return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(v));
    if (t == G_TYPE_BOOLEAN)
      return g_strdup(json_node_get_boolean(v) ? "true" : "false");
    return pu_double_text(json_node_get_double(v));
  }
  return pu_json_text(v);
}

/* ---- SQLite */

static char *sqlite_file(JsonObject *c) {
  const char *schema = json_object_get_string_member_with_default(c, "schema", "");
  const char *host = json_object_get_string_member_with_default(c, "host", "");
  return *schema ? g_strconcat("/", schema, NULL) : g_strdup(host);
}

/* Binds params (array: by position; object: by :name, @name or $name). */
static gboolean lite_bind(sqlite3_stmt *q, JsonNode *params, GError **error) {
  int n = sqlite3_bind_parameter_count(q);
  for (int i = 1; i <= n; i++) {
    JsonNode *v = NULL;
    const char *name = sqlite3_bind_parameter_name(q, i);
    if (params && JSON_NODE_HOLDS_ARRAY(params)) {
      JsonArray *a = json_node_get_array(params);
      if ((guint)i <= json_array_get_length(a))
        v = json_array_get_element(a, i - 1);
    } else if (params && JSON_NODE_HOLDS_OBJECT(params) && name) {
      v = json_object_get_member(json_node_get_object(params), name + 1);
    }
    if (!v) {
      if (name)
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "no value for bind parameter %s", name);
      else
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "no value for bind parameter %d (parameters has too "
                    "few)",
                    i);
      return FALSE;
    }
    if (JSON_NODE_HOLDS_NULL(v))
      sqlite3_bind_null(q, i);
    else if (JSON_NODE_HOLDS_VALUE(v) &&
             json_node_get_value_type(v) == G_TYPE_INT64)
      sqlite3_bind_int64(q, i, json_node_get_int(v));
    else if (JSON_NODE_HOLDS_VALUE(v) &&
             json_node_get_value_type(v) == G_TYPE_DOUBLE)
      sqlite3_bind_double(q, i, json_node_get_double(v));
    else if (JSON_NODE_HOLDS_VALUE(v) &&
             json_node_get_value_type(v) == G_TYPE_BOOLEAN)
      sqlite3_bind_int(q, i, json_node_get_boolean(v));
    else {
      char *txt = bind_text(v);
      sqlite3_bind_text(q, i, txt, -1, g_free);
    }
  }
  return TRUE;
}

static JsonNode *lite_value(sqlite3_stmt *q, int c) {
  switch (sqlite3_column_type(q, c)) {
  case SQLITE_NULL:
    return json_node_new(JSON_NODE_NULL);
  case SQLITE_INTEGER:
    return json_node_init_int(json_node_alloc(), sqlite3_column_int64(q, c));
  case SQLITE_FLOAT:
    return json_node_init_double(json_node_alloc(),
                                 sqlite3_column_double(q, c));
  case SQLITE_BLOB: {
    char *b64 = g_base64_encode(sqlite3_column_blob(q, c),
                                sqlite3_column_bytes(q, c));
    JsonNode *n = json_node_init_string(json_node_alloc(), b64);
    g_free(b64);
    return n;
  }
  default:
    return json_node_init_string(json_node_alloc(),
                                 (const char *)sqlite3_column_text(q, c));
  }
}

/* Runs every statement of stmts on the SQLite file; rows of the last
 * statement with columns go to rs.  Returns a status; *why on failure. */
static ph_status lite_run(sql_state *s, ph_task *t, const char *file,
                          GPtrArray *stmts, JsonNode *params,
                          gboolean autocommit, rowset *rs, char **why) {
  sqlite3 *db = NULL;
  ph_status st = PH_FAIL;
  GError *err = NULL;
  gboolean in_txn = FALSE;
  if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK) {
    *why = g_strdup_printf("%s: cannot open: %s", file,
                           db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return PH_ERROR;
  }
  sqlite3_busy_timeout(db, 5000);
  g_mutex_lock(&s->lock);
  s->lite = db;
  g_mutex_unlock(&s->lock);
  if (!autocommit) {
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    in_txn = TRUE;
  }
  for (guint i = 0; i < stmts->len; i++) {
    const char *sql = stmts->pdata[i];
    while (sql && *sql) {
      sqlite3_stmt *q = NULL;
      const char *tail = NULL;
      int rc = sqlite3_prepare_v2(db, sql, -1, &q, &tail);
      if (rc != SQLITE_OK) {
        *why = g_strdup_printf("statement %u: %s", i + 1, sqlite3_errmsg(db));
        st = rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? PH_ERROR : PH_FAIL;
        goto fail;
      }
      sql = tail;
      if (!q)
        continue; /* whitespace or a comment */
      if (!lite_bind(q, params, &err)) {
        *why = g_strdup_printf("statement %u: %s", i + 1, err->message);
        g_clear_error(&err);
        sqlite3_finalize(q);
        goto fail;
      }
      int nc = sqlite3_column_count(q);
      if (nc > 0) {
        rowset_clear(rs);
        rs->has_rows = TRUE;
        for (int c = 0; c < nc; c++)
          g_ptr_array_add(rs->cols, g_strdup(sqlite3_column_name(q, c)));
      }
      while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        JsonArray *row = json_array_new();
        for (int c = 0; c < nc; c++)
          json_array_add_element(row, lite_value(q, c));
        g_ptr_array_add(rs->rows, row);
      }
      if (rc != SQLITE_DONE) {
        *why = g_strdup_printf("statement %u: %s", i + 1,
                               s->killed ? "interrupted" : sqlite3_errmsg(db));
        st = s->killed ? PH_CANCELLED
             : rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? PH_ERROR
                                                         : PH_FAIL;
        sqlite3_finalize(q);
        goto fail;
      }
      if (nc == 0)
        s->h->log(t, PH_LOG_INFO, "statement %u: %d row(s) changed", i + 1,
                  sqlite3_changes(db));
      sqlite3_finalize(q);
    }
  }
  if (in_txn && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    *why = g_strdup_printf("commit: %s", sqlite3_errmsg(db));
    st = PH_ERROR;
    goto fail;
  }
  st = PH_OK;
  goto out;
fail:
  if (in_txn) {
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    s->h->log(t, PH_LOG_WARNING, "rolled back: %s", *why);
  }
out:
  g_mutex_lock(&s->lock);
  s->lite = NULL;
  g_mutex_unlock(&s->lock);
  sqlite3_close(db);
  return st;
}

/* ---- PostgreSQL */

/* Rewrites :name placeholders (outside quotes and comments; not ::casts)
 * to $1, $2, ... and stores the bind order in names. */
static char *pg_named(const char *sql, GPtrArray *names) {
  GString *out = g_string_new(NULL);
  for (const char *p = sql; *p;) {
    if (*p == '\'' || *p == '"') {
      char qc = *p;
      g_string_append_c(out, *p++);
      while (*p && *p != qc)
        g_string_append_c(out, *p++);
      if (*p)
        g_string_append_c(out, *p++);
    } else if (p[0] == '-' && p[1] == '-') {
      while (*p && *p != '\n')
        g_string_append_c(out, *p++);
    } else if (p[0] == ':' && p[1] == ':') {
      g_string_append(out, "::");
      p += 2;
    } else if (p[0] == ':' && (g_ascii_isalpha(p[1]) || p[1] == '_')) {
      const char *b = ++p;
      while (g_ascii_isalnum(*p) || *p == '_')
        p++;
      char *name = g_strndup(b, p - b);
      guint k = 0;
      while (k < names->len && strcmp(names->pdata[k], name))
        k++;
      if (k == names->len)
        g_ptr_array_add(names, name);
      else
        g_free(name);
      g_string_append_printf(out, "$%u", k + 1);
    } else {
      g_string_append_c(out, *p++);
    }
  }
  return g_string_free(out, FALSE);
}

static JsonNode *pg_value(PGresult *r, int row, int c) {
  if (PQgetisnull(r, row, c))
    return json_node_new(JSON_NODE_NULL);
  const char *v = PQgetvalue(r, row, c);
  Oid type = PQftype(r, c);
  switch (type) {
  case 16: /* bool */
    return json_node_init_boolean(json_node_alloc(), v[0] == 't');
  case 20: /* int8 */
  case 21: /* int2 */
  case 23: /* int4 */
  case 26: /* oid */
    return json_node_init_int(json_node_alloc(), g_ascii_strtoll(v, NULL, 10));
  case 700:  /* float4 */
  case 701:  /* float8 */
  case 1700: { /* numeric: a number up to 15 significant digits (what a
                * double holds exactly), else its text */
    char *end = NULL;
    double d = g_ascii_strtod(v, &end);
    int digits = 0;
    for (const char *p = v; *p; p++)
      digits += g_ascii_isdigit(*p);
    if (end && !*end && isfinite(d) && (type != 1700 || digits <= 15))
      return json_node_init_double(json_node_alloc(), d);
    return json_node_init_string(json_node_alloc(), v);
  }
  case 114:  /* json */
  case 3802: { /* jsonb */
    JsonNode *n = json_from_string(v, NULL);
    if (n)
      return n;
    return json_node_init_string(json_node_alloc(), v);
  }
  default:
    return json_node_init_string(json_node_alloc(), v);
  }
}

static PGconn *pg_connect(JsonObject *c, char **why) {
  GPtrArray *k = g_ptr_array_new(), *v = g_ptr_array_new_with_free_func(g_free);
  const char *map[][2] = {{"host", "host"},   {"login", "user"},
                          {"password", "password"}, {"schema", "dbname"}};
  for (gsize i = 0; i < G_N_ELEMENTS(map); i++) {
    const char *x = json_object_get_string_member_with_default(c, map[i][0], NULL);
    if (x && *x) {
      g_ptr_array_add(k, (gpointer)map[i][1]);
      g_ptr_array_add(v, g_strdup(x));
    }
  }
  if (json_object_has_member(c, "port")) {
    g_ptr_array_add(k, "port");
    g_ptr_array_add(v, g_strdup_printf("%" G_GINT64_FORMAT,
                                       json_object_get_int_member(c, "port")));
  }
  JsonObject *extra = json_object_has_member(c, "extra") &&
                              JSON_NODE_HOLDS_OBJECT(
                                  json_object_get_member(c, "extra"))
                          ? json_object_get_object_member(c, "extra")
                          : NULL;
  GList *ek = extra ? json_object_get_members(extra) : NULL;
  for (GList *l = ek; l; l = l->next) {
    g_ptr_array_add(k, l->data);
    g_ptr_array_add(v, bind_text(json_object_get_member(extra, l->data)));
  }
  g_ptr_array_add(k, "connect_timeout");
  g_ptr_array_add(v, g_strdup("10"));
  g_ptr_array_add(k, "application_name");
  g_ptr_array_add(v, g_strdup("pipehost"));
  g_ptr_array_add(k, NULL);
  g_ptr_array_add(v, NULL);
  PGconn *conn = PQconnectdbParams((const char *const *)k->pdata,
                                   (const char *const *)v->pdata, 0);
  g_list_free(ek);
  g_ptr_array_unref(k);
  g_ptr_array_unref(v);
  if (PQstatus(conn) != CONNECTION_OK) {
    *why = g_strdup_printf("cannot connect: %s", PQerrorMessage(conn));
    g_strchomp(*why);
    PQfinish(conn);
    return NULL;
  }
  return conn;
}

/* The status of a failed PostgreSQL result: serialization failures,
 * deadlocks (class 40) and connection problems (08) are retryable. */
static ph_status pg_fail(PGconn *conn, PGresult *r, guint i, char **why) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
  *why = g_strdup_printf("statement %u: %s%s%s%s", i + 1, msg,
                         state ? " (SQLSTATE " : "", state ? state : "",
                         state ? ")" : "");
  for (char *p = *why; *p; p++)
    if (*p == '\n')
      *p = ' ';
  g_strchomp(*why);
  if (!state || g_str_has_prefix(state, "40") || g_str_has_prefix(state, "08") ||
      PQstatus(conn) != CONNECTION_OK)
    return PH_ERROR;
  if (!strcmp(state, "57014")) /* query_canceled */
    return PH_CANCELLED;
  return PH_FAIL;
}

static ph_status pg_run(sql_state *s, ph_task *t, JsonObject *c,
                        GPtrArray *stmts, JsonNode *params,
                        gboolean autocommit, rowset *rs, char **why) {
  ph_status st = PH_FAIL;
  gboolean in_txn = FALSE;
  PGconn *conn = pg_connect(c, why);
  if (!conn)
    return PH_ERROR;
  g_mutex_lock(&s->lock);
  s->cancel = PQgetCancel(conn);
  g_mutex_unlock(&s->lock);
  if (!autocommit) {
    PGresult *r = PQexec(conn, "BEGIN");
    PQclear(r);
    in_txn = TRUE;
  }
  for (guint i = 0; i < stmts->len; i++) {
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    gboolean named = params && JSON_NODE_HOLDS_OBJECT(params);
    char *sql = named ? pg_named(stmts->pdata[i], names)
                      : g_strdup(stmts->pdata[i]);
    GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
    if (named) {
      JsonObject *po = json_node_get_object(params);
      for (guint k = 0; k < names->len; k++) {
        if (!json_object_has_member(po, names->pdata[k])) {
          *why = g_strdup_printf("statement %u: no value for :%s", i + 1,
                                 (char *)names->pdata[k]);
          g_free(sql);
          g_ptr_array_unref(vals);
          g_ptr_array_unref(names);
          goto fail;
        }
        g_ptr_array_add(vals,
                        bind_text(json_object_get_member(po, names->pdata[k])));
      }
    } else if (params && JSON_NODE_HOLDS_ARRAY(params)) {
      JsonArray *a = json_node_get_array(params);
      for (guint k = 0; k < json_array_get_length(a); k++)
        g_ptr_array_add(vals, bind_text(json_array_get_element(a, k)));
    }
    /* PQexec runs several statements in one string but cannot bind */
    PGresult *r = vals->len
                      ? PQexecParams(conn, sql, (int)vals->len, NULL,
                                     (const char *const *)vals->pdata, NULL,
                                     NULL, 0)
                      : PQexec(conn, sql);
    g_free(sql);
    g_ptr_array_unref(vals);
    g_ptr_array_unref(names);
    ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_TUPLES_OK) {
      rowset_clear(rs);
      rs->has_rows = TRUE;
      int nc = PQnfields(r);
      for (int col = 0; col < nc; col++)
        g_ptr_array_add(rs->cols, g_strdup(PQfname(r, col)));
      for (int row = 0; row < PQntuples(r); row++) {
        JsonArray *ja = json_array_new();
        for (int col = 0; col < nc; col++)
          json_array_add_element(ja, pg_value(r, row, col));
        g_ptr_array_add(rs->rows, ja);
      }
    } else if (es == PGRES_COMMAND_OK) {
      s->h->log(t, PH_LOG_INFO, "statement %u: %s %s", i + 1,
                PQcmdStatus(r), PQcmdTuples(r));
    } else {
      st = s->killed ? PH_CANCELLED : pg_fail(conn, r, i, why);
      PQclear(r);
      goto fail;
    }
    PQclear(r);
  }
  if (in_txn) {
    PGresult *r = PQexec(conn, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      st = pg_fail(conn, r, stmts->len, why);
      PQclear(r);
      goto fail;
    }
    PQclear(r);
  }
  st = PH_OK;
  goto out;
fail:
  if (in_txn) {
    PGresult *r = PQexec(conn, "ROLLBACK");
    PQclear(r);
    s->h->log(t, PH_LOG_WARNING, "rolled back: %s", *why);
  }
out:
  g_mutex_lock(&s->lock);
  PQfreeCancel(s->cancel);
  s->cancel = NULL;
  g_mutex_unlock(&s->lock);
  PQfinish(conn);
  return st;
}

/* ---- shared by both operators */

/* Runs the task's statements; fills rs. */
static ph_status run_sql(sql_state *s, ph_task *t, rowset *rs) {
  const ph_host *h = s->h;
  const char *conn_id = NULL, *cj = NULL;
  char *why = NULL;
  ph_status st = PH_FAIL;
  int32_t autocommit = 0;
  JsonNode *cn = NULL, *sqln = NULL, *params = NULL;
  GPtrArray *stmts = g_ptr_array_new_with_free_func(g_free);
  h->param_string(t, "conn_id", &conn_id);
  h->param_bool(t, "autocommit", &autocommit);
  if (h->connection_get(t, conn_id, &cj) != PH_OK) {
    g_autofree char *up = g_ascii_strup(conn_id ? conn_id : "", -1);
    h->set_reason(t, "connection '%s' is not defined (pipehost connections "
                     "add, or PIPEHOST_CONN_%s=URI)",
                  conn_id, up);
    goto out;
  }
  cn = json_from_string(cj, NULL);
  const char *sqlj = h->param_json(t, "sql");
  sqln = sqlj ? json_from_string(sqlj, NULL) : NULL;
  if (sqln && JSON_NODE_HOLDS_ARRAY(sqln)) {
    JsonArray *a = json_node_get_array(sqln);
    for (guint i = 0; i < json_array_get_length(a); i++) {
      const char *x = json_array_get_string_element(a, i);
      if (x)
        g_ptr_array_add(stmts, g_strdup(x));
    }
  } else if (sqln && JSON_NODE_HOLDS_VALUE(sqln) &&
             json_node_get_value_type(sqln) == G_TYPE_STRING) {
    g_ptr_array_add(stmts, g_strdup(json_node_get_string(sqln)));
  }
  if (stmts->len == 0) {
    h->set_reason(t, "sql must be a statement or a list of statements");
    goto out;
  }
  const char *pj = h->param_json(t, "parameters");
  params = pj ? json_from_string(pj, NULL) : NULL;
  if (params && !JSON_NODE_HOLDS_ARRAY(params) &&
      !JSON_NODE_HOLDS_OBJECT(params) && !JSON_NODE_HOLDS_NULL(params)) {
    h->set_reason(t, "parameters must be a list (positional) or an object "
                     "(named)");
    goto out;
  }
  JsonObject *co = json_node_get_object(cn);
  const char *type =
      json_object_get_string_member_with_default(co, "conn_type", "");
  if (!strcmp(type, "sqlite")) {
    g_autofree char *file = sqlite_file(co);
    st = lite_run(s, t, file, stmts, params, autocommit, rs, &why);
  } else if (!strcmp(type, "postgres") || !strcmp(type, "postgresql")) {
    st = pg_run(s, t, co, stmts, params, autocommit, rs, &why);
  } else {
    h->set_reason(t, "connection '%s' is of type '%s': sql speaks sqlite and "
                     "postgresql",
                  conn_id, type);
    goto out;
  }
  if (st != PH_OK)
    h->set_reason(t, "%s", why ? why : "failed");
out:
  g_free(why);
  if (cn)
    json_node_unref(cn);
  if (sqln)
    json_node_unref(sqln);
  if (params)
    json_node_unref(params);
  g_ptr_array_unref(stmts);
  return st;
}

static rowset rowset_new(void) {
  rowset r = {g_ptr_array_new_with_free_func(g_free),
              g_ptr_array_new_with_free_func((GDestroyNotify)json_array_unref),
              FALSE};
  return r;
}

static void rowset_free(rowset *r) {
  g_ptr_array_unref(r->cols);
  g_ptr_array_unref(r->rows);
}

static void csv_field(GString *s, const char *v) {
  if (!strpbrk(v, ",\"\r\n")) {
    g_string_append(s, v);
    return;
  }
  g_string_append_c(s, '"');
  for (; *v; v++) {
    if (*v == '"')
      g_string_append_c(s, '"');
    g_string_append_c(s, *v);
  }
  g_string_append_c(s, '"');
}

static char *cell_text(JsonNode *v) {
  if (JSON_NODE_HOLDS_NULL(v))
    return g_strdup("");
  if (JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_DOUBLE)
    return pu_double_text(json_node_get_double(v));
  return bind_text(v);
}

static ph_status sql_execute(void *sv, ph_task *t) {
  sql_state *s = sv;
  const ph_host *h = s->h;
  rowset rs = rowset_new();
  const char *format = "objects", *csv = NULL;
  int64_t max_rows = 1000;
  h->param_string(t, "output_format", &format);
  h->param_int(t, "max_rows", &max_rows);
  h->param_string(t, "output_csv", &csv);
  if (strcmp(format, "objects") && strcmp(format, "rows")) {
    h->set_reason(t, "output_format must be objects or rows");
    rowset_free(&rs);
    return PH_FAIL;
  }
  ph_status st = run_sql(s, t, &rs);
  if (st != PH_OK || !rs.has_rows)
    goto out;
  if (csv) {
    GString *out = g_string_new(NULL);
    for (guint c = 0; c < rs.cols->len; c++) {
      if (c)
        g_string_append_c(out, ',');
      csv_field(out, rs.cols->pdata[c]);
    }
    g_string_append_c(out, '\n');
    for (guint r = 0; r < rs.rows->len; r++) {
      JsonArray *row = rs.rows->pdata[r];
      for (guint c = 0; c < rs.cols->len; c++) {
        if (c)
          g_string_append_c(out, ',');
        char *txt = cell_text(json_array_get_element(row, c));
        csv_field(out, txt);
        g_free(txt);
      }
      g_string_append_c(out, '\n');
    }
    GError *err = NULL;
    gboolean ok = g_file_set_contents(csv, out->str, out->len, &err);
    g_string_free(out, TRUE);
    if (!ok) {
      h->set_reason(t, "output_csv: %s", err->message);
      g_error_free(err);
      st = PH_FAIL;
      goto out;
    }
    g_autofree char *rv = g_strdup_printf(
        "{\"path\": \"%s\", \"rows\": %u}", csv, rs.rows->len);
    JsonNode *check = json_from_string(rv, NULL);
    if (!check) { /* a path with quotes: build it properly */
      JsonObject *o = json_object_new();
      json_object_set_string_member(o, "path", csv);
      json_object_set_int_member(o, "rows", rs.rows->len);
      JsonNode *n = json_node_new(JSON_NODE_OBJECT);
      json_node_take_object(n, o);
      g_free(rv);
      rv = pu_json_text(n);
      json_node_unref(n);
    } else {
      json_node_unref(check);
    }
    h->log(t, PH_LOG_INFO, "%u row(s) written to %s", rs.rows->len, csv);
    st = h->xcom_push(t, NULL, rv);
    goto out;
  }
  if ((gint64)rs.rows->len > max_rows) {
    h->set_reason(t, "the query returned %u rows, more than max_rows %"
                  G_GINT64_FORMAT " (raise max_rows, or write them with "
                  "output_csv)",
                  rs.rows->len, (gint64)max_rows);
    st = PH_FAIL;
    goto out;
  }
  JsonArray *all = json_array_new();
  for (guint r = 0; r < rs.rows->len; r++) {
    JsonArray *row = rs.rows->pdata[r];
    if (!strcmp(format, "rows")) {
      json_array_add_array_element(all, json_array_ref(row));
      continue;
    }
    JsonObject *o = json_object_new();
    for (guint c = 0; c < rs.cols->len; c++)
      json_object_set_member(o, rs.cols->pdata[c],
                             json_node_copy(json_array_get_element(row, c)));
    json_array_add_object_element(all, o);
  }
  JsonNode *n = json_node_new(JSON_NODE_ARRAY);
  json_node_take_array(n, all);
  char *txt = pu_json_text(n);
  json_node_unref(n);
  h->log(t, PH_LOG_INFO, "%u row(s) returned", rs.rows->len);
  st = h->xcom_push(t, NULL, txt);
  g_free(txt);
out:
  rowset_free(&rs);
  return st;
}

static ph_status sensor_poke(void *sv, ph_task *t, int32_t *done) {
  sql_state *s = sv;
  const ph_host *h = s->h;
  rowset rs = rowset_new();
  int32_t fail_empty = 0;
  h->param_bool(t, "fail_on_empty", &fail_empty);
  *done = 0;
  ph_status st = run_sql(s, t, &rs);
  if (st == PH_ERROR) { /* a database that is not up yet: poke again */
    h->log(t, PH_LOG_WARNING, "not done: the query failed, will retry");
    st = PH_OK;
    goto out;
  }
  if (st != PH_OK)
    goto out;
  if (rs.rows->len == 0 || rs.cols->len == 0) {
    if (fail_empty) {
      h->set_reason(t, "the query returned no rows (fail_on_empty)");
      st = PH_FAIL;
    } else {
      h->log(t, PH_LOG_INFO, "not done: no rows");
    }
    goto out;
  }
  JsonNode *v = json_array_get_element(rs.rows->pdata[0], 0);
  gboolean truthy = !JSON_NODE_HOLDS_NULL(v);
  if (truthy && JSON_NODE_HOLDS_VALUE(v)) {
    GType ty = json_node_get_value_type(v);
    if (ty == G_TYPE_BOOLEAN)
      truthy = json_node_get_boolean(v);
    else if (ty == G_TYPE_INT64)
      truthy = json_node_get_int(v) != 0;
    else if (ty == G_TYPE_DOUBLE)
      truthy = json_node_get_double(v) != 0;
    else
      truthy = *json_node_get_string(v) && strcmp(json_node_get_string(v), "0");
  }
  if (truthy) {
    char *txt = pu_json_text(v);
    st = h->xcom_push(t, NULL, txt);
    g_free(txt);
    *done = st == PH_OK;
  } else {
    h->log(t, PH_LOG_INFO, "not done: the first cell is falsy");
  }
out:
  rowset_free(&rs);
  return st;
}

/* ---- the implementation table (plugins/common/lazy.h) */

static const ph_operator impl_ops[] = {
    {PH_OPERATOR_INIT, .type = "sql", .init = sql_init,
     .execute = sql_execute, .on_kill = sql_kill, .destroy = sql_destroy},
    {PH_OPERATOR_INIT, .type = "sql_sensor", .init = sql_init,
     .poke = sensor_poke, .on_kill = sql_kill, .destroy = sql_destroy},
};

PH_EXPORT const ph_operator *pipehost_impl_operator(const char *type) {
  for (size_t i = 0; i < G_N_ELEMENTS(impl_ops); i++)
    if (!strcmp(impl_ops[i].type, type))
      return &impl_ops[i];
  return NULL;
}
