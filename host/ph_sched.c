/* ph_sched -- see ph_sched.h. */
#include "ph_sched.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ph_backoff.h"
#include "ph_dataset.h"
#include "ph_direct.h"
#include "ph_exec.h"
#include "ph_fault.h"
#include "ph_fingerprint.h"
#include "ph_jsonw.h"
#include "ph_map.h"
#include "ph_notify.h"
#include "ph_openlineage.h"
#include "ph_proc.h"
#include "ph_registry.h"
#include "ph_slurm.h"
#include "ph_template.h"
#include "ph_timetable.h"
#include "ph_track.h"
#include "ph_trigger.h"
#include "ph_util.h"
#include "ph_worker.h"

extern char **environ;

/* The variables that tell a direct command which try it is (a worker
 * sets the same for its operator's commands), in start_direct's order. */
static const char *const identity_env[] = {
    "PIPEHOST_DAG_ID", "PIPEHOST_TASK_ID", "PIPEHOST_RUN_ID",
    "PIPEHOST_LOGICAL_DATE", "PIPEHOST_TRY_NUMBER", "PIPEHOST_MAP_INDEX"};

/* How long a run's writes may wait to be committed (seconds). */
#define PH_COMMIT_DELAY 0.02

enum {
  ST_NONE,
  ST_SCHEDULED,
  ST_QUEUED,
  ST_RUNNING,
  ST_SUCCESS,
  ST_FAILED,
  ST_SKIPPED,
  ST_UPSTREAM_FAILED,
  ST_UP_FOR_RETRY,
  ST_UP_FOR_RESCHEDULE,
};

static const char *const state_names[] = {
    "none",         "scheduled",        "queued",  "running",
    "success",      "failed",           "skipped", "upstream_failed",
    "up_for_retry", "up_for_reschedule"};

#define FINAL(st)                                                              \
  ((st) == ST_SUCCESS || (st) == ST_FAILED || (st) == ST_SKIPPED ||            \
   (st) == ST_UPSTREAM_FAILED)

typedef struct {
  int state;
  int try_number;
  int tries_started;
  ph_tr_counts c;
  double wake;         /* wall time when up_for_retry/reschedule ends */
  double start, end;   /* wall times of the current/last try */
  double sensor_start; /* first poke of the sensor, across reschedules */
  int pid;
  int pokes; /* reschedule-mode pokes so far */
  char *reason;
  GPtrArray *follow; /* branch choices of the running try */
  gboolean branch_seen;
  char *fp;           /* cache: the fingerprint, "sha256:..." */
  gboolean pool_held; /* its pool_slots are counted as used */
  gint64 exec_offset; /* the try exec'ed a command whose output starts
                       * here in the log (-1: it did not) */
  int exec_skip;
  char *exec_what;
  gboolean tracked;   /* the try logged to the experiment tracker (or
                         may have: resumed) */
  guint end_gen;      /* s->commit_gen when it reached its final state */
  signed char direct; /* command operator run by the host: 1 yes, -1 no,
                         0 not decided yet */
  char *push_error;   /* an XCom of the running try was refused: the try
                         fails with this reason */
  gint64 xcom_bytes;  /* bytes the running try pushed so far */
  /* dynamic task mapping: the TIs of a run are the plan's tasks (index =
   * plan index), then the instances of mapped tasks as they expand */
  guint task;             /* plan index of its task */
  int map_index;          /* -1: not a mapped instance */
  char *name;             /* "task" or "task[map_index]" */
  JsonObject *map_params; /* an instance's params (constant + mapped), or
                             NULL: the task's own */
  guint kid0, n_kids;     /* an expanded task: its instances' TIs */
  guint kids_left;        /* instances not final yet */
  gboolean on_slurm;      /* its running try is a Slurm job */
} ph_ti;

struct ph_sched {
  const ph_plan *plan;
  ph_store *store;
  ph_sched_opts o;
  ph_exec *ex;
  ph_slurm *sl; /* the Slurm executor, or NULL: no task of the plan uses it */
  guint n;    /* tasks of the plan: TIs 0..n-1 */
  guint n_ti; /* TIs: the plan's, then mapped instances */
  guint cap;  /* room in ti, heap, worklist */
  ph_ti *ti;
  char *run_id;
  char *logical_date; /* ISO */
  double logical_t;
  JsonObject *params;
  char *context_base; /* shared context members, JSON object text */
  char *ds_nodash;    /* the logical date's YYYYMMDD */
  /* ready heap of task indexes: higher weight first, then topo order */
  guint *heap, heap_len;
  guint *rank;    /* topo position of each task */
  GArray *timers; /* guint task indexes waiting on ti.wake */
  guint *worklist, wl_len;
  guint n_final, n_running;
  guint n_slurm;   /* of n_running: tries on Slurm (not counted by -j) */
  guint slurm_max; /* at most this many Slurm jobs at once */
  double hb_interval; /* seconds between two heartbeats (PIPEHOST_HEARTBEAT) */
  double hb_last;     /* wall time of the last one */
  GPtrArray *secrets;
  gboolean fresh;    /* the run was created here, not resumed */
  guint commit_gen;  /* commits so far, plus 1 */
  GHashTable *progs; /* program name -> its path in PATH */
  char **env_base;   /* environ without the try identity variables; the
                        strings are borrowed */
  double t0;
  int counts[10];
  GHashTable *pool_slots; /* pool name -> slots + 1; 0 = not looked up */
  gboolean pool_blocked;  /* the ready heap holds only tasks waiting for a
                           * pool slot */
  char *fatal;            /* why the run stopped: the store failed */
  GArray *proc_pending;   /* guint: tries started since the last commit */
  char *dag_dir;          /* the DAG file's directory (absolute) */
  ph_openlineage *ol;     /* OpenLineage events, or NULL (not configured) */
  /* the try prepared while its upstream runs (prepare_next), or -1 */
  int prepared;
  char *prepared_log;
  guint prepared_nsecrets; /* the secrets its spec holds */
};

/* The task of TI idx (a mapped instance's is its task's). */
static const ph_task_spec *task_of(ph_sched *s, guint idx) {
  return ph_plan_get_task(s->plan, s->ti[idx].task);
}

/* The params of TI idx before rendering (borrowed). */
static JsonObject *params_of(ph_sched *s, guint idx) {
  return s->ti[idx].map_params ? s->ti[idx].map_params
                               : task_of(s, idx)->params;
}

/* Forgets the prepared try (prepare_next), if any: its worker exits
 * having run nothing, and the log it was given goes. */
static void discard_prepared(ph_sched *s) {
  if (s->prepared < 0)
    return;
  if (s->ex)
    ph_exec_discard(s->ex, (guint)s->prepared);
  unlink(s->prepared_log);
  g_clear_pointer(&s->prepared_log, g_free);
  s->prepared = -1;
}

/* A task that expands into mapped instances (the TI of the task itself,
 * not an instance). */
static gboolean is_mapped_task(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  return s->ti[idx].map_index < 0 && (t->expand || t->expand_kwargs);
}

/* Room for n more TIs (moves s->ti: no ph_ti pointer survives it). */
static void grow(ph_sched *s, guint n) {
  if (s->n_ti + n <= s->cap)
    return;
  guint cap = MAX(s->cap * 2, s->n_ti + n);
  s->ti = g_renew(ph_ti, s->ti, cap);
  memset(s->ti + s->cap, 0, (cap - s->cap) * sizeof(ph_ti));
  s->heap = g_renew(guint, s->heap, cap + 1);
  s->worklist = g_renew(guint, s->worklist, cap + 1);
  s->cap = cap;
}

/* Appends a TI for task (plan index) with map_index; returns its index. */
static guint add_ti(ph_sched *s, guint task, int map_index) {
  grow(s, 1);
  guint idx = s->n_ti++;
  ph_ti *ti = &s->ti[idx];
  ti->task = task;
  ti->map_index = map_index;
  const char *id = ph_plan_get_task(s->plan, task)->id;
  ti->name = ph_store_ti_name(id, map_index);
  return idx;
}

/* ---- pools: a task takes pool_slots of its pool while a try runs; pools
 * not defined with `pipehost pools set` do not limit */
static int pool_limit(ph_sched *s, const char *pool) {
  gpointer v = g_hash_table_lookup(s->pool_slots, pool);
  if (!v) {
    int slots = ph_store_pool_get(s->store, pool);
    v = GINT_TO_POINTER(slots + 2); /* -1 -> 1: unlimited */
    g_hash_table_insert(s->pool_slots, g_strdup(pool), v);
  }
  return GPOINTER_TO_INT(v) - 2;
}

static gboolean pool_take(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  if ((t->op->flags & PH_OP_NO_WORKER) || is_mapped_task(s, idx))
    return TRUE;
  int limit = pool_limit(s, t->pool);
  if (limit < 0 && t->max_active_tis <= 0)
    return TRUE;
  /* counted in the store: the runs of a scheduler share their pools */
  ph_store_begin(s->store);
  int mi = s->ti[idx].map_index;
  /* max_active_tis_per_dag: the task's tries running at once, in every
   * run of the DAG (Airflow), counted as slots of a pool of its own */
  if (t->max_active_tis > 0) {
    g_autofree char *own = g_strdup_printf(
        "max_active_tis_per_dag:%s.%s", ph_plan_get_dag_id(s->plan), t->id);
    if (!ph_store_pool_take(s->store, own, t->max_active_tis, s->run_id, t->id,
                            mi, 1))
      return FALSE;
  }
  if (limit >= 0 && !ph_store_pool_take(s->store, t->pool, limit, s->run_id,
                                        t->id, mi, t->pool_slots)) {
    ph_store_pool_release(s->store, s->run_id, t->id, mi);
    return FALSE;
  }
  s->ti[idx].pool_held = TRUE;
  return TRUE;
}

/* Commits what the run wrote (see ph_sched_run: group commit).  A commit
 * that fails is fatal: what the run did since the last commit is not on
 * disk, so nothing may build on it (ph_sched_run stops). */
static void commit(ph_sched *s) {
  /* The tries started since the last commit get their process identity
   * (ph_proc: pid + start time), so that a resume tells them from a later
   * process that reuses the pid.  Only those still running need it: a try
   * that ended has its end in this commit, and a try the commit never
   * recorded is stopped by the launcher if we die. */
  for (guint k = 0; k < s->proc_pending->len; k++) {
    guint idx = g_array_index(s->proc_pending, guint, k);
    ph_ti *ti = &s->ti[idx];
    if (ti->state != ST_RUNNING || ti->pid <= 0)
      continue;
    g_autofree char *proc = ph_proc_identity(ti->pid);
    ph_store_try_set_proc(s->store, s->run_id, task_of(s, idx)->id,
                          ti->map_index, ti->try_number, proc);
  }
  g_array_set_size(s->proc_pending, 0);
  GError *err = NULL;
  if (!ph_store_commit(s->store, &err) && !s->fatal) {
    s->fatal = g_strdup(err->message);
    g_clear_error(&err);
  }
  g_clear_error(&err);
  s->commit_gen++;
}

static void pool_release(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  if (!s->ti[idx].pool_held)
    return;
  s->ti[idx].pool_held = FALSE;
  ph_store_pool_release(s->store, s->run_id, t->id, s->ti[idx].map_index);
  s->pool_blocked = FALSE;
}

/* ---- ready heap */
static gboolean before(ph_sched *s, guint a, guint b) {
  int wa = task_of(s, a)->priority_weight;
  int wb = task_of(s, b)->priority_weight;
  if (wa != wb)
    return wa > wb;
  guint ra = s->rank[s->ti[a].task], rb = s->rank[s->ti[b].task];
  if (ra != rb)
    return ra < rb;
  return s->ti[a].map_index < s->ti[b].map_index;
}

static void heap_push(ph_sched *s, guint v) {
  guint i = s->heap_len++;
  s->heap[i] = v;
  while (i && before(s, s->heap[i], s->heap[(i - 1) / 2])) {
    guint p = (i - 1) / 2, tmp = s->heap[p];
    s->heap[p] = s->heap[i];
    s->heap[i] = tmp;
    i = p;
  }
}

static guint heap_pop(ph_sched *s) {
  guint top = s->heap[0];
  s->heap[0] = s->heap[--s->heap_len];
  guint i = 0;
  for (;;) {
    guint l = 2 * i + 1, r = l + 1, m = i;
    if (l < s->heap_len && before(s, s->heap[l], s->heap[m]))
      m = l;
    if (r < s->heap_len && before(s, s->heap[r], s->heap[m]))
      m = r;
    if (m == i)
      break;
    guint tmp = s->heap[m];
    s->heap[m] = s->heap[i];
    s->heap[i] = tmp;
    i = m;
  }
  return top;
}

/* ---- progress */
static void progress(ph_sched *s, guint idx, const char *what,
                     const char *raw) {
  if (!s->o.progress)
    return;
  g_autofree char *detail = raw ? ph_util_printable(raw) : NULL;
  const char *name = s->ti[idx].name;
  double el = ph_util_now() - s->t0;
  if (s->o.progress == 2) {
    fprintf(stderr,
            "\r\033[K[%6.2fs] %u/%u done, %u running, %d failed | %s %s%s%s",
            el, s->n_final, s->n_ti, s->n_running,
            s->counts[ST_FAILED] + s->counts[ST_UPSTREAM_FAILED], name, what,
            detail ? ": " : "", detail ? detail : "");
  } else {
    fprintf(stderr, "[%7.3fs] %s %s%s%s\n", el, name, what, detail ? ": " : "",
            detail ? detail : "");
  }
}

/* ---- state changes */
static void record(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  if (ti->n_kids)
    return; /* an expanded task's record is its instances' */
  ph_store_ti_set(s->store, s->run_id, t->id, ti->map_index,
                  state_names[ti->state], ti->try_number, ti->start > 0 ? ti->start : -1.0,
                  FINAL(ti->state) ? ti->end : -1.0, ti->pid, ti->reason);
}

static void set_reason(ph_ti *ti, const char *r) {
  g_free(ti->reason);
  ti->reason = r ? g_strdup(r) : NULL;
}

static void instance_final(ph_sched *s, guint idx);

/* Puts idx in a final state and queues it for downstream evaluation.  An
 * expanded task ends with its last instance (instance_final). */
static void finish(ph_sched *s, guint idx, int state, const char *reason) {
  ph_ti *ti = &s->ti[idx];
  if (FINAL(ti->state) || ti->n_kids)
    return;
  if ((int)idx == s->prepared)
    discard_prepared(s); /* decided without running (upstream_failed...) */
  ti->state = state;
  if (reason)
    set_reason(ti, reason);
  if (!ti->end)
    ti->end = ph_util_now();
  s->n_final++;
  s->counts[state]++;
  ti->end_gen = s->commit_gen;
  record(s, idx);
  s->worklist[s->wl_len++] = idx;
  progress(s, idx, state_names[state], ti->reason);
  if (ti->map_index >= 0)
    instance_final(s, idx);
}

/* A mapped instance ended: when it was the last of its task, the task
 * takes the state its instances add up to (failed if one failed, skipped
 * if all were skipped), for the run's state and the summary.  Its
 * downstreams counted each instance already. */
