/* ph_db -- one SQL interface, two backends (see ph_db.h).
 *
 * PostgreSQL's client library is loaded with dlopen at the first
 * PostgreSQL connection: linking it would cost every pipehost process its
 * start-up (libpq pulls in TLS, Kerberos and LDAP), and most never use it. */
#include "ph_db.h"

#include <dlfcn.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct ph_db {
  int kind;
  sqlite3 *lite;
  PGconn *pg;
  char *err;      /* PostgreSQL: the last error */
  int errcode;    /* PostgreSQL: its SQLite-like code */
  gint64 changes; /* PostgreSQL: rows changed by the last statement */
  guint n_named;  /* PostgreSQL: server-side statements prepared so far */
  GString *deferred; /* PostgreSQL: writes not sent yet (ph_db_step_deferred) */
  gboolean txn_queued; /* PostgreSQL: a BEGIN is among the deferred */
};

struct ph_db_stmt {
  ph_db *db;
  sqlite3_stmt *lite;
  /* PostgreSQL */
  char *sql; /* translated */
  int n_params;
  char **params; /* text of each parameter, NULL for NULL */
  PGresult *res;
  int row; /* the current row; -1 before the first step */
  gboolean ran;
  gboolean cached; /* kept for the connection's life: prepared on the
                    * server once (parsed and planned once) */
  char *name;      /* its server-side name, once prepared */
};

/* ---- libpq, loaded on demand */

static struct {
  gboolean tried, ok;
  PGconn *(*connectdb)(const char *);
  ConnStatusType (*status)(const PGconn *);
  char *(*error_message)(const PGconn *);
  void (*finish)(PGconn *);
  PGresult *(*exec_params)(PGconn *, const char *, int, const Oid *,
                           const char *const *, const int *, const int *, int);
  PGresult *(*exec)(PGconn *, const char *);
  PGresult *(*prepare)(PGconn *, const char *, const char *, int, const Oid *);
  PGresult *(*exec_prepared)(PGconn *, const char *, int, const char *const *,
                             const int *, const int *, int);
  ExecStatusType (*result_status)(const PGresult *);
  char *(*result_error_field)(const PGresult *, int);
  char *(*result_error_message)(const PGresult *);
  int (*ntuples)(const PGresult *);
  int (*nfields)(const PGresult *);
  char *(*fname)(const PGresult *, int);
  Oid (*ftype)(const PGresult *, int);
  char *(*getvalue)(const PGresult *, int, int);
  int (*getisnull)(const PGresult *, int, int);
  char *(*cmd_tuples)(PGresult *);
  void (*clear)(PGresult *);
  PGTransactionStatusType (*transaction_status)(const PGconn *);
  char *(*cmd_status)(PGresult *);
  char *(*escape_literal)(PGconn *, const char *, size_t);
  void (*freemem)(void *);
} pq;

static G_LOCK_DEFINE(pq_lock);

/* Loads libpq once; FALSE when it is not installed. */
static gboolean load_pq(void) {
  G_LOCK(pq_lock);
  if (!pq.tried) {
    pq.tried = TRUE;
    void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    gboolean ok = h != NULL;
#define SYM(field, name)                                                       \
  do {                                                                         \
    void *p_ = h ? dlsym(h, name) : NULL;                                      \
    memcpy(&pq.field, &p_, sizeof p_);                                         \
    ok &= p_ != NULL;                                                          \
  } while (0)
    SYM(connectdb, "PQconnectdb");
    SYM(status, "PQstatus");
    SYM(error_message, "PQerrorMessage");
    SYM(finish, "PQfinish");
    SYM(exec_params, "PQexecParams");
    SYM(exec, "PQexec");
    SYM(prepare, "PQprepare");
    SYM(exec_prepared, "PQexecPrepared");
    SYM(result_status, "PQresultStatus");
    SYM(result_error_field, "PQresultErrorField");
    SYM(result_error_message, "PQresultErrorMessage");
    SYM(ntuples, "PQntuples");
    SYM(nfields, "PQnfields");
    SYM(fname, "PQfname");
    SYM(ftype, "PQftype");
    SYM(getvalue, "PQgetvalue");
    SYM(getisnull, "PQgetisnull");
    SYM(cmd_tuples, "PQcmdTuples");
    SYM(clear, "PQclear");
    SYM(transaction_status, "PQtransactionStatus");
    SYM(cmd_status, "PQcmdStatus");
    SYM(escape_literal, "PQescapeLiteral");
    SYM(freemem, "PQfreemem");
#undef SYM
    pq.ok = ok;
  }
  gboolean ok = pq.ok;
  G_UNLOCK(pq_lock);
  return ok;
}

