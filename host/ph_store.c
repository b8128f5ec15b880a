/* ph_store -- see ph_store.h. */
#include "ph_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ph_fault.h"
#include "ph_proc.h"
#include "ph_util.h"

struct ph_store {
  ph_db *db;
  char *url;   /* PostgreSQL's connection URI, or NULL: SQLite in home */
  char *label; /* the store in messages: the file, or the URI without its
                * password */
  char *home;
  GHashTable *stmts; /* sql text (static) -> ph_db_stmt* */
  int in_txn;
  int batch;      /* a write opens the transaction itself (ph_store_batch) */
  double txn_t0;  /* monotonic time the open transaction began */
  int txn_failed; /* a statement of the open transaction failed */
  char *error;    /* the first failure since the store was opened */
  void (*wait_hook)(void *user);
  void *wait_user;
  double lock_wait; /* seconds a write waits for the lock */
  double wait_t0;   /* monotonic start of the current wait */
};

/* The first store failure of this process (ph_store_process_error). */
static char *g_process_error;

/* Connection settings, applied at every open.  synchronous=NORMAL in WAL
 * mode: a commit survives the process being killed (the WAL is in the
 * kernel's page cache) but the last commits before a power loss or a
 * kernel crash may be lost; PIPEHOST_STORE_SYNC=full syncs every commit
 * (see docs/reliability.md). */
static const char *const pragmas =
    "PRAGMA synchronous=%s;"
    /* checkpoint the WAL every ~40 MiB, not every 4 MiB: commits stay
     * durable (they are in the WAL), the fsyncs of checkpoints get rarer */
    "PRAGMA wal_autocheckpoint=10000;"
    "PRAGMA foreign_keys=OFF;";

/* The pragmas text for a connection (caller frees): its own settings,
 * after the WAL journal mode when journal (an open, not a reconnection:
 * the mode is the file's and stays once set). */
static char *connection_pragmas(gboolean journal) {
  const char *sync = g_getenv("PIPEHOST_STORE_SYNC");
  g_autofree char *own = g_strdup_printf(
      pragmas, sync && !g_ascii_strcasecmp(sync, "full") ? "FULL" : "NORMAL");
  return g_strconcat(journal ? "PRAGMA journal_mode=WAL;" : "", own, NULL);
}

/* The schema as version 1 created it; migrations[] below take it on. */
static const char *const schema =
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

/* Schema migrations: migrations[i] takes a store from version i + 1 to
 * i + 2, in one transaction with the version bump.  Append only. */
static const char *const migrations[] = {
    /* 2: process identities (ph_proc) beside every recorded pid, and the
     * launcher of the host driving a run */
    "ALTER TABLE dag_run ADD COLUMN host_proc TEXT;"
    "ALTER TABLE dag_run ADD COLUMN launcher_pid INTEGER;"
    "ALTER TABLE dag_run ADD COLUMN launcher_proc TEXT;"
    "ALTER TABLE task_try ADD COLUMN proc TEXT;"
    "ALTER TABLE pool_slot ADD COLUMN proc TEXT;",
    /* 3: a DAG's runs by logical date (the previous run, the previous
     * success, the scheduler's latest): no scan of every run */
    "CREATE INDEX IF NOT EXISTS dag_run_dag_date ON dag_run(dag_id, "
    "logical_date);",
    /* 4: dynamic task mapping: a task instance, its tries, XComs and pool
     * slots are keyed by map_index too (-1: not mapped), as in Airflow; a
     * task instance may hold slots of two pools (its pool, and its task's
     * max_active_tis_per_dag).
     * SQLite cannot change a primary key: the tables are rebuilt, rows in
     * their order. */
    "CREATE TABLE task_instance_v4("
    " run_id TEXT NOT NULL, task_id TEXT NOT NULL,"
    " map_index INTEGER NOT NULL DEFAULT -1, state TEXT,"
    " operator TEXT, try_number INTEGER DEFAULT 0, max_tries INTEGER,"
    " start_date REAL, end_date REAL, pid INTEGER, hostname TEXT,"
    " reason TEXT, PRIMARY KEY(run_id, task_id, map_index));"
    "INSERT INTO task_instance_v4 SELECT run_id, task_id, -1, state,"
    " operator, try_number, max_tries, start_date, end_date, pid, hostname,"
    " reason FROM task_instance ORDER BY rowid;"
    "DROP TABLE task_instance;"
    "ALTER TABLE task_instance_v4 RENAME TO task_instance;"
    "CREATE TABLE task_try_v4("
    " run_id TEXT NOT NULL, task_id TEXT NOT NULL,"
    " map_index INTEGER NOT NULL DEFAULT -1, try_number INTEGER,"
    " state TEXT, start_date REAL, end_date REAL, pid INTEGER,"
    " reason TEXT, log_path TEXT, proc TEXT,"
    " PRIMARY KEY(run_id, task_id, map_index, try_number));"
    "INSERT INTO task_try_v4 SELECT run_id, task_id, -1, try_number, state,"
    " start_date, end_date, pid, reason, log_path, proc FROM task_try"
    " ORDER BY rowid;"
    "DROP TABLE task_try;"
    "ALTER TABLE task_try_v4 RENAME TO task_try;"
    "CREATE TABLE xcom_v4("
    " run_id TEXT NOT NULL, task_id TEXT NOT NULL,"
    " map_index INTEGER NOT NULL DEFAULT -1, key TEXT NOT NULL,"
    " value TEXT, timestamp REAL,"
    " PRIMARY KEY(run_id, task_id, map_index, key));"
    "INSERT INTO xcom_v4 SELECT run_id, task_id, -1, key, value, timestamp"
    " FROM xcom ORDER BY rowid;"
    "DROP TABLE xcom;"
    "ALTER TABLE xcom_v4 RENAME TO xcom;"
    "CREATE TABLE pool_slot_v4(run_id TEXT NOT NULL, task_id TEXT NOT NULL,"
    " map_index INTEGER NOT NULL DEFAULT -1, pool TEXT NOT NULL,"
    " slots INTEGER NOT NULL, pid INTEGER, proc TEXT,"
    " PRIMARY KEY(run_id, task_id, map_index, pool));"
    "INSERT INTO pool_slot_v4 SELECT run_id, task_id, -1, pool, slots, pid,"
    " proc FROM pool_slot;"
    "DROP TABLE pool_slot;"
    "ALTER TABLE pool_slot_v4 RENAME TO pool_slot;",
    /* 5: datasets (ph_dataset): what is known of each, the DAGs and tasks
     * that update, read or are scheduled on it, and each update */
    "CREATE TABLE dataset(uri TEXT PRIMARY KEY, max_lag REAL, auto TEXT,"
    " registered REAL);"
    "CREATE TABLE dataset_ref(uri TEXT NOT NULL, dag_id TEXT NOT NULL,"
    " task_id TEXT NOT NULL, kind TEXT NOT NULL,"
    " PRIMARY KEY(uri, dag_id, task_id, kind));"
    "CREATE INDEX dataset_ref_dag ON dataset_ref(dag_id);"
    "CREATE TABLE dataset_event(id INTEGER PRIMARY KEY, uri TEXT NOT NULL,"
    " dag_id TEXT, run_id TEXT, task_id TEXT, map_index INTEGER,"
    " timestamp REAL NOT NULL);"
    "CREATE INDEX dataset_event_uri ON dataset_event(uri, timestamp);",
    /* 6: a DAG's runs newest first (the webserver's lists and grid) off an
     * index, not a sort of every run */
    "CREATE INDEX IF NOT EXISTS dag_run_dag_start ON dag_run(dag_id, "
    "start_date);",
    /* 7: each try's templated params as rendered (Airflow's rendered
     * fields), secrets masked */
    "ALTER TABLE task_try ADD COLUMN rendered TEXT;",
    /* 8: where a try ran: its executor ("slurm"; NULL: local) and the id
     * the executor knows it by (the Slurm job id), recorded with the try's
     * start, so that a resumed run adopts the job instead of submitting it
     * again */
    "ALTER TABLE task_try ADD COLUMN executor TEXT;"
    "ALTER TABLE task_try ADD COLUMN executor_id TEXT;",
    /* 9: the driving host's heartbeat: on a store shared by several
     * machines, another machine's host is alive while it beats */
    "ALTER TABLE dag_run ADD COLUMN heartbeat REAL;",
};
#define PH_SCHEMA_VERSION ((int)G_N_ELEMENTS(migrations) + 1)

/* PostgreSQL: the schema as SQLite's is at version 8, where PostgreSQL
 * stores begin; pg_migrations[i] takes one from version 8 + i to 9 + i
 * (append only, with migrations[] above).  Every table has a rowid
 * column (last: SELECT * keeps SQLite's column order) for the statements
 * that order by insertion. */
