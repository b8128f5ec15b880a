/* feature_fetch -- a point-in-time correct feature store (Feast's
 * semantics) over CSV files and SQLite tables, and a client for a Feast
 * feature server.
 *
 * lookup historical: for each row of the entity table (join keys and an
 * event timestamp) and each feature view, the view's row with equal keys,
 * feature timestamp <= the entity's, within the view's ttl (0: no limit),
 * the latest one (ties: latest created_column); none: empty cells.  Entity
 * rows keep their order.  The join runs in an in-memory SQLite database
 * (window functions), with quoted identifiers and bound values.
 * lookup online: the latest values for given keys, as of now (or as_of).
 * lookup feast: POST {url}/get-online-features to a Feast feature server and
 * pivot its column-major answer into rows.
 * The result is a CSV file; the return value is {"path", "rows",
 * "columns", "missing": {feature: count}}.
 *
 * This is the implementation library (impl/feature_fetch.so);
 * feature_fetch_ops.c holds the descriptor the host scans.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "../common/putil.h"
#include "../ml/ml_table.h"
#include "pipehost/plugin.h"

typedef struct {
  const ph_host *h;
  volatile int cancelled;
} ff_state;

static ph_status ff_init(const ph_host *h, ph_task *t, void **out) {
  if (!pu_curl_ready()) {
    h->set_reason(t, "curl_global_init failed");
    return PH_ERROR;
  }
  ff_state *s = g_new0(ff_state, 1);
  s->h = h;
  *out = s;
  return PH_OK;
}

static void ff_destroy(void *s) { g_free(s); }

static void ff_kill(void *s) { ((ff_state *)s)->cancelled = 1; }

/* A scalar as CSV cell text: a double in its shortest round-trip form
 * (0.7, not json-glib's 0.69999999999999996). */
static char *cell_text(JsonNode *v) {
  if (JSON_NODE_HOLDS_VALUE(v)) {
    GType ty = json_node_get_value_type(v);
    if (ty == G_TYPE_STRING)
      return g_strdup(json_node_get_string(v));
    if (ty == G_TYPE_DOUBLE)
      return pu_double_text(json_node_get_double(v));
  }
  return pu_json_text(v);
}

/* "90d", "12h", "30m", "45s" or a number of seconds; -1 when invalid. */
static double parse_ttl(JsonNode *n) {
  if (!n)
    return 0;
  if (JSON_NODE_HOLDS_VALUE(n) &&
      json_node_get_value_type(n) != G_TYPE_STRING &&
      json_node_get_value_type(n) != G_TYPE_BOOLEAN)
    return json_node_get_double(n) >= 0 ? json_node_get_double(n) : -1;
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return -1;
  const char *s = json_node_get_string(n);
  char *end = NULL;
  double v = g_ascii_strtod(s, &end);
  if (end == s || v < 0)
    return -1;
  double mul = !*end               ? 1
               : !strcmp(end, "s") ? 1
               : !strcmp(end, "m") ? 60
               : !strcmp(end, "h") ? 3600
               : !strcmp(end, "d") ? 86400
                                   : -1;
  return mul < 0 ? -1 : v * mul;
}

/* A timestamp as epoch seconds: ISO 8601 (UTC when it names no zone), a
 * date, or a number of seconds.  FALSE when unparseable. */
static gboolean parse_ts(const char *text, double *out) {
  while (g_ascii_isspace(*text))
    text++;
  if (!*text)
    return FALSE;
  char *end = NULL;
  double v = g_ascii_strtod(text, &end);
  if (end && !*end && end != text) {
    *out = v;
    return TRUE;
  }
  GTimeZone *utc = g_time_zone_new_utc();
  GDateTime *d = g_date_time_new_from_iso8601(text, utc);
  if (!d && strlen(text) == 10) { /* a bare date */
    g_autofree char *full = g_strconcat(text, "T00:00:00", NULL);
    d = g_date_time_new_from_iso8601(full, utc);
  }
  if (!d && strchr(text, ' ')) { /* "2024-01-02 03:04:05" */
    g_autofree char *full = g_strdup(text);
    *strchr(full, ' ') = 'T';
    d = g_date_time_new_from_iso8601(full, utc);
  }
  g_time_zone_unref(utc);
  if (!d)
    return FALSE;
  *out = g_date_time_to_unix(d) + g_date_time_get_microsecond(d) / 1e6;
  g_date_time_unref(d);
  return TRUE;
}

