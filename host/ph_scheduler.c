/* ph_scheduler -- see ph_scheduler.h. */
#include "ph_scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>

#include "ph_dag.h"
#include "ph_dataset.h"
#include "ph_plan.h"
#include "ph_registry.h"
#include "ph_store.h"
#include "ph_timetable.h"
#include "ph_dataset.h"
#include "ph_proc.h"
#include "ph_util.h"

extern char **environ;

static volatile sig_atomic_t g_stop;

static void on_stop(int sig) {
  (void)sig;
  g_stop++;
}

/* One structured log line on stderr: time, level, event, then key=value
 * pairs (values with spaces are quoted). */
static void slog(const char *level, const char *event, ...) {
  g_autofree char *ts = ph_util_iso8601(ph_util_now());
  GString *line = g_string_new(NULL);
  g_string_printf(line, "%s level=%s event=%s", ts, level, event);
  va_list ap;
  va_start(ap, event);
  const char *k;
  while ((k = va_arg(ap, const char *))) {
    const char *v = va_arg(ap, const char *);
    if (!v)
      v = "";
    if (strpbrk(v, " \"=") || !*v) {
      g_autofree char *q = g_strescape(v, NULL);
      g_string_append_printf(line, " %s=\"%s\"", k, q);
    } else {
      g_string_append_printf(line, " %s=%s", k, v);
    }
  }
  va_end(ap);
  fprintf(stderr, "%s\n", line->str);
  fflush(stderr);
  g_string_free(line, TRUE);
}

static char *iso(gint64 t) { return ph_util_iso8601((double)t); }

/* ---- children: one process per DAG run */

typedef struct {
  char *dag_id, *run_id;
} child;

static void child_free(gpointer p) {
  child *c = p;
  g_free(c->dag_id);
  g_free(c->run_id);
  g_free(c);
}

/* Starts `exe ARGS...` in its own process group with stdout and stderr
 * appended to log.  Returns the pid, or -1. */
/* Opens a run's scheduler log (appended; its directory made): the fd,
 * or -1. */
static int open_run_log(const char *log) {
  g_autofree char *dir = g_path_get_dirname(log);
  g_mkdir_with_parents(dir, 0700);
  return open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static GPid spawn(const char *exe, GPtrArray *args, const char *log) {
  int fd = open_run_log(log);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawnattr_setpgroup(&at, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (fd >= 0) {
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
  }
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer)exe);
  for (guint i = 0; i < args->len; i++)
    g_ptr_array_add(argv, args->pdata[i]);
  g_ptr_array_add(argv, NULL);
  pid_t pid;
  int rc = posix_spawn(&pid, exe, &fa, &at, (char **)argv->pdata, environ);
  g_ptr_array_free(argv, TRUE);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (fd >= 0)
    close(fd);
  return rc == 0 ? pid : -1;
}

/* A DAG file loading in a child (see parse_start). */
typedef struct parse_job {
  char *path, *hash;
  pid_t pid;
  int fd;
  GString *out;
  double deadline;
  gboolean exited;
  int status;
} parse_job;

typedef struct {
  const ph_scheduler_env *env;
  ph_store *st;
  char *home;
  GHashTable *children; /* pid -> child */
  int parallelism;      /* -j for each run, 0 = the DAG's max_active_tasks */
  GHashTable *parsing;  /* pid -> parse_job: DAG files loading in a child */
  int max_runs;         /* runs at once across every DAG (0: no limit) */
  GHashTable *idents;   /* path -> stat identity of the content hashed */
  guint64 scans;        /* folder scans after the first, their time in all */
  double scan_secs;
  double scan_first;    /* the first scan's time (it loads every file) */
  gboolean preloaded;   /* env->preload has run */
} sctx;

static gboolean run_exists(sctx *c, const char *run_id) {
  JsonNode *r = ph_store_run_show(c->st, run_id);
  if (r)
    json_node_unref(r);
  return r != NULL;
}

static char *run_log(sctx *c, const char *run_id) {
  return g_build_filename(c->home, "logs", "scheduler", run_id, NULL);
}

/* Starts `pipehost run ARGS` as a fork of this process (its own process
 * group, stdout and stderr appended to log), where env->run_main runs it:
 * no program start, and what env->preload loaded (the plugin registry)
 * is already there.  Returns the pid, or -1. */
static GPid fork_run(sctx *c, GPtrArray *args, const char *log) {
  if (!c->preloaded && c->env->preload) {
    c->env->preload();
    c->preloaded = TRUE;
  }
  fflush(NULL);
  GError *err = NULL;
  pid_t pid = ph_store_fork(c->st, &err);
  if (pid < 0 && err) { /* the store is busy here: start the run anew */
    g_clear_error(&err);
    return spawn(c->env->exe, args, log);
  }
  if (pid == 0) {
    int fd = open_run_log(log);
    setpgid(0, 0);
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGINT, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0 && nul != 0) {
      dup2(nul, 0);
      close(nul);
    }
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    GPtrArray *argv = g_ptr_array_new();
    for (guint i = 0; i < args->len; i++)
      g_ptr_array_add(argv, args->pdata[i]);
    g_ptr_array_add(argv, NULL);
    int rc = c->env->run_main((int)argv->len - 1, (char **)argv->pdata);
    fflush(NULL);
    _exit(rc);
  }
  return pid;
}

static GPid start_run(sctx *c, const char *file, const char *dag_id,
                      const char *run_id, const ph_interval *iv,
                      const char *run_type, int tasks, const char *conf,
                      gboolean wait) {
  GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(a, g_strdup("run"));
  g_ptr_array_add(a, g_strdup(file));
  g_ptr_array_add(a, g_strdup("--quiet"));
  g_ptr_array_add(a, g_strdup("--run-id"));
  g_ptr_array_add(a, g_strdup(run_id));
  g_ptr_array_add(a, g_strdup("--run-type"));
  g_ptr_array_add(a, g_strdup(run_type));
  if (iv) {
    g_ptr_array_add(a, g_strdup("--date"));
    g_ptr_array_add(a, iso(iv->start));
    g_ptr_array_add(a, g_strdup("--interval-end"));
    g_ptr_array_add(a, iso(iv->end));
  }
  if (conf) {
    g_ptr_array_add(a, g_strdup("--conf"));
    g_ptr_array_add(a, g_strdup(conf));
  }
  if (tasks > 0) {
    g_ptr_array_add(a, g_strdup("-j"));
    g_ptr_array_add(a, g_strdup_printf("%d", tasks));
  }
  g_autofree char *log = run_log(c, run_id);
  GPid pid = c->env->run_main ? fork_run(c, a, log) : spawn(c->env->exe, a, log);
  g_ptr_array_unref(a);
  if (pid > 0 && wait) {
    /* wait (briefly) until the run is in the store, so that runs appear in
     * the order they were started: depends_on_past looks for the previous
     * run there */
    for (int i = 0; i < 5000 && !run_exists(c, run_id); i++) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      g_usleep(1000);
    }
  }
  if (pid > 0) {
    child *ch = g_new0(child, 1);
    ch->dag_id = g_strdup(dag_id);
    ch->run_id = g_strdup(run_id);
    g_hash_table_insert(c->children, GINT_TO_POINTER(pid), ch);
    g_autofree char *ps = g_strdup_printf("%d", pid);
    slog("info", "run_started", "dag", dag_id, "run", run_id, "type", run_type,
         "pid", ps, "log", log, NULL);
  } else {
    slog("error", "run_start_failed", "dag", dag_id, "run", run_id, "error",
         pid == -1 && wait ? "the run ended before it was recorded; see its "
                             "log"
                           : g_strerror(errno),
         "log", log, NULL);
  }
  return pid;
}

