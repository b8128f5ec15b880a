/* ph_slurm -- the Slurm executor (see ph_slurm.h). */
#include "ph_slurm.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipehost/plugin.h"
#include "ph_fault.h"
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

/* Tries of one shape waiting for ph_slurm_flush: one sbatch (an array
 * when several) */
typedef struct {
  char *shape;      /* their sbatch options (shape_of) */
  char *token;      /* the submission's identity (its --comment) */
  char *name;       /* the job name */
  GPtrArray *tries; /* "HOME\tSPEC\tRESULT\tLOG" per try */
  GArray *jobs;     /* guint: the caller's job per try */
} sl_group;

static void sl_group_free(sl_group *g) {
  g_free(g->shape);
  g_free(g->token);
  g_free(g->name);
  g_ptr_array_unref(g->tries);
  g_array_free(g->jobs, TRUE);
  g_free(g);
}

/* A status query in flight: squeue (stage 1), then sacct for the jobs
 * squeue no longer knows (stage 2).  It runs beside the scheduler's loop,
 * read as its output comes: a slow or stopped slurmctld (a squeue waits
 * 20 s for one) holds no local try's end. */
typedef struct {
  GPid pid;
  int fd[2];        /* its stdout, stderr; -1 once at their end */
  GString *buf[2];  /* what they said */
  int stage;        /* 1 squeue, 2 sacct */
  double started;   /* monotonic */
  GHashTable *ids;  /* the job ids asked about (set) */
  GHashTable *seen; /* id -> state, from squeue then sacct */
} sl_query;

/* A submission in flight: one sbatch for a group, read as it answers,
 * like a query (a stopped slurmctld makes sbatch wait, which holds no
 * local try's end).  It is never killed while the run goes on: an sbatch
 * killed after slurmctld took the job would leave a job nobody watches. */
typedef struct {
  sl_group *g;
  sl_query *run;   /* the sbatch process (ids and seen unused) */
  char *list_path; /* the list file its jobs read */
} sl_submit;

/* A query with nothing started: no process, no output yet. */
static sl_query *proc_new(void) {
  sl_query *q = g_new0(sl_query, 1);
  q->buf[0] = g_string_new(NULL);
  q->buf[1] = g_string_new(NULL);
  q->fd[0] = q->fd[1] = -1;
  return q;
}

/* Starts argv as q's command (again: what it said before is dropped),
 * its stdout and stderr read without blocking (query_step); FALSE with
 * error set when it cannot start. */
static gboolean proc_spawn(sl_query *q, char **argv, GError **error) {
  q->pid = 0;
  q->fd[0] = q->fd[1] = -1;
  g_string_truncate(q->buf[0], 0);
  g_string_truncate(q->buf[1], 0);
  if (!g_spawn_async_with_pipes(
          NULL, argv, NULL,
          G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
              G_SPAWN_STDIN_FROM_DEV_NULL,
          NULL, NULL, &q->pid, NULL, &q->fd[0], &q->fd[1], error)) {
    q->pid = 0;
    return FALSE;
  }
  for (int i = 0; i < 2; i++)
    fcntl(q->fd[i], F_SETFL, fcntl(q->fd[i], F_GETFL) | O_NONBLOCK);
  q->started = ph_util_mono();
  return TRUE;
}

