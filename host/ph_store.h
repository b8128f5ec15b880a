/* ph_store -- the metadata store: DAG runs, task instances, tries, XComs,
 * variables.  SQLite in WAL mode under $PIPEHOST_HOME (default
 * ~/.pipehost).  Writes are grouped: ph_store_begin() opens a
 * transaction that ph_store_commit() ends; in batch mode (ph_store_batch)
 * the first write opens it, so the scheduler commits every few events
 * (group commit) without holding the write lock while idle.  What was
 * committed survives a kill -9.
 *
 * Not thread-safe: one ph_store per thread.  All returned strings and
 * JSON nodes are owned by the caller.
 */
#ifndef PH_STORE_H
#define PH_STORE_H

#include <glib.h>
#include <sys/types.h>
#include <json-glib/json-glib.h>

typedef struct ph_store ph_store;
#include "ph_db.h"
struct ph_db_stmt;

/* The home directory: $PIPEHOST_HOME, else ~/.pipehost; caller frees. */
char *ph_store_default_home(void);

/* Opens (creating if needed) home/pipehost.db and its schema.  NULL with
 * error set when the file cannot be opened or is not a pipehost store. */
ph_store *ph_store_open(const char *home, GError **error);
void ph_store_close(ph_store *s);
/* The schema version this pipehost writes (and migrates older stores to,
 * at the first open). */
int ph_store_schema_known(void);
/* The store in messages (caller frees): home/pipehost.db, or the
 * PostgreSQL URI of PIPEHOST_STORE without its password. */
char *ph_store_describe(const char *home);
/* Reads, without changing anything (no migration, read-only), the schema
 * version of the store under home and the result of SQLite's quick_check
 * in *integrity ("ok", or what is wrong; caller frees).  Returns the
 * version (0: an empty file), or -1 with *error set when there is no
 * store or it cannot be read. */
int ph_store_check(const char *home, char **integrity, GError **error);
/* fork(), with the store's connection closed across it: SQLite keeps, per
 * process, which locks it holds on a file, and a child forked while a
 * connection is open inherits that belief without the locks (POSIX locks
 * are not inherited), so the child's own connection would run without
 * them -- and once this process exits, a third one closing the store
 * deletes the WAL the child still commits to.  The store reconnects at
 * its next use (cached statements are prepared again), so forks in a row
 * cost one reconnection; the child must not use s.  Returns fork()'s
 * value; -1 with *error set, and no child, when the connection cannot
 * close (a statement of another module is running: start the child anew
 * instead). */
pid_t ph_store_fork(ph_store *s, GError **error);
/* Whether the store is on PostgreSQL (PIPEHOST_STORE), not SQLite. */
gboolean ph_store_is_pg(const ph_store *s);
/* A number that changes whenever the store changed (SQLite's
 * data_version: another connection committed; PostgreSQL: any commit),
 * or -1 on a read error. */
gint64 ph_store_data_version(ph_store *s);
/* Borrowed path of the home directory. */
const char *ph_store_get_home(const ph_store *s);

/* The SQLite handle, for modules that keep their own tables in the store
 * (ph_track).  Borrowed. */
ph_db *ph_store_get_db(ph_store *s);

/* Opens a write transaction if none is open (no-op otherwise). */
void ph_store_begin(ph_store *s);
/* Batch mode (on): the first write opens a transaction that stays open
 * until ph_store_commit(), so a writer that commits only now and then
 * never holds the write lock while it has nothing to write. */
void ph_store_batch(ph_store *s, gboolean on);
/* Seconds since the open transaction began, or -1 when none is open. */
double ph_store_pending_age(const ph_store *s);
/* Commits the open transaction, if any.  FALSE when it could not be
 * committed, or when any write since it began failed (the transaction is
 * then rolled back whole: nothing of it is recorded); error says why.
 * The store stays usable. */
gboolean ph_store_commit(ph_store *s, GError **error);