static char *run_state(sctx *c, const char *run_id) {
  JsonNode *r = ph_store_run_show(c->st, run_id);
  char *s = r ? g_strdup(json_object_get_string_member_with_default(
                    json_node_get_object(r), "state", "?"))
              : NULL;
  if (r)
    json_node_unref(r);
  return s;
}

/* Reaps finished runs; blocks for one when block.  Returns how many. */
static int reap(sctx *c, gboolean block) {
  int n = 0, status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, block && n == 0 ? 0 : WNOHANG)) > 0) {
    parse_job *pj = c->parsing
                        ? g_hash_table_lookup(c->parsing, GINT_TO_POINTER(pid))
                        : NULL;
    if (pj) {
      pj->exited = TRUE;
      pj->status = status;
      continue;
    }
    child *ch = g_hash_table_lookup(c->children, GINT_TO_POINTER(pid));
    if (!ch)
      continue;
    g_autofree char *state = run_state(c, ch->run_id);
    g_autofree char *rc = g_strdup_printf(
        "%d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    slog(state && !strcmp(state, "success") ? "info" : "warning",
         "run_finished", "dag", ch->dag_id, "run", ch->run_id, "state",
         state ? state : "unknown", "exit", rc, NULL);
    g_hash_table_remove(c->children, GINT_TO_POINTER(pid));
    n++;
  }
  return n;
}

static int children_of(sctx *c, const char *dag_id) {
  int n = 0;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, c->children);
  while (g_hash_table_iter_next(&it, &k, &v))
    n += !strcmp(((child *)v)->dag_id, dag_id);
  return n;
}

static gboolean is_child_run(sctx *c, const char *run_id) {
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, c->children);
  while (g_hash_table_iter_next(&it, &k, &v))
    if (!strcmp(((child *)v)->run_id, run_id))
      return TRUE;
  return FALSE;
}

/* Runs of dag_id in state running: alive ones not ours count as active;
 * dead ones (their process was killed) are resumed when resume is set. */
static int orphans(sctx *c, const char *dag_id, gboolean resume, int limit) {
  int alive = 0;
  ph_db_stmt *q = NULL;
  q = ph_db_prepare(ph_store_get_db(c->st),
                    "SELECT run_id, host_pid, dag_file, host_proc, heartbeat "
                    "FROM dag_run WHERE "
                    "dag_id=? AND state='running' ORDER BY logical_date");
  if (!q)
    return 0;
  ph_db_bind_text(q, 1, dag_id);
  GPtrArray *dead = g_ptr_array_new_with_free_func(g_free);
  while (ph_store_step(c->st, q) == PH_DB_ROW) {
    const char *rid = ph_db_column_text(q, 0);
    int pid = (int)ph_db_column_int64(q, 1);
    const char *proc = ph_db_column_text(q, 3);
    if (is_child_run(c, rid))
      continue;
    /* another machine's host (a store shared by several): alive while it
     * beats */
    if (ph_store_holder_alive(pid, proc, ph_db_column_double(q, 4)) &&
        (pid != getpid() || !ph_proc_is_local(proc)))
      alive++;
    else
      g_ptr_array_add(dead, g_strdup(rid));
  }
  ph_db_finalize(q);
  for (guint i = 0;
       resume && i < dead->len && alive + children_of(c, dag_id) < limit; i++) {
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(a, g_strdup("resume"));
    g_ptr_array_add(a, g_strdup(dead->pdata[i]));
    g_ptr_array_add(a, g_strdup("--quiet"));
    g_autofree char *log = run_log(c, dead->pdata[i]);
    GPid pid = spawn(c->env->exe, a, log);
    g_ptr_array_unref(a);
    if (pid > 0) {
      child *ch = g_new0(child, 1);
      ch->dag_id = g_strdup(dag_id);
      ch->run_id = g_strdup(dead->pdata[i]);
      g_hash_table_insert(c->children, GINT_TO_POINTER(pid), ch);
      slog("info", "run_resumed", "dag", dag_id, "run", ch->run_id, "reason",
           "its process had died", NULL);
    }
  }
  g_ptr_array_unref(dead);
  return alive;
}

/* ---- DAG files */

typedef struct {
  char *file, *hash, *dag_id;
  ph_timetable *tt;
  int max_runs, max_tasks;
  gboolean valid;
  JsonArray *datasets; /* schedule: {datasets: [...]}: its URIs, or NULL */
  JsonObject *refs;    /* what it declares about datasets (ph_dataset_refs),
                          until recorded in the store */
} dagent;

static void dagent_free(gpointer p) {
  dagent *d = p;
  g_free(d->file);
  g_free(d->hash);
  g_free(d->dag_id);
  ph_timetable_free(d->tt);
  if (d->datasets)
    json_array_unref(d->datasets);
  if (d->refs)
    json_object_unref(d->refs);
  g_free(d);
}

static int int_arg(JsonObject *args, const char *key, int dflt) {
  JsonNode *n = json_object_get_member(args, key);
  if (n && JSON_NODE_HOLDS_VALUE(n) &&
      json_node_get_value_type(n) == G_TYPE_INT64 && json_node_get_int(n) > 0)
    return (int)json_node_get_int(n);
  return dflt;
}

/* Fills d from a DAG's args (valid when its timetable is). */
static void fill_dag(dagent *d, const char *file, const char *dag_id,
                     JsonObject *args, char **why) {
  GError *err = NULL;
  d->tt = ph_timetable_new(args, &err);
  if (!d->tt) {
    *why = g_strdup_printf("%s: %s", file, err->message);
    g_clear_error(&err);
    return;
  }
  d->dag_id = g_strdup(dag_id);
  d->datasets = ph_dataset_schedule(args);
  if (!json_array_get_length(d->datasets))
    g_clear_pointer(&d->datasets, json_array_unref);
  d->max_runs = int_arg(args, "max_active_runs", 16);
  d->max_tasks = int_arg(args, "max_active_tasks", 16);
  d->valid = TRUE;
}

/* Loads and validates file: the JSON text {dag_id, args} when valid, or
 * {error}.  Caller frees. */
static char *dag_summary(const ph_scheduler_env *env, const char *file) {
  GError *err = NULL;
  ph_registry *reg = ph_registry_new();
  ph_registry_scan_default(reg, NULL, env->builtin_dir);
  ph_dag *dag = ph_dag_load(file, env->lua_dir, &err);
  GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
  ph_plan *plan = dag ? ph_plan_build(dag, reg, errors) : NULL;
  JsonObject *o = json_object_new();
  if (!dag) {
    json_object_set_string_member(o, "error",
                                  err ? err->message : "cannot load");
  } else if (!plan) {
    json_object_set_string_member(o, "error",
                                  errors->len ? errors->pdata[0] : "invalid");
  } else {
    json_object_set_string_member(o, "dag_id", ph_plan_get_dag_id(plan));
    json_object_set_object_member(o, "args",
                                  json_object_ref(ph_dag_get_args(dag)));
    json_object_set_object_member(o, "datasets", ph_dataset_refs(plan));
  }
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, o);
  char *text = ph_util_json_dup(n);
  json_node_unref(n);
  g_clear_error(&err);
  ph_plan_free(plan);
  ph_dag_free(dag);
  g_ptr_array_unref(errors);
  ph_registry_free(reg);
  return text;
}

