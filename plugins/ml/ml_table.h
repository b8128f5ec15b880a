/* ml_table -- a table of text cells read from a CSV file (RFC 4180, first
 * row = column names) or from a SQLite query, and the numeric views the
 * ML operators need. */
#ifndef ML_TABLE_H
#define ML_TABLE_H

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct ml_table ml_table;

/* How a delimited text file is laid out (ml_table_read_file). */
typedef struct ml_csv_opts {
  gboolean whitespace;        /* fields split by runs of blanks, no quotes */
  gboolean no_header;         /* the first line is data */
  const char *const *columns; /* names for a header-less file (NULL:
                                 column_1, column_2, ...) */
} ml_csv_opts;

/* Reads a CSV file (RFC 4180, first row = column names).  NULL with error
 * naming the file and line on failure; when the file looks like another
 * layout (whitespace-separated, no header row) the error says which param
 * reads it. */
ml_table *ml_table_read_csv(const char *path, GError **error);
/* Reads a delimited text file laid out as opts says (NULL: CSV with a
 * header).  A gzip-compressed file (.csv.gz, by its magic bytes) is
 * decompressed first.  NULL with error. */
ml_table *ml_table_read_file(const char *path, const ml_csv_opts *opts,
                             GError **error);
/* "; the file looks whitespace-separated: ..." (static text) when t, read
 * as CSV, seems laid out otherwise (one column whose name holds blanks,
 * or column names that are numbers); "" otherwise. */
const char *ml_table_layout_hint(const ml_table *t);
/* Appends a column named name to t from a file of one value per line (a
 * target kept apart from its features, as scikit-learn's diabetes data);
 * the file may be gzip-compressed and may have a header line naming it.
 * FALSE with error when the counts differ. */
gboolean ml_table_add_column_file(ml_table *t, const char *name,
                                  const char *path, GError **error);
/* Runs sql on the SQLite database at db_path (read-only).  NULL with error
 * on failure. */
ml_table *ml_table_read_sqlite(const char *db_path, const char *sql,
                               GError **error);
/* Reads `table` (a plain identifier, quoted) or runs `query` through a
 * connection (the JSON object of ph_host.connection_get): sqlite
 * (sqlite:///path) or postgres/postgresql (libpq).  NULL with error. */
ml_table *ml_table_read_conn(JsonObject *conn, const char *table,
                             const char *query, GError **error);
void ml_table_free(ml_table *t);

guint ml_table_n_rows(const ml_table *t);
guint ml_table_n_cols(const ml_table *t);
/* Borrowed column name. */
const char *ml_table_col_name(const ml_table *t, guint col);
/* Index of a column by name, or -1. */
int ml_table_col(const ml_table *t, const char *name);
/* Borrowed cell text ("" for an empty cell). */
const char *ml_table_cell(const ml_table *t, guint row, guint col);
/* TRUE when every non-empty cell of col is a number. */
gboolean ml_table_col_numeric(const ml_table *t, guint col);
/* The cell as a number: NAN for an empty cell; FALSE when the text is not a
 * number. */
gboolean ml_table_cell_double(const ml_table *t, guint row, guint col,
                              double *out);

/* Writes rows of cells as CSV (quoting what needs it).  cols names the
 * header; cells is row-major, n_rows * n_cols. */
gboolean ml_csv_write(const char *path, const char *const *cols, guint n_cols,
                      char **cells, guint n_rows, GError **error);

/* Replaces table (created as text columns, in one transaction) with the
 * rows, through a sqlite or postgres connection. */
gboolean ml_table_write_conn(JsonObject *conn, const char *table,
                             const char *const *cols, guint n_cols,
                             char **cells, guint n_rows, GError **error);

#endif