/* While another process holds the store's write lock, a write waits: up
 * to PIPEHOST_STORE_LOCK_WAIT seconds (default 60), then it fails (a
 * store failure, see below).  While it waits, hook(user) is called every
 * few milliseconds, so the caller keeps its own deadlines (the scheduler
 * stops tries past their execution_timeout).  hook may be NULL. */
void ph_store_set_wait_hook(ph_store *s, void (*hook)(void *user),
                            void *user);

/* Abandons the open transaction, if any: nothing of it is recorded. */
void ph_store_rollback(ph_store *s);

/* Every failure of the store is kept: a write that fails (disk full, I/O
 * error, a damaged file), a read that fails (a damaged page), a statement
 * that cannot be prepared (a damaged schema).  A failed read returns no
 * rows, so callers must check here before they trust an empty answer. */
/* The first failure of this store since it was opened (borrowed), or NULL
 * when there was none. */
const char *ph_store_get_error(const ph_store *s);
/* The first failure of any store in this process (borrowed), or NULL: the
 * CLI exits 2 with it. */
const char *ph_store_process_error(void);
/* sqlite3_step for modules with their own statements on the store's
 * handle (ph_track, ph_scheduler): a failure is kept as above, and fails
 * the open transaction. */
int ph_store_step(ph_store *s, ph_db_stmt *st);

/* ---- runs */
/* Creates a run in state "running", driven by this process.  1 when
 * created, 0 when run_id exists, -1 when the store failed (see
 * ph_store_get_error). */
int ph_store_run_create(ph_store *s, const char *run_id, const char *dag_id,
                        const char *dag_file, const char *logical_date,
                        const char *conf_json, const char *run_type);
void ph_store_run_set_state(ph_store *s, const char *run_id,
                            const char *state);
/* Records which pipehost process drives the run now (pid) and the
 * launcher that stops its tries if it dies (launcher_pid, 0: none), each
 * with its identity (ph_proc). */
void ph_store_run_set_host(ph_store *s, const char *run_id, int pid,
                           int launcher_pid);
/* The processes recorded as driving a run; identities are "" when
 * unknown. */
typedef struct ph_store_host {
  int pid;
  char proc[64];
  int launcher_pid;
  char launcher_proc[64];
  double heartbeat; /* wall time the host last said it drives the run */
} ph_store_host;
/* Records that this process drives run_id now (its heartbeat). */
void ph_store_run_heartbeat(ph_store *s, const char *run_id);
/* Seconds without a heartbeat after which another machine's host counts
 * as dead: PIPEHOST_HEARTBEAT_TIMEOUT, default 30. */
double ph_store_heartbeat_timeout(void);
/* Whether the process pid with identity proc lives: looked at when it is
 * of this machine (ph_proc_alive), else judged by heartbeat (the wall
 * time its run's host last beat). */
gboolean ph_store_holder_alive(int pid, const char *proc, double heartbeat);
/* Fills *out for run_id; FALSE when the run is unknown. */
gboolean ph_store_run_host(ph_store *s, const char *run_id,
                           ph_store_host *out);
/* The full id for what a user typed: an exact run id, "last" (the newest
 * run) or a unique prefix.  NULL if none or ambiguous (error says which). */
char *ph_store_run_resolve(ph_store *s, const char *text, GError **error);
/* JSON array of runs, newest first: {run_id, dag_id, state, logical_date,
 * start_date, end_date}.  limit <= 0: all. */
JsonNode *ph_store_runs_list(ph_store *s, int limit);
/* JSON object of one run with "tasks": [{task_id, map_index, state,
 * try_number, max_tries, operator, start_date, end_date, pid, reason}]
 * (the instances of a mapped task together, by map_index) and "tries":
 * [{task_id, map_index, try_number, ...}]; NULL if unknown. */
JsonNode *ph_store_run_show(ph_store *s, const char *run_id);

/* ---- task instances and tries
 *
 * A task instance is (run_id, task_id, map_index), as in Airflow:
 * map_index is -1 for a task that is not mapped, 0..n-1 for the
 * instances of a mapped one (dynamic task mapping). */

/* "task_id" for map_index -1, else "task_id[map_index]" (how the CLI
 * names an instance); caller frees. */