static char *quote_ident(const char *s) {
  GString *q = g_string_new("\"");
  for (; *s; s++) {
    if (*s == '"')
      g_string_append_c(q, '"');
    g_string_append_c(q, *s);
  }
  g_string_append_c(q, '"');
  return g_string_free(q, FALSE);
}


/* Reads a source: a CSV path (string), {"path"} or {"conn_id", "table" |
 * "query"}.  *what names it in messages. */
static ml_table *read_source(const ph_host *h, ph_task *t, JsonNode *n,
                             char **what, GError **error) {
  if (n && JSON_NODE_HOLDS_VALUE(n) &&
      json_node_get_value_type(n) == G_TYPE_STRING) {
    *what = g_strdup(json_node_get_string(n));
    return ml_table_read_csv(*what, error);
  }
  if (n && JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObject *o = json_node_get_object(n);
    const char *path =
        json_object_get_string_member_with_default(o, "path", NULL);
    const char *conn =
        json_object_get_string_member_with_default(o, "conn_id", NULL);
    if (path) {
      *what = g_strdup(path);
      return ml_table_read_csv(path, error);
    }
    if (conn) {
      const char *table =
          json_object_get_string_member_with_default(o, "table", NULL);
      const char *query =
          json_object_get_string_member_with_default(o, "query", NULL);
      const char *cj = NULL;
      ml_table *tab = NULL;
      if (h->connection_get(t, conn, &cj) != PH_OK) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "connection '%s' is not defined", conn);
      } else {
        JsonNode *cn = json_from_string(cj, NULL);
        *what = g_strdup_printf("%s (%s)", table ? table : "query", conn);
        tab = ml_table_read_conn(json_node_get_object(cn), table, query, error);
        json_node_unref(cn);
      }
      return tab;
    }
  }
  *what = g_strdup("?");
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
              "a source is a CSV path, {\"path\": ...} or {\"conn_id\": ..., "
              "\"table\": ...}");
  return NULL;
}

/* Loads tab into table name of db: every column as text, plus __row (the
 * row number), __ts (ts_col as epoch seconds) and __created (created_col,
 * or 0).  FALSE with error naming an unparseable timestamp. */
static gboolean load(sqlite3 *db, const char *name, const ml_table *tab,
                     const char *what, int ts_col, int created_col,
                     GError **error) {
  gboolean ok = FALSE;
  GString *ddl = g_string_new(NULL), *ins = g_string_new(NULL);
  sqlite3_stmt *q = NULL;
  guint nc = ml_table_n_cols(tab);
  g_string_printf(ddl,
                  "CREATE TABLE %s(__row INTEGER, __ts REAL, __created "
                  "REAL",
                  name);
  g_string_printf(ins, "INSERT INTO %s VALUES(?,?,?", name);
  for (guint c = 0; c < nc; c++) {
    g_autofree char *qc = quote_ident(ml_table_col_name(tab, c));
    g_string_append_printf(ddl, ", %s TEXT", qc);
    g_string_append(ins, ",?");
  }
  g_string_append(ddl, ")");
  g_string_append(ins, ")");
  if (sqlite3_exec(db, ddl->str, NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, ins->str, -1, &q, NULL) != SQLITE_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", what,
                sqlite3_errmsg(db));
    goto out;
  }
  for (guint r = 0; r < ml_table_n_rows(tab); r++) {
    double ts = 0, cr = 0;
    if (ts_col >= 0 && !parse_ts(ml_table_cell(tab, r, ts_col), &ts)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "%s: data row %u, column '%s': '%s' is not a timestamp "
                  "(ISO 8601 or epoch seconds)",
                  what, r + 1, ml_table_col_name(tab, ts_col),
                  ml_table_cell(tab, r, ts_col));
      goto out;
    }
    if (created_col >= 0 &&
        !parse_ts(ml_table_cell(tab, r, created_col), &cr)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "%s: data row %u, column '%s': '%s' is not a timestamp", what,
                  r + 1, ml_table_col_name(tab, created_col),
                  ml_table_cell(tab, r, created_col));
      goto out;
    }
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, r);
    sqlite3_bind_double(q, 2, ts);
    sqlite3_bind_double(q, 3, cr);
    for (guint c = 0; c < nc; c++)
      sqlite3_bind_text(q, 4 + c, ml_table_cell(tab, r, c), -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", what,
                  sqlite3_errmsg(db));
      goto out;
    }
  }
  ok = TRUE;