/* ---- connections */

ph_db *ph_db_wrap_sqlite(sqlite3 *lite) {
  ph_db *db = g_new0(ph_db, 1);
  db->kind = PH_DB_SQLITE;
  db->lite = lite;
  return db;
}

ph_db *ph_db_open_pg(const char *conninfo, GError **error) {
  if (!load_pq()) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "PostgreSQL's client library (libpq.so.5) is not installed: "
                "apt-get install libpq5");
    return NULL;
  }
  PGconn *c = pq.connectdb(conninfo);
  if (!c || pq.status(c) != CONNECTION_OK) {
    g_autofree char *m = g_strdup(c ? pq.error_message(c) : "out of memory");
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "cannot connect to PostgreSQL: %s", g_strstrip(m));
    if (c)
      pq.finish(c);
    return NULL;
  }
  PGresult *r = pq.exec(c, "SET client_min_messages = warning");
  pq.clear(r);
  ph_db *db = g_new0(ph_db, 1);
  db->kind = PH_DB_PG;
  db->pg = c;
  return db;
}

gboolean ph_db_close(ph_db *db) {
  if (!db)
    return TRUE;
  if (db->lite && sqlite3_close(db->lite) != SQLITE_OK)
    return FALSE;
  if (db->pg)
    pq.finish(db->pg); /* deferred writes not sent: their transaction
                        * never committed */
  if (db->deferred)
    g_string_free(db->deferred, TRUE);
  g_free(db->err);
  g_free(db);
  return TRUE;
}

int ph_db_kind(const ph_db *db) { return db->kind; }

sqlite3 *ph_db_get_sqlite(ph_db *db) { return db->lite; }

/* ---- translation to PostgreSQL */

/* The columns an INSERT OR REPLACE conflicts on, per table (PostgreSQL
 * needs them named; SQLite uses the table's keys). */
static const char *const conflict_keys[][2] = {
    {"meta", "key"},
    {"dag_run", "run_id"},
    {"task_instance", "run_id, task_id, map_index"},
    {"task_try", "run_id, task_id, map_index, try_number"},
    {"xcom", "run_id, task_id, map_index, key"},
    {"variable", "key"},
    {"connection", "conn_id"},
    {"pool", "name"},
    {"pool_slot", "run_id, task_id, map_index, pool"},
    {"model_alias", "name, alias"},
    {"result_cache", "fingerprint"},
    {"lineage", "run_id, task_id"},
    {NULL, NULL}};

static const char *conflict_key(const char *table) {
  for (guint i = 0; conflict_keys[i][0]; i++)
    if (!strcmp(conflict_keys[i][0], table))
      return conflict_keys[i][1];
  return NULL;
}

/* Whether s starts with word w (case-insensitive) followed by a
 * non-identifier character. */
static gboolean word_at(const char *s, const char *w) {
  size_t n = strlen(w);
  return !g_ascii_strncasecmp(s, w, n) &&
         !(g_ascii_isalnum(s[n]) || s[n] == '_');
}

/* The end of a call's argument list that starts at arg (just after its
 * "("): the position of its ")", or NULL when unbalanced; *comma gets the
 * first top-level comma (NULL: none). */
static const char *call_end(const char *arg, const char **comma) {
  int depth = 1;
  *comma = NULL;
  for (const char *e = arg; *e; e++) {
    depth += *e == '(' ? 1 : *e == ')' ? -1 : 0;
    if (!depth)
      return e;
    if (depth == 1 && *e == ',' && !*comma)
      *comma = e;
  }
  return NULL;
}

/* Whether the function name fn (with its "(") starts at p, a whole word
 * of frag. */
static gboolean call_at(const char *frag, const char *p, const char *fn) {
  return !g_ascii_strncasecmp(p, fn, strlen(fn)) &&
         (p == frag || !(g_ascii_isalnum(p[-1]) || p[-1] == '_'));
}

/* frag translated (caller frees): placeholders as $n (numbering on from
 * *n; ?NNN as $NNN), SQLite's JSON functions as PostgreSQL's, quoted text
 * left alone. */