/* Fills d (valid or not) from a dag_summary text; *why gets the error. */
static void fill_from_summary(dagent *d, const char *file, const char *text,
                              char **why) {
  JsonNode *n = text ? json_from_string(text, NULL) : NULL;
  JsonObject *o =
      n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
  d->valid = FALSE;
  if (!o)
    *why = g_strdup_printf("%s: loading it ended without a result", file);
  else if (json_object_has_member(o, "error"))
    *why = g_strdup(json_object_get_string_member(o, "error"));
  else
    fill_dag(d, file, json_object_get_string_member(o, "dag_id"),
             json_object_get_object_member(o, "args"), why);
  if (d->valid && json_object_has_member(o, "datasets"))
    d->refs = json_object_ref(json_object_get_object_member(o, "datasets"));
  if (n)
    json_node_unref(n);
}

/* Loads and validates file in this process; fills d (valid or not).  *why
 * gets the first error. */
static void load_dag(const ph_scheduler_env *env, const char *file, dagent *d,
                     char **why) {
  g_autofree char *text = dag_summary(env, file);
  fill_from_summary(d, file, text, why);
}

/* Puts the entry of DAG file path (content hash) in dags and logs it:
 * from summary (a dag_summary text), or invalid for why (taken) when
 * summary is NULL. */
static void dag_put(GHashTable *dags, const char *path, const char *hash,
                    const char *summary, char *why) {
  dagent *e = g_new0(dagent, 1);
  e->file = g_strdup(path);
  e->hash = g_strdup(hash);
  if (summary)
    fill_from_summary(e, path, summary, &why);
  gboolean had = g_hash_table_contains(dags, path);
  if (e->valid)
    slog("info", had ? "dag_changed" : "dag_loaded", "dag", e->dag_id, "file",
         path, "schedule",
         e->datasets                  ? "datasets"
         : ph_timetable_is_manual(e->tt) ? "manual"
                                         : "timetable",
         NULL);
  else
    slog("error", "dag_invalid", "file", path, "error", why, NULL);
  g_hash_table_replace(dags, g_strdup(path), e);
  g_free(why);
}

/* ---- DAG files load in a child: loading runs the file's code, and a
 * file that hangs in a C call (os.execute, a backtracking pattern) must
 * not stop the scheduler.  A file still loading keeps its previous
 * version in effect. */

static void parse_job_free(gpointer p) {
  parse_job *j = p;
  if (j->fd >= 0)
    close(j->fd);
  if (!j->exited && j->pid > 0) {
    kill(j->pid, SIGKILL);
    waitpid(j->pid, NULL, 0);
  }
  g_free(j->path);
  g_free(j->hash);
  g_string_free(j->out, TRUE);
  g_free(j);
}

/* Starts loading path (content hash) in a child; FALSE if it could not. */
static gboolean parse_start(sctx *c, const char *path, const char *hash) {
  int fd;
  pid_t pid = ph_proc_fork_pipe(&fd);
  if (pid < 0)
    return FALSE;
  if (pid == 0) {
    g_autofree char *text = dag_summary(c->env, path);
    ph_proc_write_all(fd, text, strlen(text));
    _exit(0);
  }
  g_unix_set_fd_nonblocking(fd, TRUE, NULL);
  parse_job *j = g_new0(parse_job, 1);
  j->path = g_strdup(path);
  j->hash = g_strdup(hash);
  j->pid = pid;
  j->fd = fd;
  j->out = g_string_new(NULL);
  /* the loader's own limit is 10 s (its wall clock ends the child at 15) */
  j->deadline = ph_util_mono() + 30;
  g_hash_table_insert(c->parsing, GINT_TO_POINTER(pid), j);
  return TRUE;
}

/* The parse job loading path, or NULL. */
static parse_job *parse_find(sctx *c, const char *path) {
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, c->parsing);
  while (g_hash_table_iter_next(&it, NULL, &v))
    if (!strcmp(((parse_job *)v)->path, path))
      return v;
  return NULL;
}

/* Collects what finished loading (or ran out of time) into dags. */
static void parse_collect(sctx *c, GHashTable *dags) {
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, c->parsing);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    parse_job *j = v;
    char buf[4096];
    ssize_t r;
    while (j->fd >= 0 && (r = read(j->fd, buf, sizeof buf)) != 0) {
      if (r < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN)
          break;
        r = 0;
      }
      if (r <= 0)
        break;
      g_string_append_len(j->out, buf, r);
    }
    if (!j->exited && waitpid(j->pid, &j->status, WNOHANG) == j->pid)
      j->exited = TRUE;
    gboolean late = !j->exited && ph_util_mono() > j->deadline;
    if (!j->exited && !late)
      continue;
    if (late)
      dag_put(dags, j->path, j->hash, NULL,
              g_strdup_printf("%s: loading it took over 30 s (a DAG file "
                              "runs its code when loaded); it is skipped "
                              "until it changes",
                              j->path));
    else if (WIFEXITED(j->status) && WEXITSTATUS(j->status) == 0)
      dag_put(dags, j->path, j->hash, j->out->str, NULL);
    else
      dag_put(dags, j->path, j->hash, NULL,
              g_strdup_printf("%s: loading it ended the loading process (%s "
                              "%d); it is skipped until it changes",
                              j->path,
                              WIFSIGNALED(j->status) ? "signal" : "exit code",
                              WIFSIGNALED(j->status) ? WTERMSIG(j->status)
                                                     : WEXITSTATUS(j->status)));
    g_hash_table_iter_remove(&it); /* kills a late child */
  }
}

/* Waits until no DAG file is loading (each is bounded by its deadline). */
static void parse_wait(sctx *c, GHashTable *dags) {
  while (g_hash_table_size(c->parsing)) {
    parse_collect(c, dags);
    if (g_hash_table_size(c->parsing))
      g_usleep(5000);
  }
}

static char *file_hash(const char *path) {
  char *text = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &text, &len, NULL))
    return NULL;
  char *h = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)text, len);
  g_free(text);
  return h;
}