struct ph_slurm {
  char *exe, *home;
  sl_query *q;        /* the query in flight, or NULL */
  GPtrArray *submits; /* sl_submit*: sbatch calls in flight */
  ph_exec_callbacks cb;
  void (*on_submitted)(void *user, guint job, const char *id);
  void *user;
  GPtrArray *groups;   /* sl_group*: tries waiting for ph_slurm_flush */
  GHashTable *pending; /* shape text -> its group in groups */
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
/* How often an sbatch in flight is looked at. */
#define SUBMIT_INTERVAL 0.01

static void sl_job_free(sl_job *j) {
  g_free(j->id);
  g_free(j->result);
  g_free(j->spec);
  g_free(j->state);
  g_free(j);
}

ph_slurm *
ph_slurm_new(const char *exe, const char *home, const ph_exec_callbacks *cb,
             void (*on_submitted)(void *user, guint job, const char *id),
             void *user) {
  ph_slurm *sl = g_new0(ph_slurm, 1);
  sl->on_submitted = on_submitted;
  sl->groups = g_ptr_array_new();
  sl->submits = g_ptr_array_new();
  sl->pending = g_hash_table_new(g_str_hash, g_str_equal);
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

static void query_free(sl_query *q);

static void submit_free(sl_submit *sub) {
  query_free(sub->run);
  sl_group_free(sub->g);
  g_free(sub->list_path);
  g_free(sub);
}

void ph_slurm_free(ph_slurm *sl) {
  if (!sl)
    return;
  query_free(sl->q);
  /* an sbatch still in flight (the run stopped: the store failed) is
   * killed; the tries' intents are on disk, and a resumed run finds the
   * job if slurmctld took it */
  for (guint i = 0; i < sl->submits->len; i++)
    submit_free(sl->submits->pdata[i]);
  g_ptr_array_unref(sl->submits);
  for (guint i = 0; i < sl->groups->len; i++)
    sl_group_free(sl->groups->pdata[i]);
  g_ptr_array_unref(sl->groups);
  g_hash_table_unref(sl->pending);
  g_ptr_array_unref(sl->jobs);
  g_free(sl->exe);
  g_free(sl->home);
  g_free(sl);
}

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

/* The sbatch options a try's job needs beyond the common ones (its
 * shape: tries of one shape share a job array), joined by SEP. */
#define SEP "\x1f"
static char *shape_of(JsonObject *opts, const char *queue, double timeout) {
  GPtrArray *av = g_ptr_array_new_with_free_func(g_free);
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
  g_ptr_array_add(av, NULL);
  char *shape = g_strjoinv(SEP, (char **)av->pdata);
  g_ptr_array_unref(av);
  return shape;
}

gboolean ph_slurm_enqueue(ph_slurm *sl, guint job, const char *spec,
                          const char *log_path, JsonObject *opts,
                          const char *queue, double timeout, const char *name,
                          char **intent, GError **error) {
  g_autofree char *spec_path = g_strconcat(log_path, ".spec", NULL);
  g_autofree char *result = g_strconcat(log_path, ".result", NULL);
  g_autofree char *dir = g_path_get_dirname(log_path);
  *intent = NULL;
  /* an earlier try's result at this path would end this one at once */
  if (unlink(result) != 0 && errno != ENOENT) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s",
                result, g_strerror(errno));
    return FALSE;
  }
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s",
                dir, g_strerror(errno));
    return FALSE;
  }
  if (!write_private(spec_path, spec, error))
    return FALSE;
  char *shape = shape_of(opts, queue, timeout);
  sl_group *g = g_hash_table_lookup(sl->pending, shape);
  if (!g) {
    g = g_new0(sl_group, 1);
    g->shape = shape;
    g->token = g_strdup_printf("%08x%08x", g_random_int(), g_random_int());
    g->tries = g_ptr_array_new_with_free_func(g_free);
    g->jobs = g_array_new(FALSE, FALSE, sizeof(guint));
    g->name = g_strdup(name);
    g_ptr_array_add(sl->groups, g);
    g_hash_table_replace(sl->pending, shape, g);
  } else {
    g_free(shape);
    if (g->name && strcmp(g->name, name)) {
      /* tries of several tasks: the DAG's part of the name */
      char *colon = strrchr(g->name, ':');
      if (colon && colon != strchr(g->name, ':'))
        *colon = '\0';
    }
  }
  g_ptr_array_add(g->tries, g_strdup_printf("%s\t%s\t%s\t%s", sl->home,
                                            spec_path, result, log_path));
  g_array_append_val(g->jobs, job);
  *intent = g_strdup_printf("submit:%s:%u", g->token, g->tries->len - 1);
  return TRUE;
}

gboolean ph_slurm_has_pending(const ph_slurm *sl) {
  return sl && sl->groups->len > 0;
}