static char *translate_expr(const char *frag, int *n) {
  GString *o = g_string_new(NULL);
  char quote = 0;
  for (const char *p = frag; *p; p++) {
    const char *comma = NULL, *end = NULL;
    if (quote) {
      if (*p == quote)
        quote = 0;
    } else if (*p == '\'' || *p == '"') {
      quote = *p;
    } else if (*p == '?' && !g_ascii_isdigit(p[1])) {
      g_string_append_printf(o, "$%d", ++*n);
      continue;
    } else if (*p == '?') {
      /* ?NNN: that parameter, as $NNN (the digits follow) */
      g_string_append_c(o, '$');
      continue;
    } else if (call_at(frag, p, "json_group_array(") &&
               (end = call_end(p + 17, &comma))) {
      /* SQLite's json_group_array(x) is [] over no rows; json_agg NULL */
      g_autofree char *inner = g_strndup(p + 17, (gsize)(end - p - 17));
      g_autofree char *t = translate_expr(inner, n);
      g_string_append_printf(o, "coalesce(json_agg(%s), '[]'::json)", t);
      p = end;
      continue;
    } else if (call_at(frag, p, "json_patch(") &&
               (end = call_end(p + 11, &comma)) && comma) {
      /* SQLite's json_patch(a, b) merges b's members into a: jsonb's ||
       * (top-level members, which is all pipehost patches) */
      g_autofree char *a1 = g_strndup(p + 11, (gsize)(comma - p - 11));
      g_autofree char *a2 = g_strndup(comma + 1, (gsize)(end - comma - 1));
      g_autofree char *t1 = translate_expr(a1, n);
      g_autofree char *t2 = translate_expr(a2, n);
      g_string_append_printf(
          o, "CAST(CAST(%s AS jsonb) || CAST(%s AS jsonb) AS TEXT)", t1, t2);
      p = end;
      continue;
    }
    g_string_append_c(o, *p);
  }
  return g_string_free(o, FALSE);
}

/* One statement (no ';' outside quotes) translated. */
static void translate_one(GString *out, const char *sql) {
  const char *p = sql;
  while (g_ascii_isspace(*p))
    p++;
  gboolean ignore = FALSE, replace = FALSE;
  GString *body = g_string_new(NULL);
  if (word_at(p, "INSERT")) {
    const char *q = p + 6;
    while (g_ascii_isspace(*q))
      q++;
    if (word_at(q, "OR")) {
      q += 2;
      while (g_ascii_isspace(*q))
        q++;
      ignore = word_at(q, "IGNORE");
      replace = word_at(q, "REPLACE");
      if (ignore || replace) {
        q += ignore ? 6 : 7;
        g_string_append(body, "INSERT");
        p = q;
      }
    }
  } else if (word_at(p, "BEGIN")) {
    /* BEGIN IMMEDIATE / DEFERRED / EXCLUSIVE: PostgreSQL takes row locks
     * as it writes */
    g_string_append(out, "BEGIN");
    g_string_free(body, TRUE);
    return;
  }
  int n = 0;
  g_autofree char *expr = translate_expr(p, &n);
  g_string_append(body, expr);
  if (ignore) {
    g_string_append(body, " ON CONFLICT DO NOTHING");
  } else if (replace) {
    /* INSERT INTO t(c1, c2, ...) ...: every column not in the key takes
     * the new row's value */
    const char *t = strstr(body->str, "INTO");
    g_autofree char *table = NULL;
    GPtrArray *cols = g_ptr_array_new_with_free_func(g_free);
    if (t) {
      t += 4;
      while (g_ascii_isspace(*t))
        t++;
      const char *e = t;
      while (g_ascii_isalnum(*e) || *e == '_')
        e++;
      table = g_strndup(t, (gsize)(e - t));
      /* the column list right after the table's name (without one the
       * columns are unknown: no ON CONFLICT, a conflict is an error) */
      while (g_ascii_isspace(*e))
        e++;
      const char *open = *e == '(' ? e : NULL;
      const char *close = open ? strchr(open, ')') : NULL;
      if (open && close) {
        g_autofree char *list = g_strndup(open + 1, (gsize)(close - open - 1));
        char **c = g_strsplit(list, ",", -1);
        for (char **x = c; *x; x++)
          g_ptr_array_add(cols, g_strdup(g_strstrip(*x)));
        g_strfreev(c);
      }
    }
    const char *key = table && cols->len ? conflict_key(table) : NULL;
    if (key) {
      g_string_append_printf(body, " ON CONFLICT (%s) DO ", key);
      char **keys = g_strsplit(key, ",", -1);
      GString *set = g_string_new(NULL);
      for (guint i = 0; i < cols->len; i++) {
        gboolean in_key = FALSE;
        for (char **k = keys; *k; k++)
          in_key |= !strcmp(g_strstrip(*k), cols->pdata[i]);
        if (!in_key)
          g_string_append_printf(set, "%s%s=EXCLUDED.%s", set->len ? ", " : "",
                                 (char *)cols->pdata[i],
                                 (char *)cols->pdata[i]);
      }
      if (set->len)
        g_string_append_printf(body, "UPDATE SET %s", set->str);
      else
        g_string_append(body, "NOTHING");
      g_string_free(set, TRUE);
      g_strfreev(keys);
    }
    g_ptr_array_unref(cols);
  }
  g_string_append(out, body->str);
  g_string_free(body, TRUE);
}

