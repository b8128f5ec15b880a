/* ml_table -- see ml_table.h. */
#include "ml_table.h"

#include <gio/gio.h>

#include <errno.h>
#include <math.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

struct ml_table {
  GPtrArray *names; /* char* */
  GPtrArray *cells; /* char*, row-major */
  guint n_cols;
};

static ml_table *table_new(void) {
  ml_table *t = g_new0(ml_table, 1);
  t->names = g_ptr_array_new_with_free_func(g_free);
  t->cells = g_ptr_array_new_with_free_func(g_free);
  return t;
}

void ml_table_free(ml_table *t) {
  if (!t)
    return;
  g_ptr_array_unref(t->names);
  g_ptr_array_unref(t->cells);
  g_free(t);
}

/* Splits one CSV record starting at *p (advancing it past the record's
 * line end) into fields.  FALSE on an unterminated quote. */
static gboolean csv_record(const char **p, const char *end, GPtrArray *fields,
                           int *lines) {
  const char *s = *p;
  GString *f = g_string_new(NULL);
  gboolean quoted = FALSE, ok = TRUE;
  for (;;) {
    if (s >= end) {
      if (quoted)
        ok = FALSE;
      break;
    }
    char c = *s;
    if (quoted) {
      if (c == '"' && s + 1 < end && s[1] == '"') {
        g_string_append_c(f, '"');
        s += 2;
      } else if (c == '"') {
        quoted = FALSE;
        s++;
      } else {
        if (c == '\n')
          (*lines)++;
        g_string_append_c(f, c);
        s++;
      }
    } else if (c == '"' && f->len == 0) {
      quoted = TRUE;
      s++;
    } else if (c == ',') {
      g_ptr_array_add(fields, g_string_free(f, FALSE));
      f = g_string_new(NULL);
      s++;
    } else if (c == '\r' && s + 1 < end && s[1] == '\n') {
      s += 2;
      break;
    } else if (c == '\n') {
      s++;
      break;
    } else {
      g_string_append_c(f, c);
      s++;
    }
  }
  g_ptr_array_add(fields, g_string_free(f, FALSE));
  (*lines)++;
  *p = s;
  return ok;
}

/* Splits one whitespace-separated line at *p into fields (no quoting). */
static gboolean ws_record(const char **p, const char *end, GPtrArray *fields,
                          int *lines) {
  const char *s = *p;
  const char *eol = memchr(s, '\n', (size_t)(end - s));
  if (!eol)
    eol = end;
  g_autofree char *line = g_strndup(s, (gsize)(eol - s));
  g_auto(GStrv) parts =
      g_regex_split_simple("[ \t\r]+", g_strstrip(line), 0, 0);
  for (char **q = parts; *q; q++)
    if (**q || !parts[1])
      g_ptr_array_add(fields, g_strdup(*q));
  if (!fields->len)
    g_ptr_array_add(fields, g_strdup(""));
  (*lines)++;
  *p = eol < end ? eol + 1 : end;
  return TRUE;
}

/* The whole file, decompressed when it is gzip (magic 1f 8b).  FALSE with
 * error. */
static gboolean slurp(const char *path, char **text, gsize *len,
                      GError **error) {
  if (!g_file_get_contents(path, text, len, error))
    return FALSE;
  if (*len < 2 || (guchar)(*text)[0] != 0x1f || (guchar)(*text)[1] != 0x8b)
    return TRUE;
  GZlibDecompressor *z = g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  GInputStream *raw = g_memory_input_stream_new_from_data(*text, *len, NULL);
  GInputStream *in = g_converter_input_stream_new(raw, G_CONVERTER(z));
  GByteArray *out = g_byte_array_new();
  guint8 buf[65536];
  gssize r;
  GError *err = NULL;
  while ((r = g_input_stream_read(in, buf, sizeof buf, NULL, &err)) > 0)
    g_byte_array_append(out, buf, (guint)r);
  g_object_unref(in);
  g_object_unref(raw);
  g_object_unref(z);
  g_free(*text);
  *text = NULL;
  if (r < 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: a gzip file that cannot be decompressed: %s", path,
                err->message);
    g_clear_error(&err);
    g_byte_array_unref(out);
    return FALSE;
  }
  *len = out->len;
  g_byte_array_append(out, (const guint8 *)"", 1);
  *text = (char *)g_byte_array_free(out, FALSE);
  return TRUE;
}