static void instance_final(ph_sched *s, guint idx) {
  ph_ti *p = &s->ti[s->ti[idx].task];
  if (--p->kids_left)
    return;
  int agg = ST_SKIPPED;
  for (guint k = p->kid0; k < p->kid0 + p->n_kids; k++) {
    int st = s->ti[k].state;
    if (st == ST_FAILED)
      agg = ST_FAILED;
    else if (st == ST_UPSTREAM_FAILED && agg != ST_FAILED)
      agg = ST_UPSTREAM_FAILED;
    else if (st == ST_SUCCESS && agg == ST_SKIPPED)
      agg = ST_SUCCESS;
    p->end = MAX(p->end, s->ti[k].end);
  }
  p->state = agg;
  p->end_gen = s->commit_gen;
  s->n_final++;
}

static void make_ready(ph_sched *s, guint idx) {
  ph_ti *ti = &s->ti[idx];
  if (ti->state != ST_NONE && ti->state != ST_UP_FOR_RETRY &&
      ti->state != ST_UP_FOR_RESCHEDULE)
    return;
  ti->state = ST_SCHEDULED;
  heap_push(s, idx);
  s->pool_blocked = FALSE;
}

static void evaluate(ph_sched *s, guint d) {
  const ph_task_spec *t = ph_plan_get_task(s->plan, d);
  ph_ti *ti = &s->ti[d];
  if (ti->state != ST_NONE)
    return;
  int dec = ph_trigger_eval(t->rule, &ti->c);
  if (dec == PH_TR_RUN)
    make_ready(s, d);
  else if (dec == PH_TR_SKIP)
    finish(s, d, ST_SKIPPED, NULL);
  else if (dec == PH_TR_UPSTREAM_FAILED)
    finish(s, d, ST_UPSTREAM_FAILED, NULL);
}

/* Propagates every final state in the worklist to direct downstreams. */
static void propagate(ph_sched *s) {
  if (s->o.only_task) {
    s->wl_len = 0;
    return;
  }
  while (s->wl_len) {
    guint u = s->worklist[--s->wl_len];
    int st = s->ti[u].state;
    const ph_task_spec *t = task_of(s, u);
    for (guint k = 0; k < t->n_down; k++) {
      guint d = t->down[k];
      ph_tr_counts *c = &s->ti[d].c;
      if (st == ST_SUCCESS)
        c->success++;
      else if (st == ST_SKIPPED)
        c->skipped++;
      else if (st == ST_FAILED)
        c->failed++;
      else
        c->upstream_failed++;
      evaluate(s, d);
    }
  }
}

/* Marks every transitive downstream of idx reachable set in mark. */
static void mark_descendants(ph_sched *s, guint idx, guint8 *mark) {
  GArray *stack = g_array_new(FALSE, FALSE, sizeof(guint));
  g_array_append_val(stack, idx);
  while (stack->len) {
    guint u = g_array_index(stack, guint, stack->len - 1);
    g_array_set_size(stack, stack->len - 1);
    const ph_task_spec *t = ph_plan_get_task(s->plan, u);
    for (guint k = 0; k < t->n_down; k++)
      if (!mark[t->down[k]]) {
        mark[t->down[k]] = 1;
        g_array_append_val(stack, t->down[k]);
      }
  }
  g_array_free(stack, TRUE);
}

/* Airflow's skip_all_except: skip direct downstreams not reachable from
 * a followed task. */
static void apply_branch(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  guint8 *keep = g_new0(guint8, s->n);
  for (guint i = 0; ti->follow && i < ti->follow->len; i++) {
    int f = ph_plan_lookup(s->plan, ti->follow->pdata[i]);
    if (f >= 0) {
      keep[f] = 1;
      mark_descendants(s, f, keep);
    }
  }
  g_autofree char *why = g_strdup_printf("not followed by branch '%s'", t->id);
  for (guint k = 0; k < t->n_down; k++)
    if (!keep[t->down[k]])
      finish(s, t->down[k], ST_SKIPPED, why);
  g_free(keep);
}

static void apply_short_circuit(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  JsonNode *ig =
      json_object_get_member(t->params, "ignore_downstream_trigger_rules");
  gboolean all = !ig || !JSON_NODE_HOLDS_VALUE(ig) || json_node_get_boolean(ig);
  g_autofree char *why =
      g_strdup_printf("short-circuited by '%s' (falsy result)", t->id);
  if (!all) {
    for (guint k = 0; k < t->n_down; k++)
      finish(s, t->down[k], ST_SKIPPED, why);
    return;
  }
  guint8 *mark = g_new0(guint8, s->n);
  mark_descendants(s, s->ti[idx].task, mark);
  const guint *topo = ph_plan_topo_order(s->plan);
  for (guint k = 0; k < s->n; k++)
    if (mark[topo[k]])
      finish(s, topo[k], ST_SKIPPED, why);
  g_free(mark);
}

/* ---- context */
static void add_str(JsonBuilder *b, const char *k, const char *v) {
  json_builder_set_member_name(b, k);
  json_builder_add_string_value(b, v);
}

static void kv_str(ph_jsonw *w, const char *k, const char *v) {
  ph_jsonw_key(w, k);
  ph_jsonw_string(w, v);
}

static void kv_int(ph_jsonw *w, const char *k, gint64 v) {
  ph_jsonw_key(w, k);
  ph_jsonw_int(w, v);
}

static void kv_double(ph_jsonw *w, const char *k, double v) {
  ph_jsonw_key(w, k);
  ph_jsonw_double(w, v);
}

static void kv_bool(ph_jsonw *w, const char *k, gboolean v) {
  ph_jsonw_key(w, k);
  ph_jsonw_bool(w, v);
}

/* Joins two JSON object texts into one object: {a...} + {b...}.  Their
 * member names must differ. */
static char *join_objects(const char *a, const char *b) {
  gsize la = strlen(a);
  g_assert(la >= 2 && a[la - 1] == '}' && b[0] == '{');
  gboolean a_empty = la == 2, b_empty = !strcmp(b, "{}");
  return g_strdup_printf("%.*s%s%s", (int)(la - 1), a,
                         a_empty || b_empty ? "" : ",", b_empty ? "}" : b + 1);
}

/* The try's template context: the run's shared members (context_base,
 * built once per run) and the task's own, joined as text (parsing the
 * base again per try was a third of the host's work per try). */
static char *build_context(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  ph_jsonw *w = ph_jsonw_new();
  ph_jsonw_begin_object(w);
  ph_jsonw_key(w, "task");
  ph_jsonw_begin_object(w);
  kv_str(w, "task_id", t->id);
  kv_str(w, "operator", t->op_name);
  kv_int(w, "retries", t->retries);
  ph_jsonw_end_object(w);
  ph_jsonw_key(w, "ti");
  ph_jsonw_begin_object(w);
  kv_str(w, "task_id", t->id);
  kv_str(w, "dag_id", ph_plan_get_dag_id(s->plan));
  kv_str(w, "run_id", s->run_id);
  kv_int(w, "try_number", ti->try_number);
  kv_int(w, "max_tries", t->retries);
  kv_int(w, "map_index", ti->map_index);
  ph_jsonw_end_object(w);
  kv_str(w, "task_id", t->id);
  kv_int(w, "try_number", ti->try_number);
  ph_jsonw_key(w, "downstream_task_ids");
  ph_jsonw_begin_array(w);
  for (guint k = 0; k < t->n_down; k++)
    ph_jsonw_string(w, ph_plan_get_task(s->plan, t->down[k])->id);
  ph_jsonw_end_array(w);
  g_autofree char *key = g_strdup_printf(
      "%s__%s__%s", ph_plan_get_dag_id(s->plan), ti->name, s->ds_nodash);
  kv_str(w, "task_instance_key_str", key);
  ph_jsonw_end_object(w);
  g_autofree char *own = ph_jsonw_free_to_text(w, NULL);
  return join_objects(s->context_base, own);
}

/* Adds name: the ISO text of t, or null when t is G_MININT64 (none). */
static void add_time(JsonBuilder *b, const char *name, gint64 t) {
  json_builder_set_member_name(b, name);
  if (t == G_MININT64) {
    json_builder_add_null_value(b);
    return;
  }
  g_autofree char *iso = ph_util_iso8601((double)t);
  json_builder_add_string_value(b, iso);
}

static void add_ds(JsonBuilder *b, const char *name, const char *nodash,
                   gint64 t) {
  if (t == G_MININT64) {
    json_builder_set_member_name(b, name);
    json_builder_add_null_value(b);
    json_builder_set_member_name(b, nodash);
    json_builder_add_null_value(b);
    return;
  }
  GDateTime *dt = g_date_time_new_from_unix_utc(t);
  g_autofree char *d = g_date_time_format(dt, "%Y-%m-%d");
  g_autofree char *dn = g_date_time_format(dt, "%Y%m%d");
  g_date_time_unref(dt);
  add_str(b, name, d);
  add_str(b, nodash, dn);
}

/* The interval of tt just before the one starting at t (its start <
 * t), or FALSE. */
static gboolean prev_interval(const ph_timetable *tt, gint64 t,
                              ph_interval *out) {
  ph_interval nx;
  gint64 gap =
      ph_timetable_next(tt, t, &nx) && nx.start > t ? nx.start - t : 86400;
  for (gint64 back = 2 * gap; back < (gint64)400 * 366 * 86400; back *= 4) {
    ph_interval iv;
    gboolean found = FALSE;
    gint64 after = t - back;
    while (ph_timetable_next(tt, after, &iv) && iv.start < t) {
      *out = iv;
      found = TRUE;
      after = iv.start;
    }
    if (found)
      return TRUE;
  }
  return FALSE;
}

/* Airflow 2's schedule-relative context: next_/prev_ logical dates and
 * ds, next_data_interval_end (latest_only), yesterday_ds / tomorrow_ds,
 * and the previous successful run's interval and start. */
static void add_schedule_context(ph_sched *s, JsonBuilder *b) {
  JsonObject *args = ph_dag_get_args(ph_plan_get_dag(s->plan));
  ph_timetable *tt = ph_timetable_new(args, NULL);
  gint64 lt = (gint64)s->logical_t;
  gint64 next = G_MININT64, next_end = G_MININT64, prev = G_MININT64;
  ph_interval iv;
  if (tt && !ph_timetable_is_manual(tt)) {
    if (ph_timetable_next(tt, lt, &iv)) {
      next = iv.start;
      next_end = iv.end;
    }
    if (prev_interval(tt, lt, &iv))
      prev = iv.start;
  }
  add_time(b, "execution_date", lt);
  add_time(b, "next_execution_date", next);
  add_time(b, "prev_execution_date", prev);
  add_time(b, "next_data_interval_end", next_end);
  add_ds(b, "next_ds", "next_ds_nodash", next);
  add_ds(b, "prev_ds", "prev_ds_nodash", prev);
  gint64 day = lt - lt % 86400;
  add_ds(b, "yesterday_ds", "yesterday_ds_nodash", day - 86400);
  add_ds(b, "tomorrow_ds", "tomorrow_ds_nodash", day + 86400);
  /* the latest successful run of this DAG before this one */
  double pstart = -1, pld = -1;
  ph_store_prev_success(s->store, ph_plan_get_dag_id(s->plan), s->logical_date,
                        &pld, &pstart);
  gint64 pend = G_MININT64;
  if (pld >= 0) {
    pend = (gint64)pld;
    if (tt && !ph_timetable_is_manual(tt) &&
        ph_timetable_next(tt, (gint64)pld - 1, &iv) && iv.start == (gint64)pld)
      pend = iv.end;
  }
  add_time(b, "prev_data_interval_start_success",
           pld >= 0 ? (gint64)pld : G_MININT64);
  add_time(b, "prev_data_interval_end_success", pend);
  add_time(b, "prev_start_date_success",
           pstart >= 0 ? (gint64)pstart : G_MININT64);
  ph_timetable_free(tt);
}

/* Masks secret from now on in every log, output and XCom of the run. A
 * value learnt again (a variable re-read, a connection fetched per try) is
 * kept once: every filtered output scans the whole list. */
static void add_secret(ph_sched *s, const char *secret) {
  if (!secret || !*secret)
    return;
  for (guint k = 0; k < s->secrets->len; k++)
    if (!strcmp(s->secrets->pdata[k], secret))
      return;
  g_ptr_array_add(s->secrets, g_strdup(secret));
}

static void build_context_base(ph_sched *s) {
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  const char *ld = s->logical_date;
  g_autofree char *ds = g_strndup(ld, 10);
  g_autofree char *ds_nodash = g_strdup(ds);
  char *w = ds_nodash;
  for (const char *r = ds; *r; r++)
    if (*r != '-')
      *w++ = *r;
  *w = 0;
  GString *tsn = g_string_new(NULL);
  for (const char *r = ld; *r && *r != '+'; r++)
    if (*r != '-' && *r != ':')
      g_string_append_c(tsn, *r);
  add_str(b, "dag_id", ph_plan_get_dag_id(s->plan));
  add_str(b, "run_id", s->run_id);
  add_str(b, "ds", ds);
  add_str(b, "ds_nodash", ds_nodash);
  g_free(s->ds_nodash);
  s->ds_nodash = g_strdup(ds_nodash);
  add_str(b, "ts", ld);
  add_str(b, "ts_nodash", tsn->str);
  add_str(b, "logical_date", ld);
  add_str(b, "data_interval_start", ld);
  add_str(b, "data_interval_end", s->o.interval_end ? s->o.interval_end : ld);
  g_string_free(tsn, TRUE);
  add_schedule_context(s, b);
  json_builder_set_member_name(b, "params");
  JsonNode *pn = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(pn, s->params);
  json_builder_add_value(b, json_node_copy(pn));
  json_builder_set_member_name(b, "conf");
  json_builder_add_value(b, json_node_copy(pn));
  json_builder_set_member_name(b, "dag_run");
  json_builder_begin_object(b);
  add_str(b, "run_id", s->run_id);
  add_str(b, "logical_date", ld);
  add_str(b, "run_type", s->o.run_type ? s->o.run_type : "manual");
  json_builder_set_member_name(b, "conf");
  json_builder_add_value(b, json_node_copy(pn));
  json_builder_end_object(b);
  json_node_unref(pn);
  json_builder_set_member_name(b, "dag");
  json_builder_begin_object(b);
  add_str(b, "dag_id", ph_plan_get_dag_id(s->plan));
  json_builder_end_object(b);
  /* variables: var.value.NAME and var.json.NAME; PIPEHOST_VAR_NAME
   * environment variables override stored ones */
  JsonNode *vars = ph_store_var_list(s->store);
  g_auto(GStrv) envp = g_get_environ();
  GList *stored = json_object_get_members(json_node_get_object(vars));
  for (char **e = envp; *e; e++)
    if (g_str_has_prefix(*e, "PIPEHOST_VAR_") && strchr(*e, '=')) {
      const char *eq = strchr(*e, '=');
      g_autofree char *name = g_strndup(*e + 13, eq - (*e + 13));
      json_object_set_string_member(json_node_get_object(vars), name, eq + 1);
      /* Airflow looks a variable up as AIRFLOW_VAR_<NAME upper-cased>:
       * the environment wins over a stored "name" in any case */
      for (GList *l = stored; l; l = l->next)
        if (!g_ascii_strcasecmp(l->data, name))
          json_object_set_string_member(json_node_get_object(vars), l->data,
                                        eq + 1);
    }
  g_list_free(stored);
  JsonObject *vjson = json_object_new();
  JsonObject *vo = json_node_get_object(vars);
  GList *keys = json_object_get_members(vo);
  for (GList *l = keys; l; l = l->next) {
    /* as Airflow: a variable whose name says it is a secret is masked in
     * every log, output and XCom of the run */
    if (ph_util_name_is_sensitive(l->data))
      add_secret(s, json_object_get_string_member(vo, l->data));
    JsonNode *parsed =
        json_from_string(json_object_get_string_member(vo, l->data), NULL);
    json_object_set_member(vjson, l->data,
                           parsed ? parsed : json_node_new(JSON_NODE_NULL));
  }
  g_list_free(keys);
  json_builder_set_member_name(b, "var");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "value");
  json_builder_add_value(b, vars);
  json_builder_set_member_name(b, "json");
  JsonNode *vjn = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(vjn, vjson);
  json_builder_add_value(b, vjn);
  json_builder_end_object(b);
  g_autofree char *abs =
      g_canonicalize_filename(ph_plan_get_file(s->plan), NULL);
  add_str(b, "dag_file", abs);
  g_autofree char *absdir = g_path_get_dirname(abs);
  add_str(b, "dag_dir", absdir);
  add_str(b, "dag_kind",
          ph_dag_get_kind(ph_plan_get_dag(s->plan)) == PH_DAG_LUA ? "lua"
                                                                  : "yaml");
  add_str(b, "lua_dir", s->o.lua_dir ? s->o.lua_dir : "");
  g_autofree char *cwd = g_get_current_dir();
  add_str(b, "work_dir", cwd);
  json_builder_end_object(b);
  JsonNode *root = json_builder_get_root(b);
  s->context_base = ph_util_json_dup(root);
  json_node_unref(root);
  g_object_unref(b);
}