static const char *const pg_schema =
    "CREATE TABLE dag_run(run_id TEXT PRIMARY KEY, dag_id TEXT NOT NULL,"
    " dag_file TEXT, state TEXT NOT NULL, run_type TEXT, logical_date TEXT,"
    " conf TEXT, start_date DOUBLE PRECISION, end_date DOUBLE PRECISION,"
    " host_pid BIGINT, host_proc TEXT, launcher_pid BIGINT,"
    " launcher_proc TEXT, rowid BIGSERIAL);"
    "CREATE INDEX dag_run_start ON dag_run(start_date);"
    "CREATE INDEX dag_run_dag_date ON dag_run(dag_id, logical_date);"
    "CREATE INDEX dag_run_dag_start ON dag_run(dag_id, start_date);"
    "CREATE TABLE task_instance(run_id TEXT NOT NULL, task_id TEXT NOT NULL,"
    " map_index BIGINT NOT NULL DEFAULT -1, state TEXT, operator TEXT,"
    " try_number BIGINT DEFAULT 0, max_tries BIGINT,"
    " start_date DOUBLE PRECISION, end_date DOUBLE PRECISION, pid BIGINT,"
    " hostname TEXT, reason TEXT, rowid BIGSERIAL,"
    " PRIMARY KEY(run_id, task_id, map_index));"
    "CREATE TABLE task_try(run_id TEXT NOT NULL, task_id TEXT NOT NULL,"
    " map_index BIGINT NOT NULL DEFAULT -1, try_number BIGINT, state TEXT,"
    " start_date DOUBLE PRECISION, end_date DOUBLE PRECISION, pid BIGINT,"
    " reason TEXT, log_path TEXT, proc TEXT, rendered TEXT, executor TEXT,"
    " executor_id TEXT, rowid BIGSERIAL,"
    " PRIMARY KEY(run_id, task_id, map_index, try_number));"
    "CREATE TABLE xcom(run_id TEXT NOT NULL, task_id TEXT NOT NULL,"
    " map_index BIGINT NOT NULL DEFAULT -1, key TEXT NOT NULL, value TEXT,"
    " timestamp DOUBLE PRECISION, rowid BIGSERIAL,"
    " PRIMARY KEY(run_id, task_id, map_index, key));"
    "CREATE TABLE variable(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE pool(name TEXT PRIMARY KEY, slots BIGINT NOT NULL);"
    "CREATE TABLE pool_slot(run_id TEXT NOT NULL, task_id TEXT NOT NULL,"
    " map_index BIGINT NOT NULL DEFAULT -1, pool TEXT NOT NULL,"
    " slots BIGINT NOT NULL, pid BIGINT, proc TEXT,"
    " PRIMARY KEY(run_id, task_id, map_index, pool));"
    "CREATE TABLE connection(conn_id TEXT PRIMARY KEY, uri TEXT);"
    "CREATE TABLE dataset(uri TEXT PRIMARY KEY, max_lag DOUBLE PRECISION,"
    " auto TEXT, registered DOUBLE PRECISION);"
    "CREATE TABLE dataset_ref(uri TEXT NOT NULL, dag_id TEXT NOT NULL,"
    " task_id TEXT NOT NULL, kind TEXT NOT NULL,"
    " PRIMARY KEY(uri, dag_id, task_id, kind));"
    "CREATE INDEX dataset_ref_dag ON dataset_ref(dag_id);"
    "CREATE TABLE dataset_event(id BIGSERIAL PRIMARY KEY, uri TEXT NOT NULL,"
    " dag_id TEXT, run_id TEXT, task_id TEXT, map_index BIGINT,"
    " timestamp DOUBLE PRECISION NOT NULL);"
    "CREATE INDEX dataset_event_uri ON dataset_event(uri, timestamp);"
    /* ph_track's tables (SQLite's are made by ph_track_init) */
    "CREATE TABLE experiment(id BIGSERIAL PRIMARY KEY, dag_id TEXT,"
    " run_id TEXT NOT NULL, task_id TEXT NOT NULL, try_number BIGINT NOT NULL,"
    " operator TEXT, params TEXT NOT NULL DEFAULT '{}',"
    " metrics TEXT NOT NULL DEFAULT '{}', artifacts TEXT NOT NULL DEFAULT '{}',"
    " state TEXT DEFAULT 'running', created DOUBLE PRECISION,"
    " UNIQUE(run_id, task_id, try_number));"
    "CREATE TABLE model_version(name TEXT NOT NULL, version BIGINT NOT NULL,"
    " path TEXT NOT NULL, experiment_id BIGINT, created DOUBLE PRECISION,"
    " PRIMARY KEY(name, version));"
    "CREATE TABLE model_alias(name TEXT NOT NULL, alias TEXT NOT NULL,"
    " version BIGINT NOT NULL, set_at DOUBLE PRECISION,"
    " PRIMARY KEY(name, alias));"
    "CREATE TABLE result_cache(fingerprint TEXT PRIMARY KEY, dag_id TEXT,"
    " run_id TEXT, task_id TEXT, try_number BIGINT,"
    " created DOUBLE PRECISION);"
    "CREATE TABLE lineage(run_id TEXT NOT NULL, task_id TEXT NOT NULL,"
    " fingerprint TEXT, doc TEXT, cached_from TEXT,"
    " PRIMARY KEY(run_id, task_id));"
    /* what SQLite's data_version tells readers: a number each commit
     * moves (a sequence: no row rewritten per commit) */
    "CREATE SEQUENCE data_version;";
static const char *const pg_migrations[] = {
    /* 9: as SQLite's 9 */
    "ALTER TABLE dag_run ADD COLUMN heartbeat DOUBLE PRECISION;"
    "CREATE SEQUENCE IF NOT EXISTS data_version;",
    NULL};
#define PG_BASE_VERSION 8

char *ph_store_default_home(void) {
  const char *h = g_getenv("PIPEHOST_HOME");
  if (h && *h)
    return g_strdup(h);
  return g_build_filename(g_get_home_dir(), ".pipehost", NULL);
}

static void finalize_stmt(gpointer p) { ph_db_finalize(p); }

/* The schema version of db: 0 when it has no meta table (a new file),
 * -1 on a read error (message in *err). */
static int schema_version(sqlite3 *db, char **err) {
  sqlite3_stmt *st = NULL;
  int v = -1;
  if (sqlite3_prepare_v2(db,
                         "SELECT count(*) FROM sqlite_master WHERE "
                         "type='table' AND name='meta'",
                         -1, &st, NULL) != SQLITE_OK)
    goto fail;
  if (sqlite3_step(st) != SQLITE_ROW)
    goto fail;
  v = sqlite3_column_int(st, 0) ? 1 : 0;
  sqlite3_finalize(st);
  st = NULL;
  if (v == 0)
    return 0;
  if (sqlite3_prepare_v2(db,
                         "SELECT value FROM meta WHERE key='schema_version'",
                         -1, &st, NULL) != SQLITE_OK)
    goto fail;
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    goto fail;
  v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 1;
  sqlite3_finalize(st);
  return v;
fail:
  *err = g_strdup(sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return -1;
}

/* The error for a store a newer pipehost wrote (caller frees). */
static char *too_new(int v) {
  return g_strdup_printf("schema version %d was written by a newer pipehost "
                         "(this one knows up to %d)",
                         v, PH_SCHEMA_VERSION);
}

/* Creates the schema of a new store, or migrates an older one to
 * PH_SCHEMA_VERSION, in one write transaction.  The version is read again
 * under the write lock: another process may have migrated meanwhile, and
 * nothing is run twice.  A store at the current version (a read-only one
 * too) needs no write. */
static gboolean ensure_schema(sqlite3 *db, char **err) {
  int v = schema_version(db, err);
  if (v == PH_SCHEMA_VERSION)
    return TRUE;
  if (v < 0)
    return FALSE;
  if (v > PH_SCHEMA_VERSION) {
    *err = too_new(v);
    return FALSE;
  }
  char *emsg = NULL;
  GString *sql = NULL;
  gboolean ok = FALSE;
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &emsg) != SQLITE_OK)
    goto out;
  v = schema_version(db, err);
  if (v < 0)
    goto out;
  if (v > PH_SCHEMA_VERSION) {
    *err = too_new(v);
    goto out;
  }
  sql = g_string_new(v == 0 ? schema : "");
  for (v = MAX(v, 1); v < PH_SCHEMA_VERSION; v++)
    g_string_append(sql, migrations[v - 1]);
  g_string_append_printf(
      sql, "UPDATE meta SET value='%d' WHERE key='schema_version';",
      PH_SCHEMA_VERSION);
  ok = sqlite3_exec(db, sql->str, NULL, NULL, &emsg) == SQLITE_OK &&
       sqlite3_exec(db, "COMMIT", NULL, NULL, &emsg) == SQLITE_OK;