out:
  sqlite3_finalize(q);
  g_string_free(ddl, TRUE);
  g_string_free(ins, TRUE);
  return ok;
}

static char **strv_member(JsonObject *o, const char *name) {
  JsonArray *a = json_object_has_member(o, name) &&
                         JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, name))
                     ? json_object_get_array_member(o, name)
                     : NULL;
  if (!a)
    return NULL;
  GPtrArray *v = g_ptr_array_new();
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *e = json_array_get_element(a, i);
    if (JSON_NODE_HOLDS_VALUE(e) &&
        json_node_get_value_type(e) == G_TYPE_STRING)
      g_ptr_array_add(v, g_strdup(json_node_get_string(e)));
  }
  g_ptr_array_add(v, NULL);
  return (char **)g_ptr_array_free(v, FALSE);
}

/* The result being built: entity rows x (entity columns + features). */
typedef struct {
  GPtrArray *cols;  /* char* header */
  GPtrArray *cells; /* char*, row-major, rows x cols->len */
  guint rows;
  JsonObject *missing;
} result;

/* Joins one feature view against table e of db, appending its features to
 * res.  as_of >= 0: every entity row is looked up at that time (online). */
static gboolean join_view(const ph_host *h, ph_task *t, sqlite3 *db,
                          JsonObject *view, guint vi, const ml_table *ent,
                          const char *ent_what, gboolean full_names,
                          result *res, GError **error) {
  gboolean ok = FALSE;
  char *what = NULL;
  char **keys = strv_member(view, "join_keys"),
       **feats = strv_member(view, "features");
  const char *vname =
      json_object_get_string_member_with_default(view, "name", NULL);
  const char *ts = json_object_get_string_member_with_default(
      view, "timestamp_column", "event_timestamp");
  const char *created =
      json_object_get_string_member_with_default(view, "created_column", NULL);
  double ttl = parse_ttl(json_object_get_member(view, "ttl"));
  ml_table *src = NULL;
  GString *sql = g_string_new(NULL);
  sqlite3_stmt *q = NULL;
  g_autofree char *vtable = g_strdup_printf("v%u", vi);
  g_autofree char *vlabel =
      vname ? g_strdup(vname) : g_strdup_printf("feature view %u", vi + 1);
  if (!keys || !keys[0]) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: join_keys (a list of column names) is required", vlabel);
    goto out;
  }
  if (ttl < 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: ttl must be seconds or a string like \"90d\", \"12h\"",
                vlabel);
    goto out;
  }
  JsonNode *sn = json_object_get_member(view, "path")
                     ? json_object_get_member(view, "path")
                     : json_object_get_member(view, "source");
  src = read_source(h, t, sn, &what, error);
  if (!src) {
    g_prefix_error(error, "%s: ", vlabel);
    goto out;
  }
  int tscol = ml_table_col(src, ts), crcol = -1;
  if (tscol < 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s (%s): no timestamp column '%s' (set timestamp_column)",
                vlabel, what, ts);
    goto out;
  }
  if (created && (crcol = ml_table_col(src, created)) < 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s (%s): no created column '%s'", vlabel, what, created);
    goto out;
  }
  for (char **k = keys; *k; k++) {
    if (ml_table_col(src, *k) < 0 || ml_table_col(ent, *k) < 0) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "join key '%s' is missing from %s", *k,
                  ml_table_col(src, *k) < 0 ? what : ent_what);
      goto out;
    }
  }
  /* the features: listed, or every other column */
  if (!feats) {
    GPtrArray *v = g_ptr_array_new();
    for (guint c = 0; c < ml_table_n_cols(src); c++) {
      const char *cn = ml_table_col_name(src, c);
      if ((int)c == tscol || (int)c == crcol ||
          g_strv_contains((const char *const *)keys, cn))
        continue;
      g_ptr_array_add(v, g_strdup(cn));
    }
    g_ptr_array_add(v, NULL);
    feats = (char **)g_ptr_array_free(v, FALSE);
  }
  for (char **f = feats; *f; f++)
    if (ml_table_col(src, *f) < 0) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "%s (%s): no feature column '%s'", vlabel, what, *f);
      goto out;
    }
  if (!load(db, vtable, src, what, tscol, crcol, error))
    goto out;
  /* Feast's point-in-time join (research ML.md 4.3) */
  g_string_append(sql, "SELECT ");
  for (char **f = feats; *f; f++) {
    g_autofree char *qf = quote_ident(*f);
    g_string_append_printf(sql, "%sf.%s", f == feats ? "" : ", ", qf);
  }
  g_string_append_printf(
      sql,
      " FROM e LEFT JOIN (SELECT e2.__row AS r, s.*, ROW_NUMBER() OVER "
      "(PARTITION BY e2.__row ORDER BY s.__ts DESC, s.__created DESC, "
      "s.__row DESC) AS rn FROM e e2 JOIN %s s ON ",
      vtable);
  for (char **k = keys; *k; k++) {
    g_autofree char *qk = quote_ident(*k);
    g_string_append_printf(sql, "s.%s = e2.%s AND ", qk, qk);
  }
  g_string_append(sql, "s.__ts <= e2.__ts AND (?1 = 0 OR s.__ts >= e2.__ts - "
                       "?1)) f ON f.r = e.__row AND f.rn = 1 ORDER BY "
                       "e.__row");
  if (sqlite3_prepare_v2(db, sql->str, -1, &q, NULL) != SQLITE_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", vlabel,
                sqlite3_errmsg(db));
    goto out;
  }
  sqlite3_bind_double(q, 1, ttl);
  guint nf = g_strv_length(feats), base = res->cols->len;
  for (guint j = 0; j < nf; j++) {
    g_ptr_array_add(res->cols, full_names && vname
                                   ? g_strdup_printf("%s__%s", vname, feats[j])
                                   : g_strdup(feats[j]));
    json_object_set_int_member(res->missing, res->cols->pdata[base + j], 0);
  }
  /* widen the row-major cells: old width base, new width base + nf */
  GPtrArray *wide = g_ptr_array_new_with_free_func(g_free);
  guint r = 0;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    for (guint c = 0; c < base; c++) {
      g_ptr_array_add(wide, res->cells->pdata[r * base + c]);
      res->cells->pdata[r * base + c] = NULL;
    }
    for (guint j = 0; j < nf; j++) {
      const unsigned char *v = sqlite3_column_text(q, j);
      if (!v) {
        const char *cn = res->cols->pdata[base + j];
        json_object_set_int_member(
            res->missing, cn, json_object_get_int_member(res->missing, cn) + 1);
      }
      g_ptr_array_add(wide, g_strdup(v ? (const char *)v : ""));
    }
    r++;
  }
  if (rc != SQLITE_DONE || r != res->rows) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", vlabel,
                sqlite3_errmsg(db));
    g_ptr_array_unref(wide);
    goto out;
  }
  g_ptr_array_unref(res->cells);
  res->cells = wide;
  h->log(t, PH_LOG_INFO,
         "%s (%s): %u feature(s) joined point-in-time, ttl "
         "%g s",
         vlabel, what, nf, ttl);
  ok = TRUE;