/* A hint for a file read as CSV that seems laid out otherwise ("" when
 * none): blanks but no commas in its first line, or a first line of
 * numbers. */
static const char *layout_hint(const ml_table *t, const char *first) {
  if (t->n_cols == 1 && strpbrk(first, " \t"))
    return "; the file looks whitespace-separated: read it with input: "
           "{path: ..., sep: whitespace}";
  gboolean numeric = t->n_cols > 0;
  for (guint i = 0; i < t->n_cols && numeric; i++) {
    char *e = NULL;
    const char *v = g_ptr_array_index(t->names, i);
    g_ascii_strtod(v, &e);
    numeric = *v && e && !*e;
  }
  if (numeric)
    return "; its first line holds numbers, not column names: read it with "
           "input: {path: ..., header: false, columns: [name, ...]}";
  return "";
}

const char *ml_table_layout_hint(const ml_table *t) {
  return t->n_cols ? layout_hint(t, g_ptr_array_index(t->names, 0)) : "";
}

ml_table *ml_table_read_csv(const char *path, GError **error) {
  return ml_table_read_file(path, NULL, error);
}

ml_table *ml_table_read_file(const char *path, const ml_csv_opts *opts,
                             GError **error) {
  static const ml_csv_opts csv = {0};
  char *text = NULL;
  gsize len = 0;
  ml_table *t = NULL;
  if (!opts)
    opts = &csv;
  if (!slurp(path, &text, &len, error))
    return NULL;
  gboolean (*record)(const char **, const char *, GPtrArray *, int *) =
      opts->whitespace ? ws_record : csv_record;
  const char *p = text, *end = text + len;
  int line = 0;
  t = table_new();
  GPtrArray *fields = g_ptr_array_new_with_free_func(g_free);
  g_autofree char *first = g_strndup(text, strcspn(text, "\n"));
  if (len == 0 || !record(&p, end, fields, &line) || fields->len == 0 ||
      (fields->len == 1 && !*(char *)fields->pdata[0])) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: no header row (a CSV file needs column names on its first "
                "line)",
                path);
    goto fail;
  }
  if (opts->no_header) {
    guint n = fields->len, named = 0;
    while (opts->columns && opts->columns[named])
      named++;
    if (opts->columns && named != n) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "%s: columns names %u columns, but the first line has %u",
                  path, named, n);
      goto fail;
    }
    for (guint i = 0; i < n; i++)
      g_ptr_array_add(t->names, opts->columns
                                    ? g_strdup(opts->columns[i])
                                    : g_strdup_printf("column_%u", i + 1));
    t->n_cols = n;
    p = text; /* the first line is data */
    line = 0;
  } else {
    for (guint i = 0; i < fields->len; i++)
      g_ptr_array_add(t->names, g_strstrip(g_strdup(fields->pdata[i])));
    t->n_cols = fields->len;
  }
  while (p < end) {
    int at = line + 1;
    g_ptr_array_set_size(fields, 0);
    if (!record(&p, end, fields, &line)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "%s:%d: a quoted field is not closed", path, at);
      goto fail;
    }
    if (fields->len == 1 && !*(char *)fields->pdata[0])
      continue; /* blank line */
    if (fields->len != t->n_cols) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "%s:%d: %u fields, but the header has %u%s", path, at,
                  fields->len, t->n_cols,
                  opts == &csv ? layout_hint(t, first) : "");
      goto fail;
    }
    for (guint i = 0; i < fields->len; i++) {
      g_ptr_array_add(t->cells, fields->pdata[i]);
      fields->pdata[i] = NULL;
    }
  }
  g_ptr_array_unref(fields);
  g_free(text);
  return t;