char *ph_db_translate(const ph_db *db, const char *sql) {
  return db->kind == PH_DB_SQLITE ? g_strdup(sql) : ph_db_translate_pg(sql);
}

char *ph_db_translate_pg(const char *sql) {
  /* statement by statement: split at ';' outside quotes */
  GString *out = g_string_new(NULL);
  GString *one = g_string_new(NULL);
  char quote = 0;
  for (const char *p = sql;; p++) {
    if (!*p || (!quote && *p == ';')) {
      const char *t = one->str;
      while (g_ascii_isspace(*t))
        t++;
      if (*t) {
        translate_one(out, one->str);
        g_string_append_c(out, ';');
      }
      g_string_truncate(one, 0);
      if (!*p)
        break;
      continue;
    }
    if (quote && *p == quote)
      quote = 0;
    else if (!quote && (*p == '\'' || *p == '"'))
      quote = *p;
    g_string_append_c(one, *p);
  }
  g_string_free(one, TRUE);
  if (out->len && out->str[out->len - 1] == ';' && !strchr(sql, ';'))
    g_string_truncate(out, out->len - 1);
  return g_string_free(out, FALSE);
}

/* ---- statements */

static void pg_error(ph_db *db, PGresult *r) {
  g_free(db->err);
  const char *m = r ? pq.result_error_message(r) : pq.error_message(db->pg);
  db->err = g_strstrip(g_strdup(m && *m ? m : "PostgreSQL error"));
  const char *state = r ? pq.result_error_field(r, PG_DIAG_SQLSTATE) : NULL;
  /* 53100 disk_full; 40001/40P01 serialization failure, deadlock */
  db->errcode = state && !strcmp(state, "53100")         ? SQLITE_FULL
                : state && g_str_has_prefix(state, "40") ? SQLITE_BUSY
                                                         : SQLITE_ERROR;
}

ph_db_stmt *ph_db_prepare_cached(ph_db *db, const char *sql) {
  ph_db_stmt *st = ph_db_prepare(db, sql);
  if (st)
    st->cached = TRUE;
  return st;
}

ph_db_stmt *ph_db_prepare(ph_db *db, const char *sql) {
  ph_db_stmt *st = g_new0(ph_db_stmt, 1);
  st->db = db;
  if (db->kind == PH_DB_SQLITE) {
    if (sqlite3_prepare_v3(db->lite, sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &st->lite, NULL) != SQLITE_OK) {
      g_free(st);
      return NULL;
    }
    return st;
  }
  st->sql = ph_db_translate(db, sql);
  /* ? is the next parameter, ?NNN parameter NNN */
  int seq = 0, most = 0;
  for (const char *p = sql; *p; p++)
    if (*p == '?') {
      if (g_ascii_isdigit(p[1]))
        most = MAX(most, atoi(p + 1));
      else
        seq++;
    }
  st->n_params = MAX(seq, most);
  st->params = g_new0(char *, st->n_params + 1);
  st->row = -1;
  return st;
}

static void set_param(ph_db_stmt *st, int i, char *v) {
  if (i < 1 || i > st->n_params) {
    g_free(v);
    return;
  }
  g_free(st->params[i - 1]);
  st->params[i - 1] = v;
}