/* ---- result caching (cache: true) */

/* Where a try's files go: under the fingerprint for a cached task (so a
 * reused result keeps its files), else under the run and try. */
static char *artifact_dir(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  const char *home = ph_store_get_home(s->store);
  const char *dag = ph_plan_get_dag_id(s->plan);
  const char *fp = s->ti[idx].fp;
  if (fp && g_str_has_prefix(fp, "sha256:") && strlen(fp) > 11) {
    g_autofree char *shard = g_strndup(fp + 7, 2);
    return g_build_filename(home, "artifacts", dag, t->id, shard, fp + 7, NULL);
  }
  g_autofree char *tryd = g_strdup_printf("try_%d", s->ti[idx].try_number);
  return g_build_filename(home, "artifacts", dag, s->run_id, s->ti[idx].name,
                          tryd, NULL);
}

/* The log file of task idx's current try; caller frees. */
static char *try_log_path(ph_sched *s, guint idx) {
  return g_strdup_printf("%s/logs/%s/%s/%s.%d.log", ph_store_get_home(s->store),
                         ph_plan_get_dag_id(s->plan), s->run_id,
                         s->ti[idx].name, s->ti[idx].try_number);
}

static char *sched_xcom(const char *task_id, const char *key, void *user) {
  ph_sched *s = user;
  return ph_store_xcom_get(s->store, s->run_id, task_id,
                           key ? key : "return_value");
}

/* The templated params of task idx rendered in the host: a new object,
 * or NULL when a template failed (the worker then reports it). */
static JsonObject *render_params(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  JsonObject *params = params_of(s, idx);
  JsonObject *out = json_object_new();
  g_autofree char *ctx = NULL;
  GList *keys = json_object_get_members(params);
  for (GList *l = keys; l; l = l->next) {
    const char *k = l->data;
    JsonNode *v = json_object_get_member(params, k);
    const ph_param *pp = ph_registry_find_param(t->op, k);
    JsonNode *rv = NULL;
    g_autofree char *src = NULL;
    if (pp && (pp->flags & PH_PARAM_TEMPLATED) &&
        strstr(src = ph_util_json_dup(v), "{{")) {
      if (!ctx)
        ctx = build_context(s, idx);
      g_autofree char *r =
          ph_template_render_json(src, ctx, sched_xcom, s, NULL);
      JsonNode *text = r ? json_from_string(r, NULL) : NULL;
      rv = text ? ph_registry_param_coerce(pp, text, NULL) : NULL;
      if (text)
        json_node_unref(text);
      if (!rv) { /* the worker renders it again and reports the error */
        json_object_unref(out);
        out = NULL;
        break;
      }
    }
    if (!rv)
      rv = json_node_copy(v);
    /* relative paths mean next to the DAG file, as in the worker */
    ph_registry_resolve_paths(pp, rv, s->dag_dir);
    json_object_set_member(out, k, rv);
  }
  g_list_free(keys);
  return out;
}

/* Adds the content hash of every path in v (a string, a list of strings or
 * an object with a "path" member) to files.  A string that is no file but
 * a model registry reference (NAME@ALIAS) stands for the model's files. */
static void hash_paths(ph_store *st, JsonNode *v, JsonObject *files) {
  if (!v)
    return;
  if (JSON_NODE_HOLDS_ARRAY(v)) {
    JsonArray *a = json_node_get_array(v);
    for (guint i = 0; i < json_array_get_length(a); i++)
      hash_paths(st, json_array_get_element(a, i), files);
    return;
  }
  if (JSON_NODE_HOLDS_OBJECT(v)) {
    hash_paths(st, json_object_get_member(json_node_get_object(v), "path"),
               files);
    return;
  }
  if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING)
    return;
  const char *path = json_node_get_string(v);
  /* a JSON text rendered from an XCom: look inside */
  if (path[0] == '{' || path[0] == '[') {
    JsonNode *inner = json_from_string(path, NULL);
    if (inner) {
      hash_paths(st, inner, files);
      json_node_unref(inner);
      return;
    }
  }
  g_autofree char *abs = g_canonicalize_filename(path, NULL);
  if (!g_file_test(abs, G_FILE_TEST_EXISTS)) {
    g_autofree char *model = ph_track_model_get(st, path);
    JsonNode *mn = model ? json_from_string(model, NULL) : NULL;
    const char *mp = mn ? json_object_get_string_member_with_default(
                              json_node_get_object(mn), "path", NULL)
                        : NULL;
    if (mp) {
      g_autofree char *key = g_strdup_printf("model %s", path);
      char *mh = ph_fingerprint_path(mp, NULL);
      json_object_set_string_member(files, key, mh ? mh : "missing");
      g_free(mh);
    }
    if (mn)
      json_node_unref(mn);
    if (mp)
      return;
  }
  char *h = ph_fingerprint_path(abs, NULL);
  json_object_set_string_member(files, abs, h ? h : "missing");
  g_free(h);
}

/* Computes the task's fingerprint document and hash; FALSE when it cannot
 * be computed (a template error: the try will report it). */
static gboolean fingerprint(ph_sched *s, guint idx, char **fp_out,
                            char **doc_out) {
  const ph_task_spec *t = task_of(s, idx);
  gboolean ok = FALSE;
  JsonObject *doc = json_object_new();
  JsonObject *params = json_object_new();
  JsonObject *files = json_object_new();
  JsonObject *ups = json_object_new();
  JsonObject *plugin = json_object_new();
  JsonObject *rendered = NULL;
  json_object_set_int_member(doc, "fpv", 1);
  json_object_set_string_member(doc, "op", t->op->type);
  json_object_set_string_member(plugin, "name", t->plugin->name);
  json_object_set_string_member(plugin, "version",
                                t->plugin->version ? t->plugin->version : "");
  json_object_set_int_member(plugin, "abi", t->plugin->abi_major);
  JsonNode *pn = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(pn, params_of(s, idx));
  g_autofree char *raw = ph_util_json_dup(pn);
  json_node_unref(pn);
  if (ph_template_calls_patterns(raw)) {
    /* not rendered here, where nothing could stop it: no cache for it */
    progress(s, idx, "cache",
             "skipped: its templates call Lua pattern "
             "functions, rendered only in its worker");
    goto out;
  }
  rendered = render_params(s, idx);
  if (!rendered)
    goto out; /* a template error: the try reports it */
  GList *keys = json_object_get_members(rendered);
  for (GList *l = keys; l; l = l->next) {
    const char *k = l->data;
    const ph_param *pp = ph_registry_find_param(t->op, k);
    JsonNode *rv = json_node_copy(json_object_get_member(rendered, k));
    if (pp && (pp->flags & PH_PARAM_PATH))
      hash_paths(s->store, rv, files);
    if (pp && (pp->flags & PH_PARAM_SECRET)) {
      /* the document is stored and printed (lineage): a secret is never
       * in it, so a changed password does not invalidate a cached result */
      json_node_unref(rv);
      rv = json_node_init_string(json_node_alloc(), "***");
    }
    json_object_set_member(params, k, rv);
  }
  g_list_free(keys);
  for (guint k = 0; k < t->n_up; k++) {
    guint u = t->up[k];
    const char *uid = ph_plan_get_task(s->plan, u)->id;
    if (s->ti[u].fp) {
      json_object_set_string_member(ups, uid, s->ti[u].fp);
      continue;
    }
    /* no fingerprint upstream: its return value stands for its output (a
     * sensor's matched files, a query's rows); other keys are commentary */
    g_autofree char *rv =
        ph_store_xcom_get(s->store, s->run_id, uid, "return_value");
    JsonNode *mine = rv ? json_from_string(rv, NULL) : NULL;
    g_autofree char *h = mine ? ph_fingerprint_json(mine) : g_strdup("no-xcom");
    if (mine)
      json_node_unref(mine);
    json_object_set_string_member(ups, uid, h);
  }
  json_object_set_object_member(doc, "plugin", plugin);
  plugin = NULL;
  json_object_set_object_member(doc, "params", params);
  params = NULL;
  json_object_set_object_member(doc, "files", files);
  files = NULL;
  json_object_set_object_member(doc, "upstream", ups);
  ups = NULL;
  JsonNode *dn = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(dn, doc);
  *fp_out = ph_fingerprint_json(dn);
  *doc_out = ph_util_json_dup(dn);
  json_node_unref(dn);
  ok = TRUE;
out:
  if (plugin)
    json_object_unref(plugin);
  if (params)
    json_object_unref(params);
  if (files)
    json_object_unref(files);
  if (ups)
    json_object_unref(ups);
  if (rendered)
    json_object_unref(rendered);
  json_object_unref(doc);
  return ok;
}

/* For a cache: true task about to start its first try: computes its
 * fingerprint and, when a successful try with the same one exists, reuses
 * its XComs and finishes the task as success.  TRUE when it did. */
static gboolean try_cache(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  char *doc = NULL, *src_run = NULL, *src_task = NULL;
  gboolean hit = FALSE;
  g_clear_pointer(&ti->fp, g_free);
  if (!fingerprint(s, idx, &ti->fp, &doc))
    return FALSE;
  /* the artifact dir goes into the lineage record, not the hash */
  g_autofree char *adir = artifact_dir(s, idx);
  JsonNode *dn = json_from_string(doc, NULL);
  json_object_set_string_member(json_node_get_object(dn), "artifact_dir", adir);
  g_free(doc);
  doc = ph_util_json_dup(dn);
  json_node_unref(dn);
  JsonNode *x = NULL;
  JsonObject *mine = NULL;
  if (ph_track_cache_lookup(s->store, ti->fp, &src_run, &src_task)) {
    /* src_task names an instance as ph_store_ti_name does */
    x = ph_store_xcom_list(s->store, src_run);
    mine = json_object_get_object_member(json_node_get_object(x), src_task);
    /* results that point into a deleted artifact directory are stale */
    JsonNode *mn = mine ? json_node_init_object(json_node_alloc(), mine) : NULL;
    g_autofree char *text = mn ? ph_util_json_dup(mn) : NULL;
    if (mn)
      json_node_unref(mn);
    if (text && strstr(text, adir) && !g_file_test(adir, G_FILE_TEST_IS_DIR)) {
      progress(s, idx, "cache", "stale: its artifact directory is gone");
      mine = NULL;
      g_clear_pointer(&src_run, g_free);
    }
  }
  if (src_run) {
    GList *keys = mine ? json_object_get_members(mine) : NULL;
    ph_store_xcom_clear(s->store, s->run_id, t->id, ti->map_index);
    for (GList *l = keys; l; l = l->next) {
      g_autofree char *v =
          ph_util_json_dup(json_object_get_member(mine, l->data));
      ph_store_xcom_set(s->store, s->run_id, t->id, ti->map_index, l->data, v);
    }
    g_list_free(keys);
    ph_track_lineage_set(s->store, s->run_id, ti->name, ti->fp, doc, src_run);
    g_autofree char *why = g_strdup_printf(
        "cached: fingerprint %.19s... matches run %s", ti->fp, src_run);
    ti->start = ti->end = ph_util_now();
    finish(s, idx, ST_SUCCESS, why);
    hit = TRUE;
  } else {
    ph_track_lineage_set(s->store, s->run_id, ti->name, ti->fp, doc, NULL);
  }
  if (x)
    json_node_unref(x);
  g_free(doc);
  g_free(src_run);
  g_free(src_task);
  return hit;
}

/* ---- starting tries */
static char *build_spec(ph_sched *s, guint idx, gboolean await_go) {
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  /* written as text at once: a json-glib tree built and then serialised
   * was a sixth of the host's work per try */
  ph_jsonw *w = ph_jsonw_new();
  ph_jsonw_begin_object(w);
  kv_str(w, "dag_id", ph_plan_get_dag_id(s->plan));
  kv_str(w, "task_id", t->id);
  kv_int(w, "map_index", ti->map_index);
  kv_str(w, "run_id", s->run_id);
  kv_str(w, "logical_date", s->logical_date);
  kv_int(w, "try_number", ti->try_number);
  kv_str(w, "op", t->op->type);
  kv_str(w, "plugin_path", t->plugin_path);
  kv_double(w, "execution_timeout", t->execution_timeout);
  kv_double(w, "memory_limit", t->memory_limit);
  kv_int(w, "xcom_max", s->o.xcom_max);
  g_autofree char *adir = artifact_dir(s, idx);
  kv_str(w, "artifact_dir", adir);
  kv_str(w, "dag_dir", s->dag_dir);
  if (await_go)
    kv_bool(w, "await_go", TRUE);
  ph_jsonw_key(w, "params");
  JsonNode *pn = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(pn, params_of(s, idx));
  ph_jsonw_node(w, pn);
  json_node_unref(pn);
  ph_jsonw_key(w, "downstream");
  ph_jsonw_begin_array(w);
  for (guint k = 0; k < t->n_down; k++)
    ph_jsonw_string(w, ph_plan_get_task(s->plan, t->down[k])->id);
  ph_jsonw_end_array(w);
  ph_jsonw_key(w, "secrets");
  ph_jsonw_begin_array(w);
  for (guint k = 0; k < s->secrets->len; k++)
    ph_jsonw_string(w, s->secrets->pdata[k]);
  ph_jsonw_end_array(w);
  if (t->op->kind == PH_KIND_SENSOR) {
    ph_jsonw_key(w, "sensor");
    ph_jsonw_begin_object(w);
    kv_bool(w, "reschedule", t->reschedule);
    kv_double(w, "poke_interval", t->poke_interval);
    kv_double(w, "timeout", t->timeout);
    kv_double(w, "max_wait", t->max_wait);
    kv_double(w, "started", ti->sensor_start);
    kv_bool(w, "exponential_backoff", t->exponential_backoff);
    kv_bool(w, "soft_fail", t->soft_fail);
    ph_jsonw_end_object(w);
  }
  ph_jsonw_end_object(w);
  g_autofree char *txt = ph_jsonw_free_to_text(w, NULL);
  /* the context follows on a line of its own, as the text it is: the
   * worker hands it to templates and operators without parsing it (with
   * json-glib, parsing 2 KB costs ~90 us) */
  g_autofree char *ctx = build_context(s, idx);
  return ph_worker_spec_text(txt, ctx);
}