fail:
  g_ptr_array_unref(fields);
  g_free(text);
  ml_table_free(t);
  return NULL;
}

gboolean ml_table_add_column_file(ml_table *t, const char *name,
                                  const char *path, GError **error) {
  static const ml_csv_opts one = {TRUE, TRUE, NULL};
  ml_table *c = ml_table_read_file(path, &one, error);
  if (!c)
    return FALSE;
  guint n = ml_table_n_rows(c), skip = 0;
  double v;
  /* a header line naming the column */
  if (n && !ml_table_cell_double(c, 0, 0, &v))
    skip = 1;
  gboolean ok = c->n_cols == 1 && n - skip == ml_table_n_rows(t);
  if (!ok) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: %u values in %u column(s), but the features have %u "
                "rows (one value per line expected)",
                path, n - skip, c->n_cols, ml_table_n_rows(t));
    ml_table_free(c);
    return FALSE;
  }
  GPtrArray *cells = g_ptr_array_new_with_free_func(g_free);
  guint rows = ml_table_n_rows(t);
  for (guint r = 0; r < rows; r++) {
    for (guint k = 0; k < t->n_cols; k++)
      g_ptr_array_add(cells, g_strdup(ml_table_cell(t, r, k)));
    g_ptr_array_add(cells, g_strdup(ml_table_cell(c, r + skip, 0)));
  }
  g_ptr_array_unref(t->cells);
  t->cells = cells;
  t->n_cols++;
  g_ptr_array_add(t->names, g_strdup(name));
  ml_table_free(c);
  return TRUE;
}

ml_table *ml_table_read_sqlite(const char *db_path, const char *sql,
                               GError **error) {
  sqlite3 *db = NULL;
  sqlite3_stmt *q = NULL;
  ml_table *t = NULL;
  if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: cannot open the SQLite database: %s", db_path,
                db ? sqlite3_errmsg(db) : "out of memory");
    goto out;
  }
  if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", db_path,
                sqlite3_errmsg(db));
    goto out;
  }
  t = table_new();
  t->n_cols = sqlite3_column_count(q);
  for (guint c = 0; c < t->n_cols; c++)
    g_ptr_array_add(t->names, g_strdup(sqlite3_column_name(q, c)));
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    for (guint c = 0; c < t->n_cols; c++) {
      const unsigned char *v = sqlite3_column_text(q, c);
      g_ptr_array_add(t->cells, g_strdup(v ? (const char *)v : ""));
    }
  if (rc != SQLITE_DONE) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", db_path,
                sqlite3_errmsg(db));
    ml_table_free(t);
    t = NULL;
  }
out:
  sqlite3_finalize(q);
  sqlite3_close(db);
  return t;
}

guint ml_table_n_rows(const ml_table *t) {
  return t->n_cols ? t->cells->len / t->n_cols : 0;
}
guint ml_table_n_cols(const ml_table *t) { return t->n_cols; }
const char *ml_table_col_name(const ml_table *t, guint col) {
  return t->names->pdata[col];
}

int ml_table_col(const ml_table *t, const char *name) {
  for (guint i = 0; i < t->n_cols; i++)
    if (!strcmp(t->names->pdata[i], name))
      return (int)i;
  return -1;
}

const char *ml_table_cell(const ml_table *t, guint row, guint col) {
  return t->cells->pdata[row * t->n_cols + col];
}

gboolean ml_table_cell_double(const ml_table *t, guint row, guint col,
                              double *out) {
  const char *s = ml_table_cell(t, row, col);
  while (g_ascii_isspace(*s))
    s++;
  if (!*s) {
    *out = NAN;
    return TRUE;
  }
  char *end = NULL;
  errno = 0;
  double d = g_ascii_strtod(s, &end);
  while (end && g_ascii_isspace(*end))
    end++;
  if (!end || *end || errno == ERANGE || !isfinite(d))
    return FALSE;
  *out = d;
  return TRUE;
}