void ph_db_bind_text(ph_db_stmt *st, int i, const char *v) {
  if (st->lite)
    sqlite3_bind_text(st->lite, i, v, -1, SQLITE_TRANSIENT);
  else
    set_param(st, i, g_strdup(v));
}

void ph_db_bind_int64(ph_db_stmt *st, int i, gint64 v) {
  if (st->lite)
    sqlite3_bind_int64(st->lite, i, v);
  else
    set_param(st, i, g_strdup_printf("%" G_GINT64_FORMAT, v));
}

void ph_db_bind_double(ph_db_stmt *st, int i, double v) {
  if (st->lite) {
    sqlite3_bind_double(st->lite, i, v);
  } else {
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    set_param(st, i, g_strdup(g_ascii_dtostr(buf, sizeof buf, v)));
  }
}

void ph_db_bind_null(ph_db_stmt *st, int i) {
  if (st->lite)
    sqlite3_bind_null(st->lite, i);
  else
    set_param(st, i, NULL);
}

void ph_db_clear_bindings(ph_db_stmt *st) {
  if (st->lite) {
    sqlite3_clear_bindings(st->lite);
    return;
  }
  for (int i = 0; i < st->n_params; i++)
    g_clear_pointer(&st->params[i], g_free);
}

int ph_db_bind_parameter_count(ph_db_stmt *st) {
  return st->lite ? sqlite3_bind_parameter_count(st->lite) : st->n_params;
}

/* Sends the deferred writes, in one round trip.  FALSE (the error noted)
 * when one failed: PostgreSQL has aborted the transaction. */
static gboolean flush(ph_db *db) {
  if (!db->deferred || !db->deferred->len)
    return TRUE;
  db->txn_queued = FALSE; /* sent now: the server knows the transaction */
  PGresult *r = pq.exec(db->pg, db->deferred->str);
  g_string_truncate(db->deferred, 0);
  ExecStatusType s = r ? pq.result_status(r) : PGRES_FATAL_ERROR;
  gboolean ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  if (!ok) {
    pg_error(db, r);
  } else {
    const char *ct = pq.cmd_tuples(r);
    db->changes = ct && *ct ? g_ascii_strtoll(ct, NULL, 10) : 0;
  }
  if (r)
    pq.clear(r);
  return ok;
}

/* A cached statement prepared on the server, once: its plan is made once
 * and kept.  A statement the server will not prepare (a ';' list) runs
 * as plain text from then on, its error (if any) reported when it runs. */
static void server_prepare(ph_db_stmt *st) {
  if (!st->cached || st->name)
    return;
  ph_db *db = st->db;
  char *name = g_strdup_printf("ph%u", ++db->n_named);
  PGresult *r = pq.prepare(db->pg, name, st->sql, st->n_params, NULL);
  if (r && pq.result_status(r) == PGRES_COMMAND_OK)
    st->name = name;
  else
    g_free(name);
  if (r)
    pq.clear(r);
  if (!st->name)
    st->cached = FALSE;
}

/* Appends parameter i (1-based) of st to out as a literal; FALSE when
 * libpq cannot quote it. */
static gboolean append_literal(ph_db_stmt *st, int i, GString *out) {
  const char *v = i >= 1 && i <= st->n_params ? st->params[i - 1] : NULL;
  if (!v) {
    g_string_append(out, "NULL");
    return TRUE;
  }
  char *lit = pq.escape_literal(st->db->pg, v, strlen(v));
  if (!lit)
    return FALSE;
  g_string_append(out, lit);
  pq.freemem(lit);
  return TRUE;
}