static void on_try_end(ph_sched *s, guint idx, ph_status st, const char *reason,
                       gboolean sensor_waiting, gboolean falsy);
static char *mask(ph_sched *s, const char *text);
static void mask_json(ph_sched *s, JsonNode *n);

/* Starts run for task idx through ph_exec_start_command.  PATH is searched
 * once per program and run (a long PATH costs a failed exec per entry
 * before the right one), and again when the program found is gone. */
static int spawn_run(ph_sched *s, guint idx, char **run, char **envp,
                     const char *cwd, const char *log, const char *header,
                     GError **error) {
  ph_ti *ti = &s->ti[idx];
  double timeout = task_of(s, idx)->execution_timeout;
  const char *path = NULL;
  if (!strchr(run[0], '/') && !(path = g_hash_table_lookup(s->progs, run[0]))) {
    path = g_find_program_in_path(run[0]);
    if (path)
      g_hash_table_insert(s->progs, g_strdup(run[0]), (char *)path);
  }
  GError *err = NULL;
  int pid = ph_exec_start_command(s->ex, idx, path, run, envp, cwd, log, header,
                                  &ti->exec_offset, timeout, &err);
  if (pid < 0 && path &&
      g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
    g_hash_table_remove(s->progs, run[0]); /* frees path */
    g_clear_error(&err);
    pid = ph_exec_start_command(s->ex, idx, NULL, run, envp, cwd, log, header,
                                &ti->exec_offset, timeout, &err);
  }
  if (err)
    g_propagate_error(error, err);
  return pid;
}

/* ABI 1.3: starts the command of a command operator with no worker, as
 * the operator's execute would through exec_command.  Returns the pid; 0
 * when the try must go through a worker instead; -1 when the command
 * could not start (*why set).  *rendered gets the params as rendered (the
 * caller's), or NULL when a template failed. */
static int start_direct(ph_sched *s, guint idx, const char *log, char **why,
                        JsonObject **rendered) {
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  const char *what = t->op->command->what;
  char **plain = NULL, **argv = NULL, *cwd = NULL;
  int pid = 0, skip = -1;
  guint nbase = 0;
  GPtrArray *env = NULL;
  JsonObject *params = render_params(s, idx);
  if (!params)
    goto out;
  argv = ph_direct_argv(t->op, params, &plain, &cwd, &skip);
  struct stat sb;
  if (cwd && (stat(cwd, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
    *why = g_strdup_printf("cannot enter %s: %s", cwd,
                           g_strerror(errno ? errno : ENOTDIR));
    pid = -1;
    goto out;
  }
  /* the try's identity, as a worker sets it for the command */
  env = g_ptr_array_new();
  for (char **e = s->env_base; *e; e++)
    g_ptr_array_add(env, *e);
  nbase = env->len;
  char tryn[16], mapi[16];
  g_snprintf(tryn, sizeof tryn, "%d", ti->try_number);
  g_snprintf(mapi, sizeof mapi, "%d", ti->map_index);
  const char *ids[] = {ph_plan_get_dag_id(s->plan), t->id, s->run_id,
                       s->logical_date, tryn, mapi};
  for (guint k = 0; k < G_N_ELEMENTS(ids); k++)
    g_ptr_array_add(env, g_strconcat(identity_env[k], "=", ids[k], NULL));
  g_ptr_array_add(env, NULL);
  for (int k = plain ? 0 : 1; k < 2 && pid <= 0; k++) {
    char **run = k == 0 ? plain : argv;
    g_autofree char *line = g_strjoinv(" ", run);
    g_autofree char *masked = mask(s, line);
    g_autofree char *msg =
        g_strdup_printf("running: %s (%sstarted by the host, no worker)",
                        masked, k == 0 ? "no shell needed; " : "");
    g_autofree char *header = ph_util_log_line("INFO", msg);
    GError *err = NULL;
    pid = spawn_run(s, idx, run, (char **)env->pdata, cwd, log, header, &err);
    if (pid < 0) {
      /* plain words whose program is not on PATH: let the shell say so */
      gboolean retry =
          k == 0 && g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT);
      if (!retry)
        *why = g_strdup_printf("cannot run %s: %s", run[0], err->message);
      g_clear_error(&err);
      if (!retry)
        break;
    }
  }
  if (pid > 0) {
    ti->exec_skip = skip;
    g_free(ti->exec_what);
    ti->exec_what = g_strdup(what);
  }
out:
  if (env) {
    for (guint k = nbase; k < env->len; k++)
      g_free(env->pdata[k]);
    g_ptr_array_free(env, TRUE);
  }
  g_strfreev(plain);
  g_strfreev(argv);
  g_free(cwd);
  *rendered = params;
  return pid;
}

/* ---- dynamic task mapping (ph_map expands; the run holds instances) */

/* Adds the n instances of expanded task idx, with their params (taken
 * from items), in state none.  Its downstreams count each instance. */
static void add_instances(ph_sched *s, guint idx, GPtrArray *items) {
  guint n = items->len;
  grow(s, n);
  const ph_task_spec *t = task_of(s, idx);
  for (guint k = 0; k < t->n_down; k++)
    s->ti[t->down[k]].c.n += (int)n - 1;
  s->ti[idx].kid0 = s->n_ti;
  s->ti[idx].n_kids = s->ti[idx].kids_left = n;
  s->ti[idx].state = ST_RUNNING;
  for (guint i = 0; i < n; i++) {
    guint k = add_ti(s, idx, (int)i);
    s->ti[k].map_params = json_object_ref(items->pdata[i]);
  }
}

/* Expands mapped task idx as it would run (Airflow expands just before):
 * zero items skip it; a bad input or more than max_map_length items fail
 * it; else its instances are recorded and become ready. */
static void expand(ph_sched *s, guint idx) {
  g_autofree char *why = NULL;
  GPtrArray *items = ph_map_items(s->store, s->run_id, task_of(s, idx), &why);
  const ph_task_spec *t = task_of(s, idx);
  if (!items || items->len == 0) {
    s->ti[idx].start = s->ti[idx].end = ph_util_now();
    finish(s, idx, items ? ST_SKIPPED : ST_FAILED,
           items ? "mapped over zero items" : why);
    if (items)
      g_ptr_array_unref(items);
    return;
  }
  ph_store_ti_expand(s->store, s->run_id, t->id, t->op_name, t->retries,
                     (int)items->len);
  g_autofree char *what = g_strdup_printf("%u instances", items->len);
  progress(s, idx, "expanded", what);
  guint kid0 = s->n_ti;
  add_instances(s, idx, items);
  g_ptr_array_unref(items);
  for (guint k = kid0; k < s->n_ti; k++)
    make_ready(s, k);
}

/* An OpenLineage event for the current try of idx (type START, COMPLETE
 * or FAIL): the job "dag.task[N]", its DAG run as parent, its inlets as
 * inputs and outlets as outputs. */
static void lineage_event(ph_sched *s, guint idx, const char *type,
                          const char *error) {
  if (!s->ol)
    return;
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  const char *dag = ph_plan_get_dag_id(s->plan);
  g_autofree char *job = g_strdup_printf("%s.%s", dag, ti->name);
  g_autofree char *key =
      g_strdup_printf("%s/%s/%d", s->run_id, ti->name, ti->try_number);
  JsonArray *outs = json_array_new();
  for (guint k = 0; t->outlets && k < json_array_get_length(t->outlets); k++)
    json_array_add_string_element(
        outs, json_object_get_string_member(
                  json_array_get_object_element(t->outlets, k), "uri"));
  ph_openlineage_emit(s->ol, type, job, key, dag, s->run_id, t->inlets, outs,
                      error);
  json_array_unref(outs);
}

static void expand(ph_sched *s, guint idx);

/* Records the try's templated params as rendered (Airflow's rendered
 * fields), secrets masked, when it has templates the host may render
 * (not those calling Lua pattern functions: only the worker, where a
 * timeout holds, renders them).  Nothing for a task without templates.
 * rendered (taken; may be NULL): its params as already rendered. */
static void record_rendered(ph_sched *s, guint idx, JsonObject *rendered) {
  const ph_task_spec *t = task_of(s, idx);
  JsonNode *pn = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(pn, params_of(s, idx));
  g_autofree char *raw = ph_util_json_dup(pn);
  json_node_unref(pn);
  if (!ph_template_has_markers(raw) || ph_template_calls_patterns(raw)) {
    if (rendered)
      json_object_unref(rendered);
    return;
  }
  /* a direct command's params were rendered to start it: not again */
  JsonObject *r = rendered ? rendered : render_params(s, idx);
  if (!r)
    return; /* a template error: the try reports it */
  /* the templated params only (Airflow's template_fields), as rendered */
  GList *keys = json_object_get_members(r);
  for (GList *l = keys; l; l = l->next) {
    const ph_param *pp = ph_registry_find_param(t->op, l->data);
    if (!pp || !(pp->flags & PH_PARAM_TEMPLATED))
      json_object_remove_member(r, l->data);
    else if (pp->flags & PH_PARAM_SECRET)
      json_object_set_string_member(r, l->data, "***");
  }
  g_list_free(keys);
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, r);
  mask_json(s, n); /* a secret a template put into any value */
  g_autofree char *text = ph_util_json_dup(n);
  json_node_unref(n);
  ph_store_try_set_rendered(s->store, s->run_id, t->id, s->ti[idx].map_index,
                            s->ti[idx].try_number, text);
}

/* Whether TI idx's tries start their command with no worker (ABI 1.3,
 * start_direct): local, no memory limit, a command operator whose params
 * allow it.  Decided once per TI (ti->direct). */
static gboolean runs_direct(ph_sched *s, guint idx) {
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  if (!ti->direct)
    ti->direct = t->executor == PH_EXECUTOR_LOCAL && t->memory_limit <= 0 &&
                         ph_direct_applies(t->op, params_of(s, idx))
                     ? 1
                     : -1;
  return ti->direct > 0;
}

/* TRUE when TI d can be prepared: a task's first try in a run made here,
 * waiting only for upstreams that run or succeeded, which will start
 * through a worker of this machine as soon as they all succeed (no cache,
 * mapping, sensor, branch of a trigger rule, past dependency, Slurm or
 * direct command). */
static gboolean preparable(ph_sched *s, guint d) {
  const ph_task_spec *t = task_of(s, d);
  ph_ti *ti = &s->ti[d];
  if (ti->state != ST_NONE || ti->try_number || ti->tries_started ||
      ti->map_index >= 0 || is_mapped_task(s, d) ||
      t->executor != PH_EXECUTOR_LOCAL || t->op->kind == PH_KIND_SENSOR ||
      (t->op->flags & PH_OP_NO_WORKER) || t->cache || t->depends_on_past ||
      t->rule != PH_TR_ALL_SUCCESS)
    return FALSE;
  if (runs_direct(s, d))
    return FALSE;
  for (guint k = 0; k < t->n_up; k++) {
    int st = s->ti[t->up[k]].state;
    if (st != ST_RUNNING && st != ST_SUCCESS)
      return FALSE;
  }
  return TRUE;
}

/* Task idx's try has just started: a downstream task that will start the
 * moment it succeeds gets a worker now, which reads its spec and loads its
 * plugin while idx runs and then waits (ph_exec_prepare), so that a chain
 * does that work off its path.  One at a time; nothing is recorded until
 * the try really starts (start: ph_exec_go). */
static void prepare_next(ph_sched *s, guint idx) {
  if (s->prepared >= 0 || s->o.only_task || !s->fresh)
    return;
  const ph_task_spec *t = task_of(s, idx);
  for (guint k = 0; k < t->n_down; k++) {
    guint d = t->down[k];
    if (!preparable(s, d))
      continue;
    if (!ph_exec_spare_ready(s->ex, task_of(s, d)->plugin_path))
      return; /* its spec would be written for nothing */
    ph_ti *ti = &s->ti[d];
    /* as start() will see it: its first try */
    ti->try_number = 1;
    g_autofree char *spec = build_spec(s, d, TRUE);
    g_autofree char *log = try_log_path(s, d);
    ti->try_number = 0;
    GError *err = NULL;
    int pid =
        ph_exec_prepare(s->ex, d, spec, log, task_of(s, d)->plugin_path, &err);
    g_clear_error(&err); /* the try starts the usual way, and says why */
    if (pid > 0) {
      s->prepared = (int)d;
      s->prepared_log = g_steal_pointer(&log);
      s->prepared_nsecrets = s->secrets->len;
    }
    return;
  }
}

/* The prepared try of idx told to go; its pid, or -1 when there is none
 * (or its worker is gone: the try then starts afresh). */
static int go_prepared(ph_sched *s, guint idx, const char *log) {
  if (s->prepared != (int)idx)
    return -1;
  const ph_task_spec *t = task_of(s, idx);
  int pid = -1;
  if (s->ti[idx].try_number == 1 && !strcmp(log, s->prepared_log)) {
    /* the secrets learned since its spec was written */
    ph_jsonw *w = ph_jsonw_new();
    ph_jsonw_begin_object(w);
    ph_jsonw_key(w, "secrets");
    ph_jsonw_begin_array(w);
    for (guint k = s->prepared_nsecrets; k < s->secrets->len; k++)
      ph_jsonw_string(w, s->secrets->pdata[k]);
    ph_jsonw_end_array(w);
    ph_jsonw_end_object(w);
    g_autofree char *go = ph_jsonw_free_to_text(w, NULL);
    pid = ph_exec_go(s->ex, idx, go, t->execution_timeout);
  }
  if (pid > 0) {
    g_clear_pointer(&s->prepared_log, g_free);
    s->prepared = -1;
  } else {
    discard_prepared(s);
  }
  return pid;
}

