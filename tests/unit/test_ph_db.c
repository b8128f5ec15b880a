/* ph_db: statements written once in SQLite's dialect translate to
 * PostgreSQL's as expected, and run with the same results on SQLite and
 * on a real PostgreSQL ($PH_TEST_PG_URI; those cases are skipped without
 * it). */
#include <glib.h>
#include <sqlite3.h>
#include <string.h>

#include "ph_db.h"

static void test_translate(void) {
  static const char *const v[][2] = {
      {"SELECT a FROM t WHERE b=? AND c=?",
       "SELECT a FROM t WHERE b=$1 AND c=$2"},
      {"SELECT '?' , x FROM t WHERE y=?", "SELECT '?' , x FROM t WHERE y=$1"},
      {"INSERT OR IGNORE INTO pool(name, slots) VALUES(?,?)",
       "INSERT INTO pool(name, slots) VALUES($1,$2) ON CONFLICT DO NOTHING"},
      {"INSERT OR REPLACE INTO xcom(run_id,task_id,map_index,key,value) "
       "VALUES(?,?,?,?,?)",
       "INSERT INTO xcom(run_id,task_id,map_index,key,value) "
       "VALUES($1,$2,$3,$4,$5) ON CONFLICT (run_id, task_id, map_index, key) "
       "DO UPDATE SET value=EXCLUDED.value"},
      {"INSERT OR REPLACE INTO meta VALUES('k','v')",
       "INSERT INTO meta VALUES('k','v')"},
      {"INSERT OR REPLACE INTO meta(key) VALUES(?)",
       "INSERT INTO meta(key) VALUES($1) ON CONFLICT (key) DO NOTHING"},
      {"BEGIN IMMEDIATE", "BEGIN"},
      {"UPDATE e SET p=json_patch(p, ?) WHERE id=?",
       "UPDATE e SET p=CAST(CAST(p AS jsonb) || CAST( $1 AS jsonb) AS TEXT) "
       "WHERE id=$2"},
      {"SELECT a FROM t WHERE (?1 IS NULL OR k=?1) AND j=?2",
       "SELECT a FROM t WHERE ($1 IS NULL OR k=$1) AND j=$2"},
      {"SELECT (SELECT json_group_array(alias) FROM a WHERE n=?) FROM m "
       "WHERE x=?",
       "SELECT (SELECT coalesce(json_agg(alias), '[]'::json) FROM a WHERE "
       "n=$1) FROM m WHERE x=$2"},
      {"UPDATE t SET a=?;DELETE FROM t WHERE b=?",
       "UPDATE t SET a=$1;DELETE FROM t WHERE b=$1;"},
  };
  for (guint i = 0; i < G_N_ELEMENTS(v); i++) {
    g_autofree char *t = ph_db_translate_pg(v[i][0]);
    g_assert_cmpstr(t, ==, v[i][1]);
  }
}

/* The same statements on db: insert or replace / ignore, NULLs, types,
 * changes, a failing statement, transactions. */