gboolean ml_table_col_numeric(const ml_table *t, guint col) {
  double d;
  for (guint r = 0; r < ml_table_n_rows(t); r++)
    if (!ml_table_cell_double(t, r, col, &d))
      return FALSE;
  return TRUE;
}

static void put_field(GString *s, const char *v) {
  if (!strpbrk(v, ",\"\r\n")) {
    g_string_append(s, v);
    return;
  }
  g_string_append_c(s, '"');
  for (const char *p = v; *p; p++) {
    if (*p == '"')
      g_string_append_c(s, '"');
    g_string_append_c(s, *p);
  }
  g_string_append_c(s, '"');
}

gboolean ml_csv_write(const char *path, const char *const *cols, guint n_cols,
                      char **cells, guint n_rows, GError **error) {
  GString *s = g_string_new(NULL);
  for (guint c = 0; c < n_cols; c++) {
    if (c)
      g_string_append_c(s, ',');
    put_field(s, cols[c]);
  }
  g_string_append_c(s, '\n');
  for (guint r = 0; r < n_rows; r++) {
    for (guint c = 0; c < n_cols; c++) {
      if (c)
        g_string_append_c(s, ',');
      put_field(s, cells[r * n_cols + c]);
    }
    g_string_append_c(s, '\n');
  }
  gboolean ok = g_file_set_contents(path, s->str, s->len, error);
  g_string_free(s, TRUE);
  return ok;
}

/* ---- connections */

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

static const char *conn_type(JsonObject *c) {
  return json_object_get_string_member_with_default(c, "conn_type", "");
}

static gboolean is_pg(JsonObject *c) {
  return !strcmp(conn_type(c), "postgres") ||
         !strcmp(conn_type(c), "postgresql");
}

static char *sqlite_file(JsonObject *c) {
  const char *schema =
      json_object_get_string_member_with_default(c, "schema", "");
  return *schema ? g_strconcat("/", schema, NULL)
                 : g_strdup(json_object_get_string_member_with_default(
                       c, "host", ""));
}

static PGconn *pg_open(JsonObject *c, GError **error) {
  const char *keys[8], *vals[8];
  int n = 0;
  g_autofree char *port =
      json_object_has_member(c, "port")
          ? g_strdup_printf("%" G_GINT64_FORMAT,
                            json_object_get_int_member(c, "port"))
          : NULL;
  const char *map[][2] = {{"host", "host"},
                          {"login", "user"},
                          {"password", "password"},
                          {"schema", "dbname"}};
  for (gsize i = 0; i < G_N_ELEMENTS(map); i++) {
    const char *v =
        json_object_get_string_member_with_default(c, map[i][0], NULL);
    if (v && *v) {
      keys[n] = map[i][1];
      vals[n++] = v;
    }
  }
  if (port) {
    keys[n] = "port";
    vals[n++] = port;
  }
  keys[n] = "connect_timeout";
  vals[n++] = "10";
  keys[n] = NULL;
  vals[n] = NULL;
  PGconn *pg = PQconnectdbParams(keys, vals, 0);
  if (PQstatus(pg) != CONNECTION_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "cannot connect to PostgreSQL: %s", PQerrorMessage(pg));
    g_strchomp((*error)->message);
    PQfinish(pg);
    return NULL;
  }
  return pg;
}