out:
  sqlite3_finalize(q);
  g_string_free(sql, TRUE);
  ml_table_free(src);
  g_free(what);
  g_strfreev(keys);
  g_strfreev(feats);
  return ok;
}

/* The entity table of online mode: {"key": [values...], ...} (one row per
 * index, all lists the same length) as a CSV-like table. */
static ml_table *entities_from_object(JsonObject *o, const char *tmp_dir,
                                      GError **error) {
  GList *keys = json_object_get_members(o);
  guint n = G_MAXUINT;
  GPtrArray *cols = g_ptr_array_new();
  for (GList *l = keys; l; l = l->next) {
    JsonNode *v = json_object_get_member(o, l->data);
    guint len = JSON_NODE_HOLDS_ARRAY(v)
                    ? json_array_get_length(json_node_get_array(v))
                    : 0;
    if (!JSON_NODE_HOLDS_ARRAY(v) || (n != G_MAXUINT && len != n)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "entities: every key needs a list of values, all of the "
                  "same length ('%s')",
                  (char *)l->data);
      g_list_free(keys);
      g_ptr_array_unref(cols);
      return NULL;
    }
    n = len;
    g_ptr_array_add(cols, l->data);
  }
  g_list_free(keys);
  if (n == G_MAXUINT)
    n = 0;
  char **cells = g_new0(char *, (gsize)n * cols->len + 1);
  for (guint r = 0; r < n; r++)
    for (guint c = 0; c < cols->len; c++) {
      JsonNode *e = json_array_get_element(
          json_object_get_array_member(o, cols->pdata[c]), r);
      cells[r * cols->len + c] = cell_text(e);
    }
  g_autofree char *path = g_build_filename(tmp_dir, "entities.csv", NULL);
  gboolean ok = ml_csv_write(path, (const char *const *)cols->pdata, cols->len,
                             cells, n, error);
  for (gsize i = 0; i < (gsize)n * cols->len; i++)
    g_free(cells[i]);
  g_free(cells);
  g_ptr_array_unref(cols);
  return ok ? ml_table_read_csv(path, error) : NULL;
}

