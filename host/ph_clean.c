/* ph_clean -- see ph_clean.h. */
#include "ph_clean.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "ph_track.h"
#include "ph_util.h"

/* The tables whose rows belong to a run (all keyed by run_id first). */
static const char *const run_tables[] = {"task_instance", "task_try", "xcom",
                                         "experiment",    "lineage",  NULL};

/* Runs exactly sql (no rows expected).  FALSE with error set. */
static gboolean exec(ph_db *db, const char *sql, GError **error) {
  if (ph_db_exec(db, sql))
    return TRUE;
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
              "db clean: the store failed: %s", ph_db_errmsg(db));
  return FALSE;
}

/* The single integer sql yields (-1 on failure). */
static gint64 count(ph_store *st, const char *sql) {
  ph_db_stmt *q = NULL;
  gint64 n = -1;
  if ((q = ph_db_prepare(ph_store_get_db(st), sql)) &&
      ph_store_step(st, q) == PH_DB_ROW)
    n = ph_db_column_int64(q, 0);
  ph_db_finalize(q);
  return n;
}

/* Fills temp table ph_doomed with the runs o allows deleting, and r's
 * counts of what is kept.  Inside a write transaction. */
static gboolean select_doomed(ph_store *st, const ph_clean_opts *o,
                              ph_clean_report *r, GError **error) {
  ph_db *db = ph_store_get_db(st);
  if (!exec(db, "DELETE FROM ph_old; DELETE FROM ph_doomed;", error))
    return FALSE;
  ph_db_stmt *q = NULL;
  /* an unfinished run has no end: its start counts */
  if (!(q = ph_db_prepare(
            db, "INSERT INTO ph_old SELECT run_id, dag_id, state "
                "FROM dag_run WHERE coalesce(end_date, start_date, 0)"
                " < ?1 AND (CAST(?2 AS TEXT) IS NULL OR dag_id = ?2)"))) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "db clean: the store failed: %s", ph_db_errmsg(db));
    return FALSE;
  }
  ph_db_bind_double(q, 1, ph_util_now() - o->older_than);
  if (o->dag_id)
    ph_db_bind_text(q, 2, o->dag_id);
  int rc = ph_store_step(st, q);
  ph_db_finalize(q);
  if (rc != PH_DB_DONE) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "db clean: the store failed: %s", ph_db_errmsg(db));
    return FALSE;
  }
  /* kept: what a resume may still need, what the scheduler takes its
   * next run from, and what caching, lineage and the model registry
   * point to */
  static const char *const keep =
      "DELETE FROM ph_keep;"
      "INSERT OR IGNORE INTO ph_keep SELECT run_id FROM (SELECT run_id,"
      " row_number() OVER (PARTITION BY dag_id ORDER BY logical_date DESC,"
      " start_date DESC) AS n FROM dag_run WHERE dag_id IN (SELECT dag_id"
      " FROM ph_old)) AS latest WHERE n = 1;"
      "DELETE FROM ph_refd;"
      "INSERT OR IGNORE INTO ph_refd SELECT run_id FROM result_cache WHERE "
      "run_id IS NOT NULL;"
      "INSERT OR IGNORE INTO ph_refd SELECT cached_from FROM lineage WHERE "
      "cached_from IS NOT NULL;"
      "INSERT OR IGNORE INTO ph_refd SELECT e.run_id FROM experiment e JOIN "
      "model_version m ON m.experiment_id = e.id;"
      "INSERT INTO ph_doomed SELECT run_id, dag_id FROM ph_old WHERE state "
      "NOT IN ('running', 'queued') AND run_id NOT IN (SELECT run_id FROM "
      "ph_keep) AND run_id NOT IN (SELECT run_id FROM ph_refd);";
  if (!exec(db, keep, error))
    return FALSE;
  r->kept_unfinished =
      (guint64)MAX(0, count(st, "SELECT count(*) FROM ph_old WHERE state IN "
                                "('running', 'queued')"));
  r->kept_latest = (guint64)MAX(
      0, count(st, "SELECT count(*) FROM ph_old WHERE state NOT IN "
                   "('running', 'queued') AND run_id IN (SELECT run_id FROM "
                   "ph_keep)"));
  r->kept_referenced = (guint64)MAX(
      0, count(st, "SELECT count(*) FROM ph_old WHERE state NOT IN "
                   "('running', 'queued') AND run_id NOT IN (SELECT run_id "
                   "FROM ph_keep) AND run_id IN (SELECT run_id FROM ph_refd)"));
  return TRUE;
}

