/* ph_slurm -- the Slurm executor (see ph_slurm.h). */
#include "ph_slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipehost/plugin.h"
#include "ph_proc.h"
#include "ph_store.h"
#include "ph_track.h"
#include "ph_util.h"

typedef struct {
  guint job;
  char *id;        /* the Slurm job id */
  char *result;    /* the result file the job writes as it ends */
  char *spec;      /* the spec file it reads (secrets: removed at its end) */
  char *state;     /* Slurm's last word on an ended job, or NULL */
  double ended_at; /* monotonic time Slurm first said it ended, or 0 */
} sl_job;

struct ph_slurm {
  char *exe, *home;
  ph_exec_callbacks cb;
  void *user;
  GPtrArray *jobs; /* sl_job* */
  double interval; /* seconds between two squeue calls */
  double next_query;
  gboolean warned; /* a failing squeue was reported */
};

/* How long an ended job's result file may take to show up (a network
 * file system's attribute cache) before the try counts as lost: a job
 * that completed wrote one; a cancelled or killed one most likely not. */
#define RESULT_GRACE_COMPLETED 5.0
#define RESULT_GRACE 1.0
/* How often result files are looked for while jobs run. */
#define FILE_INTERVAL 0.05

static void sl_job_free(sl_job *j) {
  g_free(j->id);
  g_free(j->result);
  g_free(j->spec);
  g_free(j->state);
  g_free(j);
}

ph_slurm *ph_slurm_new(const char *exe, const char *home,
                       const ph_exec_callbacks *cb, void *user) {
  ph_slurm *sl = g_new0(ph_slurm, 1);
  sl->exe = g_strdup(exe);
  sl->home = g_strdup(home);
  sl->cb = *cb;
  sl->user = user;
  sl->jobs = g_ptr_array_new_with_free_func((GDestroyNotify)sl_job_free);
  const char *iv = g_getenv("PIPEHOST_SLURM_POLL");
  sl->interval =
      iv && g_ascii_strtod(iv, NULL) > 0 ? g_ascii_strtod(iv, NULL) : 2.0;
  return sl;
}

void ph_slurm_free(ph_slurm *sl) {
  if (!sl)
    return;
  g_ptr_array_unref(sl->jobs);
  g_free(sl->exe);
  g_free(sl->home);
  g_free(sl);
}

static sl_job *find(const ph_slurm *sl, guint job) {
  for (guint i = 0; i < sl->jobs->len; i++) {
    sl_job *j = sl->jobs->pdata[i];
    if (j->job == job)
      return j;
  }
  return NULL;
}

const char *ph_slurm_get_id(const ph_slurm *sl, guint job) {
  sl_job *j = sl ? find(sl, job) : NULL;
  return j ? j->id : NULL;
}

guint ph_slurm_n_running(const ph_slurm *sl) { return sl ? sl->jobs->len : 0; }

static sl_job *add_job(ph_slurm *sl, guint job, const char *id,
                       const char *log_path) {
  sl_job *j = g_new0(sl_job, 1);
  j->job = job;
  j->id = g_strdup(id);
  j->result = g_strconcat(log_path, ".result", NULL);
  j->spec = g_strconcat(log_path, ".spec", NULL);
  g_ptr_array_add(sl->jobs, j);
  if (sl->jobs->len == 1)
    sl->next_query = ph_util_mono() + sl->interval;
  return j;
}

/* Writes text to path, readable by its owner only; FALSE with error. */
static gboolean write_private(const char *path, const char *text,
                              GError **error) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || !ph_proc_write_all(fd, text, strlen(text)) || fsync(fd) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s",
                path, g_strerror(errno));
    if (fd >= 0)
      close(fd);
    return FALSE;
  }
  return close(fd) == 0;
}

/* sbatch's option for a slurm option (opts member k), appended to av. */
static void add_opt(GPtrArray *av, JsonObject *opts, const char *k,
                    const char *flag) {
  JsonNode *v = opts ? json_object_get_member(opts, k) : NULL;
  if (!v || !JSON_NODE_HOLDS_VALUE(v))
    return;
  if (json_node_get_value_type(v) == G_TYPE_STRING)
    g_ptr_array_add(av,
                    g_strdup_printf("--%s=%s", flag, json_node_get_string(v)));
  else
    g_ptr_array_add(av, g_strdup_printf("--%s=%" G_GINT64_FORMAT, flag,
                                        json_node_get_int(v)));
}