/* Picks up new, changed and removed DAG files of dir. */
static void scan(sctx *c, const char *dir, GHashTable *dags) {
  GDir *d = g_dir_open(dir, 0, NULL);
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  const char *name;
  while (d && (name = g_dir_read_name(d))) {
    if (!g_str_has_suffix(name, ".yaml") && !g_str_has_suffix(name, ".yml") &&
        !g_str_has_suffix(name, ".lua"))
      continue;
    g_autofree char *rel = g_build_filename(dir, name, NULL);
    char *path = g_canonicalize_filename(rel, NULL);
    g_hash_table_add(seen, path);
    dagent *old = g_hash_table_lookup(dags, path);
    /* content identity, read only when the file's identity (inode, size,
     * times) moved: a rescan of unchanged files is a stat each */
    struct stat sb;
    g_autofree char *ident =
        stat(path, &sb) == 0 ? ph_util_stat_identity(&sb) : NULL;
    const char *known = g_hash_table_lookup(c->idents, path);
    if (old && ident && known && !strcmp(known, ident))
      continue;
    g_autofree char *h = file_hash(path);
    if (h && ident)
      g_hash_table_replace(c->idents, g_strdup(path), g_strdup(ident));
    if (!h || (old && !strcmp(old->hash, h)))
      continue;
    parse_job *pj = parse_find(c, path);
    if (pj && !strcmp(pj->hash, h))
      continue; /* loading already */
    if (pj)
      g_hash_table_remove(c->parsing, GINT_TO_POINTER(pj->pid));
    if (!parse_start(c, path, h)) {
      /* no child to be had: load it here */
      g_autofree char *text = dag_summary(c->env, path);
      dag_put(dags, path, h, text, NULL);
    }
  }
  if (d)
    g_dir_close(d);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, dags);
  while (g_hash_table_iter_next(&it, &k, &v))
    if (!g_hash_table_contains(seen, k)) {
      slog("info", "dag_removed", "file", (char *)k, NULL);
      g_hash_table_remove(c->idents, k);
      g_hash_table_iter_remove(&it);
    }
  GHashTableIter si;
  gpointer sk;
  g_hash_table_iter_init(&si, seen);
  while (g_hash_table_iter_next(&si, &sk, NULL))
    g_free(sk);
  g_hash_table_destroy(seen);
}

static gint64 last_scheduled(sctx *c, const char *dag_id) {
  ph_db_stmt *q = NULL;
  gint64 t = G_MININT64;
  q = ph_db_prepare(ph_store_get_db(c->st),
                    "SELECT MAX(logical_date) FROM dag_run WHERE dag_id=? "
                    "AND run_type='scheduled'");
  if (!q)
    return t;
  ph_db_bind_text(q, 1, dag_id);
  if (ph_store_step(c->st, q) == PH_DB_ROW &&
      ph_db_column_type(q, 0) != PH_DB_NULL)
    ph_timetable_parse_time(ph_db_column_text(q, 0), NULL, &t);
  ph_db_finalize(q);
  return t;
}

/* Creates the runs that are due, up to max_active_runs per DAG and
 * max_runs in all.  In passes: each pass starts at most one run of each
 * DAG, all without waiting, then waits until every run it started is in
 * the store -- a DAG's runs appear in order (depends_on_past looks for
 * the previous one there) while the DAGs do not wait for each other. */
static int schedule_due(sctx *c, GHashTable *dags, GHashTable *spawned) {
  int n_started = 0;
  gint64 now = (gint64)ph_util_now();
  /* per DAG: the intervals due, and how many of its runs are active */
  typedef struct {
    dagent *d;
    GArray *due;
    guint next;
    int active;
  } plan;
  GArray *plans = g_array_new(FALSE, FALSE, sizeof(plan));
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, dags);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    dagent *d = v;
    if (!d->valid || ph_timetable_is_manual(d->tt))
      continue;
    plan p = {d, ph_timetable_due(d->tt, last_scheduled(c, d->dag_id), now),
              0, 0};
    if (!p.due->len) {
      g_array_free(p.due, TRUE);
      continue;
    }
    p.active = children_of(c, d->dag_id) + orphans(c, d->dag_id, FALSE, 0);
    g_array_append_val(plans, p);
  }
  GPtrArray *started = g_ptr_array_new_with_free_func(g_free);
  typedef struct {
    plan *p;
    ph_interval iv;
    char *run_id;
  } pick;
  for (gboolean more = TRUE; more;) {
    more = FALSE;
    g_ptr_array_set_size(started, 0);
    /* this pass's runs, one per DAG, all chosen before any starts: the
     * store's connection closes across each fork (ph_store_fork) and
     * reconnects at its next use, once per pass instead of once per run */
    GArray *picks = g_array_new(FALSE, FALSE, sizeof(pick));
    guint room = G_MAXUINT;
    if (c->max_runs)
      room = (guint)MAX(c->max_runs - (int)g_hash_table_size(c->children), 0);
    for (guint i = 0; i < plans->len && picks->len < room; i++) {
      plan *p = &g_array_index(plans, plan, i);
      while (p->next < p->due->len && p->active < p->d->max_runs) {
        ph_interval iv = g_array_index(p->due, ph_interval, p->next++);
        g_autofree char *start = iso(iv.start);
        /* run ids are unique across DAGs in the store: the DAG id is
         * part */
        char *run_id =
            g_strdup_printf("scheduled__%s__%s", p->d->dag_id, start);
        if (g_hash_table_contains(spawned, run_id) || run_exists(c, run_id)) {
          g_free(run_id);
          continue;
        }
        pick chosen = {p, iv, run_id};
        g_array_append_val(picks, chosen);
        break; /* this DAG's next run waits for the next pass */
      }
    }
    for (guint i = 0; i < picks->len; i++) {
      pick *pk = &g_array_index(picks, pick, i);
      if (start_run(c, pk->p->d->file, pk->p->d->dag_id, pk->run_id, &pk->iv,
                    "scheduled",
                    c->parallelism ? c->parallelism : pk->p->d->max_tasks,
                    NULL, FALSE) > 0) {
        g_hash_table_add(spawned, g_strdup(pk->run_id));
        g_ptr_array_add(started, pk->run_id);
        pk->p->active++;
        n_started++;
        more = TRUE;
      } else {
        g_free(pk->run_id);
      }
    }
    g_array_free(picks, TRUE);
    /* the runs of this pass in the store before the next pass */
    for (int i = 0; i < 5000 && started->len; i++) {
      reap(c, FALSE);
      for (guint j = started->len; j-- > 0;)
        /* (a run that died at once never shows) */
        if (run_exists(c, started->pdata[j]) ||
            !is_child_run(c, started->pdata[j]))
          g_ptr_array_remove_index_fast(started, j);
      if (started->len)
        g_usleep(1000);
    }
  }
  g_ptr_array_unref(started);
  for (guint i = 0; i < plans->len; i++)
    g_array_free(g_array_index(plans, plan, i).due, TRUE);
  g_array_free(plans, TRUE);
  return n_started;
}

/* Records in the store what newly loaded DAGs declare about datasets
 * (their outlets' freshness, readers, schedules). */
static void register_datasets(sctx *c, GHashTable *dags) {
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, dags);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    dagent *d = v;
    if (!d->refs)
      continue;
    ph_dataset_register(c->st, d->refs);
    g_clear_pointer(&d->refs, json_object_unref);
  }
}

/* When a DAG's dataset-triggered run last began (UNIX seconds), or 0. */
static double last_dataset_run(sctx *c, const char *dag_id) {
  ph_db_stmt *q = NULL;
  double t = 0;
  q = ph_db_prepare(ph_store_get_db(c->st),
                    "SELECT MAX(start_date) FROM dag_run WHERE dag_id=? AND "
                    "run_type='dataset_triggered'");
  if (!q)
    return t;
  ph_db_bind_text(q, 1, dag_id);
  if (ph_store_step(c->st, q) == PH_DB_ROW)
    t = ph_db_column_double(q, 0);
  ph_db_finalize(q);
  return t;
}