ml_table *ml_table_read_conn(JsonObject *conn, const char *table,
                             const char *query, GError **error) {
  g_autofree char *qt = table ? quote_ident(table) : NULL;
  g_autofree char *sql =
      table ? g_strdup_printf("SELECT * FROM %s", qt) : g_strdup(query);
  if (!sql) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "a connection input needs 'table' or 'query'");
    return NULL;
  }
  if (!strcmp(conn_type(conn), "sqlite")) {
    g_autofree char *file = sqlite_file(conn);
    return ml_table_read_sqlite(file, sql, error);
  }
  if (!is_pg(conn)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "connection type '%s': tables are read from sqlite or "
                "postgresql connections",
                conn_type(conn));
    return NULL;
  }
  PGconn *pg = pg_open(conn, error);
  if (!pg)
    return NULL;
  ml_table *t = NULL;
  PGresult *r = PQexec(pg, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "PostgreSQL: %s",
                PQresultErrorMessage(r));
    g_strchomp((*error)->message);
  } else {
    t = table_new();
    t->n_cols = PQnfields(r);
    for (guint c = 0; c < t->n_cols; c++)
      g_ptr_array_add(t->names, g_strdup(PQfname(r, c)));
    for (int row = 0; row < PQntuples(r); row++)
      for (guint c = 0; c < t->n_cols; c++) {
        const char *v = PQgetisnull(r, row, c) ? "" : PQgetvalue(r, row, c);
        /* booleans as numbers, so they can be features */
        if (PQftype(r, c) == 16)
          v = v[0] == 't' ? "1" : v[0] == 'f' ? "0" : "";
        g_ptr_array_add(t->cells, g_strdup(v));
      }
  }
  PQclear(r);
  PQfinish(pg);
  return t;
}

gboolean ml_table_write_conn(JsonObject *conn, const char *table,
                             const char *const *cols, guint n_cols,
                             char **cells, guint n_rows, GError **error) {
  g_autofree char *qt = quote_ident(table);
  GString *ddl = g_string_new(NULL), *ins = g_string_new(NULL);
  gboolean pg = is_pg(conn), ok = FALSE;
  g_string_printf(ddl, "CREATE TABLE %s (", qt);
  g_string_printf(ins, "INSERT INTO %s VALUES (", qt);
  for (guint c = 0; c < n_cols; c++) {
    g_autofree char *qc = quote_ident(cols[c]);
    g_string_append_printf(ddl, "%s%s TEXT", c ? ", " : "", qc);
    if (pg)
      g_string_append_printf(ins, "%s$%u", c ? ", " : "", c + 1);
    else
      g_string_append_printf(ins, "%s?", c ? ", " : "");
  }
  g_string_append(ddl, ")");
  g_string_append(ins, ")");
  g_autofree char *drop = g_strdup_printf("DROP TABLE IF EXISTS %s", qt);
  if (!strcmp(conn_type(conn), "sqlite")) {
    g_autofree char *file = sqlite_file(conn);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    if (sqlite3_open(file, &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, drop, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, ddl->str, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, ins->str, -1, &q, NULL) != SQLITE_OK) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", file,
                  db ? sqlite3_errmsg(db) : "cannot open");
    } else {
      ok = TRUE;
      for (guint r = 0; ok && r < n_rows; r++) {
        sqlite3_reset(q);
        for (guint c = 0; c < n_cols; c++)
          sqlite3_bind_text(q, c + 1, cells[r * n_cols + c], -1, SQLITE_STATIC);
        ok = sqlite3_step(q) == SQLITE_DONE;
      }
      if (ok)
        ok = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
      if (!ok)
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", file,
                    sqlite3_errmsg(db));
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
  } else if (pg) {
    PGconn *c = pg_open(conn, error);
    if (c) {
      const char *steps[] = {"BEGIN", drop, ddl->str};
      ok = TRUE;
      for (gsize i = 0; ok && i < G_N_ELEMENTS(steps); i++) {
        PGresult *r = PQexec(c, steps[i]);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
          g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                      "PostgreSQL: %s", PQresultErrorMessage(r));
        PQclear(r);
      }
      for (guint row = 0; ok && row < n_rows; row++) {
        PGresult *r = PQexecParams(c, ins->str, (int)n_cols, NULL,
                                   (const char *const *)cells + row * n_cols,
                                   NULL, NULL, 0);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
          g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                      "PostgreSQL: %s", PQresultErrorMessage(r));
        PQclear(r);
      }
      PGresult *r = PQexec(c, ok ? "COMMIT" : "ROLLBACK");
      PQclear(r);
      PQfinish(c);
    }
  } else {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "connection type '%s': tables are written to sqlite or "
                "postgresql connections",
                conn_type(conn));
  }
  g_string_free(ddl, TRUE);
  g_string_free(ins, TRUE);
  return ok;
}