/* The job's command line (caller frees), for sh -c. */
static char *wrap_command(ph_slurm *sl, const char *spec, const char *result,
                          const char *log) {
  g_autofree char *q_exe = g_shell_quote(sl->exe);
  g_autofree char *q_home = g_shell_quote(sl->home);
  g_autofree char *q_spec = g_shell_quote(spec);
  g_autofree char *q_res = g_shell_quote(result);
  g_autofree char *q_log = g_shell_quote(log);
  return g_strdup_printf("exec %s __slurm-try %s %s %s %s", q_exe, q_home,
                         q_spec, q_res, q_log);
}

char *ph_slurm_submit(ph_slurm *sl, guint job, const char *spec,
                      const char *log_path, JsonObject *opts, const char *queue,
                      double timeout, const char *name, GError **error) {
  g_autofree char *spec_path = g_strconcat(log_path, ".spec", NULL);
  g_autofree char *result = g_strconcat(log_path, ".result", NULL);
  char *id = NULL;
  GPtrArray *av = g_ptr_array_new_with_free_func(g_free);
  g_autofree char *out = NULL, *err = NULL, *cwd = g_get_current_dir();
  g_autofree char *dir = g_path_get_dirname(log_path);
  g_autofree char *wrap = wrap_command(sl, spec_path, result, log_path);
  int status = 0;
  /* an earlier try's result at this path would end this one at once */
  if (unlink(result) != 0 && errno != ENOENT) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s",
                result, g_strerror(errno));
    goto out;
  }
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s",
                dir, g_strerror(errno));
    goto out;
  }
  if (!write_private(spec_path, spec, error))
    goto out;
  g_ptr_array_add(av, g_strdup("sbatch"));
  g_ptr_array_add(av, g_strdup("--parsable"));
  g_ptr_array_add(av, g_strdup_printf("--job-name=%s", name));
  g_ptr_array_add(av, g_strdup_printf("--output=%s", log_path));
  g_ptr_array_add(av, g_strdup("--open-mode=append"));
  /* retries are pipehost's: Slurm requeueing a job whose node failed would
   * run the try a second time behind the host's back */
  g_ptr_array_add(av, g_strdup("--no-requeue"));
  g_ptr_array_add(av, g_strdup_printf("--chdir=%s", cwd));
  if (opts && json_object_has_member(opts, "partition"))
    add_opt(av, opts, "partition", "partition");
  else if (queue)
    g_ptr_array_add(av, g_strdup_printf("--partition=%s", queue));
  add_opt(av, opts, "cpus_per_task", "cpus-per-task");
  add_opt(av, opts, "mem", "mem");
  add_opt(av, opts, "gres", "gres");
  add_opt(av, opts, "account", "account");
  add_opt(av, opts, "qos", "qos");
  add_opt(av, opts, "constraint", "constraint");
  if (opts && json_object_has_member(opts, "time"))
    add_opt(av, opts, "time", "time");
  else if (timeout > 0) /* room for the try's own deadline and on_kill */
    g_ptr_array_add(av,
                    g_strdup_printf("--time=%d", (int)(timeout / 60.0) + 2));
  JsonNode *extra = opts ? json_object_get_member(opts, "extra_args") : NULL;
  if (extra && JSON_NODE_HOLDS_ARRAY(extra)) {
    JsonArray *a = json_node_get_array(extra);
    for (guint k = 0; k < json_array_get_length(a); k++)
      g_ptr_array_add(av, g_strdup(json_array_get_string_element(a, k)));
  }
  g_ptr_array_add(av, g_strdup("--wrap"));
  g_ptr_array_add(av, g_strdup(wrap));
  g_ptr_array_add(av, NULL);
  GError *e = NULL;
  if (!g_spawn_sync(NULL, (char **)av->pdata, NULL,
                    G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL, NULL,
                    NULL, &out, &err, &status, &e)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "sbatch could not be started (is Slurm's client installed, "
                "slurm-client?): %s",
                e->message);
    g_clear_error(&e);
    unlink(spec_path);
    goto out;
  }
  if (!g_spawn_check_wait_status(status, NULL)) {
    g_strstrip(err);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "sbatch failed: %s",
                *err ? err : "no message");
    unlink(spec_path);
    goto out;
  }
  /* --parsable: "id" or "id;cluster" */
  g_strstrip(out);
  out[strcspn(out, ";")] = '\0';
  if (!*out || strspn(out, "0123456789_") != strlen(out)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "sbatch printed no job id ('%s')", out);
    goto out;
  }
  id = g_strdup(out);
  add_job(sl, job, id, log_path);