static void start(ph_sched *s, guint idx) {
  if (s->ti[idx].state == ST_SCHEDULED && is_mapped_task(s, idx)) {
    expand(s, idx);
    return;
  }
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  if (ti->state != ST_SCHEDULED)
    return; /* skipped while it waited in the heap */
  if (t->depends_on_past && ti->tries_started == 0) {
    g_autofree char *prev = ph_store_prev_ti_state(
        s->store, ph_plan_get_dag_id(s->plan), s->logical_date, t->id);
    if (prev && strcmp(prev, "success") && strcmp(prev, "skipped")) {
      gboolean over =
          !strcmp(prev, "failed") || !strcmp(prev, "upstream_failed");
      g_autofree char *why =
          g_strdup_printf("depends_on_past: '%s' is %s in the previous run%s",
                          t->id, prev, over ? "" : "; waiting for it");
      if (over) {
        ti->start = ti->end = ph_util_now();
        finish(s, idx, ST_FAILED, why);
        return;
      }
      ti->state = ST_UP_FOR_RESCHEDULE;
      ti->wake = ph_util_now() + 1;
      set_reason(ti, why);
      g_array_append_val(s->timers, idx);
      record(s, idx);
      progress(s, idx, "waiting", why);
      return;
    }
  }
  if (t->op->flags & PH_OP_NO_WORKER) {
    ti->start = ti->end = ph_util_now();
    finish(s, idx, ST_SUCCESS, NULL);
    return;
  }
  gboolean rescheduled = ti->wake < 0 && ti->try_number > 0;
  if (t->cache && !rescheduled && ti->tries_started == 0 && try_cache(s, idx))
    return;
  if (!rescheduled) {
    ti->try_number++;
    ti->tries_started++;
    if (!s->fresh || ti->tries_started > 1)
      ph_store_xcom_clear(s->store, s->run_id, t->id, ti->map_index);
  }
  ti->wake = 0;
  ti->start = ph_util_now();
  ti->end = 0;
  if (t->op->kind == PH_KIND_SENSOR && ti->sensor_start <= 0)
    ti->sensor_start = ti->start;
  if (ti->follow)
    g_ptr_array_set_size(ti->follow, 0);
  ti->exec_offset = -1;
  g_autofree char *log = try_log_path(s, idx);
  runs_direct(s, idx);
  /* The ends of its upstreams are made durable first: no task starts
   * before what it depends on is on disk. */
  ti->pid = 0;
  for (guint k = 0; k < t->n_up; k++)
    if (s->ti[t->up[k]].end_gen == s->commit_gen) {
      commit(s); /* an upstream's end is not durable yet */
      break;
    }
  if (s->fatal) {
    /* it could not be made durable: the task does not start */
    ti->state = ST_SCHEDULED;
    return;
  }
  g_autofree char *why = NULL;
  JsonObject *rendered = NULL;
  int pid = ti->direct > 0 ? start_direct(s, idx, log, &why, &rendered) : 0;
  g_autofree char *job_id = NULL;
  if (pid == 0 && t->executor == PH_EXECUTOR_SLURM) {
    g_autofree char *spec = build_spec(s, idx, FALSE);
    g_autofree char *name =
        g_strdup_printf("pipehost:%s:%s", ph_plan_get_dag_id(s->plan), t->id);
    GError *err = NULL;
    /* submitted after this pass's starts (ph_slurm_flush), its intent
     * durable first */
    if (!ph_slurm_enqueue(s->sl, idx, spec, log, t->slurm, t->queue,
                          t->execution_timeout, name, &job_id, &err)) {
      why = g_strdup_printf("could not submit the try to Slurm: %s",
                            err->message);
      pid = -1;
    }
    g_clear_error(&err);
  } else if (pid == 0 && (pid = go_prepared(s, idx, log)) < 0) {
    g_autofree char *spec = build_spec(s, idx, FALSE);
    GError *err = NULL;
    pid = ph_exec_start(s->ex, idx, spec, log, t->plugin_path,
                        t->execution_timeout, &err);
    if (pid < 0)
      why = g_strdup_printf("could not start the worker: %s", err->message);
    g_clear_error(&err);
  }
  ph_store_try_start(s->store, s->run_id, t->id, ti->map_index,
                     ti->try_number, ti->start, pid > 0 ? pid : 0, NULL, log);
  /* in the try's own row, in the same transaction: a resumed run finds
   * the job to adopt, never submits the try again */
  if (job_id)
    ph_store_try_set_executor(s->store, s->run_id, t->id, ti->map_index,
                              ti->try_number, "slurm", job_id);
  record_rendered(s, idx, rendered);
  if (pid > 0) /* its identity is recorded with the commit (see commit) */
    g_array_append_val(s->proc_pending, idx);
  if (pid < 0) {
    ti->state = ST_RUNNING;
    on_try_end(s, idx, PH_ERROR, why, FALSE, FALSE);
    return;
  }
  ti->pid = pid;
  ti->state = ST_RUNNING;
  s->n_running++;
  if (job_id) {
    ti->on_slurm = TRUE;
    s->n_slurm++;
  }
  if (!rescheduled)
    lineage_event(s, idx, "START", NULL);
  set_reason(ti, NULL);
  record(s, idx);
  if (job_id)
    return; /* progress is said once sbatch gave the job id (cb_submitted) */
  g_autofree char *d =
      pid > 0 ? g_strdup_printf("try %d, pid %d", ti->try_number, pid)
              : g_strdup_printf("try %d", ti->try_number);
  progress(s, idx, "running", d);
  if (ti->direct < 0)
    prepare_next(s, idx);
}

/* email_on_failure / email_on_retry: a message naming the DAG, run, task,
 * try and reason, with the end of the try's log (ph_notify). */
static void notify(ph_sched *s, guint idx, gboolean retry, const char *reason) {
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  const char *dag = ph_plan_get_dag_id(s->plan);
  const char *home = ph_store_get_home(s->store);
  g_autofree char *log = try_log_path(s, idx);
  g_autofree char *tail = ph_notify_log_tail(log, 20);
  g_autofree char *subject = g_strdup_printf(
      "[pipehost] %s.%s %s (try %d of %d)", dag, ti->name,
      retry ? "is up for retry" : "failed", ti->try_number, t->retries + 1);
  g_autofree char *body = g_strdup_printf(
      "DAG: %s\nRun: %s\nTask: %s\nTry: %d of %d\nState: %s\nReason: %s\n"
      "Log: %s\n\nLast lines of the log:\n%s",
      dag, s->run_id, ti->name, ti->try_number, t->retries + 1,
      retry ? "up_for_retry" : "failed", reason ? reason : "(none)", log, tail);
  JsonObject *params = json_object_new();
  json_object_set_member(params, "to", json_from_string(t->email, NULL));
  json_object_set_string_member(params, "subject", subject);
  json_object_set_string_member(params, "body", body);
  json_object_set_string_member(params, "conn_id", t->email_conn_id);
  JsonObject *req = json_object_new();
  json_object_set_object_member(req, "params", params);
  g_autofree char *nlog =
      g_strdup_printf("%s/logs/%s/%s/%s.%d.notify.log", home, dag, s->run_id,
                      ti->name, ti->try_number);
  json_object_set_string_member(req, "log", nlog);
  json_object_set_string_member(req, "home", home);
  json_object_set_string_member(req, "dag_id", dag);
  json_object_set_string_member(req, "run_id", s->run_id);
  json_object_set_string_member(req, "task_id", t->id);
  GError *err = NULL;
  if (!ph_notify_send(s->o.worker_exe, req, &err)) {
    progress(s, idx, "notify", err->message);
    g_clear_error(&err);
  }
  json_object_unref(req);
}

/* ---- retries */
static void on_try_end(ph_sched *s, guint idx, ph_status st, const char *reason,
                       gboolean sensor_waiting, gboolean falsy) {
  const ph_task_spec *t = task_of(s, idx);
  ph_ti *ti = &s->ti[idx];
  ti->end = ph_util_now();
  const char *tstate = "success";
  if (st == PH_OK && sensor_waiting) {
    /* reschedule mode: free the slot, poke again later */
    if (ti->end - ti->sensor_start >= t->timeout) {
      g_autofree char *why =
          g_strdup_printf("sensor timed out after %.3g s (timeout %g s)%s",
                          ti->end - ti->sensor_start, t->timeout,
                          t->soft_fail ? "; soft_fail: skipped" : "");
      on_try_end(s, idx, t->soft_fail ? PH_SKIP : PH_FAIL, why, FALSE, FALSE);
      return;
    }
    ti->state = ST_UP_FOR_RESCHEDULE;
    ti->pokes++;
    double wait = t->poke_interval;
    if (t->exponential_backoff) {
      g_autofree char *st_iso = ph_util_iso8601(ti->sensor_start);
      wait = ph_backoff_poke(
          t->poke_interval, ti->pokes, ph_plan_get_dag_id(s->plan), t->id,
          st_iso, t->timeout, ti->end - ti->sensor_start, t->max_wait);
    } else if (t->max_wait > 0) {
      wait = MIN(wait, t->max_wait);
    }
    wait = MIN(wait, MAX(0.0, t->timeout - (ti->end - ti->sensor_start)));
    ti->wake = -(ti->end + wait); /* negative: a reschedule, not a retry */
    g_array_append_val(s->timers, idx);
    ph_store_try_end(s->store, s->run_id, t->id, ti->map_index,
                     ti->try_number, "up_for_reschedule", ti->end, ti->pid,
                     NULL);
    record(s, idx);
    progress(s, idx, "up_for_reschedule", NULL);
    return;
  }
  ph_track_try who = {ph_plan_get_dag_id(s->plan), s->run_id, ti->name,
                      ti->try_number, t->op->type};
  if (ti->tracked) {
    ph_track_try_end(s->store, &who,
                     st == PH_OK     ? "success"
                     : st == PH_SKIP ? "skipped"
                                     : "failed");
    ti->tracked = FALSE;
  }
  lineage_event(s, idx, st == PH_OK || st == PH_SKIP ? "COMPLETE" : "FAIL",
                st == PH_OK || st == PH_SKIP ? NULL : reason);
  if (st == PH_OK) {
    ph_store_try_end(s->store, s->run_id, t->id, ti->map_index,
                     ti->try_number, tstate, ti->end, ti->pid, reason);
    if (ti->fp)
      ph_track_cache_put(s->store, ti->fp, &who);
    /* its outlets were updated (Airflow's dataset events) */
    for (guint k = 0; t->outlets && k < json_array_get_length(t->outlets); k++)
      ph_dataset_record(
          s->store,
          json_object_get_string_member(
              json_array_get_object_element(t->outlets, k), "uri"),
          ph_plan_get_dag_id(s->plan), s->run_id, t->id, ti->map_index,
          ti->end);
    if (t->op->kind == PH_KIND_BRANCH)
      apply_branch(s, idx);
    if ((t->op->flags & PH_OP_SHORT_CIRCUIT) && falsy)
      apply_short_circuit(s, idx);
    finish(s, idx, ST_SUCCESS, reason);
    return;
  }
  if (st == PH_SKIP) {
    ph_store_try_end(s->store, s->run_id, t->id, ti->map_index,
                     ti->try_number, "skipped", ti->end, ti->pid, reason);
    finish(s, idx, ST_SKIPPED, reason);
    return;
  }
  gboolean retry = st != PH_FAIL && ti->try_number <= t->retries;
  ph_store_try_end(s->store, s->run_id, t->id, ti->map_index, ti->try_number,
                   retry ? "up_for_retry" : "failed", ti->end, ti->pid, reason);
  if (t->email && (retry ? t->email_on_retry : t->email_on_failure))
    notify(s, idx, retry, reason);
  if (!retry) {
    finish(s, idx, ST_FAILED, reason);
    return;
  }
  double delay = ph_backoff_retry(
      t->retry_delay, t->backoff, t->max_retry_delay,
      ph_plan_get_dag_id(s->plan), t->id, s->logical_date, ti->try_number);
  ti->state = ST_UP_FOR_RETRY;
  set_reason(ti, reason);
  ti->wake = ti->end + delay;
  ti->sensor_start = t->reschedule ? ti->sensor_start : 0;
  g_array_append_val(s->timers, idx);
  record(s, idx);
  g_autofree char *d = g_strdup_printf("%s; retry %d of %d in %.3g s",
                                       reason ? reason : "failed",
                                       ti->try_number, t->retries, delay);
  progress(s, idx, "up_for_retry", d);
}

/* Answers a worker's tracking / model registry request. */
static char *mask(ph_sched *s, const char *text);

static void on_track_message(ph_sched *s, guint job, const char *m,
                             JsonObject *msg) {
  const ph_task_spec *t = task_of(s, job);
  ph_track_try who = {ph_plan_get_dag_id(s->plan), s->run_id, s->ti[job].name,
                      s->ti[job].try_number, t->op->type};
  s->ti[job].tracked = TRUE;
  GError *err = NULL;
  char *value = NULL;
  gboolean ok = FALSE, missing = FALSE;
  const char *name =
      json_object_get_string_member_with_default(msg, "name", NULL);
  if (!strcmp(m, "track")) {
    g_autofree char *v =
        json_object_has_member(msg, "value")
            ? ph_util_json_dup(json_object_get_member(msg, "value"))
            : NULL;
    ok = ph_track_log(
        s->store, &who,
        json_object_get_string_member_with_default(msg, "kind", ""), v, &err);
  } else if (!strcmp(m, "model_register")) {
    value = ph_track_model_register(
        s->store, &who, name,
        json_object_get_string_member_with_default(msg, "path", NULL), &err);
    ok = value != NULL;
  } else if (!strcmp(m, "model_get")) {
    value = ph_track_model_get(
        s->store, json_object_get_string_member_with_default(msg, "ref", ""));
    ok = TRUE;
    missing = value == NULL;
  } else {
    ok = ph_track_model_set_alias(
        s->store, name,
        json_object_get_int_member_with_default(msg, "version", 0),
        json_object_get_string_member_with_default(msg, "alias", NULL), &err);
    if (!ok && err && err->code == G_FILE_ERROR_NOENT)
      missing = TRUE;
  }
  JsonObject *r = json_object_new();
  if (missing) {
    json_object_set_boolean_member(r, "missing", TRUE);
  } else if (!ok) {
    json_object_set_string_member(r, "error", err ? err->message : "failed");
    json_object_set_int_member(r, "status", PH_INVALID);
  } else if (value) {
    JsonNode *vn = json_from_string(value, NULL);
    json_object_set_member(r, "value", vn ? vn : json_node_new(JSON_NODE_NULL));
  }
  g_clear_error(&err);
  g_free(value);
  JsonNode *rn = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(rn, r);
  ph_exec_reply(s->ex, job, rn);
  json_node_unref(rn);
}

/* ---- executor callbacks */
/* Answers a worker's request with {"ok": true}. */
static void reply_ok(ph_sched *s, guint job) {
  JsonObject *r = json_object_new();
  json_object_set_boolean_member(r, "ok", TRUE);
  JsonNode *rn = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(rn, r);
  ph_exec_reply(s->ex, job, rn);
  json_node_unref(rn);
}