/* r's counts of the rows of the runs in ph_doomed. */
static void count_doomed(ph_store *st, ph_clean_report *r) {
  r->runs = (guint64)MAX(0, count(st, "SELECT count(*) FROM ph_doomed"));
  guint64 *counts[] = {&r->task_instances, &r->tries, &r->xcoms,
                       &r->experiments, &r->lineage};
  for (int i = 0; run_tables[i]; i++) {
    g_autofree char *sql = g_strdup_printf(
        "SELECT count(*) FROM %s WHERE run_id IN (SELECT run_id FROM "
        "ph_doomed)",
        run_tables[i]);
    *counts[i] = (guint64)MAX(0, count(st, sql));
  }
}

/* Copies the rows of table that belong to the doomed runs from db (a
 * PostgreSQL store) into the SQLite archive out, as a table of the same
 * name and columns. */
static gboolean copy_table(ph_db *db, sqlite3 *out, const char *table,
                           GError **error) {
  g_autofree char *sql = g_strdup_printf(
      "SELECT * FROM %s WHERE run_id IN (SELECT run_id FROM ph_doomed)", table);
  ph_db_stmt *q = ph_db_prepare(db, sql);
  sqlite3_stmt *ins = NULL;
  gboolean ok = q != NULL;
  int rc = q ? ph_db_step(q) : PH_DB_ERROR;
  int n = q ? ph_db_column_count(q) : 0;
  GString *create = g_string_new(NULL), *insert = g_string_new(NULL);
  g_string_append_printf(create, "CREATE TABLE %s(", table);
  g_string_append_printf(insert, "INSERT INTO %s VALUES(", table);
  for (int i = 0; i < n; i++) {
    g_string_append_printf(create, "%s\"%s\"", i ? ", " : "",
                           ph_db_column_name(q, i));
    g_string_append(insert, i ? ", ?" : "?");
  }
  g_string_append(create, ")");
  g_string_append(insert, ")");
  ok = ok && rc != PH_DB_ERROR &&
       sqlite3_exec(out, create->str, NULL, NULL, NULL) == SQLITE_OK &&
       sqlite3_prepare_v2(out, insert->str, -1, &ins, NULL) == SQLITE_OK;
  for (; ok && rc == PH_DB_ROW; rc = ph_db_step(q)) {
    for (int i = 0; i < n; i++) {
      int t = ph_db_column_type(q, i);
      if (t == PH_DB_NULL)
        sqlite3_bind_null(ins, i + 1);
      else if (t == PH_DB_INTEGER)
        sqlite3_bind_int64(ins, i + 1, ph_db_column_int64(q, i));
      else if (t == PH_DB_FLOAT)
        sqlite3_bind_double(ins, i + 1, ph_db_column_double(q, i));
      else
        sqlite3_bind_text(ins, i + 1, ph_db_column_text(q, i), -1,
                          SQLITE_TRANSIENT);
    }
    ok = sqlite3_step(ins) == SQLITE_DONE;
    sqlite3_reset(ins);
  }
  ok = ok && rc != PH_DB_ERROR;
  if (!ok)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "db clean: cannot archive %s: %s", table,
                rc == PH_DB_ERROR || !q ? ph_db_errmsg(db)
                                        : sqlite3_errmsg(out));
  sqlite3_finalize(ins);
  ph_db_finalize(q);
  g_string_free(create, TRUE);
  g_string_free(insert, TRUE);
  return ok;
}

/* archive() for a PostgreSQL store: the doomed rows read there and
 * written, in one transaction, to a new SQLite file at path. */
static gboolean archive_copy(ph_db *db, const char *path, GError **error) {
  sqlite3 *out = NULL;
  gboolean ok =
      sqlite3_open_v2(path, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) == SQLITE_OK &&
      chmod(path, 0600) == 0 &&
      sqlite3_exec(out, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
  if (!ok)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "db clean: cannot create the archive %s: %s", path,
                out ? sqlite3_errmsg(out) : "out of memory");
  /* dag_run's rows are keyed by run_id too */
  ok = ok && copy_table(db, out, "dag_run", error);
  for (int i = 0; ok && run_tables[i]; i++)
    ok = copy_table(db, out, run_tables[i], error);
  if (ok && sqlite3_exec(out, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "db clean: cannot write the archive %s: %s", path,
                sqlite3_errmsg(out));
    ok = FALSE;
  }
  sqlite3_close(out);
  if (!ok)
    unlink(path);
  return ok;
}