int ph_db_step_deferred(ph_db_stmt *st) {
  ph_db *db = st->db;
  if (st->lite ||
      (!db->txn_queued && pq.transaction_status(db->pg) != PQTRANS_INTRANS))
    return ph_db_step(st);
  if (!db->deferred)
    db->deferred = g_string_new(NULL);
  GString *out = db->deferred;
  gsize mark = out->len;
  server_prepare(st);
  if (st->name) {
    /* the server's prepared statement (planned once) with the parameters
     * as literals, queued */
    g_string_append_printf(out, "EXECUTE %s", st->name);
    for (int i = 1; i <= st->n_params; i++) {
      g_string_append(out, i == 1 ? "(" : ",");
      if (!append_literal(st, i, out)) {
        g_string_truncate(out, mark);
        pg_error(db, NULL);
        return PH_DB_ERROR;
      }
    }
    g_string_append(out, st->n_params ? ");" : ";");
    st->ran = TRUE;
    return PH_DB_DONE;
  }
  /* the statement with its parameters as literals, queued */
  char quote = 0;
  for (const char *p = st->sql; *p; p++) {
    if (quote) {
      if (*p == quote)
        quote = 0;
    } else if (*p == '\'' || *p == '"') {
      quote = *p;
    } else if (*p == '$' && g_ascii_isdigit(p[1])) {
      int i = (int)g_ascii_strtoll(p + 1, NULL, 10);
      while (g_ascii_isdigit(p[1]))
        p++;
      if (!append_literal(st, i, out)) {
        g_string_truncate(out, mark);
        pg_error(db, NULL);
        return PH_DB_ERROR;
      }
      continue;
    }
    g_string_append_c(out, *p);
  }
  g_string_append_c(out, ';');
  st->ran = TRUE;
  return PH_DB_DONE;
}

int ph_db_step(ph_db_stmt *st) {
  if (st->lite) {
    int rc = sqlite3_step(st->lite);
    return rc == SQLITE_ROW    ? PH_DB_ROW
           : rc == SQLITE_DONE ? PH_DB_DONE
                               : PH_DB_ERROR;
  }
  ph_db *db = st->db;
  if (!st->ran) {
    st->ran = TRUE;
    if (!flush(db))
      return PH_DB_ERROR;
    server_prepare(st);
    st->res =
        st->name
            ? pq.exec_prepared(db->pg, st->name, st->n_params,
                               (const char *const *)st->params, NULL, NULL, 0)
            : pq.exec_params(db->pg, st->sql, st->n_params, NULL,
                             (const char *const *)st->params, NULL, NULL, 0);
    ExecStatusType s = st->res ? pq.result_status(st->res) : PGRES_FATAL_ERROR;
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
      pg_error(db, st->res);
      return PH_DB_ERROR;
    }
    const char *ct = pq.cmd_tuples(st->res);
    db->changes = ct && *ct ? g_ascii_strtoll(ct, NULL, 10) : 0;
  }
  if (!st->res || pq.result_status(st->res) != PGRES_TUPLES_OK)
    return st->res && pq.result_status(st->res) == PGRES_COMMAND_OK
               ? PH_DB_DONE
               : PH_DB_ERROR;
  st->row++;
  return st->row < pq.ntuples(st->res) ? PH_DB_ROW : PH_DB_DONE;
}

int ph_db_column_count(ph_db_stmt *st) {
  if (st->lite)
    return sqlite3_column_count(st->lite);
  return st->res ? pq.nfields(st->res) : 0;
}

const char *ph_db_column_name(ph_db_stmt *st, int i) {
  if (st->lite)
    return sqlite3_column_name(st->lite, i);
  return st->res ? pq.fname(st->res, i) : NULL;
}

/* Whether the current PostgreSQL row has a value in column i. */
static gboolean pg_has(ph_db_stmt *st, int i) {
  return st->res && st->row >= 0 && st->row < pq.ntuples(st->res) && i >= 0 &&
         i < pq.nfields(st->res) && !pq.getisnull(st->res, st->row, i);
}

int ph_db_column_type(ph_db_stmt *st, int i) {
  if (st->lite)
    return sqlite3_column_type(st->lite, i);
  if (!pg_has(st, i))
    return PH_DB_NULL;
  switch (pq.ftype(st->res, i)) {
  case 20: /* int8 */
  case 21: /* int2 */
  case 23: /* int4 */
  case 16: /* bool */
    return PH_DB_INTEGER;
  case 700:  /* float4 */
  case 701:  /* float8 */
  case 1700: /* numeric */
    return PH_DB_FLOAT;
  default:
    return PH_DB_TEXT;
  }
}

const char *ph_db_column_text(ph_db_stmt *st, int i) {
  if (st->lite)
    return (const char *)sqlite3_column_text(st->lite, i);
  return pg_has(st, i) ? pq.getvalue(st->res, st->row, i) : NULL;
}