static void cb_message(void *user, guint job, JsonObject *msg) {
  ph_sched *s = user;
  const ph_task_spec *t = task_of(s, job);
  const char *m = json_object_get_string_member_with_default(msg, "m", "");
  if (!strcmp(m, "xcom_push")) {
    const char *key =
        json_object_get_string_member_with_default(msg, "key", "return_value");
    /* a password that reached a value is masked before it is stored:
     * inside its strings, never in the JSON text around them */
    JsonNode *val = json_object_get_member(msg, "value");
    mask_json(s, val);
    g_autofree char *v = ph_util_json_dup(val);
    ph_ti *pti = &s->ti[job];
    gint64 len = (gint64)strlen(v);
    /* a try may push many keys: all of them together are capped too; the
     * first refusal is the one the failed try reports */
    gint64 try_max = s->o.xcom_max * 16;
    if (len > s->o.xcom_max) {
      if (!pti->push_error)
        pti->push_error = g_strdup_printf(
            "XCom value for key '%s' is %" G_GINT64_FORMAT " bytes, over the "
            "limit of %" G_GINT64_FORMAT " bytes (PIPEHOST_XCOM_MAX_BYTES); "
            "nothing was pushed",
            key, len, s->o.xcom_max);
    } else if (pti->xcom_bytes + len > try_max) {
      if (!pti->push_error)
        pti->push_error = g_strdup_printf(
            "the try's XComs add up to over %" G_GINT64_FORMAT " bytes (16 "
            "times PIPEHOST_XCOM_MAX_BYTES); key '%s' was not pushed",
            try_max, key);
    } else {
      pti->xcom_bytes += len;
      ph_store_xcom_set(s->store, s->run_id, t->id, pti->map_index, key, v);
    }
  } else if (!strcmp(m, "xcom_pull") || !strcmp(m, "var_get") ||
             !strcmp(m, "conn_get")) {
    char *v = NULL;
    if (!strcmp(m, "xcom_pull")) {
      v = ph_store_xcom_get(
          s->store, s->run_id,
          json_object_get_string_member_with_default(msg, "task_id", ""),
          json_object_get_string_member_with_default(msg, "key",
                                                     "return_value"));
    } else if (!strcmp(m, "var_get")) {
      const char *name =
          json_object_get_string_member_with_default(msg, "name", "");
      v = ph_util_json_string_take(ph_store_var_lookup(s->store, name));
    } else {
      const char *cid =
          json_object_get_string_member_with_default(msg, "conn_id", "");
      g_autofree char *up = g_ascii_strup(cid, -1);
      g_autofree char *envname = g_strdup_printf("PIPEHOST_CONN_%s", up);
      const char *env = g_getenv(envname);
      g_autofree char *uri =
          env ? g_strdup(env) : ph_store_conn_get(s->store, cid);
      JsonNode *cj = uri ? ph_store_conn_json(cid, uri, NULL) : NULL;
      if (cj) {
        const char *pw = json_object_get_string_member_with_default(
            json_node_get_object(cj), "password", NULL);
        add_secret(s, pw);
        v = ph_util_json_dup(cj);
        json_node_unref(cj);
      }
    }
    JsonObject *r = json_object_new();
    if (v) {
      JsonNode *vn = json_from_string(v, NULL);
      json_object_set_member(r, "value",
                             vn ? vn : json_node_new(JSON_NODE_NULL));
    } else {
      json_object_set_boolean_member(r, "missing", TRUE);
    }
    JsonNode *rn = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(rn, r);
    ph_exec_reply(s->ex, job, rn);
    json_node_unref(rn);
    g_free(v);
  } else if (!strcmp(m, "exec")) {
    ph_ti *ti = &s->ti[job];
    /* a host slow to get here (a loaded machine) */
    if (ph_fault_hit("exec_note_delay"))
      g_usleep(200000);
    /* a filtered try's log is written by us: its end is where the
     * command's output starts (the worker's own offset is a pipe's) */
    gint64 end = ph_exec_log_end(s->ex, job);
    ti->exec_offset =
        end >= 0 ? end
                 : json_object_get_int_member_with_default(msg, "offset", 0);
    ti->exec_skip =
        (int)json_object_get_int_member_with_default(msg, "skip_code", -1);
    g_free(ti->exec_what);
    ti->exec_what = g_strdup(
        json_object_get_string_member_with_default(msg, "what", "command"));
    /* the worker execs the command once it has this */
    reply_ok(s, job);
  } else if (!strcmp(m, "var_set")) {
    /* Airflow's Variable.set from a task: stored with the try's other
     * writes; a secret-named one is masked from now on */
    const char *name =
        json_object_get_string_member_with_default(msg, "name", "");
    const char *value =
        json_object_get_string_member_with_default(msg, "value", "");
    ph_store_var_set(s->store, name, value);
    if (ph_util_name_is_sensitive(name))
      add_secret(s, value);
    /* templates of later tries see it, as Airflow reads at render time */
    g_free(s->context_base);
    build_context_base(s);
    reply_ok(s, job);
  } else if (!strcmp(m, "track") || !strcmp(m, "model_register") ||
             !strcmp(m, "model_get") || !strcmp(m, "model_set_alias")) {
    on_track_message(s, job, m, msg);
  } else if (!strcmp(m, "branch")) {
    ph_ti *ti = &s->ti[job];
    if (!ti->follow)
      ti->follow = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(ti->follow,
                    g_strdup(json_object_get_string_member_with_default(
                        msg, "task_id", "")));
  } else if (!strcmp(m, "mask")) {
    const char *sec =
        json_object_get_string_member_with_default(msg, "secret", NULL);
    add_secret(s, sec);
  }
}

static char *mask(ph_sched *s, const char *text) {
  return ph_util_mask(s->secrets, text);
}

/* Masks secrets inside the string values of a JSON value, in place.  The
 * JSON text itself is never edited, so a secret that also occurs as a
 * number, a key or JSON syntax cannot corrupt the value. */
static void mask_json(ph_sched *s, JsonNode *n) {
  if (!n || !s->secrets->len)
    return;
  if (JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObjectIter it;
    JsonNode *v;
    json_object_iter_init(&it, json_node_get_object(n));
    while (json_object_iter_next(&it, NULL, &v))
      mask_json(s, v);
  } else if (JSON_NODE_HOLDS_ARRAY(n)) {
    JsonArray *a = json_node_get_array(n);
    for (guint i = 0; i < json_array_get_length(a); i++)
      mask_json(s, json_array_get_element(a, i));
  } else if (json_node_get_value_type(n) == G_TYPE_STRING) {
    g_autofree char *m = mask(s, json_node_get_string(n));
    if (strcmp(m, json_node_get_string(n)))
      json_node_set_string(n, m);
  }
}

/* Pushes line (len bytes, the last line of a command's output) as the
 * return value of task idx; its log is open as fd for a warning.  The
 * reason the try fails, or NULL. */
static char *push_return_line(ph_sched *s, guint idx, int fd, const char *line,
                              gssize len) {
  gboolean valid = TRUE;
  g_autofree char *text = ph_util_utf8_lossy(line, len, &valid);
  if (!valid) {
    g_autofree char *w = ph_util_log_line(
        "WARNING", "the return value (last output line) is not valid UTF-8: "
                   "its invalid bytes were kept as \\xNN");
    if (write(fd, w, strlen(w)) < 0) {
      /* the warning is lost; the value is still pushed */
    }
  }
  g_autofree char *masked = mask(s, text);
  JsonNode *n = json_node_init_string(json_node_alloc(), masked);
  g_autofree char *v = ph_util_json_dup(n);
  json_node_unref(n);
  if ((gint64)strlen(v) > s->o.xcom_max)
    return g_strdup_printf(
        "the return value (the last line of output) is %zu bytes as JSON, "
        "over the XCom limit of %" G_GINT64_FORMAT " bytes "
        "(PIPEHOST_XCOM_MAX_BYTES); nothing was pushed",
        strlen(v), s->o.xcom_max);
  ph_store_xcom_set(s->store, s->run_id, task_of(s, idx)->id,
                    s->ti[idx].map_index,
                    "return_value", v);
  return NULL;
}

/* exec_command: the last non-empty line the command wrote to the log is
 * its return value (a JSON string), as the bash operator's stdout is.
 * Only the log's tail is read: a longer line is over the XCom limit, and
 * fails the try (the reason is returned; NULL when all is well).  Bytes
 * that are not UTF-8 are kept as "\xNN" (Airflow's BashOperator decodes
 * with errors="backslashreplace"), with a warning in the log. */
static char *exec_return_value(ph_sched *s, guint idx) {
  ph_ti *ti = &s->ti[idx];
  g_autofree char *log = try_log_path(s, idx);
  char *buf = NULL, *why = NULL;
  int fd = open(log, O_RDWR | O_APPEND | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size <= ti->exec_offset)
    goto out; /* no output */
  gint64 from = MAX(ti->exec_offset, (gint64)sb.st_size - s->o.xcom_max - 64);
  gsize len = (gsize)(sb.st_size - from);
  buf = g_malloc(len + 1);
  ssize_t r = pread(fd, buf, len, from);
  if (r <= 0)
    goto out;
  buf[r] = 0;
  /* the last line with something besides blanks, trailing blanks dropped */
  char *end = buf + r;
  while (end > buf && g_ascii_isspace(end[-1]))
    end--;
  *end = 0;
  char *line = end;
  while (line > buf && line[-1] != '\n')
    line--;
  if (!*line)
    goto out;
  if (line == buf && from > ti->exec_offset) {
    why = g_strdup_printf(
        "the return value (the last line of output) is over the XCom limit "
        "of %" G_GINT64_FORMAT " bytes (PIPEHOST_XCOM_MAX_BYTES); nothing was "
        "pushed",
        s->o.xcom_max);
    goto out;
  }
  why = push_return_line(s, idx, fd, line, end - line);
out:
  if (fd >= 0)
    close(fd);
  g_free(buf);
  return why;
}

/* " (its memory_limit is N MiB ...)" when a try with a memory_limit died
 * of a signal that a failed allocation raises; else "".  Caller frees. */
static char *memory_hint(const ph_task_spec *t, int sig) {
  if (t->memory_limit > 0 &&
      (sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS))
    return g_strdup_printf(" (its memory_limit is %.0f MiB: an allocation "
                           "over it fails)",
                           t->memory_limit / 1048576);
  return g_strdup("");
}

static void cb_end(void *user, guint job, const ph_exec_end *end) {
  ph_sched *s = user;
  const ph_task_spec *t = task_of(s, job);
  s->n_running--;
  if (s->ti[job].on_slurm) {
    s->ti[job].on_slurm = FALSE;
    s->n_slurm--;
  }
  pool_release(s, job);
  ph_status st = PH_ERROR;
  g_autofree char *reason = NULL;
  gboolean waiting = FALSE, falsy = FALSE;
  if (end->executor_reason) {
    reason = g_strdup(end->executor_reason);
  } else if (end->start_errno) {
    reason = g_strdup_printf("could not start the worker: fork: %s",
                             g_strerror(end->start_errno));
  } else if (end->timed_out) {
    reason = g_strdup_printf("execution_timeout of %g s exceeded; the try was "
                             "stopped (SIGTERM, on_kill, then SIGKILL)",
                             t->execution_timeout);
  } else if (end->oversized) {
    reason = g_strdup_printf(
        "the worker sent a message of over %zu bytes without a newline "
        "(more than any XCom may be); the try was stopped",
        (size_t)end->oversized);
  } else if (end->result) {
    st = (ph_status)json_object_get_int_member_with_default(end->result,
                                                            "status", PH_ERROR);
    if (st != PH_OK && st != PH_SKIP && st != PH_FAIL)
      st = PH_ERROR;
    reason = mask(s, json_object_get_string_member_with_default(
                         end->result, "reason", NULL));
    waiting = json_object_has_member(end->result, "done") &&
              !json_object_get_boolean_member(end->result, "done");
    falsy = json_object_get_boolean_member_with_default(end->result,
                                                        "return_falsy", FALSE);
    if (st == PH_OK && waiting && !t->reschedule)
      waiting = FALSE;
  } else if (s->ti[job].exec_offset >= 0) {
    /* the worker became the command: its exit status is the result */
    ph_ti *ti = &s->ti[job];
    if (end->signal) {
      g_autofree char *hint = memory_hint(t, end->signal);
      reason =
          g_strdup_printf("%s was killed by signal %d (%s)%s", ti->exec_what,
                          end->signal, g_strsignal(end->signal), hint);
    } else if (end->exit_code == 0) {
      reason = exec_return_value(s, job);
      st = reason ? PH_FAIL : PH_OK;
    } else if (end->exit_code == ti->exec_skip) {
      st = PH_SKIP;
      reason = g_strdup_printf("%s exited with code %d (skip_on_exit_code)",
                               ti->exec_what, end->exit_code);
    } else {
      reason = g_strdup_printf("%s exited with code %d", ti->exec_what,
                               end->exit_code);
    }
  } else if (end->signal) {
    g_autofree char *hint = memory_hint(t, end->signal);
    reason =
        g_strdup_printf("worker (pid %d) was killed by signal %d (%s) "
                        "before reporting a result%s; see the task log",
                        end->pid, end->signal, g_strsignal(end->signal), hint);
  } else {
    reason = g_strdup_printf("worker (pid %d) exited with code %d without "
                             "reporting a result; see the task log",
                             end->pid, end->exit_code);
  }
  ph_ti *ti = &s->ti[job];
  if (ti->push_error && st == PH_OK) {
    /* an XCom it pushed was refused: never a silent success */
    st = PH_FAIL;
    g_free(reason);
    reason = g_strdup(ti->push_error);
  }
  g_clear_pointer(&ti->push_error, g_free);
  ti->xcom_bytes = 0;
  ti->pid = end->pid;
  on_try_end(s, job, st, reason, waiting, falsy);
}

/* A try's Slurm job id, once sbatch gave it: recorded in the try's row
 * (its intent was committed before the submission). */
static void cb_submitted(void *user, guint job, const char *id) {
  ph_sched *s = user;
  ph_ti *ti = &s->ti[job];
  ph_store_try_set_executor(s->store, s->run_id, task_of(s, job)->id,
                            ti->map_index, ti->try_number, "slurm", id);
  g_autofree char *d =
      g_strdup_printf("try %d, Slurm job %s", ti->try_number, id);
  progress(s, job, "running", d);
}

/* A launched worker's pid, learnt while it runs: recorded now, and its
 * identity with the next commit if it is still running then. */
static void cb_pid(void *user, guint job, int pid) {
  ph_sched *s = user;
  ph_ti *ti = &s->ti[job];
  ti->pid = pid;
  ph_store_try_set_pid(s->store, s->run_id, task_of(s, job)->id,
                       ti->map_index, ti->try_number, pid);
  g_array_append_val(s->proc_pending, job);
}

static void store_wait_hook(void *user) {
  ph_sched *s = user;
  if (s->ex)
    ph_exec_enforce_deadlines(s->ex);
}

/* ---- public */
ph_sched *ph_sched_new(const ph_plan *plan, ph_store *store,
                       const ph_sched_opts *opts) {
  ph_sched *s = g_new0(ph_sched, 1);
  s->commit_gen = 1; /* end_gen 0: final before this process */
  s->prepared = -1;
  s->plan = plan;
  s->store = store;
  s->o = *opts;
  if (s->o.parallelism < 1)
    s->o.parallelism = 1;
  /* the DAG's max_active_tasks caps whatever -j allows (Airflow) */
  JsonNode *mat = json_object_get_member(ph_dag_get_args(ph_plan_get_dag(plan)),
                                         "max_active_tasks");
  if (mat && JSON_NODE_HOLDS_VALUE(mat) &&
      json_node_get_value_type(mat) == G_TYPE_INT64 &&
      json_node_get_int(mat) > 0 && json_node_get_int(mat) < s->o.parallelism)
    s->o.parallelism = (int)json_node_get_int(mat);
  int most = ph_exec_max_parallel();
  if (s->o.parallelism > most) {
    g_printerr("pipehost: running at most %d tries at once, not %d: the "
               "open-file limit (ulimit -n) allows no more\n",
               most, s->o.parallelism);
    s->o.parallelism = most;
  }
  s->n = ph_plan_n_tasks(plan);
  grow(s, s->n ? s->n : 1);
  s->rank = g_new(guint, s->n + 1);
  const guint *topo = ph_plan_topo_order(plan);
  for (guint i = 0; i < s->n; i++)
    s->rank[topo[i]] = i;
  for (guint i = 0; i < s->n; i++) {
    add_ti(s, i, -1);
    s->ti[i].c.n = ph_plan_get_task(plan, i)->n_up;
  }
  s->timers = g_array_new(FALSE, FALSE, sizeof(guint));
  {
    const char *hb = g_getenv("PIPEHOST_HEARTBEAT");
    s->hb_interval =
        hb && g_ascii_strtod(hb, NULL) > 0 ? g_ascii_strtod(hb, NULL) : 5.0;
    s->hb_last = ph_util_now(); /* set with the host at the run's start */
  }
  s->proc_pending = g_array_new(FALSE, FALSE, sizeof(guint));
  {
    g_autofree char *abs =
        g_canonicalize_filename(ph_plan_get_file(plan), NULL);
    s->dag_dir = g_path_get_dirname(abs);
  }
  s->secrets = g_ptr_array_new_with_free_func(g_free);
  GPtrArray *env = g_ptr_array_new();
  for (char **e = environ; *e; e++) {
    gboolean id = FALSE;
    for (guint k = 0; k < G_N_ELEMENTS(identity_env); k++) {
      size_t n = strlen(identity_env[k]);
      id |= !strncmp(*e, identity_env[k], n) && (*e)[n] == '=';
    }
    if (!id && !ph_util_env_is_secret(*e))
      g_ptr_array_add(env, *e);
  }
  g_ptr_array_add(env, NULL);
  s->env_base = (char **)g_ptr_array_free(env, FALSE);
  s->progs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  s->pool_slots = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  GError *terr = NULL;
  if (!ph_track_init(store, &terr)) {
    g_printerr("pipehost: %s\n", terr->message);
    g_clear_error(&terr);
  }
  s->ol = ph_openlineage_new();
  ph_exec_callbacks cb = {cb_message, cb_end, cb_pid};
  s->ex = ph_exec_new(opts->worker_exe, &cb, s, opts->kill_grace);
  for (guint i = 0; i < s->n && !s->sl; i++)
    if (ph_plan_get_task(plan, i)->executor == PH_EXECUTOR_SLURM) {
      /* the jobs run this binary by its real path (shared on a cluster) */
      g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
      const char *mx = g_getenv("PIPEHOST_SLURM_MAX_JOBS");
      s->slurm_max = mx && atoi(mx) > 0 ? (guint)atoi(mx) : 1000;
      s->sl = ph_slurm_new(exe ? exe : opts->worker_exe,
                           ph_store_get_home(store), &cb, cb_submitted, s);
    }
  /* no secret reaches a log: filtered output once the run knows one */
  ph_exec_set_secrets(s->ex, s->secrets, TRUE);
  /* waiting for the store's lock must not suspend execution_timeout */
  ph_store_set_wait_hook(store, store_wait_hook, s);
  /* the longest message is an XCom push: its value plus a little */
  ph_exec_set_max_message(s->ex, (gsize)MAX(s->o.xcom_max, 0) * 2 + (1 << 20));
  const char *nl = g_getenv("PIPEHOST_NO_LAUNCHER");
  if (!(nl && *nl && strcmp(nl, "0")) && !ph_exec_start_launcher(s->ex, NULL))
    g_printerr("pipehost: no launcher; starting each worker with "
               "posix_spawn\n");
  return s;
}