/* ---- feast mode */

static size_t on_body(char *p, size_t sz, size_t n, void *u) {
  g_string_append_len(u, p, sz * n);
  return sz * n;
}

static int on_progress(void *u, curl_off_t a, curl_off_t b, curl_off_t c,
                       curl_off_t d) {
  return ((ff_state *)u)->cancelled;
}

/* Asks a Feast feature server; fills res.  Returns PH_OK, PH_ERROR
 * (retryable: connection, 5xx) or PH_FAIL. */
static ph_status feast(ff_state *s, ph_task *t, result *res, GError **error) {
  const ph_host *h = s->h;
  const char *url = "http://localhost:6566";
  h->param_string(t, "url", &url);
  JsonNode *ents = pu_param_node(h, t, "entities");
  JsonNode *feats = pu_param_node(h, t, "features");
  const char *service = NULL;
  h->param_string(t, "feature_service", &service);
  int32_t full = 0;
  h->param_bool(t, "full_feature_names", &full);
  ph_status st = PH_FAIL;
  GString *body = g_string_new(NULL);
  JsonNode *resp = NULL;
  CURL *c = NULL;
  struct curl_slist *hd = NULL;
  char *reqt = NULL, *full_url = NULL;
  if (!ents || !JSON_NODE_HOLDS_OBJECT(ents) ||
      (!service && (!feats || !JSON_NODE_HOLDS_ARRAY(feats)))) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "lookup feast needs entities ({key: [values]}) and features "
                "([\"view:feature\"]) or feature_service");
    goto out;
  }
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  if (service) {
    json_builder_set_member_name(b, "feature_service");
    json_builder_add_string_value(b, service);
  } else {
    json_builder_set_member_name(b, "features");
    json_builder_add_value(b, json_node_copy(feats));
  }
  json_builder_set_member_name(b, "entities");
  json_builder_add_value(b, json_node_copy(ents));
  json_builder_set_member_name(b, "full_feature_names");
  json_builder_add_boolean_value(b, full);
  json_builder_end_object(b);
  JsonNode *req = json_builder_get_root(b);
  g_object_unref(b);
  reqt = pu_json_text(req);
  json_node_unref(req);
  full_url = g_strdup_printf("%s%sget-online-features", url,
                             g_str_has_suffix(url, "/") ? "" : "/");
  c = curl_easy_init();
  hd = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, full_url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, reqt);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
  CURLcode cc = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (cc != CURLE_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", full_url,
                curl_easy_strerror(cc));
    st = PH_ERROR;
    goto out;
  }
  resp = json_from_string(body->str, NULL);
  if (code != 200) {
    const char *msg = resp && JSON_NODE_HOLDS_OBJECT(resp)
                          ? json_object_get_string_member_with_default(
                                json_node_get_object(resp), "message", NULL)
                          : NULL;
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "feature server answered %ld: %.300s", code,
                msg ? msg : body->str);
    st = code >= 500 ? PH_ERROR : PH_FAIL;
    goto out;
  }
  JsonObject *ro =
      resp && JSON_NODE_HOLDS_OBJECT(resp) ? json_node_get_object(resp) : NULL;
  JsonObject *md = ro ? json_object_get_object_member(ro, "metadata") : NULL;
  JsonArray *names =
      md ? json_object_get_array_member(md, "feature_names") : NULL;
  JsonArray *results = ro ? json_object_get_array_member(ro, "results") : NULL;
  if (!names || !results ||
      json_array_get_length(names) != json_array_get_length(results)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "feature server: the answer is not a Feast "
                "get-online-features response");
    goto out;
  }
  /* column-major: results[j] holds column names[j] for every row */
  guint nc = json_array_get_length(names), nr = 0;
  for (guint j = 0; j < nc; j++) {
    JsonObject *col = json_array_get_object_element(results, j);
    JsonArray *vals = col ? json_object_get_array_member(col, "values") : NULL;
    guint len = vals ? json_array_get_length(vals) : 0;
    if (j == 0)
      nr = len;
    if (!vals || len != nr) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                  "feature server: column '%s' has %u values, expected %u",
                  json_array_get_string_element(names, j), len, nr);
      goto out;
    }
    g_ptr_array_add(res->cols,
                    g_strdup(json_array_get_string_element(names, j)));
  }
  res->rows = nr;
  JsonObject *eo = json_node_get_object(ents);
  for (guint r = 0; r < nr; r++)
    for (guint j = 0; j < nc; j++) {
      const char *name = res->cols->pdata[j];
      JsonObject *col = json_array_get_object_element(results, j);
      JsonNode *v = json_array_get_element(
          json_object_get_array_member(col, "values"), r);
      JsonArray *sts = json_object_has_member(col, "statuses")
                           ? json_object_get_array_member(col, "statuses")
                           : NULL;
      const char *status = sts && r < json_array_get_length(sts)
                               ? json_array_get_string_element(sts, r)
                               : "PRESENT";
      gboolean missing = !strcmp(status, "NOT_FOUND") ||
                         !strcmp(status, "OUTSIDE_MAX_AGE") ||
                         JSON_NODE_HOLDS_NULL(v);
      if (!json_object_has_member(eo, name)) {
        if (!json_object_has_member(res->missing, name))
          json_object_set_int_member(res->missing, name, 0);
        if (missing)
          json_object_set_int_member(
              res->missing, name,
              json_object_get_int_member(res->missing, name) + 1);
      }
      g_ptr_array_add(res->cells, missing ? g_strdup("") : cell_text(v));
    }
  h->log(t, PH_LOG_INFO, "feature server %s: %u rows, %u columns", url, nr, nc);
  st = PH_OK;