static void exercise(ph_db *db) {
  g_assert_true(ph_db_exec(
      db, ph_db_kind(db) == PH_DB_PG
              /* a temporary table: the store's own "variable" may be in
               * this database */
              ? "CREATE TEMP TABLE variable(rowid BIGSERIAL, key TEXT "
                "PRIMARY KEY, "
                "value TEXT, n BIGINT, x DOUBLE PRECISION)"
              : "CREATE TABLE variable(key TEXT PRIMARY KEY, value TEXT, "
                "n INTEGER, x REAL)"));
  ph_db_stmt *ins = ph_db_prepare(
      db, "INSERT OR REPLACE INTO variable(key, value, n, x) VALUES(?,?,?,?)");
  g_assert_nonnull(ins);
  for (int i = 0; i < 3; i++) {
    g_autofree char *k = g_strdup_printf("k%d", i % 2);
    ph_db_bind_text(ins, 1, k);
    if (i == 1)
      ph_db_bind_null(ins, 2);
    else
      ph_db_bind_text(ins, 2, "it's");
    ph_db_bind_int64(ins, 3, G_GINT64_CONSTANT(1) << 40 | i);
    ph_db_bind_double(ins, 4, 0.1 * i);
    g_assert_cmpint(ph_db_step(ins), ==, PH_DB_DONE);
    g_assert_cmpint(ph_db_changes(db), ==, 1);
    ph_db_reset(ins);
  }
  ph_db_finalize(ins);
  ph_db_stmt *ig = ph_db_prepare(
      db, "INSERT OR IGNORE INTO variable(key, value) VALUES(?,?)");
  ph_db_bind_text(ig, 1, "k0");
  ph_db_bind_text(ig, 2, "other");
  g_assert_cmpint(ph_db_step(ig), ==, PH_DB_DONE);
  g_assert_cmpint(ph_db_changes(db), ==, 0);
  ph_db_finalize(ig);
  ph_db_stmt *q = ph_db_prepare(
      db, "SELECT key, value, n, x FROM variable WHERE key <> ? ORDER BY key");
  ph_db_bind_text(q, 1, "zz");
  g_assert_cmpint(ph_db_step(q), ==, PH_DB_ROW);
  g_assert_cmpint(ph_db_column_count(q), ==, 4);
  g_assert_cmpstr(ph_db_column_name(q, 1), ==, "value");
  g_assert_cmpstr(ph_db_column_text(q, 0), ==, "k0");
  g_assert_cmpstr(ph_db_column_text(q, 1), ==, "it's"); /* the replacement */
  g_assert_cmpint(ph_db_column_int64(q, 2), ==, G_GINT64_CONSTANT(1) << 40 | 2);
  g_assert_cmpfloat_with_epsilon(ph_db_column_double(q, 3), 0.2, 1e-12);
  g_assert_cmpint(ph_db_column_type(q, 2), ==, PH_DB_INTEGER);
  g_assert_cmpint(ph_db_column_type(q, 3), ==, PH_DB_FLOAT);
  g_assert_cmpint(ph_db_column_type(q, 0), ==, PH_DB_TEXT);
  g_assert_cmpint(ph_db_step(q), ==, PH_DB_ROW);
  g_assert_cmpstr(ph_db_column_text(q, 0), ==, "k1");
  g_assert_null(ph_db_column_text(q, 1));
  g_assert_cmpint(ph_db_column_type(q, 1), ==, PH_DB_NULL);
  g_assert_cmpint(ph_db_step(q), ==, PH_DB_DONE);
  /* the bindings stay across a reset */
  ph_db_reset(q);
  g_assert_cmpint(ph_db_step(q), ==, PH_DB_ROW);
  ph_db_finalize(q);
  /* a transaction rolled back leaves nothing */
  g_assert_true(ph_db_autocommit(db));
  g_assert_true(ph_db_exec(db, "BEGIN IMMEDIATE"));
  g_assert_false(ph_db_autocommit(db));
  g_assert_true(ph_db_exec(db, "DELETE FROM variable"));
  g_assert_true(ph_db_exec(db, "ROLLBACK"));
  ph_db_stmt *c = ph_db_prepare(db, "SELECT count(*) FROM variable");
  g_assert_cmpint(ph_db_step(c), ==, PH_DB_ROW);
  g_assert_cmpint(ph_db_column_int64(c, 0), ==, 2);
  ph_db_finalize(c);
  /* a write stepped "deferred" that fails: reported by the step (SQLite)
   * or by the COMMIT (PostgreSQL sends it then), never committed */
  g_assert_true(ph_db_exec(db, "BEGIN IMMEDIATE"));
  ph_db_stmt *up = ph_db_prepare(db, "UPDATE variable SET value=? WHERE key=?");
  ph_db_bind_text(up, 1, "changed");
  ph_db_bind_text(up, 2, "k1");
  g_assert_cmpint(ph_db_step_deferred(up), ==, PH_DB_DONE);
  ph_db_finalize(up);
  ph_db_stmt *dup =
      ph_db_prepare(db, "INSERT INTO variable(key, value) VALUES(?, ?)");
  ph_db_bind_text(dup, 1, "k0");
  ph_db_bind_text(dup, 2, "it's a duplicate");
  int drc = ph_db_step_deferred(dup);
  ph_db_finalize(dup);
  gboolean committed = drc != PH_DB_ERROR && ph_db_exec(db, "COMMIT");
  g_assert_false(committed);
  g_assert_true(ph_db_exec(db, "ROLLBACK"));
  g_assert_true(ph_db_autocommit(db));
  ph_db_stmt *chk = ph_db_prepare(db, "SELECT value FROM variable WHERE key=?");
  ph_db_bind_text(chk, 1, "k1");
  g_assert_cmpint(ph_db_step(chk), ==, PH_DB_ROW);
  g_assert_null(ph_db_column_text(chk, 0)); /* the update went with it */
  ph_db_finalize(chk);
  /* deferred writes that succeed are all there after the commit, and a
   * read in between sees them */
  g_assert_true(ph_db_exec(db, "BEGIN IMMEDIATE"));
  for (int i = 0; i < 3; i++) {
    /* cached: PostgreSQL queues an EXECUTE of its prepared statement */
    ph_db_stmt *w = ph_db_prepare_cached(
        db, "INSERT INTO variable(key, value) VALUES(?, ?)");
    g_autofree char *k = g_strdup_printf("d%d", i);
    ph_db_bind_text(w, 1, k);
    ph_db_bind_text(w, 2, "a 'quoted' \\ value");
    g_assert_cmpint(ph_db_step_deferred(w), ==, PH_DB_DONE);
    ph_db_finalize(w);
  }
  ph_db_stmt *n3 =
      ph_db_prepare(db, "SELECT count(*) FROM variable WHERE value=?");
  ph_db_bind_text(n3, 1, "a 'quoted' \\ value");
  g_assert_cmpint(ph_db_step(n3), ==, PH_DB_ROW);
  g_assert_cmpint(ph_db_column_int64(n3, 0), ==, 3);
  ph_db_finalize(n3);
  g_assert_true(ph_db_exec(db, "COMMIT"));
  g_assert_true(ph_db_exec(db, "DELETE FROM variable WHERE key LIKE 'd%'"));
  /* a failing statement: an error with a message */
  ph_db_stmt *bad = ph_db_prepare(db, "SELECT nope FROM variable");
  g_assert_true(!bad || ph_db_step(bad) == PH_DB_ERROR);
  g_assert_true(strstr(ph_db_errmsg(db), "nope") != NULL);
  ph_db_finalize(bad);
  g_assert_true(ph_db_exec(db, "DROP TABLE variable"));
}