out:
  if (!ok) {
    if (!*err)
      *err = g_strdup(emsg ? emsg : sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  }
  sqlite3_free(emsg);
  if (sql)
    g_string_free(sql, TRUE);
  return ok;
}

/* SQLite's busy handler: waits in short naps (the caller's hook runs in
 * between) until the lock is free or lock_wait has passed. */
static int on_busy(void *ud, int count) {
  ph_store *s = ud;
  if (count == 0)
    s->wait_t0 = ph_util_mono();
  if (ph_util_mono() - s->wait_t0 >= s->lock_wait)
    return 0;
  if (s->wait_hook)
    s->wait_hook(s->wait_user);
  g_usleep(count < 10 ? 1000 : 5000);
  return 1;
}

void ph_store_set_wait_hook(ph_store *s, void (*hook)(void *user), void *user) {
  s->wait_hook = hook;
  s->wait_user = user;
}

/* The lock every writing transaction of a PostgreSQL store takes first
 * (pg_advisory_xact_lock): writes are serialized as SQLite serializes
 * them (BEGIN IMMEDIATE), so that what the scheduler decides from what it
 * read -- pool slots, a run's existence -- holds until its commit.  Reads
 * take no lock. */
#define PG_WRITE_LOCK "7270013"

/* The schema version a PostgreSQL store's meta table records (0: none
 * yet), or -1 on a read error (ph_db_errmsg says why). */
static int pg_version(ph_db *db) {
  ph_db_stmt *q =
      ph_db_prepare(db, "SELECT value FROM meta WHERE key='schema_version'");
  int rc = q ? ph_db_step(q) : PH_DB_ERROR;
  int v = rc == PH_DB_ROW
              ? (int)g_ascii_strtoll(ph_db_column_text(q, 0), NULL, 10)
          : rc == PH_DB_DONE ? 0
                             : -1;
  ph_db_finalize(q);
  return v;
}

/* Creates the schema of a new PostgreSQL store, or checks (and migrates)
 * an existing one, under the write lock. */
static gboolean pg_ensure_schema(ph_db *db, char **err) {
  G_STATIC_ASSERT(PG_BASE_VERSION + G_N_ELEMENTS(pg_migrations) - 1 ==
                  PH_SCHEMA_VERSION);
  gboolean ok = FALSE;
  GString *sql = NULL;
  if (!ph_db_exec(db, "BEGIN;SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK ");"
                      "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY,"
                      " value TEXT)"))
    goto out;
  int v = pg_version(db);
  if (v < 0)
    goto out;
  if (v > PH_SCHEMA_VERSION) {
    *err = too_new(v);
    goto out;
  }
  sql = g_string_new(v == 0 ? pg_schema : "");
  for (int k = MAX(v, PG_BASE_VERSION); k < PH_SCHEMA_VERSION; k++)
    g_string_append(sql, pg_migrations[k - PG_BASE_VERSION]);
  g_string_append_printf(sql,
                         ";INSERT INTO meta(key, value) VALUES"
                         "('schema_version','%d') ON CONFLICT (key) DO UPDATE "
                         "SET value=EXCLUDED.value;COMMIT",
                         PH_SCHEMA_VERSION);
  ok = v == PH_SCHEMA_VERSION ? ph_db_exec(db, "COMMIT")
                              : ph_db_exec(db, sql->str);
out:
  if (!ok) {
    if (!*err)
      *err = g_strdup(ph_db_errmsg(db));
    ph_db_exec(db, "ROLLBACK");
  }
  if (sql)
    g_string_free(sql, TRUE);
  return ok;
}

/* Connects a PostgreSQL store to s->url; FALSE with *err. */
static gboolean pg_connect(ph_store *s, gboolean make_schema, char **err) {
  GError *e = NULL;
  ph_db *db = ph_db_open_pg(s->url, &e);
  if (!db) {
    *err = g_strdup(e->message);
    g_clear_error(&e);
    return FALSE;
  }
  if (make_schema && !pg_ensure_schema(db, err)) {
    ph_db_close(db);
    return FALSE;
  }
  s->db = db;
  return TRUE;
}

/* The URI in PIPEHOST_STORE, NULL for SQLite (unset, empty, "sqlite"),
 * or "" for something else. */
static const char *store_url(void) {
  const char *u = g_getenv("PIPEHOST_STORE");
  if (!u || !*u || !strcmp(u, "sqlite"))
    return NULL;
  return g_str_has_prefix(u, "postgresql://") ||
                 g_str_has_prefix(u, "postgres://")
             ? u
             : "";
}

/* The URI without its password (caller frees). */
static char *redact(const char *url) {
  GUri *u = g_uri_parse(url, G_URI_FLAGS_HAS_PASSWORD, NULL);
  char *label = u ? g_uri_to_string_partial(u, G_URI_HIDE_PASSWORD)
                  : g_strdup("the PostgreSQL store");
  if (u)
    g_uri_unref(u);
  return label;
}

/* A store on PostgreSQL: the metadata there, logs and artifacts in home. */
static ph_store *open_pg(const char *home, const char *url, GError **error) {
  if (g_mkdir_with_parents(home, 0700) != 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: cannot create the pipehost home directory", home);
    return NULL;
  }
  ph_store *s = g_new0(ph_store, 1);
  s->url = g_strdup(url);
  s->label = redact(url);
  s->home = g_strdup(home);
  s->stmts =
      g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, finalize_stmt);
  g_autofree char *why = NULL;
  if (!pg_connect(s, TRUE, &why)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "the PostgreSQL store %s: %s", s->label, why);
    ph_store_close(s); /* no connection, no transaction: frees s */
    return NULL;
  }
  return s;
}

ph_store *ph_store_open(const char *home, GError **error) {
  const char *url = store_url();
  if (url && !*url) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "PIPEHOST_STORE must be a postgresql:// URI (or unset, for "
                "the SQLite store in PIPEHOST_HOME)");
    return NULL;
  }
  if (url)
    return open_pg(home, url, error);
  ph_store *s = NULL;
  sqlite3 *db = NULL;
  char *emsg = NULL;
  g_autofree char *why = NULL;
  g_autofree char *prag = NULL;
  g_autofree char *path = g_build_filename(home, "pipehost.db", NULL);
  if (g_mkdir_with_parents(home, 0700) != 0) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: cannot create the pipehost home directory", home);
    goto out;
  }
  /* The store holds connection URIs: readable by its owner only, however
   * open the home directory is.  SQLite gives its -wal and -shm files the
   * database file's mode.
   * The file is never opened here once it exists: POSIX record locks
   * belong to the process, and closing any descriptor of the file drops
   * the locks of every connection this process has open on it (another
   * thread's, say), after which a process closing its connection deletes
   * the WAL under them. */
  struct stat sb;
  if (stat(path, &sb) != 0) {
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
      close(fd); /* new: no connection can have it open */
  } else if ((sb.st_mode & 077) && sb.st_uid == geteuid() &&
             chmod(path, sb.st_mode & 0700) != 0) {
    /* leave it: reading still works, the owner chose the mode */
  }
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (access(path, W_OK) != 0 && errno == EACCES)
    flags = SQLITE_OPEN_READONLY; /* read commands still work */
  if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: %s", path,
                db ? sqlite3_errmsg(db) : "out of memory");
    goto out;
  }
  /* until the store is set up, a plain wait for another process's lock */
  sqlite3_busy_timeout(db, 10000);
  prag = connection_pragmas(TRUE);
  gboolean ok = sqlite3_exec(db, prag, NULL, NULL, &emsg) == SQLITE_OK &&
                ensure_schema(db, &why);
  if (!ok && access(home, W_OK) != 0 && g_file_test(path, G_FILE_TEST_EXISTS)) {
    /* A home we cannot write (read-only media, another user's store):
     * SQLite cannot make the WAL index it reads through, so the store is
     * read as it is on disk, without locks (a snapshot) */
    sqlite3_free(emsg);
    emsg = NULL;
    g_clear_pointer(&why, g_free);
    sqlite3_close(db);
    db = NULL;
    g_autofree char *esc = g_uri_escape_string(path, "/", FALSE);
    g_autofree char *uri = g_strdup_printf("file:%s?immutable=1", esc);
    ok = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
                         NULL) == SQLITE_OK &&
         schema_version(db, &why) == PH_SCHEMA_VERSION;
    if (!ok && !why)
      why = g_strdup("this store needs a schema upgrade, which needs write "
                     "access: run any pipehost command as its owner first");
  }
  if (!ok) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: not a usable pipehost store: %s%s", path,
                emsg  ? emsg
                : why ? why
                      : sqlite3_errmsg(db),
                sqlite3_errcode(db) == SQLITE_CORRUPT ||
                        sqlite3_errcode(db) == SQLITE_NOTADB
                    ? " (the file is damaged: restore it from a backup, or "
                      "move it away to start a new store)"
                    : "");
    sqlite3_free(emsg);
    goto out;
  }
  s = g_new0(ph_store, 1);
  const char *lw = g_getenv("PIPEHOST_STORE_LOCK_WAIT");
  s->lock_wait =
      lw && g_ascii_strtod(lw, NULL) > 0 ? g_ascii_strtod(lw, NULL) : 60;
  sqlite3_busy_handler(db, on_busy, s);
  s->db = ph_db_wrap_sqlite(db);
  db = NULL;
  s->home = g_strdup(home);
  s->label = g_strdup(path);
  s->stmts =
      g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, finalize_stmt);
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
  ph_db_close(s->db);
  g_free(s->url);
  g_free(s->label);
  g_free(s->home);
  g_free(s->error);
  g_free(s);
}