/* Submits group g with one sbatch (a job array when it holds several
 * tries); its jobs' ids in ids (caller frees), or FALSE with error. */
/* Writes g's list file and starts its sbatch; the submission in flight,
 * or NULL with error set (nothing was submitted). */
static sl_submit *submit_start(ph_slurm *sl, sl_group *g, GError **error) {
  g_autofree char *list = g_build_filename(sl->home, "slurm", NULL);
  g_autofree char *list_path = NULL;
  g_autofree char *cwd = g_get_current_dir();
  GPtrArray *av = g_ptr_array_new_with_free_func(g_free);
  sl_submit *sub = NULL;
  gboolean array = g->tries->len > 1;
  if (g_mkdir_with_parents(list, 0700) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s",
                list, g_strerror(errno));
    goto out;
  }
  list_path = g_strdup_printf("%s/%s.tries", list, g->token);
  {
    g_ptr_array_add(g->tries, NULL);
    g_autofree char *text = g_strjoinv("\n", (char **)g->tries->pdata);
    g_ptr_array_set_size(g->tries, g->tries->len - 1);
    g_autofree char *text_nl = g_strconcat(text, "\n", NULL);
    if (!write_private(list_path, text_nl, error))
      goto out;
  }
  g_ptr_array_add(av, g_strdup("sbatch"));
  g_ptr_array_add(av, g_strdup("--parsable"));
  g_ptr_array_add(av, g_strdup_printf("--job-name=%s", g->name));
  /* the try's identity while its job id is not recorded yet (a host
   * killed right after sbatch): a resumed run finds the job by it */
  g_ptr_array_add(av, g_strdup_printf("--comment=pipehost:%s", g->token));
  if (array) {
    g_ptr_array_add(av, g_strdup_printf("--array=0-%u", g->tries->len - 1));
    g_ptr_array_add(av, g_strdup_printf("--output=%s/%%A_%%a.out", list));
  } else {
    const char *line = g->tries->pdata[0];
    g_ptr_array_add(av,
                    g_strdup_printf("--output=%s", strrchr(line, '\t') + 1));
  }
  g_ptr_array_add(av, g_strdup("--open-mode=append"));
  /* retries are pipehost's: Slurm requeueing a job whose node failed would
   * run the try a second time behind the host's back */
  g_ptr_array_add(av, g_strdup("--no-requeue"));
  g_ptr_array_add(av, g_strdup_printf("--chdir=%s", cwd));
  if (*g->shape) {
    char **o = g_strsplit(g->shape, SEP, -1);
    for (char **x = o; *x; x++)
      g_ptr_array_add(av, g_strdup(*x));
    g_strfreev(o);
  }
  {
    g_autofree char *q_exe = g_shell_quote(sl->exe);
    g_autofree char *q_list = g_shell_quote(list_path);
    g_ptr_array_add(av, g_strdup("--wrap"));
    g_ptr_array_add(av,
                    g_strdup_printf("exec %s __slurm-try %s", q_exe, q_list));
  }
  g_ptr_array_add(av, NULL);
  sub = g_new0(sl_submit, 1);
  sub->run = proc_new();
  GError *e = NULL;
  if (!proc_spawn(sub->run, (char **)av->pdata, &e)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "sbatch could not be started (is Slurm's client installed, "
                "slurm-client?): %s",
                e->message);
    g_clear_error(&e);
    query_free(sub->run);
    g_clear_pointer(&sub, g_free);
    goto out;
  }
  sub->g = g;
  sub->list_path = g_steal_pointer(&list_path);
out:
  if (!sub && list_path)
    unlink(list_path);
  g_ptr_array_unref(av);
  return sub;
}

/* The job ids sbatch (ended with status) gave sub's tries, in order; FALSE
 * with error set when it submitted nothing. */