/* Starts a run of d now, of run_type (dataset_triggered, freshness):
 * TRUE when it started.  Waits until the run is in the store, so that the
 * next look sees it. */
static gboolean start_now(sctx *c, dagent *d, const char *run_type,
                          GHashTable *spawned) {
  gint64 now = (gint64)ph_util_now();
  g_autofree char *at = iso(now);
  char *run_id = g_strdup_printf("%s__%s__%s", run_type, d->dag_id, at);
  if (g_hash_table_contains(spawned, run_id) || run_exists(c, run_id)) {
    g_free(run_id);
    return FALSE;
  }
  ph_interval iv = {now, now};
  if (start_run(c, d->file, d->dag_id, run_id, &iv, run_type,
                c->parallelism ? c->parallelism : d->max_tasks, NULL,
                TRUE) <= 0) {
    g_free(run_id);
    return FALSE;
  }
  g_hash_table_add(spawned, run_id);
  return TRUE;
}

/* Data-aware scheduling: a DAG scheduled on datasets starts once every
 * one was updated since its last dataset-triggered run began (Airflow);
 * a dataset with auto: lazy starts its producer when it would otherwise
 * miss its freshness (ph_dataset_lazy_due), and only then. */
static int schedule_datasets(sctx *c, GHashTable *dags, GHashTable *spawned) {
  int n = 0;
  GHashTableIter it;
  gpointer v;
  GHashTable *by_id = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_iter_init(&it, dags);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    dagent *d = v;
    if (!d->valid)
      continue;
    g_hash_table_insert(by_id, d->dag_id, d);
    if (!d->datasets || (c->max_runs && (int)g_hash_table_size(c->children) >=
                                            c->max_runs))
      continue;
    if (children_of(c, d->dag_id) + orphans(c, d->dag_id, FALSE, 0) >=
        d->max_runs)
      continue;
    if (ph_dataset_ready(c->st, d->datasets,
                         last_dataset_run(c, d->dag_id)) &&
        start_now(c, d, "dataset_triggered", spawned))
      n++;
  }
  JsonNode *due = ph_dataset_lazy_due(c->st, ph_util_now());
  JsonArray *a = json_node_get_array(due);
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *e = json_array_get_object_element(a, i);
    dagent *d = g_hash_table_lookup(
        by_id, json_object_get_string_member(e, "dag_id"));
    if (!d || children_of(c, d->dag_id) ||
        (c->max_runs && (int)g_hash_table_size(c->children) >= c->max_runs))
      continue; /* its file is not in this scheduler's folder, or it runs */
    slog("info", "freshness", "dag", d->dag_id, "dataset",
         json_object_get_string_member(e, "uri"), "reason",
         json_object_get_string_member(e, "reason"), NULL);
    if (start_now(c, d, "freshness", spawned))
      n++;
  }
  json_node_unref(due);
  g_hash_table_unref(by_id);
  return n;
}

/* The last log line: what the scheduler cost (its own CPU and its runs'),
 * its peak memory, and its folder scans. */
static void log_stopped(sctx *c) {
  struct rusage self, kids;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kids);
  g_autofree char *cpu = g_strdup_printf(
      "%.3f", self.ru_utime.tv_sec + self.ru_stime.tv_sec +
                  (self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6);
  g_autofree char *kcpu = g_strdup_printf(
      "%.3f", kids.ru_utime.tv_sec + kids.ru_stime.tv_sec +
                  (kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) / 1e6);
  g_autofree char *rss = g_strdup_printf("%ld", self.ru_maxrss);
  g_autofree char *nscan = g_strdup_printf("%" G_GUINT64_FORMAT, c->scans);
  g_autofree char *scan_ms = g_strdup_printf(
      "%.3f", c->scans ? c->scan_secs * 1000 / c->scans : 0.0);
  g_autofree char *first_ms = g_strdup_printf("%.3f", c->scan_first * 1000);
  slog("info", "scheduler_stopped", "cpu_s", cpu, "runs_cpu_s", kcpu,
       "max_rss_kb", rss, "first_scan_ms", first_ms, "rescans", nscan,
       "rescan_ms", scan_ms, NULL);
}

static int cmd_scheduler(sctx *c, int argc, char **argv) {
  char *dir = NULL;
  double poll = 2;
  gboolean once = FALSE;
  c->max_runs = 32;
  GOptionEntry e[] = {
      {"dags-dir", 'D', 0, G_OPTION_ARG_FILENAME, &dir,
       "The folder of DAG files (.yaml, .yml, .lua)", "DIR"},
      {"poll", 0, 0, G_OPTION_ARG_DOUBLE, &poll,
       "Seconds between looks at the folder and the clock (default 2)", "S"},
      {"parallelism", 'j', 0, G_OPTION_ARG_INT, &c->parallelism,
       "Task tries at once in each run (default: the DAG's "
       "max_active_tasks, 16)",
       "N"},
      {"once", 0, 0, G_OPTION_ARG_NONE, &once,
       "Create the runs due now (as max_active_runs and --max-runs let, a "
       "slot refilled when a run ends), wait for them, exit",
       NULL},
      {"max-runs", 0, 0, G_OPTION_ARG_INT, &c->max_runs,
       "Runs at once across every DAG (default 32; 0: no limit beyond each "
       "DAG's max_active_runs)",
       "N"},
      {0}};
  GOptionContext *ctx =
      g_option_context_new("- run DAGs on their schedules until stopped");
  g_option_context_add_main_entries(ctx, e, NULL);
  g_option_context_set_summary(
      ctx, "Picks up new and changed DAG files at once, creates each run when "
           "its data interval ends (catchup, start_date, end_date, "
           "max_active_runs, max_active_tasks), resumes runs whose process "
           "died, and stops gracefully on SIGTERM: no new runs, the running "
           "ones finish (a second SIGTERM stops them; a later start resumes "
           "them).");
  GError *err = NULL;
  int rc = 2;
  GHashTable *dags = NULL, *spawned = NULL;
  char *pids = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &err) || !dir) {
    g_printerr("pipehost scheduler: %s\n",
               err ? err->message : "--dags-dir DIR is required");
    g_clear_error(&err);
    goto out;
  }
  if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    g_printerr("pipehost scheduler: %s is not a directory\n", dir);
    goto out;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  dags = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, dagent_free);
  spawned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  pids = g_strdup_printf("%d", getpid());
  slog("info", "scheduler_started", "dags_dir", dir, "pid", pids, NULL);
  gboolean stopping = FALSE;
  for (;;) {
    reap(c, FALSE);
    if (g_stop && !stopping) {
      stopping = TRUE;
      g_autofree char *n =
          g_strdup_printf("%u", g_hash_table_size(c->children));
      slog("info", "stopping", "running_runs", n, "hint",
           "a second SIGTERM stops them; a restart resumes them", NULL);
    }
    if (g_stop > 1 && g_hash_table_size(c->children)) {
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init(&it, c->children);
      while (g_hash_table_iter_next(&it, &k, &v))
        kill(-GPOINTER_TO_INT(k), SIGTERM);
      while (reap(c, TRUE) > 0 && g_hash_table_size(c->children))
        ;
    }
    if (stopping && g_hash_table_size(c->children) == 0)
      break;
    if (!stopping) {
      double t0 = ph_util_mono();
      gboolean first = c->scan_first == 0;
      scan(c, dir, dags);
      if (first) {
        c->scan_first = MAX(ph_util_mono() - t0, 1e-9);
      } else {
        c->scans++;
        c->scan_secs += ph_util_mono() - t0;
      }
      parse_collect(c, dags);
      if (once)
        parse_wait(c, dags);
      GHashTableIter it;
      gpointer k, v;
      g_hash_table_iter_init(&it, dags);
      while (g_hash_table_iter_next(&it, &k, &v))
        if (((dagent *)v)->valid)
          orphans(c, ((dagent *)v)->dag_id, TRUE, ((dagent *)v)->max_runs);
      register_datasets(c, dags);
      int n = schedule_due(c, dags, spawned);
      n += schedule_datasets(c, dags, spawned);
      /* the heartbeat the webserver's health and metrics report: when this
       * loop last ran and how long its work took (its lag behind --poll) */
      g_autofree char *beat = g_strdup_printf("%.3f", ph_util_now());
      g_autofree char *lag = g_strdup_printf("%.6f", ph_util_mono() - t0);
      ph_store_meta_set(c->st, "scheduler_heartbeat", beat);
      ph_store_meta_set(c->st, "scheduler_loop_seconds", lag);
      if (once && n == 0 && !g_hash_table_size(c->children)) {
        /* every run due has been started and has ended */
        stopping = TRUE;
        g_stop = 1;
        continue;
      }
      if (once) {
        /* more may be due than the limits let start: a slot frees when a
         * run ends */
        if (g_hash_table_size(c->children))
          reap(c, TRUE);
        continue;
      }
    }
    for (int i = 0; i < (int)(poll * 10) && !g_stop; i++) {
      g_usleep(100000);
      if (reap(c, FALSE))
        break;
    }
    if (once || stopping) {
      /* waiting for the last runs: block on them */
      if (g_hash_table_size(c->children))
        reap(c, TRUE);
    }
  }
  log_stopped(c);
  rc = 0;