int ph_store_schema_known(void) { return PH_SCHEMA_VERSION; }

char *ph_store_describe(const char *home) {
  const char *url = store_url();
  return url && *url ? redact(url)
                     : g_build_filename(home, "pipehost.db", NULL);
}

/* ph_store_check for a PostgreSQL store: its version; "ok" when it can
 * be read (PostgreSQL checks its own pages). */
static int pg_check(const char *url, char **integrity, GError **error) {
  ph_db *db = ph_db_open_pg(url, error);
  if (!db)
    return -1;
  int v = -1;
  ph_db_stmt *q =
      ph_db_prepare(db, "SELECT count(*) FROM information_schema.tables WHERE "
                        "table_schema=current_schema() AND table_name='meta'");
  if (q && ph_db_step(q) == PH_DB_ROW)
    v = ph_db_column_int64(q, 0) ? 1 : 0;
  ph_db_finalize(q);
  if (v == 1) {
    v = pg_version(db);
  }
  if (v < 0)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "not a usable pipehost store: %s", ph_db_errmsg(db));
  else
    *integrity = g_strdup("ok");
  ph_db_close(db);
  return v;
}

int ph_store_check(const char *home, char **integrity, GError **error) {
  g_autofree char *path = g_build_filename(home, "pipehost.db", NULL);
  *integrity = NULL;
  const char *url = store_url();
  if (url && *url)
    return pg_check(url, integrity, error);
  if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "%s: no store here yet (any command that writes makes one)",
                path);
    return -1;
  }
  sqlite3 *db = NULL;
  char *why = NULL;
  int v = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    why = g_strdup(db ? sqlite3_errmsg(db) : "out of memory");
    goto out;
  }
  sqlite3_busy_timeout(db, 10000);
  v = schema_version(db, &why);
  if (v < 0)
    goto out;
  sqlite3_stmt *q = NULL;
  GString *found = g_string_new(NULL);
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &q, NULL) == SQLITE_OK)
    while (sqlite3_step(q) == SQLITE_ROW)
      g_string_append_printf(found, "%s%s", found->len ? "; " : "",
                             (const char *)sqlite3_column_text(q, 0));
  else
    g_string_append(found, sqlite3_errmsg(db));
  sqlite3_finalize(q);
  *integrity = g_string_free(found, FALSE);
out:
  if (v < 0)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: not a usable pipehost store: %s", path,
                why ? why : "unknown error");
  g_free(why);
  sqlite3_close(db);
  return v;
}

pid_t ph_store_fork(ph_store *s, GError **error) {
  if (s->db) {
    if (s->in_txn && !ph_store_commit(s, error))
      return -1;
    g_hash_table_remove_all(s->stmts);
    /* no checkpoint: closing would otherwise checkpoint the WAL and delete
     * it when no other process has the store open */
    if (!s->url)
      sqlite3_db_config(ph_db_get_sqlite(s->db),
                        SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if (!ph_db_close(s->db)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_AGAIN,
                  "the store's connection is in use; cannot fork without it");
      return -1;
    }
    s->db = NULL; /* the next use reconnects (attach) */
  }
  return fork();
}

static void note_error(ph_store *s, int rc, const char *what);

/* Reconnects a store that ph_store_fork left without its connection, with
 * the settings of every connection (the WAL mode is the file's already).
 * When that fails the store gets an empty in-memory database, so that
 * every read finds nothing, and its error is noted: writes cannot commit. */
static void attach(ph_store *s) {
  if (s->db)
    return;
  if (s->url) {
    /* PostgreSQL: a connection of its own (a forked child must never use
     * its parent's) */
    g_autofree char *err = NULL;
    if (pg_connect(s, FALSE, &err))
      return;
    g_autofree char *why = g_strdup_printf("cannot reconnect: %s", err);
    sqlite3 *mem = NULL;
    sqlite3_open(":memory:", &mem);
    s->db = ph_db_wrap_sqlite(mem);
    note_error(s, SQLITE_CANTOPEN, why);
    return;
  }
  g_autofree char *path = g_build_filename(s->home, "pipehost.db", NULL);
  g_autofree char *prag = connection_pragmas(FALSE);
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
    /* waits for a lock as every statement of this store does, the pragmas
     * included: they read the schema, which needs a shared lock that a
     * process checkpointing as it closes holds back for a moment */
    sqlite3_busy_handler(db, on_busy, s);
    if (sqlite3_exec(db, prag, NULL, NULL, NULL) == SQLITE_OK) {
      s->db = ph_db_wrap_sqlite(db);
      return;
    }
  }
  g_autofree char *why = g_strdup_printf(
      "cannot reconnect: %s", db ? sqlite3_errmsg(db) : "out of memory");
  sqlite3_close(db);
  db = NULL;
  sqlite3_open(":memory:", &db);
  s->db = ph_db_wrap_sqlite(db);
  note_error(s, SQLITE_CANTOPEN, why);
}

const char *ph_store_get_home(const ph_store *s) { return s->home; }

gboolean ph_store_is_pg(const ph_store *s) { return s->url != NULL; }

/* Records a failure of the store: the first one is kept (and warned
 * about once), and an open transaction can no longer commit. */
static void note_error(ph_store *s, int rc, const char *what) {
  if (s->in_txn)
    s->txn_failed = 1;
  if (s->error)
    return;
  gboolean damaged = rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
  s->error = g_strdup_printf(
      "%s: %s%s%s", s->label, what,
      rc == SQLITE_FULL ? " (the disk is full)" : "",
      damaged ? " (the store is damaged: restore it from a backup, or move "
                "it away to start a new store)"
              : "");
  if (!g_process_error)
    g_process_error = g_strdup(s->error);
  g_printerr("pipehost store: %s\n", s->error);
}

/* A statement that returns no row and writes nothing: what prep() gives
 * when the real one cannot be prepared (its failure is noted), so callers
 * read an empty result instead of crashing. */
static ph_db_stmt *dead_stmt(ph_store *s) {
  static const char dead[] = "SELECT NULL WHERE 0";
  ph_db_stmt *st = g_hash_table_lookup(s->stmts, dead);
  if (!st && (st = ph_db_prepare_cached(s->db, dead)) != NULL)
    g_hash_table_insert(s->stmts, (gpointer)dead, st);
  if (!st)
    g_error("pipehost store: SQLite cannot prepare \"%s\"", dead);
  return st;
}

/* Prepares (once, cached by the static sql pointer) and binds.  types: one
 * letter per argument: s = const char* (NULL binds NULL), i = int,
 * d = double (< 0 binds NULL for times). */
static ph_db_stmt *prep(ph_store *s, const char *sql, const char *types, ...) {
  attach(s);
  ph_db_stmt *st = g_hash_table_lookup(s->stmts, sql);
  if (!st) {
    if (!(st = ph_db_prepare_cached(s->db, sql))) {
      int rc = ph_db_errcode(s->db);
      g_autofree char *what =
          g_strdup_printf("cannot read the schema: %s", ph_db_errmsg(s->db));
      note_error(s, rc, what);
      return dead_stmt(s);
    }
    g_hash_table_insert(s->stmts, (gpointer)sql, st);
  }
  ph_db_reset(st);
  ph_db_clear_bindings(st);
  va_list ap;
  va_start(ap, types);
  for (int i = 0; types[i]; i++) {
    if (types[i] == 's') {
      const char *v = va_arg(ap, const char *);
      if (v)
        ph_db_bind_text(st, i + 1, v);
    } else if (types[i] == 'i') {
      ph_db_bind_int64(st, i + 1, va_arg(ap, int));
    } else if (types[i] == 'd') {
      double d = va_arg(ap, double);
      if (d >= 0)
        ph_db_bind_double(st, i + 1, d);
    }
  }
  va_end(ap);
  return st;
}