out:
  g_ptr_array_unref(av);
  return id;
}

void ph_slurm_adopt(ph_slurm *sl, guint job, const char *job_id,
                    const char *log_path) {
  add_job(sl, job, job_id, log_path);
  sl->next_query = 0; /* learn its state at the next poll */
}

void ph_slurm_cancel(ph_slurm *sl, guint job) {
  sl_job *j = find(sl, job);
  if (!j)
    return;
  const char *av[] = {"scancel", j->id, NULL};
  g_spawn_sync(NULL, (char **)av, NULL,
               G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL |
                   G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
               NULL, NULL, NULL, NULL, NULL, NULL);
  sl->next_query = 0;
}

double ph_slurm_next_poll(const ph_slurm *sl) {
  if (!sl || !sl->jobs->len)
    return -1;
  return FILE_INTERVAL;
}

/* Ends job j (removed from sl first: its id may be reused by the
 * callbacks): replays its result file, or reports how Slurm ended it. */
static void end_job(ph_slurm *sl, sl_job *j) {
  guint at = 0;
  if (g_ptr_array_find(sl->jobs, j, &at))
    g_ptr_array_steal_index(sl->jobs, at);
  g_autofree char *text = NULL;
  ph_exec_end end = {0};
  end.exit_code = -1;
  g_autofree char *reason = NULL;
  JsonNode *last = NULL;
  GPtrArray *msgs =
      g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
  if (g_file_get_contents(j->result, &text, NULL, NULL)) {
    char **lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
      if (!**l)
        continue;
      JsonNode *n = json_from_string(*l, NULL);
      if (n && JSON_NODE_HOLDS_OBJECT(n))
        g_ptr_array_add(msgs, n);
      else if (n)
        json_node_unref(n);
    }
    g_strfreev(lines);
    if (msgs->len) {
      JsonObject *o = json_node_get_object(msgs->pdata[msgs->len - 1]);
      if (!g_strcmp0(json_object_get_string_member_with_default(o, "m", ""),
                     "__end"))
        last = msgs->pdata[msgs->len - 1];
    }
  }
  if (last) {
    for (guint k = 0; k + 1 < msgs->len; k++)
      sl->cb.on_message(sl->user, j->job, json_node_get_object(msgs->pdata[k]));
    JsonObject *o = json_node_get_object(last);
    end.pid = (int)json_object_get_int_member_with_default(o, "pid", 0);
    end.exit_code =
        (int)json_object_get_int_member_with_default(o, "exit_code", -1);
    end.signal = (int)json_object_get_int_member_with_default(o, "signal", 0);
    end.timed_out =
        (int)json_object_get_int_member_with_default(o, "timed_out", 0);
    end.oversized =
        (gsize)json_object_get_int_member_with_default(o, "oversized", 0);
    end.start_errno =
        (int)json_object_get_int_member_with_default(o, "start_errno", 0);
    JsonNode *r = json_object_get_member(o, "result");
    end.result =
        r && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
  } else {
    reason = g_strdup_printf(
        "Slurm job %s ended %s before the try reported a result%s; see the "
        "task log",
        j->id, j->state ? j->state : "(state unknown)",
        j->state && g_str_has_prefix(j->state, "CANCELLED")
            ? " (scancel, or Slurm cancelled it)"
        : j->state && !strcmp(j->state, "TIMEOUT")
            ? " (killed at its time limit)"
        : j->state && !strcmp(j->state, "NODE_FAIL") ? " (its node failed)"
                                                     : "");
    end.executor_reason = reason;
  }
  unlink(j->spec);
  sl->cb.on_end(sl->user, j->job, &end);
  g_ptr_array_unref(msgs);
  sl_job_free(j);
}