gint64 ph_db_column_int64(ph_db_stmt *st, int i) {
  if (st->lite)
    return sqlite3_column_int64(st->lite, i);
  if (!pg_has(st, i))
    return 0;
  const char *v = pq.getvalue(st->res, st->row, i);
  if (!strcmp(v, "t"))
    return 1;
  /* a numeric or float column read as an integer truncates, as SQLite */
  return strpbrk(v, ".eE") ? (gint64)g_ascii_strtod(v, NULL)
                           : g_ascii_strtoll(v, NULL, 10);
}

double ph_db_column_double(ph_db_stmt *st, int i) {
  if (st->lite)
    return sqlite3_column_double(st->lite, i);
  return pg_has(st, i) ? g_ascii_strtod(pq.getvalue(st->res, st->row, i), NULL)
                       : 0.0;
}

void ph_db_reset(ph_db_stmt *st) {
  if (st->lite) {
    sqlite3_reset(st->lite);
    return;
  }
  if (st->res)
    pq.clear(st->res);
  st->res = NULL;
  st->ran = FALSE;
  st->row = -1;
}

void ph_db_finalize(ph_db_stmt *st) {
  if (!st)
    return;
  if (st->lite) {
    sqlite3_finalize(st->lite);
  } else {
    ph_db_reset(st);
    for (int i = 0; i < st->n_params; i++)
      g_free(st->params[i]);
    g_free(st->params);
    g_free(st->sql);
    g_free(st->name); /* the server's copy goes with the connection */
  }
  g_free(st);
}

/* ---- the connection's other services */

gboolean ph_db_exec(ph_db *db, const char *sql) {
  if (db->kind == PH_DB_SQLITE)
    return sqlite3_exec(db->lite, sql, NULL, NULL, NULL) == SQLITE_OK;
  g_autofree char *t = ph_db_translate(db, sql);
  db->txn_queued = FALSE;
  if (db->deferred && db->deferred->len) {
    if (!g_ascii_strncasecmp(sql, "ROLLBACK", 8)) {
      g_string_truncate(db->deferred, 0); /* never sent: nothing to undo */
    } else {
      /* the deferred writes first, in the same round trip (a COMMIT's) */
      g_string_append(db->deferred, t);
      g_free(t);
      t = g_string_free(db->deferred, FALSE);
      db->deferred = NULL;
    }
  }
  PGresult *r = pq.exec(db->pg, t);
  ExecStatusType s = r ? pq.result_status(r) : PGRES_FATAL_ERROR;
  gboolean ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  if (!ok) {
    pg_error(db, r);
  } else if (!strcmp(pq.cmd_status(r), "ROLLBACK") &&
             g_str_has_suffix(t, "COMMIT")) {
    /* a COMMIT of a transaction PostgreSQL had aborted rolls it back and
     * says so only in its tag: never a success */
    g_free(db->err);
    db->err = g_strdup("the transaction was rolled back (a statement in it "
                       "had failed)");
    db->errcode = SQLITE_ABORT;
    ok = FALSE;
  }
  if (r)
    pq.clear(r);
  return ok;
}

gint64 ph_db_changes(ph_db *db) {
  if (db->kind == PH_DB_SQLITE)
    return sqlite3_changes(db->lite);
  return flush(db) ? db->changes : 0;
}

const char *ph_db_errmsg(ph_db *db) {
  if (db->kind == PH_DB_SQLITE)
    return sqlite3_errmsg(db->lite);
  return db->err ? db->err : "not an error";
}

int ph_db_errcode(ph_db *db) {
  return db->kind == PH_DB_SQLITE ? sqlite3_errcode(db->lite) : db->errcode;
}

gboolean ph_db_autocommit(ph_db *db) {
  if (db->kind == PH_DB_SQLITE)
    return sqlite3_get_autocommit(db->lite) != 0;
  return !db->txn_queued && pq.transaction_status(db->pg) == PQTRANS_IDLE;
}

gboolean ph_db_begin_deferred(ph_db *db, const char *sql) {
  if (db->kind == PH_DB_SQLITE || !ph_db_autocommit(db))
    return ph_db_exec(db, sql);
  if (!db->deferred)
    db->deferred = g_string_new(NULL);
  g_autofree char *t = ph_db_translate(db, sql);
  g_string_append(db->deferred, t);
  g_string_append_c(db->deferred, ';');
  db->txn_queued = TRUE;
  return TRUE;
}