out:
  if (dags)
    g_hash_table_destroy(dags);
  if (spawned)
    g_hash_table_destroy(spawned);
  g_free(pids);
  g_free(dir);
  g_option_context_free(ctx);
  return rc;
}

/* ---- backfill */

static int cmd_backfill(sctx *c, int argc, char **argv) {
  char *from = NULL, *to = NULL;
  int max_runs = 0;
  GOptionEntry e[] = {{"from", 0, 0, G_OPTION_ARG_STRING, &from,
                       "First logical date (ISO-8601, inclusive)", "DATE"},
                      {"to", 0, 0, G_OPTION_ARG_STRING, &to,
                       "Last logical date (ISO-8601, inclusive)", "DATE"},
                      {"max-active-runs", 0, 0, G_OPTION_ARG_INT, &max_runs,
                       "Runs at once (default: the DAG's max_active_runs)",
                       "N"},
                      {"parallelism", 'j', 0, G_OPTION_ARG_INT, &c->parallelism,
                       "Task tries at once in each run", "N"},
                      {0}};
  GOptionContext *ctx = g_option_context_new(
      "FILE - run the DAG's data intervals in a date range");
  g_option_context_add_main_entries(ctx, e, NULL);
  g_option_context_set_summary(
      ctx, "One run per data interval whose start lies in [--from, --to], "
           "run as a queue that keeps max_active_runs runs going (a slot "
           "refills the moment a run ends).  Intervals that already have a "
           "successful run are skipped.  Exit 0 when every run succeeded.");
  GError *err = NULL;
  int rc = 2;
  dagent d = {0};
  GArray *ivs = NULL;
  GPtrArray *results = g_ptr_array_new_with_free_func(g_free);
  gint64 f, t;
  char *file = NULL, *why = NULL, *nl = NULL, *ml = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 2 || !from ||
      !to) {
    g_printerr("pipehost backfill: %s\n",
               err ? err->message
                   : "usage: backfill FILE --from DATE --to DATE");
    g_clear_error(&err);
    goto out;
  }
  if (!ph_timetable_parse_time(from, NULL, &f) ||
      !ph_timetable_parse_time(to, NULL, &t)) {
    g_printerr("pipehost backfill: --from and --to must be ISO-8601 dates\n");
    goto out;
  }
  file = g_canonicalize_filename(argv[1], NULL);
  load_dag(c->env, file, &d, &why);
  if (!d.valid) {
    g_printerr("pipehost backfill: %s\n", why);
    goto out;
  }
  if (ph_timetable_is_manual(d.tt)) {
    g_printerr("pipehost backfill: DAG '%s' has no schedule, so no data "
               "intervals to backfill\n",
               d.dag_id);
    goto out;
  }
  rc = 1;
  ivs = ph_timetable_between(d.tt, f, t);
  int limit = max_runs > 0 ? max_runs : d.max_runs;
  guint next = 0, done = 0, failed = 0;
  nl = g_strdup_printf("%u", ivs->len);
  ml = g_strdup_printf("%d", limit);
  slog("info", "backfill_started", "dag", d.dag_id, "runs", nl,
       "max_active_runs", ml, NULL);
  GHashTable *by_pid = g_hash_table_new(g_direct_hash, g_direct_equal);
  while (next < ivs->len || g_hash_table_size(c->children)) {
    while (next < ivs->len && (int)g_hash_table_size(c->children) < limit &&
           !g_stop) {
      ph_interval iv = g_array_index(ivs, ph_interval, next++);
      g_autofree char *start = iso(iv.start);
      g_autofree char *run_id =
          g_strdup_printf("backfill__%s__%s", d.dag_id, start);
      g_autofree char *prev = run_state(c, run_id);
      if (prev && !strcmp(prev, "success")) {
        slog("info", "run_skipped", "run", run_id, "reason",
             "already succeeded", NULL);
        g_ptr_array_add(results,
                        g_strdup_printf("%-40s success (earlier)", run_id));
        done++;
        continue;
      }
      if (prev) {
        /* a failed earlier attempt: its id is taken, use a fresh one */
        g_free(run_id);
        run_id = g_strdup_printf("backfill__%s__%s_%04x", d.dag_id, start,
                                 g_random_int() & 0xffff);
      }
      start_run(c, file, d.dag_id, run_id, &iv, "backfill",
                c->parallelism ? c->parallelism : d.max_tasks, NULL, TRUE);
    }
    if (!g_hash_table_size(c->children))
      break;
    /* wait for one run to end, then refill its slot */
    GHashTable *before =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, c->children);
    while (g_hash_table_iter_next(&it, &k, &v))
      g_hash_table_add(before, g_strdup(((child *)v)->run_id));
    reap(c, TRUE);
    g_hash_table_iter_init(&it, before);
    while (g_hash_table_iter_next(&it, &k, &v)) {
      if (is_child_run(c, k))
        continue;
      g_autofree char *s = run_state(c, k);
      g_ptr_array_add(results,
                      g_strdup_printf("%-40s %s", (char *)k, s ? s : "?"));
      done++;
      failed += !s || strcmp(s, "success");
    }
    g_hash_table_destroy(before);
    if (g_stop)
      next = ivs->len;
  }
  g_hash_table_destroy(by_pid);
  g_ptr_array_sort(results, (GCompareFunc)g_strcmp0);
  printf("%-40s %s\n", "RUN", "STATE");
  for (guint i = 0; i < results->len; i++)
    printf("%s\n", (char *)results->pdata[i]);
  printf("%u run(s), %u failed\n", done, failed);
  rc = failed || done < ivs->len ? 1 : 0;