/* Copies the doomed rows into a new SQLite file under home/archive, in
 * a transaction of its own that commits before anything is deleted. */
static gboolean archive(ph_store *st, ph_clean_report *r, GError **error) {
  ph_db *db = ph_store_get_db(st);
  g_autofree char *dir =
      g_build_filename(ph_store_get_home(st), "archive", NULL);
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "db clean: cannot create %s: %s", dir, g_strerror(errno));
    return FALSE;
  }
  GDateTime *now = g_date_time_new_now_utc();
  g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%S");
  g_date_time_unref(now);
  char *path = NULL;
  for (int k = 0; !path || g_file_test(path, G_FILE_TEST_EXISTS); k++) {
    g_free(path);
    path = k ? g_strdup_printf("%s/clean-%s-%d.db", dir, stamp, k)
             : g_strdup_printf("%s/clean-%s.db", dir, stamp);
  }
  r->archive = path;
  if (ph_db_kind(db) != PH_DB_SQLITE)
    return archive_copy(db, path, error);
  char *quoted = sqlite3_mprintf("ATTACH DATABASE %Q AS ph_archive", path);
  gboolean ok = exec(db, quoted, error);
  sqlite3_free(quoted);
  if (!ok)
    return FALSE;
  GString *sql = g_string_new(
      "BEGIN; CREATE TABLE ph_archive.dag_run AS SELECT * FROM main.dag_run "
      "WHERE run_id IN (SELECT run_id FROM ph_doomed);");
  for (int i = 0; run_tables[i]; i++)
    g_string_append_printf(sql,
                           "CREATE TABLE ph_archive.%s AS SELECT * FROM "
                           "main.%s WHERE run_id IN (SELECT run_id FROM "
                           "ph_doomed);",
                           run_tables[i], run_tables[i]);
  g_string_append(sql, "COMMIT;");
  ok = exec(db, sql->str, error);
  g_string_free(sql, TRUE);
  if (!ok && !ph_db_autocommit(db))
    ph_db_exec(db, "ROLLBACK");
  ph_db_exec(db, "DETACH DATABASE ph_archive");
  return ok;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  if (flag == FTW_DP)
    rmdir(path);
  else
    unlink(path);
  return 0;
}

/* Removes home/top/dag/run and all below it; TRUE when it was there. */
static gboolean rm_run_dir(const char *home, const char *top, const char *dag,
                           const char *run) {
  /* ids never hold a path (the loaders refuse them), but a store is a
   * file anyone could have edited: nothing outside home is touched */
  if (!*dag || !*run || strchr(dag, '/') || strchr(run, '/') ||
      !strcmp(dag, "..") || !strcmp(run, "..") || !strcmp(dag, ".") ||
      !strcmp(run, "."))
    return FALSE;
  g_autofree char *path = g_build_filename(home, top, dag, run, NULL);
  if (!g_file_test(path, G_FILE_TEST_IS_DIR))
    return FALSE;
  nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return TRUE;
}

/* Deletes (or, dry, counts) the *.log files in dir; how many. */
static guint64 rm_logs(const char *dir, gboolean dry) {
  GDir *d = g_dir_open(dir, 0, NULL);
  if (!d)
    return 0;
  guint64 n = 0;
  const char *name;
  while ((name = g_dir_read_name(d)))
    if (g_str_has_suffix(name, ".log")) {
      g_autofree char *p = g_build_filename(dir, name, NULL);
      if (dry || g_unlink(p) == 0)
        n++;
    }
  g_dir_close(d);
  return n;
}

/* Log retention: the log files of the kept finished runs that ended
 * before now - o->logs_older_than. */
static void logs_retention(ph_store *st, const ph_clean_opts *o,
                           ph_clean_report *r) {
  ph_db_stmt *q = NULL;
  if (!(q = ph_db_prepare(ph_store_get_db(st),
                          "SELECT dag_id, run_id FROM dag_run WHERE state NOT "
                          "IN ('running', 'queued') AND end_date < ?1 AND "
                          "(CAST(?2 AS TEXT) IS NULL OR dag_id = ?2)")))
    return;
  ph_db_bind_double(q, 1, ph_util_now() - o->logs_older_than);
  if (o->dag_id)
    ph_db_bind_text(q, 2, o->dag_id);
  while (ph_store_step(st, q) == PH_DB_ROW) {
    const char *dag = ph_db_column_text(q, 0);
    const char *run = ph_db_column_text(q, 1);
    if (!dag || !run || strchr(dag, '/') || strchr(run, '/'))
      continue;
    g_autofree char *dir =
        g_build_filename(ph_store_get_home(st), "logs", dag, run, NULL);
    r->log_files += rm_logs(dir, o->dry_run);
  }
  ph_db_finalize(q);
}