int ph_store_step(ph_store *s, ph_db_stmt *st) {
  int rc = ph_db_step(st);
  if (rc == PH_DB_ERROR)
    note_error(s, ph_db_errcode(s->db), ph_db_errmsg(s->db));
  return rc;
}

/* Steps a read: TRUE for a row; a failure is noted. */
static gboolean step_row(ph_store *s, ph_db_stmt *st) {
  return ph_store_step(s, st) == PH_DB_ROW;
}

/* Steps a write.  A write of a transaction that already failed is not
 * tried (SQLite may have rolled that transaction back, and the write would
 * then commit on its own). */
static int step_done(ph_store *s, ph_db_stmt *st) {
  if (s->batch && !s->in_txn)
    ph_store_begin(s);
  if (s->txn_failed) {
    ph_db_reset(st);
    return SQLITE_ABORT;
  }
  if (ph_fault_hit("store_write")) {
    ph_db_reset(st);
    note_error(s, SQLITE_IOERR, "injected write failure");
    return SQLITE_IOERR;
  }
  int rc = ph_db_step_deferred(st);
  if (rc == PH_DB_ERROR)
    note_error(s, ph_db_errcode(s->db), ph_db_errmsg(s->db));
  ph_db_reset(st);
  return rc;
}

ph_db *ph_store_get_db(ph_store *s) {
  attach(s);
  return s->db;
}

const char *ph_store_get_error(const ph_store *s) { return s->error; }

const char *ph_store_process_error(void) { return g_process_error; }

void ph_store_begin(ph_store *s) {
  if (s->in_txn)
    return;
  int rc;
  if (s->url) {
    /* PostgreSQL: one writer at a time, as SQLite's BEGIN IMMEDIATE: the
     * lock is taken before the transaction's first read runs, sent with
     * it (or with the commit), not in a round trip of its own */
    attach(s);
    rc = ph_db_begin_deferred(
             s->db, "BEGIN;SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK ")")
             ? PH_DB_DONE
             : PH_DB_ERROR;
  } else {
    /* prepared once, like every statement: this runs per scheduler step */
    ph_db_stmt *st = prep(s, "BEGIN IMMEDIATE", "");
    rc = ph_db_step(st);
    ph_db_reset(st);
  }
  s->in_txn = 1;
  s->txn_t0 = ph_util_mono();
  if (rc != PH_DB_DONE) {
    /* no transaction: the writes until the commit are refused, and the
     * commit reports the failure */
    note_error(s, ph_db_errcode(s->db), ph_db_errmsg(s->db));
    s->txn_failed = 1;
  }
}

void ph_store_batch(ph_store *s, gboolean on) { s->batch = on; }

double ph_store_pending_age(const ph_store *s) {
  return s->in_txn ? ph_util_mono() - s->txn_t0 : -1;
}

void ph_store_rollback(ph_store *s) {
  if (!s->in_txn)
    return;
  if (!ph_db_autocommit(s->db))
    ph_db_exec(s->db, "ROLLBACK");
  s->in_txn = 0;
  s->txn_failed = 0;
}

gboolean ph_store_commit(ph_store *s, GError **error) {
  if (!s->in_txn)
    return TRUE;
  int rc = SQLITE_ABORT;
  if (!s->txn_failed) {
    if (ph_fault_hit("store_commit")) {
      note_error(s, rc = SQLITE_IOERR, "injected commit failure");
    } else if (s->url) {
      /* what SQLite's data_version tells readers (the store changed), and
       * the commit, in one round trip */
      rc = ph_db_exec(s->db, "SELECT nextval('data_version');COMMIT")
               ? PH_DB_DONE
               : PH_DB_ERROR;
      if (rc != PH_DB_DONE)
        note_error(s, ph_db_errcode(s->db), ph_db_errmsg(s->db));
    } else {
      ph_db_stmt *st = prep(s, "COMMIT", "");
      if ((rc = ph_db_step(st)) != PH_DB_DONE)
        note_error(s, ph_db_errcode(s->db), ph_db_errmsg(s->db));
      ph_db_reset(st);
    }
  }
  s->in_txn = 0;
  if (rc == PH_DB_DONE)
    return TRUE;
  if (!ph_db_autocommit(s->db))
    ph_db_exec(s->db, "ROLLBACK");
  s->txn_failed = 0;
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
              "the store could not record the last changes: %s",
              s->error ? s->error : "commit failed");
  return FALSE;
}

int ph_store_run_create(ph_store *s, const char *run_id, const char *dag_id,
                        const char *dag_file, const char *logical_date,
                        const char *conf_json, const char *run_type) {
  g_autofree char *proc = ph_proc_identity(getpid());
  ph_db_stmt *st = prep(
      s,
      "INSERT OR IGNORE INTO dag_run(run_id,dag_id,dag_file,state,run_type,"
      "logical_date,conf,start_date,host_pid,host_proc,heartbeat) "
      "VALUES(?,?,?,'running',?,?,?,?,?,?,?)",
      "ssssssdisd", run_id, dag_id, dag_file, run_type, logical_date, conf_json,
      ph_util_now(), (int)getpid(), proc, ph_util_now());
  int rc = step_done(s, st);
  if (rc != PH_DB_DONE)
    return -1;
  return ph_db_changes(s->db) == 1;
}

void ph_store_run_set_state(ph_store *s, const char *run_id,
                            const char *state) {
  gboolean fin = strcmp(state, "running") && strcmp(state, "queued");
  step_done(s, prep(s, "UPDATE dag_run SET state=?, end_date=? WHERE run_id=?",
                    "sds", state, fin ? ph_util_now() : -1.0, run_id));
}

void ph_store_run_set_host(ph_store *s, const char *run_id, int pid,
                           int launcher_pid) {
  g_autofree char *proc = ph_proc_identity(pid);
  g_autofree char *lproc =
      launcher_pid > 0 ? ph_proc_identity(launcher_pid) : NULL;
  step_done(s, prep(s,
                    "UPDATE dag_run SET host_pid=?, host_proc=?, "
                    "launcher_pid=?, launcher_proc=?, heartbeat=? WHERE "
                    "run_id=?",
                    "isisds", pid, proc, launcher_pid, lproc, ph_util_now(),
                    run_id));
}

void ph_store_run_heartbeat(ph_store *s, const char *run_id) {
  step_done(s, prep(s, "UPDATE dag_run SET heartbeat=? WHERE run_id=?", "ds",
                    ph_util_now(), run_id));
}

double ph_store_heartbeat_timeout(void) {
  const char *t = g_getenv("PIPEHOST_HEARTBEAT_TIMEOUT");
  return t && g_ascii_strtod(t, NULL) > 0 ? g_ascii_strtod(t, NULL) : 30.0;
}

gboolean ph_store_holder_alive(int pid, const char *proc, double heartbeat) {
  if (!ph_proc_is_local(proc))
    return heartbeat > 0 &&
           ph_util_now() - heartbeat < ph_store_heartbeat_timeout();
  return ph_proc_alive(pid, proc);
}

gboolean ph_store_run_host(ph_store *s, const char *run_id,
                           ph_store_host *out) {
  memset(out, 0, sizeof *out);
  ph_db_stmt *st = prep(s,
                        "SELECT host_pid, host_proc, launcher_pid, "
                        "launcher_proc, heartbeat FROM dag_run WHERE run_id=?",
                        "s", run_id);
  gboolean found = step_row(s, st);
  if (found) {
    out->pid = (int)ph_db_column_int64(st, 0);
    g_strlcpy(out->proc, ph_db_column_text(st, 1) ?: "", sizeof out->proc);
    out->launcher_pid = (int)ph_db_column_int64(st, 2);
    g_strlcpy(out->launcher_proc, ph_db_column_text(st, 3) ?: "",
              sizeof out->launcher_proc);
    out->heartbeat = ph_db_column_double(st, 4);
  }
  ph_db_reset(st);
  return found;
}

static char *col_dup(ph_db_stmt *st, int i) {
  const char *t = ph_db_column_text(st, i);
  return t ? g_strdup((const char *)t) : NULL;
}

/* The first column of st's first row as text (caller frees), or NULL;
 * resets st. */
static char *first_text(ph_store *s, ph_db_stmt *st) {
  char *v = step_row(s, st) ? col_dup(st, 0) : NULL;
  ph_db_reset(st);
  return v;
}