static gboolean submit_ids(sl_submit *sub, int status, GPtrArray *ids,
                           GError **error) {
  char *out = sub->run->buf[0]->str, *err = sub->run->buf[1]->str;
  if (status < 0 || !g_spawn_check_wait_status(status, NULL)) {
    g_strstrip(err);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "sbatch failed: %s",
                *err ? err : "no message");
    return FALSE;
  }
  /* --parsable: "id" or "id;cluster" */
  g_strstrip(out);
  out[strcspn(out, ";")] = '\0';
  if (!*out || strspn(out, "0123456789") != strlen(out)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "sbatch printed no job id ('%s')", out);
    return FALSE;
  }
  gboolean array = sub->g->tries->len > 1;
  for (guint k = 0; k < sub->g->tries->len; k++)
    g_ptr_array_add(ids,
                    array ? g_strdup_printf("%s_%u", out, k) : g_strdup(out));
  return TRUE;
}

/* Ends the tries of group g, which was not submitted: why says why. */
static void submit_failed(ph_slurm *sl, sl_group *g, const char *why) {
  g_autofree char *reason =
      g_strdup_printf("could not submit the try to Slurm: %s", why);
  for (guint k = 0; k < g->jobs->len; k++) {
    const char *line = g->tries->pdata[k];
    g_autofree char *spec = g_strdup(strchr(line, '\t') + 1);
    spec[strcspn(spec, "\t")] = '\0';
    unlink(spec);
    ph_exec_end end = {.exit_code = -1, .executor_reason = reason};
    sl->cb.on_end(sl->user, g_array_index(g->jobs, guint, k), &end);
  }
}

static gboolean query_step(sl_query *q, int *status);

/* Moves the submissions in flight on: each sbatch that answered gives
 * its tries their job ids (on_submitted), or ends them (on_end). */
static void submits_step(ph_slurm *sl) {
  for (guint i = 0; i < sl->submits->len;) {
    sl_submit *sub = sl->submits->pdata[i];
    int status = 0;
    if (!query_step(sub->run, &status)) {
      i++;
      continue;
    }
    g_ptr_array_remove_index(sl->submits, i);
    GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
    GError *err = NULL;
    if (!submit_ids(sub, status, ids, &err)) {
      unlink(sub->list_path);
      submit_failed(sl, sub->g, err->message);
      g_clear_error(&err);
    } else {
      /* the host killed between sbatch and the job id's record (tests of
       * resume) */
      if (ph_fault_hit("slurm_kill_after_submit"))
        raise(SIGKILL);
      sl_group *g = sub->g;
      for (guint k = 0; k < g->jobs->len; k++) {
        guint job = g_array_index(g->jobs, guint, k);
        const char *line = g->tries->pdata[k];
        add_job(sl, job, ids->pdata[k], strrchr(line, '\t') + 1);
        if (sl->on_submitted)
          sl->on_submitted(sl->user, job, ids->pdata[k]);
      }
    }
    g_ptr_array_unref(ids);
    submit_free(sub);
  }
}

void ph_slurm_flush(ph_slurm *sl) {
  if (!sl || !sl->groups->len)
    return;
  GPtrArray *groups = sl->groups;
  sl->groups = g_ptr_array_new();
  g_hash_table_remove_all(sl->pending);
  for (guint i = 0; i < groups->len; i++) {
    sl_group *g = groups->pdata[i];
    GError *err = NULL;
    /* the host killed between the intent's commit and sbatch (tests of
     * resume) */
    if (ph_fault_hit("slurm_kill_before_submit"))
      raise(SIGKILL);
    sl_submit *sub = submit_start(sl, g, &err);
    if (sub) {
      g_ptr_array_add(sl->submits, sub);
    } else {
      submit_failed(sl, g, err->message);
      g_clear_error(&err);
      sl_group_free(g);
    }
  }
  g_ptr_array_unref(groups);
  submits_step(sl); /* a quick sbatch has answered already */
}

/* The job a try's intent ("submit:TOKEN:INDEX") became, found by the
 * comment it was submitted with; NULL when Slurm knows no such job. */