static gboolean alive_state(const char *st) {
  static const char *const live[] = {
      "PENDING",   "CONFIGURING",   "RUNNING",      "COMPLETING", "SUSPENDED",
      "REQUEUED",  "REQUEUE_FED",   "REQUEUE_HOLD", "RESIZING",   "SIGNALING",
      "STAGE_OUT", "RESV_DEL_HOLD", "SPECIAL_EXIT", NULL};
  for (guint i = 0; live[i]; i++)
    if (g_str_has_prefix(st, live[i]))
      return TRUE;
  return FALSE;
}

/* Runs argv; its stdout (caller frees) or NULL, with *unknown set when
 * Slurm said a job id is invalid (the job is no longer known). */
static char *slurm_cmd(char **argv, gboolean *unknown, char **why) {
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  GError *e = NULL;
  *unknown = FALSE;
  if (!g_spawn_sync(NULL, argv, NULL,
                    G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL, NULL,
                    NULL, &out, &err, &status, &e)) {
    *why = g_strdup(e->message);
    g_clear_error(&e);
    return NULL;
  }
  if (!g_spawn_check_wait_status(status, NULL)) {
    *unknown = strstr(err, "Invalid job id") != NULL;
    if (!*unknown)
      *why = g_strdup(g_strstrip(err));
    return *unknown ? g_strdup("") : NULL;
  }
  return g_steal_pointer(&out);
}

/* Asks Slurm (one squeue for every job; sacct for those squeue no longer
 * knows) which jobs ended, and how. */
static void query(ph_slurm *sl) {
  GString *ids = g_string_new(NULL);
  for (guint i = 0; i < sl->jobs->len; i++) {
    sl_job *j = sl->jobs->pdata[i];
    g_string_append_printf(ids, "%s%s", ids->len ? "," : "", j->id);
  }
  char *av[] = {"squeue", "-h", "-t",    "all", "-j",
                ids->str, "-o", "%i|%T", NULL};
  gboolean unknown = FALSE;
  g_autofree char *why = NULL;
  g_autofree char *out = slurm_cmd(av, &unknown, &why);
  g_string_free(ids, TRUE);
  if (!out) {
    if (!sl->warned)
      g_printerr("pipehost: cannot ask Slurm about its jobs (squeue: %s); "
                 "waiting for their results\n",
                 why ? why : "failed");
    sl->warned = TRUE;
    return;
  }
  sl->warned = FALSE;
  GHashTable *seen =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  char **lines = g_strsplit(out, "\n", -1);
  for (char **l = lines; *l; l++) {
    char *bar = strchr(*l, '|');
    if (!bar)
      continue;
    *bar = '\0';
    g_hash_table_replace(seen, g_strdup(*l), g_strdup(g_strstrip(bar + 1)));
  }
  g_strfreev(lines);
  GString *gone = g_string_new(NULL);
  for (guint i = 0; i < sl->jobs->len; i++) {
    sl_job *j = sl->jobs->pdata[i];
    const char *st = g_hash_table_lookup(seen, j->id);
    if (!st)
      g_string_append_printf(gone, "%s%s", gone->len ? "," : "", j->id);
    else if (!alive_state(st) && !j->state)
      j->state = g_strdup(st);
  }
  if (gone->len) {
    /* past MinJobAge: only accounting still knows them */
    char *sv[] = {"sacct",   "-n", "-P",          "-X", "-j",
                  gone->str, "-o", "JobID,State", NULL};
    g_autofree char *why2 = NULL;
    g_autofree char *acct = slurm_cmd(sv, &unknown, &why2);
    char **al = g_strsplit(acct ? acct : "", "\n", -1);
    for (char **l = al; *l; l++) {
      char *bar = strchr(*l, '|');
      if (!bar)
        continue;
      *bar = '\0';
      /* "CANCELLED by 0" */
      char *sp = strchr(bar + 1, ' ');
      if (sp)
        *sp = '\0';
      g_hash_table_replace(seen, g_strdup(*l), g_strdup(bar + 1));
    }
    g_strfreev(al);
    for (guint i = 0; i < sl->jobs->len; i++) {
      sl_job *j = sl->jobs->pdata[i];
      const char *st = g_hash_table_lookup(seen, j->id);
      if (!j->state && (!st || !alive_state(st)))
        j->state = g_strdup(st ? st : "(Slurm no longer knows the job)");
    }
  }
  g_string_free(gone, TRUE);
  g_hash_table_unref(seen);
}