char *ph_store_ti_name(const char *task_id, int map_index);

/* Where the try runs when not in a local worker: the executor's name
 * ("slurm") and the id it knows the try by (the job id). */
void ph_store_try_set_executor(ph_store *s, const char *run_id,
                               const char *task_id, int map_index,
                               int try_number, const char *executor,
                               const char *executor_id);
/* The try's executor name (caller frees) and *executor_id (caller frees),
 * or NULL (and *executor_id NULL) for a local try or no such try. */
char *ph_store_try_executor(ph_store *s, const char *run_id,
                            const char *task_id, int map_index, int try_number,
                            char **executor_id);
/* The try's templated params as rendered (JSON object text, secrets
 * masked), for the webserver's task instance page. */
void ph_store_try_set_rendered(ph_store *s, const char *run_id,
                               const char *task_id, int map_index,
                               int try_number, const char *json);
/* Records the pid of a try's worker learnt after the try started. */
void ph_store_try_set_pid(ph_store *s, const char *run_id, const char *task_id,
                          int map_index, int try_number, int pid);
void ph_store_ti_create(ph_store *s, const char *run_id, const char *task_id,
                        int map_index, const char *op, int max_tries);
/* Expands a mapped task: its unmapped instance (map_index -1) is replaced
 * by n instances, map_index 0..n-1, in state none. */
void ph_store_ti_expand(ph_store *s, const char *run_id, const char *task_id,
                        const char *op, int max_tries, int n);
/* Forgets the tries of a cleared task instance (its logs are kept aside
 * under other names by `pipehost clear`): its next try is try 1 again. */
void ph_store_tries_clear(ph_store *s, const char *run_id, const char *task_id,
                          int map_index);
/* Undoes an expansion: the instances of a mapped task and their XComs
 * go, its unmapped instance comes back in state none (reason "cleared"),
 * to expand again when it runs; their tries go too (`pipehost clear`
 * keeps their logs aside under other names). */
void ph_store_ti_unmap(ph_store *s, const char *run_id, const char *task_id);
/* Updates a task instance: state, try number, and (when >= 0 / non-NULL)
 * start, end, pid and reason. */
void ph_store_ti_set(ph_store *s, const char *run_id, const char *task_id,
                     int map_index, const char *state, int try_number,
                     double start, double end, int pid, const char *reason);
/* Records a try's start: its process pid with identity proc (ph_proc;
 * may be NULL) and its log. */
void ph_store_try_start(ph_store *s, const char *run_id, const char *task_id,
                        int map_index, int try_number, double start, int pid,
                        const char *proc, const char *log_path);
/* Records the identity (ph_proc) of a try's process. */
void ph_store_try_set_proc(ph_store *s, const char *run_id,
                           const char *task_id, int map_index, int try_number,
                           const char *proc);
/* The pid recorded for a try (0: none) and, in *proc, its identity
 * (caller frees; NULL when unknown). */
int ph_store_try_proc(ph_store *s, const char *run_id, const char *task_id,
                      int map_index, int try_number, char **proc);
void ph_store_try_end(ph_store *s, const char *run_id, const char *task_id,
                      int map_index, int try_number, const char *state,
                      double end, int pid, const char *reason);
/* Log file of a try (try_number <= 0: the last try); NULL if none. */
char *ph_store_log_path(ph_store *s, const char *run_id, const char *task_id,
                        int map_index, int try_number);

/* ---- XCom */
void ph_store_xcom_set(ph_store *s, const char *run_id, const char *task_id,
                       int map_index, const char *key, const char *json);
/* JSON text, or NULL when absent, as xcom_pull sees it.  A NULL or empty
 * task_id means any task of the run (the newest such XCom), as Airflow's
 * xcom_pull with task_ids=None; key "*" means every key of the task, as
 * an object {key: value}.  For a mapped task the value is the array of
 * its instances' values in map_index order (instances that pushed none
 * are left out), as Airflow's xcom_pull of a mapped task. */
char *ph_store_xcom_get(ph_store *s, const char *run_id, const char *task_id,
                        const char *key);