static char *resolve_intent(const char *intent) {
  char **f = g_strsplit(intent, ":", 3);
  char *id = NULL;
  if (g_strv_length(f) == 3) {
    char *av[] = {"squeue", "-h", "-t", "all", "-r", "-o", "%F|%K|%k", NULL};
    gboolean unknown = FALSE;
    g_autofree char *why = NULL;
    g_autofree char *out = slurm_cmd(av, &unknown, &why);
    g_autofree char *comment = g_strdup_printf("pipehost:%s", f[1]);
    char **lines = g_strsplit(out ? out : "", "\n", -1);
    for (char **l = lines; *l && !id; l++) {
      char **c = g_strsplit(*l, "|", 3);
      if (g_strv_length(c) == 3 && !strcmp(g_strstrip(c[2]), comment)) {
        gboolean array = strspn(c[1], "0123456789") == strlen(c[1]) && *c[1];
        if (!array && !strcmp(f[2], "0"))
          id = g_strdup(c[0]);
        else if (array && !strcmp(c[1], f[2]))
          id = g_strdup_printf("%s_%s", c[0], c[1]);
      }
      g_strfreev(c);
    }
    g_strfreev(lines);
  }
  g_strfreev(f);
  return id;
}

gboolean ph_slurm_adopt(ph_slurm *sl, guint job, const char *job_id,
                        const char *log_path, char **resolved) {
  g_autofree char *result = g_strconcat(log_path, ".result", NULL);
  char *id = g_str_has_prefix(job_id, "submit:") ? resolve_intent(job_id)
                                                 : g_strdup(job_id);
  *resolved = NULL;
  if (!id && g_file_test(result, G_FILE_TEST_EXISTS))
    id = g_strdup("(unknown)"); /* it ran: its result says how it ended */
  if (!id)
    return FALSE; /* never submitted (or forgotten by Slurm, no result) */
  sl_job *j = add_job(sl, job, id, log_path);
  g_free(id);
  sl->next_query = 0; /* learn its state at the next poll */
  *resolved = j->id;
  return TRUE;
}

void ph_slurm_cancel_all(ph_slurm *sl) {
  if (!sl || !sl->jobs->len)
    return;
  GPtrArray *av = g_ptr_array_new();
  g_ptr_array_add(av, "scancel");
  for (guint i = 0; i < sl->jobs->len; i++)
    g_ptr_array_add(av, ((sl_job *)sl->jobs->pdata[i])->id);
  g_ptr_array_add(av, NULL);
  /* one call for all of them */
  g_spawn_sync(NULL, (char **)av->pdata, NULL,
               G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL |
                   G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
               NULL, NULL, NULL, NULL, NULL, NULL);
  g_ptr_array_free(av, TRUE);
}