char *ph_store_run_resolve(ph_store *s, const char *text, GError **error) {
  ph_db_stmt *st;
  char *id = NULL;
  if (!strcmp(text, "last") || !strcmp(text, "latest")) {
    st = prep(s,
              "SELECT run_id FROM dag_run ORDER BY start_date DESC, rowid "
              "DESC LIMIT 1",
              "");
  } else {
    st = prep(s, "SELECT run_id FROM dag_run WHERE run_id=?", "s", text);
    if (step_row(s, st)) {
      id = col_dup(st, 0);
      ph_db_reset(st);
      return id;
    }
    ph_db_reset(st);
    st = prep(s,
              "SELECT run_id FROM dag_run WHERE substr(run_id,1,?)=? "
              "LIMIT 2",
              "is", (int)strlen(text), text);
  }
  int n = 0;
  while (step_row(s, st)) {
    if (n++ == 0)
      id = col_dup(st, 0);
  }
  ph_db_reset(st);
  if (n == 1)
    return id;
  g_free(id);
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
              n ? "run '%s' is ambiguous: several run ids start with it"
                : "no run '%s' (see `pipehost runs list`)",
              text);
  return NULL;
}

static void add_col(JsonBuilder *b, ph_db_stmt *st, int i) {
  json_builder_set_member_name(b, ph_db_column_name(st, i));
  switch (ph_db_column_type(st, i)) {
  case PH_DB_INTEGER:
    json_builder_add_int_value(b, ph_db_column_int64(st, i));
    break;
  case PH_DB_FLOAT:
    json_builder_add_double_value(b, ph_db_column_double(st, i));
    break;
  case PH_DB_NULL:
    json_builder_add_null_value(b);
    break;
  default:
    json_builder_add_string_value(b, ph_db_column_text(st, i));
  }
}

static void add_row(JsonBuilder *b, ph_db_stmt *st) {
  json_builder_begin_object(b);
  for (int i = 0; i < ph_db_column_count(st); i++)
    add_col(b, st, i);
  json_builder_end_object(b);
}

JsonNode *ph_store_runs_list(ph_store *s, int limit) {
  ph_db_stmt *st =
      prep(s,
           "SELECT run_id, dag_id, state, logical_date, start_date, end_date "
           "FROM dag_run ORDER BY start_date DESC, rowid DESC LIMIT ?",
           "i", limit > 0 ? limit : G_MAXINT32);
  JsonBuilder *b = json_builder_new();
  json_builder_begin_array(b);
  while (step_row(s, st))
    add_row(b, st);
  ph_db_reset(st);
  json_builder_end_array(b);
  JsonNode *n = json_builder_get_root(b);
  g_object_unref(b);
  return n;
}

JsonNode *ph_store_run_show(ph_store *s, const char *run_id) {
  ph_db_stmt *st = prep(s,
                        "SELECT run_id, dag_id, dag_file, state, run_type, "
                        "logical_date, conf, start_date, end_date, host_pid "
                        "FROM "
                        "dag_run WHERE run_id=?",
                        "s", run_id);
  if (!step_row(s, st)) {
    ph_db_reset(st);
    return NULL;
  }
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  for (int i = 0; i < ph_db_column_count(st); i++)
    add_col(b, st, i);
  ph_db_reset(st);
  json_builder_set_member_name(b, "tasks");
  json_builder_begin_array(b);
  st = prep(s,
            "SELECT task_id, map_index, state, operator, try_number, "
            "max_tries, start_date, end_date, pid, reason FROM task_instance "
            "WHERE run_id=? ORDER BY min(rowid) OVER (PARTITION BY task_id), "
            "map_index",
            "s", run_id);
  while (step_row(s, st)) {
    json_builder_begin_object(b);
    for (int i = 0; i < ph_db_column_count(st); i++)
      add_col(b, st, i);
    json_builder_end_object(b);
  }
  ph_db_reset(st);
  json_builder_end_array(b);
  json_builder_set_member_name(b, "tries");
  json_builder_begin_array(b);
  st = prep(s,
            "SELECT task_id, map_index, try_number, state, start_date, "
            "end_date, pid, reason, log_path, executor, executor_id FROM "
            "task_try WHERE run_id=? ORDER BY start_date, rowid",
            "s", run_id);
  while (step_row(s, st))
    add_row(b, st);
  ph_db_reset(st);
  json_builder_end_array(b);
  json_builder_end_object(b);
  JsonNode *n = json_builder_get_root(b);
  g_object_unref(b);
  return n;
}

void ph_store_ti_create(ph_store *s, const char *run_id, const char *task_id,
                        int map_index, const char *op, int max_tries) {
  step_done(s, prep(s,
                    "INSERT OR IGNORE INTO task_instance(run_id,task_id,"
                    "map_index,state,operator,try_number,max_tries) "
                    "VALUES(?,?,?,'none',?,0,?)",
                    "ssisi", run_id, task_id, map_index, op, max_tries));
}

void ph_store_ti_expand(ph_store *s, const char *run_id, const char *task_id,
                        const char *op, int max_tries, int n) {
  /* the unmapped row becomes instance 0: it keeps its place among the
   * run's tasks (runs show lists them in that order) */
  step_done(s, prep(s,
                    "UPDATE task_instance SET map_index=0 WHERE run_id=? AND "
                    "task_id=? AND map_index=-1 AND NOT EXISTS (SELECT 1 FROM "
                    "task_instance WHERE run_id=? AND task_id=? AND "
                    "map_index=0)",
                    "ssss", run_id, task_id, run_id, task_id));
  /* (a task run alone into a run where it had expanded already) */
  step_done(s, prep(s,
                    "DELETE FROM task_instance WHERE run_id=? AND task_id=? "
                    "AND map_index=-1",
                    "ss", run_id, task_id));
  for (int i = 0; i < n; i++)
    ph_store_ti_create(s, run_id, task_id, i, op, max_tries);
}

void ph_store_ti_unmap(ph_store *s, const char *run_id, const char *task_id) {
  step_done(s, prep(s,
                    "INSERT OR IGNORE INTO task_instance(run_id,task_id,"
                    "map_index,state,operator,try_number,max_tries,reason) "
                    "SELECT run_id, task_id, -1, 'none', operator, 0, "
                    "max_tries, 'cleared' FROM task_instance WHERE run_id=? "
                    "AND task_id=? AND map_index>=0 LIMIT 1",
                    "ss", run_id, task_id));
  step_done(s, prep(s,
                    "DELETE FROM task_instance WHERE run_id=? AND task_id=? "
                    "AND map_index>=0",
                    "ss", run_id, task_id));
  step_done(s, prep(s,
                    "DELETE FROM xcom WHERE run_id=? AND task_id=? AND "
                    "map_index>=0",
                    "ss", run_id, task_id));
  step_done(s, prep(s,
                    "DELETE FROM task_try WHERE run_id=? AND task_id=? AND "
                    "map_index>=0",
                    "ss", run_id, task_id));
}

void ph_store_tries_clear(ph_store *s, const char *run_id, const char *task_id,
                          int map_index) {
  step_done(s, prep(s,
                    "DELETE FROM task_try WHERE run_id=? AND task_id=? AND "
                    "map_index=?",
                    "ssi", run_id, task_id, map_index));
}

void ph_store_ti_set(ph_store *s, const char *run_id, const char *task_id,
                     int map_index, const char *state, int try_number, double start,
                     double end, int pid, const char *reason) {
  step_done(s,
            prep(s,
                 "UPDATE task_instance SET state=?, try_number=?, "
                 "start_date=coalesce(?,start_date), end_date=?, "
                 "pid=coalesce(nullif(?,0),pid), reason=? WHERE run_id=? AND "
                 "task_id=? AND map_index=?",
                 "sidd"
                 "i"
                 "sssi",
                 state, try_number, start, end, pid, reason, run_id, task_id,
                 map_index));
}

void ph_store_try_start(ph_store *s, const char *run_id, const char *task_id,
                        int map_index, int try_number, double start, int pid,
                        const char *proc, const char *log_path) {
  step_done(s, prep(s,
                    "INSERT OR REPLACE INTO task_try(run_id,task_id,map_index,"
                    "try_number,state,start_date,pid,proc,log_path,end_date,"
                    "reason,rendered,executor,executor_id) "
                    "VALUES(?,?,?,?,'running',?,?,?,?,NULL,NULL,NULL,NULL,"
                    "NULL)",
                    "ssiidiss", run_id, task_id, map_index, try_number, start,
                    pid, proc, log_path));
}

void ph_store_try_set_rendered(ph_store *s, const char *run_id,
                               const char *task_id, int map_index,
                               int try_number, const char *json) {
  step_done(s, prep(s,
                    "UPDATE task_try SET rendered=? WHERE run_id=? AND "
                    "task_id=? AND map_index=? AND try_number=?",
                    "sssii", json, run_id, task_id, map_index, try_number));
}