int ph_slurm_poll(ph_slurm *sl) {
  if (!sl || !sl->jobs->len)
    return 0;
  int ended = 0;
  double now = ph_util_mono();
  if (now >= sl->next_query) {
    query(sl);
    sl->next_query = now + sl->interval;
  }
  for (guint i = 0; i < sl->jobs->len;) {
    sl_job *j = sl->jobs->pdata[i];
    gboolean done = g_file_test(j->result, G_FILE_TEST_EXISTS);
    if (!done && j->state) {
      if (!j->ended_at)
        j->ended_at = now;
      done = now - j->ended_at >= (!strcmp(j->state, "COMPLETED")
                                       ? RESULT_GRACE_COMPLETED
                                       : RESULT_GRACE);
    }
    if (done) {
      end_job(sl, j);
      ended++;
      continue; /* j left the array: the same index holds the next one */
    }
    i++;
  }
  return ended;
}

/* ---- the job's side: "pipehost __slurm-try HOME SPEC RESULT LOG" */

typedef struct {
  const char *home;
  ph_store *store;    /* opened at the first read */
  JsonObject *spec;   /* the spec's first line */
  GString *journal;   /* the result file's lines */
  GHashTable *vars;   /* variables this try set: name -> value */
  GPtrArray *secrets; /* masked in the try's output */
  ph_exec *ex;
  gboolean done;
  int status;
} try_side;

static ph_store *side_store(try_side *t) {
  if (!t->store) {
    GError *e = NULL;
    t->store = ph_store_open(t->home, &e);
    if (!t->store) {
      g_printerr("pipehost __slurm-try: %s\n", e->message);
      g_clear_error(&e);
    }
  }
  return t->store;
}

static void journal_add(try_side *t, JsonObject *msg) {
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(n, msg);
  g_autofree char *txt = ph_util_json_dup(n);
  json_node_unref(n);
  g_string_append(t->journal, txt);
  g_string_append_c(t->journal, '\n');
}

static void side_reply(try_side *t, guint job, JsonObject *r) {
  JsonNode *rn = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(rn, r);
  ph_exec_reply(t->ex, job, rn);
  json_node_unref(rn);
}

/* A value found (JSON text, taken) or missing, as the host answers. */
static void reply_value(try_side *t, guint job, char *v) {
  JsonObject *r = json_object_new();
  JsonNode *vn = v ? json_from_string(v, NULL) : NULL;
  if (v)
    json_object_set_member(r, "value", vn ? vn : json_node_new(JSON_NODE_NULL));
  else
    json_object_set_boolean_member(r, "missing", TRUE);
  g_free(v);
  side_reply(t, job, r);
}