out:
  dagent_free(g_memdup2(&d, sizeof d));
  if (ivs)
    g_array_free(ivs, TRUE);
  g_ptr_array_unref(results);
  g_free(file);
  g_free(why);
  g_free(nl);
  g_free(ml);
  g_free(from);
  g_free(to);
  g_option_context_free(ctx);
  return rc;
}

/* ---- trigger */

/* The DAG file of target: a path, or the file of the newest run of a
 * DAG id. */
static char *dag_file_of(sctx *c, const char *target) {
  if (g_file_test(target, G_FILE_TEST_IS_REGULAR))
    return g_canonicalize_filename(target, NULL);
  ph_db_stmt *q = NULL;
  char *f = NULL;
  q = ph_db_prepare(ph_store_get_db(c->st),
                    "SELECT dag_file FROM dag_run WHERE dag_id=? ORDER BY "
                    "start_date DESC LIMIT 1");
  if (!q)
    return NULL;
  ph_db_bind_text(q, 1, target);
  if (ph_store_step(c->st, q) == PH_DB_ROW && ph_db_column_text(q, 0))
    f = g_strdup(ph_db_column_text(q, 0));
  ph_db_finalize(q);
  return f;
}

static int cmd_trigger(sctx *c, int argc, char **argv) {
  char *conf = NULL, *run_id = NULL;
  gboolean wait = FALSE;
  GOptionEntry e[] = {
      {"conf", 'c', 0, G_OPTION_ARG_STRING, &conf,
       "The run's conf, a JSON object ({{ dag_run.conf }})", "JSON"},
      {"run-id", 0, 0, G_OPTION_ARG_STRING, &run_id, "Use this run id", "ID"},
      {"wait", 'w', 0, G_OPTION_ARG_NONE, &wait,
       "Wait for the run to end; exit 0 when it succeeded", NULL},
      {0}};
  GOptionContext *ctx =
      g_option_context_new("FILE|DAG_ID - start a manual run now");
  g_option_context_add_main_entries(ctx, e, NULL);
  GError *err = NULL;
  int rc = 2;
  char *file = NULL, *now = NULL, *id = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 2) {
    g_printerr("pipehost trigger: %s\n",
               err ? err->message : "usage: trigger FILE|DAG_ID [--conf JSON]");
    g_clear_error(&err);
    goto out;
  }
  if (conf) {
    JsonNode *cn = json_from_string(conf, NULL);
    gboolean ok = cn && JSON_NODE_HOLDS_OBJECT(cn);
    if (cn)
      json_node_unref(cn);
    if (!ok) {
      g_printerr("pipehost trigger: --conf must be a JSON object\n");
      goto out;
    }
  }
  file = dag_file_of(c, argv[1]);
  if (!file) {
    g_printerr("pipehost trigger: '%s' is neither a DAG file nor a DAG id "
               "with earlier runs\n",
               argv[1]);
    goto out;
  }
  rc = 1;
  now = ph_util_iso8601(ph_util_now());
  id = run_id
           ? g_strdup(run_id)
           : g_strdup_printf("manual__%s_%04x", now, g_random_int() & 0xffff);
  GPid pid = start_run(c, file, argv[1], id, NULL, "manual", 0, conf, TRUE);
  if (pid <= 0)
    goto out;
  printf("%s\n", id);
  fflush(stdout);
  if (wait) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
    g_autofree char *st = run_state(c, id);
    g_printerr("pipehost trigger: run %s %s\n", id, st ? st : "unknown");
    rc = st && !strcmp(st, "success") ? 0 : 1;
  } else {
    rc = 0;
  }
out:
  g_free(file);
  g_free(now);
  g_free(id);
  g_free(conf);
  g_free(run_id);
  g_option_context_free(ctx);
  return rc;
}

/* ---- clear */

