/* ph_db -- one SQL interface, two backends: SQLite (the embedded default)
 * and PostgreSQL (libpq, for a store shared by several hosts).
 *
 * The interface is SQLite's prepared statement, reduced to what pipehost
 * uses: prepare, bind (1-based), step row by row, read columns (0-based),
 * reset, finalize.  Statements are written once, in SQLite's dialect with
 * `?` placeholders; for PostgreSQL they are translated as they are
 * prepared (placeholders to $n, INSERT OR IGNORE / OR REPLACE to ON
 * CONFLICT, a few functions), so SQL that differs between the two is
 * confined to ph_db.c and to each backend's schema.
 *
 * A connection is used by one thread at a time.  Strings returned by
 * ph_db_column_text are valid until the next step, reset or finalize of
 * that statement.
 */
#ifndef PH_DB_H
#define PH_DB_H

#include <glib.h>

typedef struct ph_db ph_db;
typedef struct ph_db_stmt ph_db_stmt;
struct sqlite3;

/* Backends (ph_db_kind). */
enum { PH_DB_SQLITE = 1, PH_DB_PG = 2 };
/* ph_db_step's results. */
enum { PH_DB_ERROR = -1, PH_DB_DONE = 0, PH_DB_ROW = 1 };
/* ph_db_column_type's results (SQLite's fundamental types). */
enum { PH_DB_INTEGER = 1, PH_DB_FLOAT = 2, PH_DB_TEXT = 3, PH_DB_NULL = 5 };

/* A connection over an open SQLite handle, which it takes (ph_db_close
 * closes it). */
ph_db *ph_db_wrap_sqlite(struct sqlite3 *db);
/* A connection to PostgreSQL (a libpq URI or conninfo string); NULL with
 * error set when it cannot connect. */
ph_db *ph_db_open_pg(const char *conninfo, GError **error);
/* Closes the connection and frees db (NULL: nothing); its statements must
 * be finalized first.  FALSE when SQLite refuses (a statement is still
 * unfinalized): db stays open and valid. */
gboolean ph_db_close(ph_db *db);
/* PH_DB_SQLITE or PH_DB_PG. */
int ph_db_kind(const ph_db *db);
/* The SQLite handle of a SQLite connection (borrowed), else NULL. */
struct sqlite3 *ph_db_get_sqlite(ph_db *db);

/* The statement sql (SQLite dialect), or NULL with ph_db_errmsg set. */
ph_db_stmt *ph_db_prepare(ph_db *db, const char *sql);
/* The same, for a statement kept until the connection closes and run many
 * times: PostgreSQL parses and plans it once (a named prepared statement,
 * freed with the connection). */
ph_db_stmt *ph_db_prepare_cached(ph_db *db, const char *sql);
/* The text this backend runs for sql (caller frees): sql itself for
 * SQLite, its translation for PostgreSQL. */
char *ph_db_translate(const ph_db *db, const char *sql);
/* sql translated to PostgreSQL's dialect (caller frees). */
char *ph_db_translate_pg(const char *sql);
void ph_db_bind_text(ph_db_stmt *st, int i, const char *v);
void ph_db_bind_int64(ph_db_stmt *st, int i, gint64 v);
void ph_db_bind_double(ph_db_stmt *st, int i, double v);
void ph_db_bind_null(ph_db_stmt *st, int i);
/* Every parameter back to NULL. */
void ph_db_clear_bindings(ph_db_stmt *st);
/* The number of ? parameters. */
int ph_db_bind_parameter_count(ph_db_stmt *st);
/* Runs the statement (at the first step after a bind or reset) and moves
 * to its next row: PH_DB_ROW, PH_DB_DONE, or PH_DB_ERROR (ph_db_errmsg,
 * ph_db_errcode say why). */
int ph_db_step(ph_db_stmt *st);
/* ph_db_step for a write whose outcome matters only if it fails, inside a
 * transaction: PostgreSQL sends such writes together, with the next
 * statement that needs an answer (a read, ph_db_changes, the COMMIT),
 * saving a round trip each; a failure is reported there, and the
 * transaction cannot commit.  Elsewhere, ph_db_step. */
int ph_db_step_deferred(ph_db_stmt *st);
int ph_db_column_count(ph_db_stmt *st);
const char *ph_db_column_name(ph_db_stmt *st, int i);
int ph_db_column_type(ph_db_stmt *st, int i);
const char *ph_db_column_text(ph_db_stmt *st, int i);
gint64 ph_db_column_int64(ph_db_stmt *st, int i);
double ph_db_column_double(ph_db_stmt *st, int i);
/* Back to before the first step; the bindings stay. */
void ph_db_reset(ph_db_stmt *st);
void ph_db_finalize(ph_db_stmt *st);

/* Runs one or more statements without results; FALSE with
 * ph_db_errmsg set. */
gboolean ph_db_exec(ph_db *db, const char *sql);
/* Rows changed by the last INSERT, UPDATE or DELETE. */
gint64 ph_db_changes(ph_db *db);
/* The last error's message (borrowed). */
const char *ph_db_errmsg(ph_db *db);
/* The last error's SQLite result code (SQLITE_BUSY, SQLITE_FULL, ...); for
 * PostgreSQL, SQLITE_ERROR, or SQLITE_FULL for a disk-full error. */
int ph_db_errcode(ph_db *db);
/* Opens a transaction with sql (BEGIN ...).  PostgreSQL sends it with the
 * transaction's first statement that needs an answer (ph_db_step_deferred
 * writes wait with it): a failure is reported there.  SQLite runs it now.
 * FALSE with ph_db_errmsg set. */
gboolean ph_db_begin_deferred(ph_db *db, const char *sql);
/* Whether no transaction is open. */
gboolean ph_db_autocommit(ph_db *db);

#endif