out:
  g_free(reqt);
  g_free(full_url);
  if (hd)
    curl_slist_free_all(hd);
  if (c)
    curl_easy_cleanup(c);
  g_string_free(body, TRUE);
  if (resp)
    json_node_unref(resp);
  if (ents)
    json_node_unref(ents);
  if (feats)
    json_node_unref(feats);
  return st;
}

/* ---- execute */

static ph_status ff_execute(void *state, ph_task *t) {
  ff_state *s = state;
  const ph_host *h = s->h;
  ph_status st = PH_FAIL;
  GError *err = NULL;
  const char *mode = "historical", *ts_col = "event_timestamp",
             *on_missing = "null", *output = NULL;
  int32_t full = 0;
  char *what = NULL, *out_path = NULL, *tmp = NULL, *rt = NULL;
  ml_table *ent = NULL;
  sqlite3 *db = NULL;
  JsonNode *views = NULL, *en = NULL;
  result res = {g_ptr_array_new_with_free_func(g_free),
                g_ptr_array_new_with_free_func(g_free), 0, json_object_new()};
  h->param_string(t, "lookup", &mode);
  h->param_string(t, "entity_timestamp_column", &ts_col);
  h->param_string(t, "on_missing", &on_missing);
  h->param_bool(t, "full_feature_names", &full);
  h->param_string(t, "output", &output);
  if (strcmp(on_missing, "null") && strcmp(on_missing, "fail")) {
    h->set_reason(t, "on_missing must be null or fail");
    goto out;
  }
  if (!strcmp(mode, "feast")) {
    st = feast(s, t, &res, &err);
    if (st != PH_OK)
      goto fail_err;
    st = PH_FAIL;
  } else if (!strcmp(mode, "historical") || !strcmp(mode, "online")) {
    gboolean online = !strcmp(mode, "online");
    views = pu_param_node(h, t, "feature_views");
    if (!views || !JSON_NODE_HOLDS_ARRAY(views) ||
        json_array_get_length(json_node_get_array(views)) == 0) {
      h->set_reason(t, "feature_views must be a non-empty list of views "
                       "({name, path | source, join_keys, timestamp_column, "
                       "features, ttl})");
      goto out;
    }
    en = pu_param_node(h, t, "entities");
    if (en && JSON_NODE_HOLDS_VALUE(en) &&
        json_node_get_value_type(en) == G_TYPE_STRING &&
        json_node_get_string(en)[0] == '{') {
      JsonNode *o = json_from_string(json_node_get_string(en), NULL);
      if (o) {
        json_node_unref(en);
        en = o;
      }
    }
    if (online) {
      if (!en || !JSON_NODE_HOLDS_OBJECT(en)) {
        h->set_reason(t, "lookup online needs entities: {join_key: [values]}");
        goto out;
      }
      tmp = g_dir_make_tmp("ph-ff-XXXXXX", NULL);
      ent = tmp ? entities_from_object(json_node_get_object(en), tmp, &err)
                : NULL;
      what = g_strdup("entities");
    } else {
      ent = read_source(h, t, en, &what, &err);
    }
    if (!ent)
      goto fail_err;
    int tcol = online ? -1 : ml_table_col(ent, ts_col);
    if (!online && tcol < 0) {
      h->set_reason(t,
                    "%s: no entity timestamp column '%s' (set "
                    "entity_timestamp_column)",
                    what, ts_col);
      goto out;
    }
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
      h->set_reason(t, "sqlite: cannot open an in-memory database");
      goto out;
    }
    if (!load(db, "e", ent, what, tcol, -1, &err))
      goto fail_err;
    if (online) {
      /* every key looked up as of now (or as_of) */
      double as_of = g_get_real_time() / 1e6;
      const char *as = NULL;
      if (h->param_string(t, "as_of", &as) == PH_OK && as &&
          !parse_ts(as, &as_of)) {
        h->set_reason(t, "as_of: '%s' is not a timestamp", as);
        goto out;
      }
      char sql[96];
      g_snprintf(sql, sizeof sql, "UPDATE e SET __ts = %.6f", as_of);
      sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    res.rows = ml_table_n_rows(ent);
    for (guint c = 0; c < ml_table_n_cols(ent); c++)
      g_ptr_array_add(res.cols, g_strdup(ml_table_col_name(ent, c)));
    for (guint r = 0; r < res.rows; r++)
      for (guint c = 0; c < ml_table_n_cols(ent); c++)
        g_ptr_array_add(res.cells, g_strdup(ml_table_cell(ent, r, c)));
    JsonArray *va = json_node_get_array(views);
    for (guint i = 0; i < json_array_get_length(va); i++) {
      JsonNode *v = json_array_get_element(va, i);
      if (!JSON_NODE_HOLDS_OBJECT(v)) {
        h->set_reason(t, "feature_views[%u] must be an object", i);
        goto out;
      }
      if (s->cancelled || h->is_cancelled(t)) {
        st = PH_CANCELLED;
        goto out;
      }
      if (!join_view(h, t, db, json_node_get_object(v), i, ent, what, full,
                     &res, &err))
        goto fail_err;
    }
  } else {
    h->set_reason(t, "lookup must be historical, online or feast, not '%s'",
                  mode);
    goto out;
  }
  /* missing values */
  gint64 total_missing = 0;
  GList *mk = json_object_get_members(res.missing);
  for (GList *l = mk; l; l = l->next)
    total_missing += json_object_get_int_member(res.missing, l->data);
  g_list_free(mk);
  if (total_missing && !strcmp(on_missing, "fail")) {
    h->set_reason(t,
                  "%" G_GINT64_FORMAT " feature value(s) missing (no row "
                  "at or before the entity time within the ttl); "
                  "on_missing: fail",
                  total_missing);
    goto out;
  }
  /* write */
  if (output) {
    out_path = g_strdup(output);
  } else {
    const char *adir =
        PH_HAS(h, ph_host, artifact_dir) ? h->artifact_dir(t) : NULL;
    if (!adir) {
      h->set_reason(t, "set output: this host has no artifact directory");
      goto out;
    }
    out_path = g_build_filename(adir, "features.csv", NULL);
  }
  if (!ml_csv_write(out_path, (const char *const *)res.cols->pdata,
                    res.cols->len, (char **)res.cells->pdata, res.rows, &err))
    goto fail_err;
  JsonObject *rv = json_object_new();
  json_object_set_string_member(rv, "path", out_path);
  json_object_set_int_member(rv, "rows", res.rows);
  JsonArray *ca = json_array_new();
  for (guint c = 0; c < res.cols->len; c++)
    json_array_add_string_element(ca, res.cols->pdata[c]);
  json_object_set_array_member(rv, "columns", ca);
  json_object_set_object_member(rv, "missing", json_object_ref(res.missing));
  JsonNode *rn = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(rn, rv);
  rt = pu_json_text(rn);
  json_node_unref(rn);
  h->log(t, PH_LOG_INFO,
         "%u rows x %u columns, %" G_GINT64_FORMAT " missing value(s): %s",
         res.rows, res.cols->len, total_missing, out_path);
  st = h->xcom_push(t, NULL, rt) == PH_OK ? PH_OK : PH_FAIL;
  goto out;
fail_err:
  h->set_reason(t, "%s", err ? err->message : "failed");
out:
  g_clear_error(&err);
  if (db)
    sqlite3_close(db);
  if (tmp) {
    g_autofree char *ep = g_build_filename(tmp, "entities.csv", NULL);
    g_unlink(ep);
    g_rmdir(tmp);
    g_free(tmp);
  }
  ml_table_free(ent);
  if (views)
    json_node_unref(views);
  if (en)
    json_node_unref(en);
  g_ptr_array_unref(res.cols);
  g_ptr_array_unref(res.cells);
  json_object_unref(res.missing);
  g_free(what);
  g_free(out_path);
  g_free(rt);
  return st;
}

/* ---- the implementation table (plugins/common/lazy.h) */

static const ph_operator impl_op = {PH_OPERATOR_INIT,
                                    .type = "feature_fetch",
                                    .init = ff_init,
                                    .execute = ff_execute,
                                    .on_kill = ff_kill,
                                    .destroy = ff_destroy};

PH_EXPORT const ph_operator *pipehost_impl_operator(const char *type) {
  return strcmp(type, impl_op.type) ? NULL : &impl_op;
}