double ph_slurm_next_poll(const ph_slurm *sl) {
  if (sl && sl->submits->len)
    return SUBMIT_INTERVAL;
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

/* How long a status query may take before it is killed (and tried again
 * at the next interval). */
#define QUERY_TIMEOUT 120.0

static void query_free(sl_query *q) {
  if (!q)
    return;
  if (q->pid > 0) {
    kill(q->pid, SIGKILL);
    waitpid(q->pid, NULL, 0);
  }
  for (int i = 0; i < 2; i++) {
    if (q->fd[i] >= 0)
      close(q->fd[i]);
    g_string_free(q->buf[i], TRUE);
  }
  if (q->ids)
    g_hash_table_unref(q->ids);
  if (q->seen)
    g_hash_table_unref(q->seen);
  g_free(q);
}

/* Starts argv as q's command; FALSE (a warning said once) when it cannot
 * start. */
static gboolean query_spawn(ph_slurm *sl, sl_query *q, char **argv) {
  GError *e = NULL;
  if (!proc_spawn(q, argv, &e)) {
    if (!sl->warned)
      g_printerr("pipehost: cannot ask Slurm about its jobs (%s: %s); "
                 "waiting for their results\n",
                 argv[0], e->message);
    sl->warned = TRUE;
    g_clear_error(&e);
    return FALSE;
  }
  return TRUE;
}

/* Reads what q's command wrote so far; TRUE once it has exited (its
 * status in *status, everything read). */
static gboolean query_step(sl_query *q, int *status) {
  char chunk[4096];
  for (int i = 0; i < 2; i++) {
    while (q->fd[i] >= 0) {
      ssize_t n = read(q->fd[i], chunk, sizeof chunk);
      if (n > 0) {
        g_string_append_len(q->buf[i], chunk, n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        if (n == 0 || errno != EAGAIN) {
          close(q->fd[i]);
          q->fd[i] = -1;
        }
        break;
      }
    }
  }
  if (q->fd[0] >= 0 || q->fd[1] >= 0)
    return FALSE;
  if (waitpid(q->pid, status, 0) != q->pid)
    *status = -1;
  q->pid = 0;
  return TRUE;
}

/* Lines "ID|STATE" of out into seen. */
static void parse_states(GHashTable *seen, const char *out) {
  char **lines = g_strsplit(out, "\n", -1);
  for (char **l = lines; *l; l++) {
    char *bar = strchr(*l, '|');
    if (!bar)
      continue;
    *bar = '\0';
    /* sacct says "CANCELLED by 0" */
    char *st = g_strstrip(bar + 1);
    st[strcspn(st, " ")] = '\0';
    g_hash_table_replace(seen, g_strdup(*l), g_strdup(st));
  }
  g_strfreev(lines);
}

/* Starts asking Slurm about every job: one squeue for all of them. */
static void query_start(ph_slurm *sl) {
  sl_query *q = proc_new();
  q->ids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  q->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  q->stage = 1;
  GString *ids = g_string_new(NULL);
  for (guint i = 0; i < sl->jobs->len; i++) {
    sl_job *j = sl->jobs->pdata[i];
    g_string_append_printf(ids, "%s%s", ids->len ? "," : "", j->id);
    g_hash_table_add(q->ids, g_strdup(j->id));
  }
  /* -r: an array's pending tasks one per line, not folded into 12_[3-9] */
  char *av[] = {"squeue", "-h",     "-r", "-t",    "all",
                "-j",     ids->str, "-o", "%i|%T", NULL};
  gboolean ok = query_spawn(sl, q, av);
  g_string_free(ids, TRUE);
  if (ok)
    sl->q = q;
  else
    query_free(q);
}

/* The query's command ended with status: what it says about the jobs.
 * FALSE while it goes on (sacct started for the jobs squeue forgot). */
static gboolean query_done(ph_slurm *sl, sl_query *q, int status) {
  gboolean exited_ok = status >= 0 && g_spawn_check_wait_status(status, NULL);
  /* squeue fails naming an invalid id when it knows none of them */
  gboolean unknown = !exited_ok && strstr(q->buf[1]->str, "Invalid job id");
  if (q->stage == 1 && !exited_ok && !unknown) {
    if (!sl->warned)
      g_printerr("pipehost: cannot ask Slurm about its jobs (squeue: %s); "
                 "waiting for their results\n",
                 g_strstrip(q->buf[1]->str));
    sl->warned = TRUE;
    return TRUE;
  }
  if (q->stage == 1)
    sl->warned = FALSE;
  if (exited_ok)
    parse_states(q->seen, q->buf[0]->str);
  GString *gone = g_string_new(NULL);
  for (guint i = 0; i < sl->jobs->len; i++) {
    sl_job *j = sl->jobs->pdata[i];
    if (!g_hash_table_contains(q->ids, j->id) || j->state)
      continue; /* submitted since the query began, or known ended */
    const char *st = g_hash_table_lookup(q->seen, j->id);
    if (st && !alive_state(st))
      j->state = g_strdup(st);
    else if (!st && q->stage == 1)
      g_string_append_printf(gone, "%s%s", gone->len ? "," : "", j->id);
    else if (!st)
      j->state = g_strdup("(Slurm no longer knows the job)");
  }
  gboolean finished = TRUE;
  if (gone->len) {
    /* past MinJobAge: only accounting still knows them */
    char *sv[] = {"sacct",   "-n", "-P",          "-X", "-j",
                  gone->str, "-o", "JobID,State", NULL};
    q->stage = 2;
    finished = !query_spawn(sl, q, sv);
    if (finished) /* no sacct: Slurm does not know them any more */
      for (guint i = 0; i < sl->jobs->len; i++) {
        sl_job *j = sl->jobs->pdata[i];
        if (!j->state && g_hash_table_contains(q->ids, j->id) &&
            !g_hash_table_contains(q->seen, j->id))
          j->state = g_strdup("(Slurm no longer knows the job)");
      }
  }
  g_string_free(gone, TRUE);
  return finished;
}

/* Moves the query in flight on, or starts one when it is time. */
static void query(ph_slurm *sl, double now) {
  if (!sl->q) {
    if (now < sl->next_query)
      return;
    sl->next_query = now + sl->interval;
    query_start(sl);
    if (!sl->q)
      return;
  }
  sl_query *q = sl->q;
  int status = 0;
  if (query_step(q, &status)) {
    if (query_done(sl, q, status)) {
      sl->q = NULL;
      query_free(q);
    }
  } else if (now - q->started > QUERY_TIMEOUT) {
    if (!sl->warned)
      g_printerr("pipehost: Slurm did not answer in %.0f s; asking again "
                 "later\n",
                 QUERY_TIMEOUT);
    sl->warned = TRUE;
    sl->q = NULL;
    query_free(q);
  }
}

int ph_slurm_poll(ph_slurm *sl) {
  if (sl && sl->submits->len)
    submits_step(sl);
  if (!sl || !sl->jobs->len)
    return 0;
  int ended = 0;
  double now = ph_util_mono();
  query(sl, now);
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

/* ---- the job's side: "pipehost __slurm-try LIST" */

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
    reply_value(t, job, ph_util_json_string_take(raw));
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

/* This job's line of the list file (SLURM_ARRAY_TASK_ID's, else the
 * first), split in its 4 fields (caller frees), or NULL. */
static char **try_line(const char *list) {
  g_autofree char *text = NULL;
  GError *err = NULL;
  if (!g_file_get_contents(list, &text, NULL, &err)) {
    g_printerr("pipehost __slurm-try: %s\n", err->message);
    g_clear_error(&err);
    return NULL;
  }
  const char *ai = g_getenv("SLURM_ARRAY_TASK_ID");
  guint64 want = ai ? g_ascii_strtoull(ai, NULL, 10) : 0;
  char **lines = g_strsplit(text, "\n", -1);
  char **f = NULL;
  if (want < g_strv_length(lines))
    f = g_strsplit(lines[want], "\t", 4);
  g_strfreev(lines);
  if (f && g_strv_length(f) != 4)
    g_clear_pointer(&f, g_strfreev);
  if (!f)
    g_printerr("pipehost __slurm-try: %s has no try %" G_GUINT64_FORMAT "\n",
               list, want);
  return f;
}

int ph_slurm_try_main(int argc, char **argv) {
  if (argc != 3) {
    g_printerr("usage: pipehost __slurm-try LIST (run by a Slurm job that "
               "pipehost submitted)\n");
    return 2;
  }
  g_auto(GStrv) f = try_line(argv[2]);
  if (!f)
    return 1;
  try_side t = {0};
  t.home = f[0];
  const char *result = f[2], *log = f[3];
  g_autofree char *spec = NULL;
  GError *err = NULL;
  int rc = 1;
  /* the try's log is its output, in a job array too (whose --output is
   * the array's) */
  int lfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (lfd >= 0) {
    dup2(lfd, 1);
    dup2(lfd, 2);
    close(lfd);
  }
  if (!g_file_get_contents(f[1], &spec, NULL, &err)) {
    g_printerr("pipehost __slurm-try: %s\n", err->message);
    g_clear_error(&err);
    return 1;
  }
  char *nl = strchr(spec, '\n');
  g_autofree char *first =
      g_strndup(spec, nl ? (gsize)(nl - spec) : strlen(spec));
  JsonNode *sn = json_from_string(first, NULL);
  if (!sn || !JSON_NODE_HOLDS_OBJECT(sn)) {
    g_printerr("pipehost __slurm-try: %s: not a try's spec\n", f[1]);
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