void ph_store_try_set_executor(ph_store *s, const char *run_id,
                               const char *task_id, int map_index,
                               int try_number, const char *executor,
                               const char *executor_id) {
  step_done(s, prep(s,
                    "UPDATE task_try SET executor=?, executor_id=? WHERE "
                    "run_id=? AND task_id=? AND map_index=? AND try_number=?",
                    "ssssii", executor, executor_id, run_id, task_id, map_index,
                    try_number));
}

char *ph_store_try_executor(ph_store *s, const char *run_id,
                            const char *task_id, int map_index, int try_number,
                            char **executor_id) {
  ph_db_stmt *st = prep(s,
                        "SELECT executor, executor_id FROM task_try WHERE "
                        "run_id=? AND task_id=? AND map_index=? AND "
                        "try_number=?",
                        "ssii", run_id, task_id, map_index, try_number);
  char *ex = NULL;
  *executor_id = NULL;
  if (step_row(s, st) && ph_db_column_text(st, 0)) {
    ex = g_strdup(ph_db_column_text(st, 0));
    *executor_id = g_strdup(ph_db_column_text(st, 1));
  }
  ph_db_reset(st);
  return ex;
}

void ph_store_try_set_pid(ph_store *s, const char *run_id, const char *task_id,
                          int map_index, int try_number, int pid) {
  step_done(s, prep(s,
                    "UPDATE task_try SET pid=? WHERE run_id=? AND task_id=? "
                    "AND map_index=? AND try_number=?",
                    "issii", pid, run_id, task_id, map_index, try_number));
}

void ph_store_try_set_proc(ph_store *s, const char *run_id, const char *task_id,
                           int map_index, int try_number, const char *proc) {
  step_done(s, prep(s,
                    "UPDATE task_try SET proc=? WHERE run_id=? AND task_id=? "
                    "AND map_index=? AND try_number=?",
                    "sssii", proc, run_id, task_id, map_index, try_number));
}

int ph_store_try_proc(ph_store *s, const char *run_id, const char *task_id,
                      int map_index, int try_number, char **proc) {
  ph_db_stmt *st = prep(s,
                        "SELECT pid, proc FROM task_try WHERE run_id=? AND "
                        "task_id=? AND map_index=? AND try_number=?",
                        "ssii", run_id, task_id, map_index, try_number);
  int pid = 0;
  *proc = NULL;
  if (step_row(s, st)) {
    pid = (int)ph_db_column_int64(st, 0);
    *proc = col_dup(st, 1);
  }
  ph_db_reset(st);
  return pid;
}

void ph_store_try_end(ph_store *s, const char *run_id, const char *task_id,
                      int map_index, int try_number, const char *state,
                      double end, int pid, const char *reason) {
  step_done(s, prep(s,
                    "UPDATE task_try SET state=?, end_date=?, "
                    "pid=coalesce(nullif(?,0),pid), reason=? WHERE "
                    "run_id=? AND task_id=? AND map_index=? AND try_number=?",
                    "sdisssii", state, end, pid, reason, run_id, task_id,
                    map_index, try_number));
}

char *ph_store_log_path(ph_store *s, const char *run_id, const char *task_id,
                        int map_index, int try_number) {
  ph_db_stmt *st =
      try_number > 0
          ? prep(s,
                 "SELECT log_path FROM task_try WHERE run_id=? AND task_id=? "
                 "AND map_index=? AND try_number=?",
                 "ssii", run_id, task_id, map_index, try_number)
          : prep(s,
                 "SELECT log_path FROM task_try WHERE run_id=? AND task_id=? "
                 "AND map_index=? ORDER BY try_number DESC LIMIT 1",
                 "ssi", run_id, task_id, map_index);
  return first_text(s, st);
}

void ph_store_xcom_set(ph_store *s, const char *run_id, const char *task_id,
                       int map_index, const char *key, const char *json) {
  step_done(s, prep(s,
                    "INSERT OR REPLACE INTO xcom(run_id,task_id,map_index,key,"
                    "value,timestamp) VALUES(?,?,?,?,?,?)",
                    "ssissd", run_id, task_id, map_index, key, json,
                    ph_util_now()));
}

/* Every key of one task instance as an object text {key: value}, or NULL
 * when it pushed none. */
static char *xcom_all_keys(ph_store *s, const char *run_id,
                           const char *task_id, int map_index) {
  ph_db_stmt *st = prep(s,
                        "SELECT key, value FROM xcom WHERE run_id=? AND "
                        "task_id=? AND map_index=? ORDER BY key",
                        "ssi", run_id, task_id, map_index);
  JsonObject *o = NULL;
  while (step_row(s, st)) {
    if (!o)
      o = json_object_new();
    const char *val = ph_db_column_text(st, 1);
    JsonNode *v = val ? json_from_string(val, NULL) : NULL;
    json_object_set_member(o, ph_db_column_text(st, 0),
                           v ? v : json_node_new(JSON_NODE_NULL));
  }
  ph_db_reset(st);
  if (!o)
    return NULL;
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  char *text = ph_util_json_dup(n);
  json_node_unref(n);
  return text;
}

char *ph_store_xcom_get_ti(ph_store *s, const char *run_id,
                           const char *task_id, int map_index,
                           const char *key) {
  if (!strcmp(key, "*"))
    return xcom_all_keys(s, run_id, task_id, map_index);
  return first_text(s, prep(s,
                            "SELECT value FROM xcom WHERE run_id=? AND "
                            "task_id=? AND map_index=? AND key=?",
                            "ssis", run_id, task_id, map_index, key));
}

/* The values of key pushed by the mapped instances of task_id, as a JSON
 * array text in map_index order (Airflow's lazy sequence of a mapped
 * task's XComs), or NULL when the task is not mapped in the run. */
static char *xcom_mapped(ph_store *s, const char *run_id, const char *task_id,
                         const char *key) {
  ph_db_stmt *st = prep(s,
                        "SELECT count(*) FROM task_instance WHERE run_id=? "
                        "AND task_id=? AND map_index>=0",
                        "ss", run_id, task_id);
  gboolean mapped = step_row(s, st) && (int)ph_db_column_int64(st, 0) > 0;
  ph_db_reset(st);
  if (!mapped)
    return NULL;
  GString *out = g_string_new("[");
  gboolean any = FALSE;
  st = prep(s,
            "SELECT value FROM xcom WHERE run_id=? AND task_id=? AND "
            "map_index>=0 AND key=? ORDER BY map_index",
            "sss", run_id, task_id, key);
  while (step_row(s, st)) {
    const char *v = ph_db_column_text(st, 0);
    g_string_append_printf(out, "%s%s", any ? "," : "", v ? v : "null");
    any = TRUE;
  }
  ph_db_reset(st);
  g_string_append_c(out, ']');
  return g_string_free(out, FALSE);
}

char *ph_store_xcom_get(ph_store *s, const char *run_id, const char *task_id,
                        const char *key) {
  if (task_id && *task_id) {
    char *v = ph_store_xcom_get_ti(s, run_id, task_id, -1, key);
    if (!v && strcmp(key, "*"))
      v = xcom_mapped(s, run_id, task_id, key);
    return v;
  }
  return first_text(s, prep(s,
                            "SELECT value FROM xcom WHERE run_id=? AND key=? "
                            "ORDER BY timestamp DESC, rowid DESC LIMIT 1",
                            "ss", run_id, key));
}

void ph_store_xcom_clear(ph_store *s, const char *run_id, const char *task_id,
                         int map_index) {
  step_done(s, prep(s,
                    "DELETE FROM xcom WHERE run_id=? AND task_id=? AND "
                    "map_index=?",
                    "ssi", run_id, task_id, map_index));
}

JsonNode *ph_store_xcom_list(ph_store *s, const char *run_id) {
  ph_db_stmt *st = prep(s,
                        "SELECT task_id, map_index, key, value FROM xcom "
                        "WHERE run_id=? ORDER BY task_id, map_index, key",
                        "s", run_id);
  JsonObject *root = json_object_new();
  while (step_row(s, st)) {
    const char *tid = ph_db_column_text(st, 0);
    int mi = (int)ph_db_column_int64(st, 1);
    const char *key = ph_db_column_text(st, 2);
    const char *val = ph_db_column_text(st, 3);
    g_autofree char *name = ph_store_ti_name(tid, mi);
    JsonObject *t = json_object_has_member(root, name)
                        ? json_object_get_object_member(root, name)
                        : NULL;
    if (!t) {
      t = json_object_new();
      json_object_set_object_member(root, name, t);
    }
    JsonNode *v = val ? json_from_string(val, NULL) : NULL;
    json_object_set_member(t, key, v ? v : json_node_new(JSON_NODE_NULL));
  }
  ph_db_reset(st);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, root);
  return n;
}

char *ph_store_ti_name(const char *task_id, int map_index) {
  return map_index < 0 ? g_strdup(task_id)
                       : g_strdup_printf("%s[%d]", task_id, map_index);
}