static void test_sqlite(void) {
  sqlite3 *lite = NULL;
  g_assert_cmpint(sqlite3_open(":memory:", &lite), ==, SQLITE_OK);
  ph_db *db = ph_db_wrap_sqlite(lite);
  g_assert_cmpint(ph_db_kind(db), ==, PH_DB_SQLITE);
  exercise(db);
  ph_db_close(db);
}

static void test_pg(void) {
  const char *uri = g_getenv("PH_TEST_PG_URI");
  if (!uri) {
    g_test_skip("no PH_TEST_PG_URI");
    return;
  }
  GError *err = NULL;
  ph_db *db = ph_db_open_pg(uri, &err);
  g_assert_no_error(err);
  g_assert_cmpint(ph_db_kind(db), ==, PH_DB_PG);
  exercise(db);
  ph_db_close(db);
  /* a server that is not there: an error naming the connection */
  ph_db *none = ph_db_open_pg("postgresql://nobody@127.0.0.1:1/none", &err);
  g_assert_null(none);
  g_assert_true(strstr(err->message, "cannot connect to PostgreSQL") != NULL);
  g_clear_error(&err);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/db/translate", test_translate);
  g_test_add_func("/db/sqlite", test_sqlite);
  g_test_add_func("/db/postgresql", test_pg);
  return g_test_run();
}