gboolean ph_clean_run(ph_store *st, const ph_clean_opts *o, ph_clean_report *r,
                      GError **error) {
  memset(r, 0, sizeof *r);
  ph_db *db = ph_store_get_db(st);
  if (!ph_track_init(st, error))
    return FALSE;
  /* temp tables: created outside any transaction, so that a commit or
   * rollback of the store's keeps them */
  if (!exec(db,
            "CREATE TEMP TABLE IF NOT EXISTS ph_old(run_id TEXT PRIMARY KEY,"
            " dag_id TEXT, state TEXT);"
            "CREATE TEMP TABLE IF NOT EXISTS ph_doomed(run_id TEXT PRIMARY "
            "KEY, dag_id TEXT);"
            "CREATE TEMP TABLE IF NOT EXISTS ph_keep(run_id TEXT PRIMARY KEY);"
            "CREATE TEMP TABLE IF NOT EXISTS ph_refd(run_id TEXT PRIMARY KEY);"
            "CREATE TEMP TABLE IF NOT EXISTS ph_chosen(run_id TEXT PRIMARY "
            "KEY);",
            error))
    return FALSE;
  if (o->older_than >= 0) {
    /* the rows: chosen and counted under the write lock; archived and
     * committed; chosen again (a run cleared or resumed meanwhile stays)
     * and deleted in one transaction */
    ph_store_begin(st);
    gboolean ok = select_doomed(st, o, r, error);
    if (ok)
      count_doomed(st, r);
    if (!ph_store_commit(st, ok ? error : NULL) || !ok)
      return FALSE;
    if (!o->dry_run && r->runs && !o->skip_archive && !archive(st, r, error))
      return FALSE;
    if (!o->dry_run && r->runs) {
      ph_store_begin(st);
      gboolean archived = r->archive != NULL;
      if (!exec(db,
                "DELETE FROM ph_chosen; INSERT INTO ph_chosen SELECT run_id "
                "FROM ph_doomed;",
                error) ||
          !select_doomed(st, o, r, error) ||
          (archived && !exec(db,
                             "DELETE FROM ph_doomed WHERE run_id NOT IN "
                             "(SELECT run_id FROM ph_chosen);",
                             error))) {
        ph_store_rollback(st);
        return FALSE;
      }
      /* the counts of what is deleted, not of the first look */
      count_doomed(st, r);
      GString *sql = g_string_new(NULL);
      for (int i = 0; run_tables[i]; i++)
        g_string_append_printf(sql,
                               "DELETE FROM %s WHERE run_id IN (SELECT "
                               "run_id FROM ph_doomed);",
                               run_tables[i]);
      g_string_append(sql, "DELETE FROM dag_run WHERE run_id IN (SELECT "
                           "run_id FROM ph_doomed);");
      ok = exec(db, sql->str, error);
      g_string_free(sql, TRUE);
      if (!ok) {
        ph_store_rollback(st);
        return FALSE;
      }
      if (!ph_store_commit(st, error))
        return FALSE;
      /* the files, once the rows are gone */
      ph_db_stmt *q = NULL;
      if ((q = ph_db_prepare(db, "SELECT dag_id, run_id FROM ph_doomed"))) {
        while (ph_store_step(st, q) == PH_DB_ROW) {
          const char *dag = ph_db_column_text(q, 0);
          const char *run = ph_db_column_text(q, 1);
          if (!dag || !run)
            continue;
          for (int k = 0; k < 2; k++)
            if (rm_run_dir(ph_store_get_home(st), k ? "artifacts" : "logs", dag,
                           run))
              r->dirs++;
        }
        ph_db_finalize(q);
      }
    }
  }
  if (o->logs_older_than >= 0)
    logs_retention(st, o, r);
  return TRUE;
}

void ph_clean_report_clear(ph_clean_report *r) {
  g_clear_pointer(&r->archive, g_free);
}