static void side_message(void *user, guint job, JsonObject *msg) {
  try_side *t = user;
  const char *m = json_object_get_string_member_with_default(msg, "m", "");
  ph_store *st = NULL;
  if (!strcmp(m, "xcom_pull")) {
    st = side_store(t);
    reply_value(
        t, job,
        st ? ph_store_xcom_get(
                 st,
                 json_object_get_string_member_with_default(t->spec, "run_id",
                                                            ""),
                 json_object_get_string_member_with_default(msg, "task_id", ""),
                 json_object_get_string_member_with_default(msg, "key",
                                                            "return_value"))
           : NULL);
  } else if (!strcmp(m, "var_get")) {
    const char *name =
        json_object_get_string_member_with_default(msg, "name", "");
    const char *mine = g_hash_table_lookup(t->vars, name);
    char *raw = mine                   ? g_strdup(mine)
                : (st = side_store(t)) ? ph_store_var_lookup(st, name)
                                       : NULL;
    char *v = NULL;
    if (raw) {
      JsonNode *n = json_node_new(JSON_NODE_VALUE);
      json_node_set_string(n, raw);
      v = ph_util_json_dup(n);
      json_node_unref(n);
      g_free(raw);
    }
    reply_value(t, job, v);
  } else if (!strcmp(m, "conn_get")) {
    const char *cid =
        json_object_get_string_member_with_default(msg, "conn_id", "");
    g_autofree char *up = g_ascii_strup(cid, -1);
    g_autofree char *envname = g_strdup_printf("PIPEHOST_CONN_%s", up);
    const char *env = g_getenv(envname);
    g_autofree char *uri = env                    ? g_strdup(env)
                           : (st = side_store(t)) ? ph_store_conn_get(st, cid)
                                                  : NULL;
    JsonNode *cj = uri ? ph_store_conn_json(cid, uri, NULL) : NULL;
    char *v = NULL;
    if (cj) {
      const char *pw = json_object_get_string_member_with_default(
          json_node_get_object(cj), "password", NULL);
      if (pw && *pw) {
        /* masked in this output now, and by the host in what it records */
        g_ptr_array_add(t->secrets, g_strdup(pw));
        JsonObject *mk = json_object_new();
        json_object_set_string_member(mk, "m", "mask");
        json_object_set_string_member(mk, "secret", pw);
        journal_add(t, mk);
        json_object_unref(mk);
      }
      v = ph_util_json_dup(cj);
      json_node_unref(cj);
    }
    reply_value(t, job, v);
  } else if (!strcmp(m, "model_get")) {
    st = side_store(t);
    char *v =
        st ? ph_track_model_get(
                 st, json_object_get_string_member_with_default(msg, "ref", ""))
           : NULL;
    reply_value(t, job, v);
  } else if (!strcmp(m, "model_register") || !strcmp(m, "model_set_alias")) {
    /* their answer is the store's (a version number): done here */
    st = side_store(t);
    const char *task =
        json_object_get_string_member_with_default(t->spec, "task_id", "");
    gint64 mi =
        json_object_get_int_member_with_default(t->spec, "map_index", -1);
    g_autofree char *who_name =
        mi >= 0 ? g_strdup_printf("%s[%" G_GINT64_FORMAT "]", task, mi)
                : g_strdup(task);
    ph_track_try who = {
        json_object_get_string_member_with_default(t->spec, "dag_id", ""),
        json_object_get_string_member_with_default(t->spec, "run_id", ""),
        who_name,
        (int)json_object_get_int_member_with_default(t->spec, "try_number", 0),
        json_object_get_string_member_with_default(t->spec, "op", "")};
    GError *err = NULL;
    char *value = NULL;
    gboolean ok = FALSE, missing = FALSE;
    const char *name =
        json_object_get_string_member_with_default(msg, "name", NULL);
    if (st && !strcmp(m, "model_register")) {
      value = ph_track_model_register(
          st, &who, name,
          json_object_get_string_member_with_default(msg, "path", NULL), &err);
      ok = value != NULL;
    } else if (st) {
      ok = ph_track_model_set_alias(
          st, name, json_object_get_int_member_with_default(msg, "version", 0),
          json_object_get_string_member_with_default(msg, "alias", NULL), &err);
      missing = !ok && err && err->code == G_FILE_ERROR_NOENT;
    }
    JsonObject *r = json_object_new();
    if (missing) {
      json_object_set_boolean_member(r, "missing", TRUE);
    } else if (!ok) {
      json_object_set_string_member(r, "error",
                                    err ? err->message : "no store");
      json_object_set_int_member(r, "status", PH_INVALID);
    } else if (value) {
      JsonNode *vn = json_from_string(value, NULL);
      json_object_set_member(r, "value",
                             vn ? vn : json_node_new(JSON_NODE_NULL));
    }
    g_clear_error(&err);
    g_free(value);
    side_reply(t, job, r);
  } else {
    /* what the host records when the try has ended: XCom pushes, branch
     * choices, masks, the command's offset, variables set, metrics */
    journal_add(t, msg);
    if (!strcmp(m, "var_set")) {
      const char *name =
          json_object_get_string_member_with_default(msg, "name", "");
      const char *value =
          json_object_get_string_member_with_default(msg, "value", "");
      g_hash_table_replace(t->vars, g_strdup(name), g_strdup(value));
      if (ph_util_name_is_sensitive(name) && *value)
        g_ptr_array_add(t->secrets, g_strdup(value));
    } else if (!strcmp(m, "mask")) {
      const char *sec =
          json_object_get_string_member_with_default(msg, "secret", NULL);
      if (sec && *sec)
        g_ptr_array_add(t->secrets, g_strdup(sec));
    }
    if (!strcmp(m, "exec") || !strcmp(m, "var_set")) {
      JsonObject *r = json_object_new();
      json_object_set_boolean_member(r, "ok", TRUE);
      side_reply(t, job, r);
    } else if (!strcmp(m, "track")) {
      side_reply(t, job, json_object_new());
    }
  }
}