/* The XCom key of one task instance (key "*": every key, as an object),
 * or NULL. */
char *ph_store_xcom_get_ti(ph_store *s, const char *run_id,
                           const char *task_id, int map_index,
                           const char *key);
void ph_store_xcom_clear(ph_store *s, const char *run_id, const char *task_id,
                         int map_index);
/* JSON object {instance: {key: value}} of a run; an instance is named as
 * ph_store_ti_name does. */
JsonNode *ph_store_xcom_list(ph_store *s, const char *run_id);

/* ---- the store's own facts (the meta table: schema_version, the
 * scheduler's heartbeat) */
void ph_store_meta_set(ph_store *s, const char *key, const char *value);
/* Caller frees; NULL when unset. */
char *ph_store_meta_get(ph_store *s, const char *key);

/* ---- variables */
void ph_store_var_set(ph_store *s, const char *key, const char *value);
char *ph_store_var_get(ph_store *s, const char *key);
/* A variable as tasks see it: $PIPEHOST_VAR_<KEY upper-cased> when set
 * (Airflow reads AIRFLOW_VAR_<KEY.upper()>), else the stored one, else
 * NULL.  s may be NULL (environment only).  Caller frees. */
char *ph_store_var_lookup(ph_store *s, const char *key);
gboolean ph_store_var_delete(ph_store *s, const char *key);
/* JSON object {key: value}. */
JsonNode *ph_store_var_list(ph_store *s);

/* ---- connections (stored as URIs; see ph_store_conn_json) */
void ph_store_conn_set(ph_store *s, const char *conn_id, const char *uri);
/* The URI of conn_id, or NULL. */
char *ph_store_conn_get(ph_store *s, const char *conn_id);
gboolean ph_store_conn_delete(ph_store *s, const char *conn_id);
/* JSON object {conn_id: uri}. */
JsonNode *ph_store_conn_list(ph_store *s);

/* Parses a connection URI ("postgresql://user:pass@host:5432/db?k=v")
 * into the JSON object plugins receive: {conn_id, conn_type, host, port,
 * login, password, schema, extra: {k: v}, uri}.  NULL with error set when
 * it is not a URI. */
JsonNode *ph_store_conn_json(const char *conn_id, const char *uri,
                             GError **error);

/* The DAG id of a run (caller frees), or NULL when the run is unknown. */
char *ph_store_run_dag(ph_store *s, const char *run_id);
/* A run's state (caller frees), or NULL when the run is unknown. */
char *ph_store_run_state(ph_store *s, const char *run_id);

/* ---- pools: named slot limits (pipehost pools) */
void ph_store_pool_set(ph_store *s, const char *name, int slots);
/* A pool's slots, or -1 when it is not defined. */
int ph_store_pool_get(ph_store *s, const char *name);
gboolean ph_store_pool_delete(ph_store *s, const char *name);
/* JSON object name -> slots. */
JsonNode *ph_store_pool_list(ph_store *s);
/* Takes `slots` of pool (limit slots in all) for a task of a run, counted
 * across every process using the store; slots of processes that died are
 * freed first.  FALSE when they are not free.  Call inside a write
 * transaction, so that two processes cannot take the last slot both. */
gboolean ph_store_pool_take(ph_store *s, const char *pool, int limit,
                            const char *run_id, const char *task_id,
                            int map_index, int slots);
void ph_store_pool_release(ph_store *s, const char *run_id,
                           const char *task_id, int map_index);

/* The latest successful run of dag_id with a logical date before
 * logical_date: its logical date and start time (UNIX seconds) in *ld and
 * *start; both -1 when there is none. */
void ph_store_prev_success(ph_store *s, const char *dag_id,
                           const char *logical_date, double *ld,
                           double *start);

/* depends_on_past: the state of task_id in the DAG's latest run with an
 * earlier logical date (caller frees), or NULL when there is none. */
char *ph_store_prev_ti_state(ph_store *s, const char *dag_id,
                             const char *logical_date, const char *task_id);

#endif