static int cmd_clear(sctx *c, int argc, char **argv) {
  char **tasks = NULL;
  gboolean downstream = FALSE, failed_only = FALSE, dry = FALSE, json = FALSE;
  GOptionEntry e[] = {{"task", 't', 0, G_OPTION_ARG_STRING_ARRAY, &tasks,
                       "Only this task (repeatable; default: every task)",
                       "TASK"},
                      {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry,
                       "Say what would be cleared, clear nothing", NULL},
                      {"json", 0, 0, G_OPTION_ARG_NONE, &json,
                       "Print {\"task_instances\": [...]} (Airflow's "
                       "clearTaskInstances reply)",
                       NULL},
                      {"downstream", 'd', 0, G_OPTION_ARG_NONE, &downstream,
                       "Also every task downstream of those", NULL},
                      {"failed-only", 'f', 0, G_OPTION_ARG_NONE, &failed_only,
                       "Only failed and upstream_failed tasks", NULL},
                      {0}};
  GOptionContext *ctx = g_option_context_new(
      "RUN - reset tasks of a run so that `pipehost resume RUN` reruns them");
  g_option_context_add_main_entries(ctx, e, NULL);
  GError *err = NULL;
  int rc = 2;
  char *rid = NULL;
  JsonNode *run = NULL;
  ph_registry *reg = NULL;
  ph_dag *dag = NULL;
  ph_plan *plan = NULL;
  GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
  gboolean *pick = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 2) {
    g_printerr("pipehost clear: %s\n",
               err ? err->message : "usage: clear RUN [--task T] ...");
    g_clear_error(&err);
    goto out;
  }
  rc = 1;
  rid = ph_store_run_resolve(c->st, argv[1], &err);
  if (!rid) {
    g_printerr("pipehost clear: %s\n", err->message);
    g_clear_error(&err);
    goto out;
  }
  run = ph_store_run_show(c->st, rid);
  JsonObject *ro = json_node_get_object(run);
  ph_store_host host;
  ph_store_run_host(c->st, rid, &host);
  if (!strcmp(json_object_get_string_member_with_default(ro, "state", ""),
              "running") &&
      ph_store_holder_alive(host.pid, host.proc, host.heartbeat)) {
    g_printerr("pipehost clear: run %s is still being run by process %d\n", rid,
               host.pid);
    goto out;
  }
  const char *file =
      json_object_get_string_member_with_default(ro, "dag_file", "");
  reg = ph_registry_new();
  ph_registry_scan_default(reg, NULL, c->env->builtin_dir);
  dag = ph_dag_load(file, c->env->lua_dir, &err);
  plan = dag ? ph_plan_build(dag, reg, errors) : NULL;
  if (!plan) {
    g_printerr("pipehost clear: %s\n", err           ? err->message
                                       : errors->len ? (char *)errors->pdata[0]
                                                     : "cannot load the DAG");
    g_clear_error(&err);
    goto out;
  }
  guint n = ph_plan_n_tasks(plan);
  pick = g_new0(gboolean, n);
  for (char **t = tasks; t && *t; t++) {
    int i = ph_plan_lookup(plan, *t);
    if (i < 0) {
      g_printerr("pipehost clear: DAG '%s' has no task '%s'\n",
                 ph_plan_get_dag_id(plan), *t);
      goto out;
    }
    pick[i] = TRUE;
  }
  if (!tasks)
    for (guint i = 0; i < n; i++)
      pick[i] = TRUE;
  if (downstream) {
    const guint *topo = ph_plan_topo_order(plan);
    for (guint k = 0; k < n; k++) {
      const ph_task_spec *t = ph_plan_get_task(plan, topo[k]);
      if (pick[topo[k]])
        for (guint j = 0; j < t->n_down; j++)
          pick[t->down[j]] = TRUE;
    }
  }
  JsonArray *tis = json_object_get_array_member(ro, "tasks");
  JsonArray *listed = json_array_new();
  guint cleared = 0;
  ph_store_begin(c->st);
  for (guint i = 0; i < json_array_get_length(tis); i++) {
    JsonObject *ti = json_array_get_object_element(tis, i);
    const char *tid = json_object_get_string_member(ti, "task_id");
    const char *state =
        json_object_get_string_member_with_default(ti, "state", "none");
    int idx = ph_plan_lookup(plan, tid);
    if (idx < 0 || !pick[idx])
      continue;
    if (failed_only && strcmp(state, "failed") &&
        strcmp(state, "upstream_failed"))
      continue;
    int tries =
        (int)json_object_get_int_member_with_default(ti, "try_number", 0);
    int mi = (int)json_object_get_int_member_with_default(ti, "map_index", -1);
    JsonObject *lo = json_object_new();
    json_object_set_string_member(lo, "task_id", tid);
    json_object_set_int_member(lo, "map_index", mi);
    json_object_set_string_member(lo, "dag_id", ph_plan_get_dag_id(plan));
    json_object_set_string_member(lo, "dag_run_id", rid);
    json_object_set_string_member(
        lo, "execution_date",
        json_object_get_string_member_with_default(ro, "logical_date", ""));
    json_array_add_object_element(listed, lo);
    cleared++;
    if (dry)
      continue;
    /* earlier tries' logs are kept under another name */
    g_autofree char *name = ph_store_ti_name(tid, mi);
    for (int k = 1; k <= tries; k++) {
      g_autofree char *log =
          g_strdup_printf("%s/logs/%s/%s/%s.%d.log", c->home,
                          ph_plan_get_dag_id(plan), rid, name, k);
      g_autofree char *kept =
          g_strdup_printf("%s.cleared-%.0f", log, ph_util_now());
      g_rename(log, kept);
    }
    if (mi >= 0) {
      /* a mapped task expands again from its (maybe new) input */
      ph_store_ti_unmap(c->st, rid, tid);
    } else {
      ph_store_ti_set(c->st, rid, tid, -1, "none", 0, -1.0, -1.0, 0,
                      "cleared");
      ph_store_xcom_clear(c->st, rid, tid, -1);
      ph_store_tries_clear(c->st, rid, tid, -1);
    }
  }
  if (cleared && !dry) {
    ph_store_run_set_state(c->st, rid, "running");
    ph_store_run_set_host(c->st, rid, 0, 0);
  }
  if (dry) {
    ph_store_rollback(c->st);
  } else if (!ph_store_commit(c->st, &err)) {
    g_printerr("pipehost clear: %s\n", err->message);
    g_clear_error(&err);
    json_array_unref(listed);
    goto out;
  }
  if (json) {
    JsonObject *o = json_object_new();
    json_object_set_array_member(o, "task_instances", listed);
    JsonNode *on = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(on, o);
    g_autofree char *txt = ph_util_json_dup(on);
    json_node_unref(on);
    printf("%s\n", txt);
  } else {
    json_array_unref(listed);
    printf("%s %u task instance(s) of %s%s\n",
           dry ? "would clear" : "cleared", cleared, rid,
           cleared && !dry ? "; run `pipehost resume` on it (a running "
                             "scheduler does so by itself)"
                           : "");
  }
  rc = 0;
out:
  g_free(pick);
  ph_plan_free(plan);
  ph_dag_free(dag);
  ph_registry_free(reg);
  g_ptr_array_unref(errors);
  if (run)
    json_node_unref(run);
  g_free(rid);
  g_strfreev(tasks);
  g_option_context_free(ctx);
  return rc;
}

/* ---- pools */

static int cmd_pools(sctx *c, int argc, char **argv) {
  const char *sub = argc >= 2 ? argv[1] : "";
  if (!strcmp(sub, "set") && argc == 4) {
    char *end = NULL;
    gint64 slots = g_ascii_strtoll(argv[3], &end, 10);
    if (!end || *end || slots < 1 || slots > G_MAXINT32) {
      g_printerr("pipehost pools set: SLOTS must be a positive number\n");
      return 2;
    }
    ph_store_begin(c->st);
    ph_store_pool_set(c->st, argv[2], (int)slots);
    ph_store_commit(c->st, NULL);
    printf("pool %s: %" G_GINT64_FORMAT " slot(s)\n", argv[2], slots);
    return 0;
  }
  if (!strcmp(sub, "delete") && argc == 3) {
    ph_store_begin(c->st);
    gboolean ok = ph_store_pool_delete(c->st, argv[2]);
    ph_store_commit(c->st, NULL);
    if (!ok)
      g_printerr("pipehost pools delete: no pool '%s'\n", argv[2]);
    return ok ? 0 : 1;
  }
  if (!strcmp(sub, "list") && argc == 2) {
    JsonNode *l = ph_store_pool_list(c->st);
    JsonObject *o = json_node_get_object(l);
    GList *ks = json_object_get_members(o);
    printf("%-24s %s\n", "POOL", "SLOTS");
    for (GList *k = ks; k; k = k->next)
      printf("%-24s %" G_GINT64_FORMAT "\n", (char *)k->data,
             json_object_get_int_member(o, k->data));
    g_list_free(ks);
    json_node_unref(l);
    return 0;
  }
  printf("Usage: pipehost pools set NAME SLOTS | list | delete NAME\n"
         "A task's `pool` and `pool_slots` take slots of a pool defined "
         "here while a try runs; a task in an undefined pool is not "
         "limited.\n");
  return !strcmp(sub, "--help") || !strcmp(sub, "-h") ? 0 : 2;
}

int ph_scheduler_cli(const ph_scheduler_env *env, int argc, char **argv) {
  sctx c = {0};
  c.env = env;
  c.home = ph_store_default_home();
  GError *err = NULL;
  int rc;
  c.st = ph_store_open(c.home, &err);
  if (!c.st) {
    g_printerr("pipehost: %s\n", err->message);
    g_error_free(err);
    g_free(c.home);
    return 1;
  }
  c.children =
      g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, child_free);
  c.parsing = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                    parse_job_free);
  c.idents = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  if (!strcmp(argv[0], "scheduler"))
    rc = cmd_scheduler(&c, argc, argv);
  else if (!strcmp(argv[0], "backfill"))
    rc = cmd_backfill(&c, argc, argv);
  else if (!strcmp(argv[0], "trigger"))
    rc = cmd_trigger(&c, argc, argv);
  else if (!strcmp(argv[0], "clear"))
    rc = cmd_clear(&c, argc, argv);
  else
    rc = cmd_pools(&c, argc, argv);
  g_hash_table_destroy(c.parsing);
  g_hash_table_destroy(c.idents);
  g_hash_table_destroy(c.children);
  ph_store_close(c.st);
  g_free(c.home);
  return rc;
}