/* Variables and connections are both key -> text tables; these four
 * helpers serve both (the SQL text is static, so statements stay
 * cached). */
static void kv_set(ph_store *s, const char *sql, const char *k, const char *v) {
  step_done(s, prep(s, sql, "ss", k, v));
}

static char *kv_get(ph_store *s, const char *sql, const char *k) {
  ph_db_stmt *st = prep(s, sql, "s", k);
  return first_text(s, st);
}

static gboolean kv_delete(ph_store *s, const char *sql, const char *k) {
  step_done(s, prep(s, sql, "s", k));
  return ph_db_changes(s->db) > 0;
}

static JsonNode *kv_list(ph_store *s, const char *sql) {
  ph_db_stmt *st = prep(s, sql, "");
  JsonObject *o = json_object_new();
  while (step_row(s, st))
    json_object_set_string_member(o, ph_db_column_text(st, 0),
                                  ph_db_column_text(st, 1));
  ph_db_reset(st);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  return n;
}

void ph_store_meta_set(ph_store *s, const char *key, const char *value) {
  kv_set(s, "INSERT OR REPLACE INTO meta(key, value) VALUES(?,?)", key, value);
}

char *ph_store_meta_get(ph_store *s, const char *key) {
  return kv_get(s, "SELECT value FROM meta WHERE key=?", key);
}

void ph_store_var_set(ph_store *s, const char *key, const char *value) {
  kv_set(s, "INSERT OR REPLACE INTO variable(key, value) VALUES(?,?)", key,
         value);
}

char *ph_store_var_get(ph_store *s, const char *key) {
  return kv_get(s, "SELECT value FROM variable WHERE key=?", key);
}

char *ph_store_var_lookup(ph_store *s, const char *key) {
  g_autofree char *up = g_ascii_strup(key ? key : "", -1);
  g_autofree char *env = g_strdup_printf("PIPEHOST_VAR_%s", up);
  const char *v = g_getenv(env);
  if (v)
    return g_strdup(v);
  return s ? ph_store_var_get(s, key) : NULL;
}

gboolean ph_store_var_delete(ph_store *s, const char *key) {
  return kv_delete(s, "DELETE FROM variable WHERE key=?", key);
}

JsonNode *ph_store_var_list(ph_store *s) {
  return kv_list(s, "SELECT key, value FROM variable ORDER BY key");
}

void ph_store_conn_set(ph_store *s, const char *conn_id, const char *uri) {
  kv_set(s, "INSERT OR REPLACE INTO connection(conn_id, uri) VALUES(?,?)",
         conn_id, uri);
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
  GUri *u = g_uri_parse(
      uri, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED_QUERY, error);
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
    json_object_set_string_member(o, "schema",
                                  path[0] == '/' ? path + 1 : path);
  JsonObject *extra = json_object_new();
  const char *q = g_uri_get_query(u);
  if (q) {
    GHashTable *params =
        g_uri_parse_params(q, -1, "&", G_URI_PARAMS_NONE, NULL);
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
  ph_db_stmt *st = prep(s, "SELECT slots FROM pool WHERE name=?", "s", name);
  int slots = step_row(s, st) ? (int)ph_db_column_int64(st, 0) : -1;
  ph_db_reset(st);
  return slots;
}

gboolean ph_store_pool_delete(ph_store *s, const char *name) {
  step_done(s, prep(s, "DELETE FROM pool WHERE name=?", "s", name));
  return ph_db_changes(s->db) > 0;
}

JsonNode *ph_store_pool_list(ph_store *s) {
  JsonObject *o = json_object_new();
  ph_db_stmt *st = prep(s, "SELECT name, slots FROM pool ORDER BY name", "");
  while (step_row(s, st))
    json_object_set_int_member(o, ph_db_column_text(st, 0),
                               (int)ph_db_column_int64(st, 1));
  ph_db_reset(st);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  return n;
}

void ph_store_prev_success(ph_store *s, const char *dag_id,
                           const char *logical_date, double *ld,
                           double *start) {
  *ld = *start = -1;
  ph_db_stmt *st = prep(s,
                        "SELECT logical_date, start_date FROM dag_run WHERE "
                        "dag_id=? AND state='success' AND logical_date < ? "
                        "ORDER BY logical_date DESC LIMIT 1",
                        "ss", dag_id, logical_date);
  if (step_row(s, st)) {
    GDateTime *dt =
        ph_db_column_text(st, 0)
            ? g_date_time_new_from_iso8601(ph_db_column_text(st, 0), NULL)
            : NULL;
    if (dt) {
      *ld = (double)g_date_time_to_unix(dt);
      g_date_time_unref(dt);
    }
    *start = ph_db_column_double(st, 1);
  }
  ph_db_reset(st);
}

char *ph_store_prev_ti_state(ph_store *s, const char *dag_id,
                             const char *logical_date, const char *task_id) {
  ph_db_stmt *st =
      prep(s,
           "SELECT t.state FROM dag_run r JOIN task_instance t ON "
           "t.run_id=r.run_id AND t.task_id=? WHERE r.dag_id=? AND "
           "r.logical_date < ? ORDER BY r.logical_date DESC LIMIT 1",
           "sss", task_id, dag_id, logical_date);
  return first_text(s, st);
}

/* The first column of sql (static text, one "?" for run_id) as text, or
 * NULL. */
static char *run_text(ph_store *s, const char *sql, const char *run_id) {
  return first_text(s, prep(s, sql, "s", run_id));
}

char *ph_store_run_dag(ph_store *s, const char *run_id) {
  return run_text(s, "SELECT dag_id FROM dag_run WHERE run_id=?", run_id);
}

char *ph_store_run_state(ph_store *s, const char *run_id) {
  return run_text(s, "SELECT state FROM dag_run WHERE run_id=?", run_id);
}

gboolean ph_store_pool_take(ph_store *s, const char *pool, int limit,
                            const char *run_id, const char *task_id,
                            int map_index, int slots) {
  /* slots held by processes that died (or whose pid another process has
   * since taken) are free again */
  static char *self;
  if (!self)
    self = ph_proc_identity(getpid());
  GPtrArray *dead = g_ptr_array_new_with_free_func(g_free);
  GArray *dead_pid = g_array_new(FALSE, FALSE, sizeof(int));
  ph_db_stmt *st = prep(
      s,
      "SELECT DISTINCT pid, coalesce(proc, ''), (SELECT heartbeat FROM "
      "dag_run d WHERE d.run_id=pool_slot.run_id) FROM pool_slot WHERE pool=?",
      "s", pool);
  while (step_row(s, st)) {
    int pid = (int)ph_db_column_int64(st, 0);
    const char *proc = ph_db_column_text(st, 1);
    /* another machine's holder: alive while its run's host beats */
    if (!ph_store_holder_alive(pid, proc, ph_db_column_double(st, 2))) {
      g_array_append_val(dead_pid, pid);
      g_ptr_array_add(dead, g_strdup(proc));
    }
  }
  ph_db_reset(st);
  for (guint i = 0; i < dead->len; i++)
    step_done(s, prep(s,
                      "DELETE FROM pool_slot WHERE pid=? AND "
                      "coalesce(proc, '')=?",
                      "is", g_array_index(dead_pid, int, i),
                      (const char *)dead->pdata[i]));
  g_ptr_array_unref(dead);
  g_array_free(dead_pid, TRUE);
  st = prep(s, "SELECT COALESCE(SUM(slots), 0) FROM pool_slot WHERE pool=?",
            "s", pool);
  int used = step_row(s, st) ? (int)ph_db_column_int64(st, 0) : 0;
  ph_db_reset(st);
  /* a task wider than its pool still runs, alone */
  if (used > 0 && used + slots > limit)
    return FALSE;
  step_done(s,
            prep(s,
                 "INSERT OR REPLACE INTO pool_slot(run_id, task_id, map_index,"
                 " pool, slots, pid, proc) VALUES(?,?,?,?,?,?,?)",
                 "ssisiis", run_id, task_id, map_index, pool, slots,
                 (int)getpid(), self));
  return TRUE;
}

void ph_store_pool_release(ph_store *s, const char *run_id,
                           const char *task_id, int map_index) {
  step_done(s, prep(s,
                    "DELETE FROM pool_slot WHERE run_id=? AND task_id=? AND "
                    "map_index=?",
                    "ssi", run_id, task_id, map_index));
}

gint64 ph_store_data_version(ph_store *s) {
  ph_db_stmt *st = s->url ? prep(s, "SELECT last_value FROM data_version", "")
                          : prep(s, "PRAGMA data_version", "");
  gint64 v = -1;
  if (step_row(s, st))
    v = ph_db_column_int64(st, 0);
  ph_db_reset(st);
  return v;
}