static void side_end(void *user, guint job, const ph_exec_end *end) {
  try_side *t = user;
  (void)job;
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "m", "__end");
  json_object_set_int_member(o, "pid", end->pid);
  json_object_set_int_member(o, "exit_code", end->exit_code);
  json_object_set_int_member(o, "signal", end->signal);
  json_object_set_int_member(o, "timed_out", end->timed_out);
  json_object_set_int_member(o, "oversized", (gint64)end->oversized);
  json_object_set_int_member(o, "start_errno", end->start_errno);
  if (end->result)
    json_object_set_object_member(o, "result", json_object_ref(end->result));
  journal_add(t, o);
  json_object_unref(o);
  t->done = TRUE;
}

int ph_slurm_try_main(int argc, char **argv) {
  if (argc != 6) {
    g_printerr("usage: pipehost __slurm-try HOME SPEC RESULT LOG (run by a "
               "Slurm job that pipehost submitted)\n");
    return 2;
  }
  try_side t = {0};
  t.home = argv[2];
  const char *result = argv[4], *log = argv[5];
  g_autofree char *spec = NULL;
  GError *err = NULL;
  int rc = 1;
  if (!g_file_get_contents(argv[3], &spec, NULL, &err)) {
    g_printerr("pipehost __slurm-try: %s\n", err->message);
    g_clear_error(&err);
    return 1;
  }
  char *nl = strchr(spec, '\n');
  g_autofree char *first =
      g_strndup(spec, nl ? (gsize)(nl - spec) : strlen(spec));
  JsonNode *sn = json_from_string(first, NULL);
  if (!sn || !JSON_NODE_HOLDS_OBJECT(sn)) {
    g_printerr("pipehost __slurm-try: %s: not a try's spec\n", argv[3]);
    if (sn)
      json_node_unref(sn);
    return 1;
  }
  t.spec = json_node_get_object(sn);
  t.journal = g_string_new(NULL);
  t.vars = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  t.secrets = g_ptr_array_new_with_free_func(g_free);
  JsonArray *sec = json_object_get_array_member(t.spec, "secrets");
  for (guint k = 0; sec && k < json_array_get_length(sec); k++)
    g_ptr_array_add(t.secrets, g_strdup(json_array_get_string_element(sec, k)));
  ph_exec_callbacks cb = {side_message, side_end, NULL};
  t.ex = ph_exec_new("/proc/self/exe", &cb, &t, 5.0);
  ph_exec_set_secrets(t.ex, t.secrets, TRUE);
  double timeout = json_object_get_double_member_with_default(
      t.spec, "execution_timeout", 0);
  if (ph_exec_start(t.ex, 0, spec, log, NULL, timeout, &err) < 0) {
    g_printerr("pipehost __slurm-try: could not start the worker: %s\n",
               err->message);
    g_clear_error(&err);
    goto out;
  }
  while (!t.done)
    if (ph_exec_poll(t.ex, -1) < 0) {
      g_printerr("pipehost __slurm-try: waiting for the worker failed: %s\n",
                 g_strerror(errno));
      goto out;
    }
  {
    g_autofree char *tmp = g_strconcat(result, ".tmp", NULL);
    if (!write_private(tmp, t.journal->str, &err) || rename(tmp, result) != 0) {
      g_printerr("pipehost __slurm-try: could not write the result: %s\n",
                 err ? err->message : g_strerror(errno));
      g_clear_error(&err);
      goto out;
    }
    rc = 0;
  }
out:
  ph_exec_free(t.ex);
  ph_store_close(t.store);
  g_ptr_array_unref(t.secrets);
  g_hash_table_unref(t.vars);
  g_string_free(t.journal, TRUE);
  json_node_unref(sn);
  return rc;
}