void ph_sched_free(ph_sched *s) {
  if (!s)
    return;
  ph_store_set_wait_hook(s->store, NULL, NULL);
  discard_prepared(s);
  ph_exec_free(s->ex);
  ph_slurm_free(s->sl); /* its jobs go on: a resumed run adopts them */
  ph_openlineage_free(s->ol);
  g_free(s->env_base);
  g_hash_table_unref(s->progs);
  for (guint i = 0; i < s->n_ti; i++) {
    g_free(s->ti[i].reason);
    g_free(s->ti[i].fp);
    g_free(s->ti[i].exec_what);
    g_free(s->ti[i].name);
    if (s->ti[i].map_params)
      json_object_unref(s->ti[i].map_params);
    if (s->ti[i].follow)
      g_ptr_array_unref(s->ti[i].follow);
  }
  g_free(s->ti);
  g_free(s->heap);
  g_free(s->worklist);
  g_free(s->rank);
  g_array_free(s->timers, TRUE);
  g_ptr_array_unref(s->secrets);
  g_hash_table_unref(s->pool_slots);
  g_free(s->run_id);
  g_free(s->fatal);
  g_array_free(s->proc_pending, TRUE);
  g_free(s->dag_dir);
  g_free(s->logical_date);
  g_free(s->context_base);
  g_free(s->ds_nodash);
  if (s->params)
    json_object_unref(s->params);
  g_free(s);
}

/* Tries on Slurm run on other machines, which must reach the store: an
 * SQLite file cannot be shared between hosts safely, so that is refused
 * unless the user says the cluster is this machine. */
static gboolean slurm_allowed(ph_sched *s, GError **error) {
  if (!s->sl || ph_store_is_pg(s->store))
    return TRUE;
  const char *one = g_getenv("PIPEHOST_SLURM_SINGLE_NODE");
  if (one && *one && strcmp(one, "0"))
    return TRUE;
  const char *task = NULL;
  for (guint i = 0; i < s->n && !task; i++)
    if (ph_plan_get_task(s->plan, i)->executor == PH_EXECUTOR_SLURM)
      task = ph_plan_get_task(s->plan, i)->id;
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
              "task '%s' runs on Slurm (executor: slurm), but the store is "
              "SQLite, a file that jobs on other nodes cannot share safely: "
              "put the store on PostgreSQL, which every node reaches "
              "(PIPEHOST_STORE=postgresql://USER@HOST/DB). When Slurm's "
              "compute node is this machine, PIPEHOST_SLURM_SINGLE_NODE=1 "
              "allows SQLite",
              task);
  return FALSE;
}

gboolean ph_sched_create_run(ph_sched *s, const char *logical_date,
                             JsonObject *params, const char *run_id,
                             GError **error) {
  if (!slurm_allowed(s, error))
    return FALSE;
  GDateTime *dt = NULL;
  if (logical_date) {
    dt = g_date_time_new_from_iso8601(logical_date, g_time_zone_new_utc());
    if (!dt) {
      g_autofree char *full = g_strdup_printf("%sT00:00:00Z", logical_date);
      GTimeZone *utc = g_time_zone_new_utc();
      dt = g_date_time_new_from_iso8601(full, utc);
      g_time_zone_unref(utc);
    }
    if (!dt) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "--date '%s' is not an ISO-8601 date or date-time (e.g. "
                  "2024-01-31 or 2024-01-31T06:00:00Z)",
                  logical_date);
      return FALSE;
    }
  } else {
    dt = g_date_time_new_now_utc();
  }
  GDateTime *utc = g_date_time_to_utc(dt);
  g_date_time_unref(dt);
  s->logical_t = (double)g_date_time_to_unix(utc);
  s->logical_date = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%S+00:00");
  g_date_time_unref(utc);
  s->params = json_object_new();
  JsonObject *defs = ph_plan_get_params(s->plan);
  GList *keys = json_object_get_members(defs);
  for (GList *l = keys; l; l = l->next)
    json_object_set_member(
        s->params, l->data,
        json_node_copy(json_object_get_member(defs, l->data)));
  g_list_free(keys);
  keys = params ? json_object_get_members(params) : NULL;
  for (GList *l = keys; l; l = l->next)
    json_object_set_member(
        s->params, l->data,
        json_node_copy(json_object_get_member(params, l->data)));
  g_list_free(keys);
  JsonNode *pn = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(pn, s->params);
  g_autofree char *conf = ph_util_json_dup(pn);
  json_node_unref(pn);
  const char *dag_id = ph_plan_get_dag_id(s->plan);
  g_autofree char *file =
      g_canonicalize_filename(ph_plan_get_file(s->plan), NULL);
  ph_store_begin(s->store);
  s->fresh = TRUE; /* no task of a new run can have XComs yet */
  if (run_id) {
    g_autofree char *bad = ph_util_id_problem(PH_ID_RUN, run_id);
    if (bad) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s", bad);
      ph_store_rollback(s->store);
      return FALSE;
    }
    s->run_id = g_strdup(run_id);
    int made =
        ph_store_run_create(s->store, run_id, dag_id, file, s->logical_date,
                            conf, s->o.run_type ? s->o.run_type : "manual");
    if (made < 0)
      goto store_failed;
    if (!made) {
      s->fresh = FALSE;
      g_autofree char *owner = ph_store_run_dag(s->store, run_id);
      if (owner && strcmp(owner, dag_id)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                    "run '%s' belongs to DAG '%s', not '%s'", run_id, owner,
                    dag_id);
        ph_store_rollback(s->store);
        return FALSE;
      }
    }
    if (!s->fresh && !s->o.only_task) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                  "run '%s' already exists", run_id);
      return FALSE;
    }
  } else {
    g_autofree char *base = g_strdup_printf(
        "%s__%s", s->o.run_type ? s->o.run_type : "manual", s->logical_date);
    s->run_id = g_strdup(base);
    int made;
    while ((made = ph_store_run_create(
                s->store, s->run_id, dag_id, file, s->logical_date, conf,
                s->o.run_type ? s->o.run_type : "manual")) == 0) {
      g_free(s->run_id);
      s->run_id = g_strdup_printf("%s_%04x", base, g_random_int() & 0xffff);
    }
    if (made < 0)
      goto store_failed;
  }
  ph_store_run_set_host(s->store, s->run_id, getpid(),
                        ph_exec_get_launcher_pid(s->ex));
  for (guint i = 0; i < s->n; i++) {
    const ph_task_spec *t = ph_plan_get_task(s->plan, i);
    if (s->o.only_task && strcmp(t->id, s->o.only_task))
      continue;
    ph_store_ti_create(s->store, s->run_id, t->id, -1, t->op_name,
                       t->retries);
  }
  /* one task run into an existing run leaves the run's state alone */
  if (s->fresh)
    ph_store_run_set_state(s->store, s->run_id, "running");
  /* what the DAG declares about datasets, as it is now */
  JsonObject *refs = ph_dataset_refs(s->plan);
  ph_dataset_register(s->store, refs);
  json_object_unref(refs);
  build_context_base(s);
  if (s->fresh && !s->o.only_task)
    ph_openlineage_emit(s->ol, "START", ph_plan_get_dag_id(s->plan),
                        s->run_id, NULL, NULL, NULL, NULL, NULL);
  return ph_store_commit(s->store, error);
store_failed:
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
              "cannot create the run: %s", ph_store_get_error(s->store));
  ph_store_commit(s->store, NULL);
  return FALSE;
}

static int state_from_name(const char *n) {
  for (int i = 0; i < (int)G_N_ELEMENTS(state_names); i++)
    if (!strcmp(state_names[i], n))
      return i;
  return ST_NONE;
}

/* A running TI whose try is a Slurm job (recorded with the try): watched
 * again instead of failed and retried; its job's end ends it, even if
 * that came while no host was watching.  FALSE: not a Slurm try. */
static gboolean adopt(ph_sched *s, guint i) {
  ph_ti *ti = &s->ti[i];
  const ph_task_spec *t = task_of(s, i);
  g_autofree char *job_id = NULL;
  g_autofree char *ex = ph_store_try_executor(
      s->store, s->run_id, t->id, ti->map_index, ti->try_number, &job_id);
  if (g_strcmp0(ex, "slurm") || !job_id)
    return FALSE;
  g_autofree char *log = try_log_path(s, i);
  char *id = NULL;
  if (!ph_slurm_adopt(s->sl, i, job_id, log, &id))
    return FALSE; /* never submitted: a lost try, as a local one */
  ti->state = ST_RUNNING;
  ti->direct = -1;
  ti->exec_offset = -1;
  s->n_running++;
  ti->on_slurm = TRUE;
  s->n_slurm++;
  pool_take(s, i);
  g_autofree char *d =
      g_strdup_printf("try %d, Slurm job %s (adopted)", ti->try_number, id);
  if (strcmp(id, job_id))
    ph_store_try_set_executor(s->store, s->run_id, t->id, ti->map_index,
                              ti->try_number, "slurm", id);
  progress(s, i, "running", d);
  return TRUE;
}

gboolean ph_sched_resume_run(ph_sched *s, const char *run_id, GError **error) {
  if (!slurm_allowed(s, error))
    return FALSE;
  JsonNode *run = ph_store_run_show(s->store, run_id);
  if (!run) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "no run '%s'", run_id);
    return FALSE;
  }
  JsonObject *r = json_node_get_object(run);
  const char *state =
      json_object_get_string_member_with_default(r, "state", "");
  gboolean ok = FALSE;
  /* a try of the earlier host may have logged to the experiment tracker */
  for (guint i = 0; i < s->n; i++)
    s->ti[i].tracked = TRUE;
  if (strcmp(state, "running")) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "run '%s' is %s: only a running run can be resumed", run_id,
                state);
    goto out;
  }
  /* Who drove the run before: a live host (the same process, not a later
   * one with its pid) still owns it; a dead host's launcher may still be
   * stopping its tries, and is waited for. */
  ph_store_host host;
  ph_store_run_host(s->store, run_id, &host);
  gboolean here = ph_proc_is_local(host.proc);
  if (host.pid && (host.pid != getpid() || !here) &&
      ph_store_holder_alive(host.pid, host.proc, host.heartbeat)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                here ? "run '%s' is still being driven by pipehost pid %d"
                     : "run '%s' is still being driven by pipehost pid %d on "
                       "another machine (its heartbeat is fresh)",
                run_id, host.pid);
    goto out;
  }
  if (host.launcher_proc[0] &&
      !ph_proc_wait_gone(host.launcher_pid, host.launcher_proc,
                         s->o.kill_grace + 5)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                "run '%s': the launcher (pid %d) of its earlier pipehost "
                "process is still stopping that process's tries; try again",
                run_id, host.launcher_pid);
    goto out;
  }
  const char *run_dag =
      json_object_get_string_member_with_default(r, "dag_id", "");
  if (strcmp(run_dag, ph_plan_get_dag_id(s->plan))) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "run '%s' is a run of DAG '%s', but %s now defines DAG '%s'; "
                "restore the file, or start a new run",
                run_id, run_dag, ph_plan_get_file(s->plan),
                ph_plan_get_dag_id(s->plan));
    goto out;
  }
  s->run_id = g_strdup(run_id);
  s->logical_date = g_strdup(
      json_object_get_string_member_with_default(r, "logical_date", ""));
  JsonNode *conf = json_from_string(
      json_object_get_string_member_with_default(r, "conf", "{}"), NULL);
  s->params = conf && JSON_NODE_HOLDS_OBJECT(conf)
                  ? json_object_ref(json_node_get_object(conf))
                  : json_object_new();
  if (conf)
    json_node_unref(conf);
  ph_store_begin(s->store);
  {
    /* the claim: read again under the store's write lock, so that of two
     * processes resuming one dead host's run, one takes it */
    ph_store_host now;
    ph_store_run_host(s->store, run_id, &now);
    if (strcmp(now.proc, host.proc) || now.pid != host.pid ||
        now.heartbeat > host.heartbeat) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                  "run '%s' was taken over by pipehost pid %d meanwhile",
                  run_id, now.pid);
      ph_store_rollback(s->store);
      goto out;
    }
  }
  ph_store_run_set_state(s->store, run_id, "running");
  ph_store_run_set_host(s->store, run_id, getpid(),
                        ph_exec_get_launcher_pid(s->ex));
  build_context_base(s);
  JsonArray *tasks = json_object_get_array_member(r, "tasks");
  /* the DAG file may have changed since the run began: a task it gained
   * gets its record and runs; a task it lost stays as recorded */
  guint8 *known = g_new0(guint8, s->n + 1);
  GString *lost = g_string_new(NULL), *added = g_string_new(NULL);
  for (guint i = 0; i < json_array_get_length(tasks); i++) {
    JsonObject *t = json_array_get_object_element(tasks, i);
    const char *tid = json_object_get_string_member(t, "task_id");
    int idx = ph_plan_lookup(s->plan, tid);
    if (idx >= 0)
      known[idx] = 1;
    else
      g_string_append_printf(lost, "%s%s", lost->len ? ", " : "", tid);
  }
  for (guint i = 0; i < s->n; i++) {
    if (known[i])
      continue;
    const ph_task_spec *t = ph_plan_get_task(s->plan, i);
    ph_store_ti_create(s->store, run_id, t->id, -1, t->op_name, t->retries);
    g_string_append_printf(added, "%s%s", added->len ? ", " : "", t->id);
  }
  if (lost->len || added->len)
    g_printerr("pipehost resume: %s changed since run %s began:%s%s%s%s\n",
               ph_plan_get_file(s->plan), run_id,
               added->len ? " new tasks (they will run): " : "", added->str,
               lost->len ? "; tasks no longer in it (kept as recorded): " : "",
               lost->str);
  g_free(known);
  g_string_free(lost, TRUE);
  g_string_free(added, TRUE);
  /* mapped tasks expanded before: their instances again, with the params
   * their inputs give (literal lists, upstream XComs in the store) */
  guint *n_inst = g_new0(guint, s->n + 1);
  for (guint i = 0; i < json_array_get_length(tasks); i++) {
    JsonObject *t = json_array_get_object_element(tasks, i);
    int idx =
        ph_plan_lookup(s->plan, json_object_get_string_member(t, "task_id"));
    gint64 mi = json_object_get_int_member_with_default(t, "map_index", -1);
    if (idx >= 0 && mi >= 0)
      n_inst[idx] = MAX(n_inst[idx], (guint)mi + 1);
  }
  for (guint i = 0; i < s->n; i++) {
    if (!n_inst[i])
      continue;
    g_autofree char *why = NULL;
    GPtrArray *items =
        is_mapped_task(s, i)
            ? ph_map_items(s->store, s->run_id, ph_plan_get_task(s->plan, i),
                           &why)
            : NULL;
    if (!items || items->len != n_inst[i]) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "run '%s': task '%s' was expanded into %u instances, but "
                  "%s; start a new run",
                  run_id, ph_plan_get_task(s->plan, i)->id, n_inst[i],
                  !is_mapped_task(s, i) ? "the DAG no longer maps it"
                  : items ? "its input now gives a different number"
                          : why);
      if (items)
        g_ptr_array_unref(items);
      g_free(n_inst);
      goto out;
    }
    add_instances(s, i, items);
    g_ptr_array_unref(items);
  }
  g_free(n_inst);
  for (guint i = s->n; i < s->n_ti; i++)
    s->ti[i].tracked = TRUE;
  for (guint i = 0; i < json_array_get_length(tasks); i++) {
    JsonObject *t = json_array_get_object_element(tasks, i);
    int idx =
        ph_plan_lookup(s->plan, json_object_get_string_member(t, "task_id"));
    if (idx < 0)
      continue; /* the DAG lost a task since: it stays as recorded */
    gint64 mi = json_object_get_int_member_with_default(t, "map_index", -1);
    if (mi >= 0)
      idx = (int)(s->ti[idx].kid0 + (guint)mi);
    else if (s->ti[idx].n_kids)
      continue;
    ph_ti *ti = &s->ti[idx];
    ti->state = state_from_name(
        json_object_get_string_member_with_default(t, "state", "none"));
    ti->try_number =
        (int)json_object_get_int_member_with_default(t, "try_number", 0);
    ti->tries_started = ti->try_number;
    ti->pid = (int)json_object_get_int_member_with_default(t, "pid", 0);
    ti->start = json_object_get_double_member_with_default(t, "start_date", 0);
    ti->end = json_object_get_double_member_with_default(t, "end_date", 0);
  }
  /* counts from final upstreams (a mapped task's: its instances'); then
   * settle unfinished tasks */
  for (guint i = 0; i < s->n_ti; i++) {
    ph_ti *ti = &s->ti[i];
    if (ti->n_kids)
      continue;
    if (FINAL(ti->state)) {
      s->n_final++;
      s->counts[ti->state]++;
      if (ti->map_index >= 0)
        instance_final(s, i);
      const ph_task_spec *t = task_of(s, i);
      for (guint k = 0; k < t->n_down; k++) {
        ph_tr_counts *c = &s->ti[t->down[k]].c;
        if (ti->state == ST_SUCCESS)
          c->success++;
        else if (ti->state == ST_SKIPPED)
          c->skipped++;
        else if (ti->state == ST_FAILED)
          c->failed++;
        else
          c->upstream_failed++;
      }
    }
  }
  const guint *topo = ph_plan_topo_order(s->plan);
  for (guint k = 0; k < s->n_ti; k++) {
    guint i = k < s->n ? topo[k] : k;
    ph_ti *ti = &s->ti[i];
    const ph_task_spec *t = task_of(s, i);
    if (FINAL(ti->state) || ti->n_kids)
      continue;
    if ((ti->state == ST_RUNNING || ti->state == ST_QUEUED) && s->sl &&
        adopt(s, i)) {
      continue;
    } else if (ti->state == ST_RUNNING || ti->state == ST_QUEUED) {
      /* No try runs twice at once: the earlier try's process group must
       * be gone before a new try can start.  It is found by pid and
       * identity, so a process that reuses the pid is never touched. */
      g_autofree char *proc = NULL;
      int pid = ph_store_try_proc(s->store, run_id, t->id, ti->map_index,
                                  ti->try_number, &proc);
      if (pid > 0 && !ph_proc_group_stop(pid, proc, 10)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                    "run '%s': task '%s' try %d (process group %d) did not "
                    "stop after SIGKILL; not starting another try",
                    run_id, ti->name, ti->try_number, pid);
        goto out;
      }
      ti->state = ST_RUNNING;
      on_try_end(s, i, PH_ERROR,
                 "the try's worker was lost when the pipehost process "
                 "driving the run died",
                 FALSE, FALSE);
      continue;
    }
    if (ti->state == ST_UP_FOR_RETRY || ti->state == ST_UP_FOR_RESCHEDULE) {
      if (t->op->kind == PH_KIND_SENSOR)
        ti->sensor_start = ti->start;
      make_ready(s, i);
      continue;
    }
    ti->state = ST_NONE;
    if (ti->map_index >= 0)
      make_ready(s, i); /* an instance was ready when it was made */
    else if (ph_trigger_eval(t->rule, &ti->c) != PH_TR_WAIT)
      evaluate(s, i);
  }
  propagate(s);
  ok = ph_store_commit(s->store, error);
out:
  if (!ok)
    ph_store_rollback(s->store);
  json_node_unref(run);
  return ok;
}

const char *ph_sched_get_run_id(const ph_sched *s) { return s->run_id; }

const char *ph_sched_get_fatal(const ph_sched *s) { return s->fatal; }

static void fire_timers(ph_sched *s, double *next) {
  double now = ph_util_now();
  *next = -1;
  for (guint i = 0; i < s->timers->len;) {
    guint idx = g_array_index(s->timers, guint, i);
    double when = fabs(s->ti[idx].wake);
    if (when <= now) {
      g_array_remove_index_fast(s->timers, i);
      make_ready(s, idx);
      continue;
    }
    if (*next < 0 || when - now < *next)
      *next = when - now;
    i++;
  }
}

/* TRUE when the run has nothing left to do: every TI is final, or the
 * one task run alone (ph_sched_opts.only_task; a mapped one ends with its
 * last instance) is -- whatever a branch of it did to others. */
static gboolean run_done(ph_sched *s) {
  if (!s->o.only_task)
    return s->n_final >= s->n_ti;
  int idx = ph_plan_lookup(s->plan, s->o.only_task);
  return idx < 0 || FINAL(s->ti[idx].state);
}

/* Whether TI idx's executor has room for another try (-1: whether any
 * executor has): -j counts the tries on this machine, PIPEHOST_SLURM_MAX_JOBS
 * the Slurm jobs. */
static gboolean slots_free(ph_sched *s, int idx) {
  gboolean local = s->n_running - s->n_slurm < (guint)s->o.parallelism;
  gboolean slurm = s->sl && s->n_slurm < s->slurm_max;
  if (idx < 0)
    return local || slurm;
  const ph_task_spec *t = task_of(s, (guint)idx);
  return t->executor == PH_EXECUTOR_SLURM && !(t->op->flags & PH_OP_NO_WORKER)
             ? slurm
             : local;
}

gboolean ph_sched_run(ph_sched *s) {
  s->t0 = ph_util_now();
  ph_store_batch(s->store, TRUE);
  if (s->n_final || s->heap_len || s->timers->len || s->n_running) {
    /* resumed: the state is already loaded */
  } else if (s->o.only_task) {
    int idx = ph_plan_lookup(s->plan, s->o.only_task);
    if (idx >= 0)
      make_ready(s, idx);
  } else {
    for (guint i = 0; i < s->n; i++)
      if (ph_plan_get_task(s->plan, i)->n_up == 0)
        evaluate(s, i);
    propagate(s);
  }
  while (!run_done(s) && !s->fatal) {
    double next;
    fire_timers(s, &next);
    GArray *parked = NULL;
    while (s->heap_len && slots_free(s, -1) && !s->fatal) {
      guint idx = heap_pop(s);
      if (!slots_free(s, (int)idx) || !pool_take(s, idx)) {
        if (!parked)
          parked = g_array_new(FALSE, FALSE, sizeof(guint));
        g_array_append_val(parked, idx);
        continue;
      }
      start(s, idx);
      if (s->ti[idx].state != ST_RUNNING)
        pool_release(s, idx);
      propagate(s);
    }
    if (ph_slurm_has_pending(s->sl)) {
      /* the tries' intents on disk before their jobs exist: a host killed
       * in between is resumed without a second job for any of them */
      commit(s);
      if (!s->fatal)
        ph_slurm_flush(s->sl);
    }
    if (parked) {
      s->pool_blocked = s->heap_len == 0;
      for (guint k = 0; k < parked->len; k++)
        heap_push(s, g_array_index(parked, guint, k));
      g_array_free(parked, TRUE);
    }
    if (run_done(s))
      break;
    if (!s->n_running && !s->heap_len && !s->timers->len)
      break; /* nothing can move: should not happen with trigger rules */
    /* Group commit: what this step wrote is committed once it is
     * PH_COMMIT_DELAY old, so observers (runs show) lag by at most that and
     * a busy run commits ~50 times a second, not once per event.  A start
     * whose upstream ended in the open transaction commits first (start). */
    /* the heartbeat: another machine sharing the store sees this run's
     * host alive while it beats */
    double hb_due = s->hb_last + s->hb_interval - ph_util_now();
    if (hb_due <= 0 && !s->o.only_task) {
      ph_store_run_heartbeat(s->store, s->run_id);
      s->hb_last = ph_util_now();
      hb_due = s->hb_interval;
    }
    if (!s->o.only_task && (next < 0 || next > hb_due))
      next = hb_due;
    double age = ph_store_pending_age(s->store);
    if (age >= PH_COMMIT_DELAY)
      commit(s);
    else if (age >= 0 && (next < 0 || next > PH_COMMIT_DELAY - age))
      next = PH_COMMIT_DELAY - age;
    /* a task may have gone back to waiting (depends_on_past) while the
     * tries were started: the poll must wake for its timer */
    for (guint k = 0; k < s->timers->len; k++) {
      double when =
          fabs(s->ti[g_array_index(s->timers, guint, k)].wake) - ph_util_now();
      if (next < 0 || when < next)
        next = MAX(0.0, when);
    }
    if (s->heap_len && slots_free(s, -1) && !s->pool_blocked)
      next = 0;
    if (s->heap_len && s->pool_blocked && (next < 0 || next > 0.2)) {
      next = 0.2; /* a slot held by another run frees without an event here */
      s->pool_blocked = FALSE;
    }
    double sl_next = ph_slurm_next_poll(s->sl);
    if (sl_next >= 0 && (next < 0 || next > sl_next))
      next = sl_next;
    if (ph_exec_poll(s->ex, next) < 0) {
      s->fatal = g_strdup_printf("waiting for the tries failed: %s",
                                 g_strerror(errno));
      break;
    }
    ph_slurm_poll(s->sl);
    propagate(s);
  }
  if (s->fatal) {
    /* The store cannot record the run: stop its tries (nobody could record
     * what they do) and leave the run as last committed, for `pipehost
     * resume` once the store works again.  Slurm jobs too (scancel). */
    discard_prepared(s);
    ph_exec_free(s->ex);
    s->ex = NULL;
    ph_slurm_cancel_all(s->sl);
    if (ph_store_get_error(s->store))
      ph_store_rollback(s->store);
    else
      ph_store_commit(s->store, NULL);
    ph_store_batch(s->store, FALSE);
    if (s->o.progress == 2)
      fprintf(stderr, "\r\033[K");
    return FALSE;
  }
  /* the run's state from its leaves (Airflow DagRun.update_state) */
  gboolean ok = TRUE;
  for (guint i = 0; i < s->n; i++) {
    const ph_task_spec *t = ph_plan_get_task(s->plan, i);
    int st = s->ti[i].state;
    if (s->o.only_task) {
      if (!strcmp(t->id, s->o.only_task))
        ok = st == ST_SUCCESS || st == ST_SKIPPED;
      continue;
    }
    if (!FINAL(st))
      ok = FALSE;
    else if (t->n_down == 0 && (st == ST_FAILED || st == ST_UPSTREAM_FAILED))
      ok = FALSE;
  }
  if (!s->o.only_task)
    ph_store_run_set_state(s->store, s->run_id, ok ? "success" : "failed");
  commit(s);
  if (!s->o.only_task && !s->fatal)
    ph_openlineage_emit(s->ol, ok ? "COMPLETE" : "FAIL",
                        ph_plan_get_dag_id(s->plan), s->run_id, NULL, NULL,
                        NULL, NULL, ok ? NULL : "a task of the run failed");
  ph_store_batch(s->store, FALSE);
  if (s->fatal)
    return FALSE; /* the end is not on disk: no success is reported */
  if (s->o.progress == 2)
    fprintf(stderr, "\r\033[K");
  return ok;
}

/* Adds TI i to the summary's tasks. */
static void summary_ti(ph_sched *s, JsonBuilder *b, guint i) {
  ph_ti *ti = &s->ti[i];
  json_builder_set_member_name(b, ti->name);
  json_builder_begin_object(b);
  add_str(b, "state", state_names[ti->state]);
  json_builder_set_member_name(b, "tries");
  json_builder_add_int_value(b, ti->tries_started);
  json_builder_set_member_name(b, "duration");
  json_builder_add_double_value(
      b, ti->end > ti->start && ti->start > 0 ? ti->end - ti->start : 0);
  if (ti->reason)
    add_str(b, "reason", ti->reason);
  json_builder_end_object(b);
}

JsonNode *ph_sched_summary(ph_sched *s) {
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  add_str(b, "run_id", s->run_id);
  g_autofree char *state = ph_store_run_state(s->store, s->run_id);
  add_str(b, "state", state ? state : "unknown");
  json_builder_set_member_name(b, "tasks");
  json_builder_begin_object(b);
  for (guint i = 0; i < s->n; i++) {
    const ph_task_spec *t = ph_plan_get_task(s->plan, i);
    if (s->o.only_task && strcmp(t->id, s->o.only_task))
      continue;
    /* an expanded task is its instances */
    for (guint k = 0; k < s->ti[i].n_kids; k++)
      summary_ti(s, b, s->ti[i].kid0 + k);
    if (!s->ti[i].n_kids)
      summary_ti(s, b, i);
  }
  json_builder_end_object(b);
  json_builder_set_member_name(b, "xcoms");
  json_builder_add_value(b, ph_store_xcom_list(s->store, s->run_id));
  json_builder_end_object(b);
  JsonNode *n = json_builder_get_root(b);
  g_object_unref(b);
  return n;
}
