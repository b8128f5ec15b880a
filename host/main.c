/* pipehost -- the command line.  Each subcommand parses its own options
 * (GOption), loads what it needs and returns 0 (ok), 1 (the run or check
 * failed) or 2 (usage or validation error). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "cmd.h"
#include "ph_cron.h"
#include "ph_dag.h"
#include "ph_exec.h"
#include "ph_lua.h"
#include "ph_plan.h"
#include "ph_registry.h"
#include "ph_sched.h"
#include "ph_slurm.h"
#include "ph_store.h"
#include "ph_notify.h"
#include "ph_scheduler.h"
#include "ph_track.h"
#include "ph_trigger.h"
#include "ph_util.h"
#include "ph_worker.h"

#define EXIT_USAGE 2

static char *g_exe;    /* absolute path of this binary */
static char *g_prefix; /* exe_dir/.. */
static char **g_plugin_dirs;

static char *lua_dir(void) {
  const char *env = g_getenv("PIPEHOST_LUA_DIR");
  if (env && *env)
    return g_strdup(env);
  return g_build_filename(g_prefix, "share", "pipehost", "lua", NULL);
}

static char *builtin_plugin_dir(void) {
  return g_build_filename(g_prefix, "lib", "pipehost", "plugins", NULL);
}

/* The registry the scheduler loaded once for the runs it forks (see
 * preload_registry), or NULL. */
static ph_registry *g_kept_registry;

/* The plugin registry: the kept one when there is one (a run forked by
 * the scheduler takes it over), else loaded now. */
ph_registry *ph_cmd_load_registry(void) {
  if (g_kept_registry) {
    ph_registry *kept = g_kept_registry;
    g_kept_registry = NULL;
    return kept;
  }
  ph_registry *r = ph_registry_new();
  g_autofree char *bdir = builtin_plugin_dir();
  ph_registry_scan_default(r, (const char *const *)g_plugin_dirs, bdir);
  return r;
}

/* For the scheduler: loads the registry once; each run it forks takes
 * it over instead of scanning the plugin folders again. */
static void preload_registry(void) {
  if (!g_kept_registry)
    g_kept_registry = ph_cmd_load_registry();
}

static void print_registry_problems(const ph_registry *r) {
  for (guint i = 0; i < ph_registry_n_problems(r); i++)
    g_printerr("pipehost: plugin refused: %s\n", ph_registry_get_problem(r, i));
}

/* Loads and validates a DAG file; prints every error.  Returns the plan
 * (and *dag_out, which the caller frees after the plan) or NULL. */
ph_plan *ph_cmd_load_plan(const char *file, ph_registry *reg,
                          ph_dag **dag_out) {
  GError *err = NULL;
  /* limits on running a Lua DAG file (defaults: 10 s, 256 MiB) */
  const char *lt = g_getenv("PIPEHOST_DAG_LOAD_TIMEOUT");
  const char *lm = g_getenv("PIPEHOST_DAG_LOAD_MEMORY_MB");
  ph_lua_set_limits(lm ? (size_t)g_ascii_strtoull(lm, NULL, 10) << 20 : 0,
                    lt ? g_ascii_strtod(lt, NULL) : 0);
  g_autofree char *ldir = lua_dir();
  ph_dag *dag = ph_dag_load(file, ldir, &err);
  if (!dag) {
    g_printerr("%s\n", err->message);
    g_error_free(err);
    return NULL;
  }
  GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
  ph_plan *plan = ph_plan_build(dag, reg, errors);
  for (guint i = 0; i < errors->len; i++)
    g_printerr("%s\n", (char *)errors->pdata[i]);
  if (!plan && ph_registry_n_problems(reg))
    print_registry_problems(reg);
  if (!plan && errors->len)
    g_printerr("%u error%s in %s\n", errors->len, errors->len == 1 ? "" : "s",
               file);
  g_ptr_array_unref(errors);
  if (!plan) {
    ph_dag_free(dag);
    return NULL;
  }
  *dag_out = dag;
  return plan;
}

ph_store *ph_cmd_open_store(void) {
  g_autofree char *home = ph_store_default_home();
  GError *err = NULL;
  ph_store *s = ph_store_open(home, &err);
  if (!s) {
    g_printerr("pipehost: %s\n", err->message);
    g_error_free(err);
  }
  return s;
}

static void print_json(JsonNode *n, gboolean pretty) {
  g_autofree char *txt =
      ph_util_json_write(n, pretty ? PH_JSON_PRETTY : PH_JSON_COMPACT);
  printf("%s\n", txt);
}

/* Parses the common options; returns FALSE (after printing the error and
 * usage hint) on a bad command line. */
gboolean ph_cmd_parse(GOptionContext *ctx, int *argc, char ***argv,
                      int min_args, int max_args, const char *cmd) {
  GError *err = NULL;
  GOptionEntry common[] = {{"plugin-dir", 0, 0, G_OPTION_ARG_FILENAME_ARRAY,
                            &g_plugin_dirs,
                            "Also load plugins from DIR (repeatable)", "DIR"},
                           {0}};
  GOptionGroup *g = g_option_group_new(
      "plugins", "Plugin options:", "Show plugin options", NULL, NULL);
  g_option_group_add_entries(g, common);
  g_option_context_add_group(ctx, g);
  if (!g_option_context_parse(ctx, argc, argv, &err)) {
    g_printerr("pipehost %s: %s (see pipehost %s --help)\n", cmd, err->message,
               cmd);
    g_error_free(err);
    return FALSE;
  }
  int n = *argc - 1;
  if (n < min_args || (max_args >= 0 && n > max_args)) {
    g_autofree char *help = g_option_context_get_help(ctx, TRUE, NULL);
    g_printerr("pipehost %s: expected %s%d argument%s, got %d\n\n%s", cmd,
               max_args == min_args ? "" : "at least ", min_args,
               min_args == 1 ? "" : "s", n, help);
    return FALSE;
  }
  return TRUE;
}

static char *resolve_run(ph_store *st, const char *text) {
  GError *err = NULL;
  char *id = ph_store_run_resolve(st, text, &err);
  if (!id) {
    g_printerr("pipehost: %s\n", err->message);
    g_error_free(err);
  }
  return id;
}

/* Prints the end-of-run summary: a table, or the JSON object. */
static void print_summary(ph_sched *s, const ph_plan *plan, gboolean ok,
                          gboolean json) {
  JsonNode *sum = ph_sched_summary(s);
  if (json) {
    print_json(sum, FALSE);
  } else {
    JsonObject *so = json_node_get_object(sum);
    JsonObject *tasks = json_object_get_object_member(so, "tasks");
    printf("\nrun %s: %s\n", ph_sched_get_run_id(s), ok ? "success" : "failed");
    printf("%-28s %-16s %5s %9s  %s\n", "TASK", "STATE", "TRIES", "DURATION",
           "REASON");
    /* a big run lists only what did not succeed; the summary's members
     * are in the plan's order, mapped instances after their task's place */
    gboolean all = json_object_get_size(tasks) <= 50;
    guint hidden = 0;
    GList *ids = json_object_get_members(tasks);
    for (GList *l = ids; l; l = l->next) {
      const char *id = l->data;
      JsonObject *t = json_object_get_object_member(tasks, id);
      const char *st = json_object_get_string_member(t, "state");
      if (!all && !strcmp(st, "success")) {
        hidden++;
        continue;
      }
      g_autofree char *why = ph_util_first_line(
          json_object_get_string_member_with_default(t, "reason", ""));
      printf("%-28s %-16s %5" G_GINT64_FORMAT " %8.3fs  %s\n", id, st,
             json_object_get_int_member(t, "tries"),
             json_object_get_double_member(t, "duration"), why);
    }
    g_list_free(ids);
    if (hidden)
      printf("... and %u more tasks that succeeded (pipehost runs show %s)\n",
             hidden, ph_sched_get_run_id(s));
    printf("logs: pipehost logs %s TASK\n", ph_sched_get_run_id(s));
  }
  json_node_unref(sum);
}

/* Everything one run needs, opened together and closed together. */
typedef struct {
  ph_registry *reg;
  ph_dag *dag;
  ph_plan *plan;
  ph_store *store;
  ph_sched *sched;
  char *ldir;
} run_env;

/* Loads and validates file, opens the store (unless e->store is already
 * open) and makes a scheduler.  FALSE, after printing why, on failure;
 * run_env_close() cleans up either way. */
static gboolean run_env_open(run_env *e, const char *file, int parallelism,
                             gboolean quiet, gboolean json,
                             const char *only_task, const char *run_type,
                             const char *interval_end) {
  e->reg = ph_cmd_load_registry();
  e->plan = ph_cmd_load_plan(file, e->reg, &e->dag);
  if (!e->plan)
    return FALSE;
  if (!e->store && !(e->store = ph_cmd_open_store()))
    return FALSE;
  e->ldir = lua_dir();
  ph_sched_opts o = {
      .parallelism =
          parallelism > 0 ? parallelism : (int)g_get_num_processors(),
      .worker_exe = g_exe,
      .lua_dir = e->ldir,
      .kill_grace = 5,
      .xcom_max = 1 << 20,
      .progress = quiet                ? 0
                  : isatty(2) && !json ? 2
                                       : 1,
      .only_task = only_task,
      .run_type = run_type,
      .interval_end = interval_end,
  };
  const char *xm = g_getenv("PIPEHOST_XCOM_MAX_BYTES");
  if (xm && g_ascii_strtoll(xm, NULL, 10) > 0)
    o.xcom_max = g_ascii_strtoll(xm, NULL, 10);
  const char *kg = g_getenv("PIPEHOST_KILL_GRACE");
  if (kg && g_ascii_strtod(kg, NULL) >= 0)
    o.kill_grace = g_ascii_strtod(kg, NULL);
  e->sched = ph_sched_new(e->plan, e->store, &o);
  return TRUE;
}

static void run_env_close(run_env *e) {
  ph_sched_free(e->sched);
  ph_store_close(e->store);
  ph_plan_free(e->plan);
  ph_dag_free(e->dag);
  ph_registry_free(e->reg);
  g_free(e->ldir);
}

/* Runs the scheduler to the end, prints the summary; the exit status. */
static int run_to_end(run_env *e, gboolean json) {
  gboolean ok = ph_sched_run(e->sched);
  const char *fatal = ph_sched_get_fatal(e->sched);
  if (fatal) {
    g_printerr("pipehost: run %s stopped: %s\nIts running tries were "
               "stopped. Once the cause is fixed, `pipehost resume %s` "
               "carries the run on.\n",
               ph_sched_get_run_id(e->sched), fatal,
               ph_sched_get_run_id(e->sched));
    return EXIT_USAGE;
  }
  print_summary(e->sched, e->plan, ok, json);
  return ok ? 0 : 1;
}

/* Sets each --param KEY=VALUE of pairs in o: VALUE as JSON if it parses,
 * else as text.  FALSE, said for `pipehost CMD`, on a pair without KEY. */
static gboolean set_params(JsonObject *o, char **pairs, const char *cmd) {
  for (char **p = pairs; p && *p; p++) {
    const char *eq = strchr(*p, '=');
    if (!eq || eq == *p) {
      g_printerr("pipehost %s: --param '%s' must be KEY=VALUE\n", cmd, *p);
      return FALSE;
    }
    g_autofree char *k = g_strndup(*p, eq - *p);
    JsonNode *v = json_from_string(eq + 1, NULL);
    if (!v)
      v = json_node_init_string(json_node_alloc(), eq + 1);
    json_object_set_member(o, k, v);
  }
  return TRUE;
}

/* ---- run */
static int cmd_run(int argc, char **argv) {
  char **params = NULL;
  char *date = NULL, *run_id = NULL, *run_type = NULL, *interval_end = NULL,
       *conf = NULL;
  gboolean json = FALSE, quiet = FALSE;
  int parallelism = 0;
  GOptionEntry e[] = {
      {"conf", 0, 0, G_OPTION_ARG_STRING, &conf,
       "The run's conf: a JSON object merged over the params "
       "({{ dag_run.conf }})",
       "JSON"},
      {"run-type", 0, 0, G_OPTION_ARG_STRING, &run_type,
       "manual (default), scheduled or backfill", "TYPE"},
      {"interval-end", 0, 0, G_OPTION_ARG_STRING, &interval_end,
       "End of the data interval (ISO-8601; default: the logical date)", "ISO"},
      {"param", 'p', 0, G_OPTION_ARG_STRING_ARRAY, &params,
       "Set DAG param KEY to VALUE (JSON if it parses, else text)",
       "KEY=VALUE"},
      {"date", 'd', 0, G_OPTION_ARG_STRING, &date,
       "Logical date of the run (ISO-8601; default: now)", "ISO"},
      {"run-id", 0, 0, G_OPTION_ARG_STRING, &run_id, "Use this run id", "ID"},
      {"parallelism", 'j', 0, G_OPTION_ARG_INT, &parallelism,
       "Task tries running at once (default: number of cores)", "N"},
      {"json", 0, 0, G_OPTION_ARG_NONE, &json,
       "Print one JSON object {run_id, state, tasks, xcoms} on stdout", NULL},
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress output", NULL},
      {0}};
  GOptionContext *ctx =
      g_option_context_new("FILE - run one DAG run to its end");
  g_option_context_set_summary(
      ctx, "Loads FILE (.lua, .yaml), validates it and runs every task, each "
           "try in its own worker process.\nExit status: 0 the run succeeded, "
           "1 it failed, 2 usage or validation error.");
  g_option_context_add_main_entries(ctx, e, NULL);
  int rc = EXIT_USAGE;
  run_env re = {0};
  JsonObject *po = json_object_new();
  if (!ph_cmd_parse(ctx, &argc, &argv, 1, 1, "run"))
    goto out;
  if (!set_params(po, params, "run"))
    goto out;
  if (conf) {
    JsonNode *cn = json_from_string(conf, NULL);
    if (!cn || !JSON_NODE_HOLDS_OBJECT(cn)) {
      g_printerr("pipehost run: --conf must be a JSON object\n");
      if (cn)
        json_node_unref(cn);
      goto out;
    }
    JsonObject *co = json_node_get_object(cn);
    GList *ks = json_object_get_members(co);
    for (GList *l = ks; l; l = l->next)
      json_object_set_member(
          po, l->data, json_node_copy(json_object_get_member(co, l->data)));
    g_list_free(ks);
    json_node_unref(cn);
  }
  static const char *const run_types[] = {
      "manual", "scheduled", "backfill", "dataset_triggered", "freshness",
      NULL};
  if (run_type && !g_strv_contains(run_types, run_type)) {
    g_printerr("pipehost run: --run-type must be manual, scheduled, "
               "backfill, dataset_triggered or freshness\n");
    goto out;
  }
  if (!run_env_open(&re, argv[1], parallelism, quiet, json, NULL, run_type,
                    interval_end))
    goto out;
  GError *err = NULL;
  if (!ph_sched_create_run(re.sched, date, po, run_id, &err)) {
    g_printerr("pipehost run: %s\n", err->message);
    g_error_free(err);
    goto out;
  }
  rc = run_to_end(&re, json);
out:
  run_env_close(&re);
  json_object_unref(po);
  g_strfreev(params);
  g_free(date);
  g_free(run_id);
  g_free(run_type);
  g_free(interval_end);
  g_free(conf);
  g_option_context_free(ctx);
  return rc;
}

/* ---- resume: carry on a run whose pipehost process died */
static int cmd_resume(int argc, char **argv) {
  gboolean json = FALSE, quiet = FALSE;
  int parallelism = 0;
  GOptionEntry e[] = {
      {"parallelism", 'j', 0, G_OPTION_ARG_INT, &parallelism,
       "Task tries running at once (default: number of cores)", "N"},
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON summary on stdout", NULL},
      {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress output", NULL},
      {0}};
  GOptionContext *ctx = g_option_context_new(
      "RUN - carry on a run whose pipehost process was killed");
  g_option_context_set_summary(
      ctx, "Finished tasks keep their state (nothing that succeeded runs "
           "again); tries\nwhose worker was lost count as failed tries and "
           "are retried if their retries allow.");
  g_option_context_add_main_entries(ctx, e, NULL);
  int rc = EXIT_USAGE;
  run_env re = {0};
  char *id = NULL;
  JsonNode *run = NULL;
  if (!ph_cmd_parse(ctx, &argc, &argv, 1, 1, "resume"))
    goto out;
  if (!(re.store = ph_cmd_open_store()))
    goto out;
  rc = 1;
  if (!(id = resolve_run(re.store, argv[1])))
    goto out;
  run = ph_store_run_show(re.store, id);
  if (!run_env_open(&re,
                    json_object_get_string_member_with_default(
                        json_node_get_object(run), "dag_file", ""),
                    parallelism, quiet, json, NULL,
                    json_object_get_string_member_with_default(
                        json_node_get_object(run), "run_type", NULL),
                    NULL))
    goto out;
  GError *err = NULL;
  if (!ph_sched_resume_run(re.sched, id, &err)) {
    g_printerr("pipehost resume: %s\n", err->message);
    g_error_free(err);
    goto out;
  }
  rc = run_to_end(&re, json);
out:
  if (run)
    json_node_unref(run);
  run_env_close(&re);
  g_free(id);
  g_option_context_free(ctx);
  return rc;
}

/* ---- cron next: the next fire times of a cron expression */
static int cmd_cron(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "next")) {
    printf("Usage: pipehost cron next 'EXPR' [--from ISO] [--count N] "
           "[--tz ZONE]\n\nPrints the next N fire times after --from "
           "(default: now), one ISO-8601 UTC\ntime per line; EXPR is "
           "evaluated on ZONE's wall clock (an IANA name, default UTC).\n");
    return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
               ? 0
               : EXIT_USAGE;
  }
  argc--;
  argv++;
  char *from = NULL, *zone_name = NULL;
  int count = 1;
  GOptionEntry e[] = {
      {"from", 0, 0, G_OPTION_ARG_STRING, &from, "Start (ISO-8601)", "ISO"},
      {"count", 'n', 0, G_OPTION_ARG_INT, &count, "How many times", "N"},
      {"tz", 0, 0, G_OPTION_ARG_STRING, &zone_name, "IANA time zone", "ZONE"},
      {0}};
  GOptionContext *ctx = g_option_context_new("'EXPR' - next fire times");
  g_option_context_add_main_entries(ctx, e, NULL);
  int rc = EXIT_USAGE;
  ph_cron *c = NULL;
  GTimeZone *tz = NULL, *utc = g_time_zone_new_utc();
  GDateTime *t = NULL;
  GError *err = NULL;
  if (!ph_cmd_parse(ctx, &argc, &argv, 1, 1, "cron next"))
    goto out;
  if (!(c = ph_cron_parse(argv[1], &err))) {
    g_printerr("pipehost cron next: %s\n", err->message);
    goto out;
  }
  tz =
      zone_name ? g_time_zone_new_identifier(zone_name) : g_time_zone_new_utc();
  if (!tz) {
    g_printerr("pipehost cron next: unknown time zone '%s' (use an IANA name "
               "such as Europe/Zurich)\n",
               zone_name);
    goto out;
  }
  GDateTime *start = from ? g_date_time_new_from_iso8601(from, utc)
                          : g_date_time_new_now_utc();
  if (!start) {
    g_printerr("pipehost cron next: --from '%s' is not ISO-8601\n", from);
    goto out;
  }
  t = g_date_time_to_timezone(start, tz);
  g_date_time_unref(start);
  for (int i = 0; i < count; i++) {
    GDateTime *n = ph_cron_next(c, t);
    if (!n) {
      g_printerr("pipehost cron next: '%s' never fires\n", argv[1]);
      rc = 1;
      goto out;
    }
    GDateTime *u = g_date_time_to_utc(n);
    g_autofree char *iso = g_date_time_format(u, "%Y-%m-%dT%H:%M:%SZ");
    printf("%s\n", iso);
    g_date_time_unref(u);
    g_date_time_unref(t);
    t = n;
  }
  rc = 0;
out:
  g_clear_error(&err);
  if (t)
    g_date_time_unref(t);
  if (tz)
    g_time_zone_unref(tz);
  g_time_zone_unref(utc);
  ph_cron_free(c);
  g_free(from);
  g_free(zone_name);
  g_option_context_free(ctx);
  return rc;
}

/* ---- task run: one try of one task, outside the scheduler's loop */
/* Deletes a directory tree (the scratch home of task test). */
static void rm_tree(GFile *f) {
  GFileEnumerator *en = g_file_enumerate_children(
      f, G_FILE_ATTRIBUTE_STANDARD_NAME, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
      NULL, NULL);
  GFileInfo *info;
  while (en && (info = g_file_enumerator_next_file(en, NULL, NULL))) {
    GFile *c = g_file_get_child(f, g_file_info_get_name(info));
    rm_tree(c);
    g_object_unref(c);
    g_object_unref(info);
  }
  if (en)
    g_object_unref(en);
  g_file_delete(f, NULL, NULL);
}

/* Runs the scratch DAG text in dir (its own home) and prints the test
 * task's state, reason, XComs and log.  The exit status: 0 success, 1 the
 * try failed or was skipped, 2 the DAG did not run. */
static int task_test_run(const char *dir, const char *dag, const char *op,
                         gboolean keep) {
  g_autofree char *file = g_build_filename(dir, "task_test.yaml", NULL);
  g_autofree char *home = g_build_filename(dir, "home", NULL);
  if (!g_file_set_contents(file, dag, -1, NULL)) {
    g_printerr("pipehost task test: cannot write a scratch DAG\n");
    return EXIT_USAGE;
  }
  g_setenv("PIPEHOST_HOME", home, TRUE);
  GPtrArray *av = g_ptr_array_new();
  g_ptr_array_add(av, g_exe);
  g_ptr_array_add(av, "run");
  g_ptr_array_add(av, file);
  g_ptr_array_add(av, "-q");
  for (char **d = g_plugin_dirs; d && *d; d++) {
    g_ptr_array_add(av, "--plugin-dir");
    g_ptr_array_add(av, *d);
  }
  g_ptr_array_add(av, NULL);
  int status = 0;
  GError *err = NULL;
  g_autofree char *out = NULL, *errs = NULL;
  gboolean spawned =
      g_spawn_sync(NULL, (char **)av->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                   &out, &errs, &status, &err);
  g_ptr_array_free(av, TRUE);
  if (!spawned) {
    g_printerr("pipehost task test: %s\n", err->message);
    g_error_free(err);
    return EXIT_USAGE;
  }
  ph_store *st = ph_cmd_open_store();
  if (!st)
    return EXIT_USAGE;
  g_autofree char *rid = ph_store_run_resolve(st, "last", NULL);
  JsonNode *run = rid ? ph_store_run_show(st, rid) : NULL;
  const char *state = "none", *reason = NULL;
  JsonArray *tis =
      run ? json_object_get_array_member(json_node_get_object(run), "tasks")
          : NULL;
  for (guint i = 0; tis && i < json_array_get_length(tis); i++) {
    JsonObject *ti = json_array_get_object_element(tis, i);
    if (!strcmp(json_object_get_string_member(ti, "task_id"), "test")) {
      state = json_object_get_string_member_with_default(ti, "state", "none");
      reason = json_object_get_string_member_with_default(ti, "reason", NULL);
    }
  }
  printf("%s: %s%s%s\n", op, state, reason ? " — " : "", reason ? reason : "");
  JsonNode *xl = rid ? ph_store_xcom_list(st, rid) : NULL;
  JsonObject *xo = xl ? json_node_get_object(xl) : NULL;
  if (xo && json_object_has_member(xo, "test")) {
    g_autofree char *xj =
        ph_util_json_write(json_object_get_member(xo, "test"), PH_JSON_PRETTY);
    printf("xcoms: %s\n", xj);
  }
  g_autofree char *log = rid ? ph_store_log_path(st, rid, "test", -1, 0) : NULL;
  g_autofree char *text = NULL;
  if (log && g_file_get_contents(log, &text, NULL, NULL))
    printf("log:\n%s", text);
  if (keep)
    printf("scratch home: %s\n", home);
  int rc = !strcmp(state, "success") ? 0 : !strcmp(state, "none") ? 2 : 1;
  if (rc == 2 && errs && *errs)
    g_printerr("%s", errs); /* the DAG did not validate: say why */
  if (xl)
    json_node_unref(xl);
  if (run)
    json_node_unref(run);
  ph_store_close(st);
  return rc;
}

/* `pipehost task test OP --param K=V... --xcom TASK=JSON...`: one try of
 * operator OP with those params, downstream of tasks that push the given
 * return values, in a scratch home: a plugin author's test loop with no
 * DAG file to write. */
static int cmd_task_test(int argc, char **argv) {
  char **params = NULL, **xcoms = NULL;
  gboolean keep = FALSE;
  GOptionEntry e[] = {
      {"param", 'p', 0, G_OPTION_ARG_STRING_ARRAY, &params,
       "Set param KEY to VALUE (JSON if it parses, else text)", "KEY=VALUE"},
      {"xcom", 'x', 0, G_OPTION_ARG_STRING_ARRAY, &xcoms,
       "An upstream task TASK whose return_value is JSON (xcom_pull('TASK'))",
       "TASK=JSON"},
      {"keep", 0, 0, G_OPTION_ARG_NONE, &keep,
       "Keep the scratch home and print its path", NULL},
      {0}};
  GOptionContext *ctx = g_option_context_new(
      "OP - run one try of operator OP with the given params and upstream "
      "XComs");
  g_option_context_add_main_entries(ctx, e, NULL);
  int rc = EXIT_USAGE;
  char *dir = NULL;
  JsonObject *task = json_object_new();
  GString *y = g_string_new("dag: {id: task_test}\ntasks:\n");
  JsonArray *ups = json_array_new();
  if (!ph_cmd_parse(ctx, &argc, &argv, 1, 1, "task test"))
    goto out;
  json_object_set_string_member(task, "op", argv[1]);
  if (!set_params(task, params, "task test"))
    goto out;
  for (char **q = xcoms; q && *q; q++) {
    char *eq = strchr(*q, '=');
    JsonNode *v = eq ? json_from_string(eq + 1, NULL) : NULL;
    if (!eq || eq == *q || !v) {
      g_printerr("pipehost task test: --xcom '%s' must be TASK=JSON\n", *q);
      if (v)
        json_node_unref(v);
      goto out;
    }
    json_node_unref(v);
    char *up = g_strndup(*q, eq - *q);
    /* an upstream lua task returns the value */
    char *fn = g_strdup_printf("json.decode([==[%s]==])", eq + 1);
    JsonNode *fnn = json_node_init_string(json_node_alloc(), fn);
    char *fnj = ph_util_json_dup(fnn);
    json_node_unref(fnn);
    g_string_append_printf(y, "  %s: {\"op\": \"lua\", \"fn\": %s}\n", up, fnj);
    json_array_add_string_element(ups, up);
    g_free(up);
    g_free(fn);
    g_free(fnj);
  }
  if (json_array_get_length(ups))
    json_object_set_array_member(task, "upstream", json_array_ref(ups));
  JsonNode *tn = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(tn, task);
  char *tj = ph_util_json_dup(tn);
  json_node_unref(tn);
  g_string_append_printf(y, "  test: %s\n", tj);
  g_free(tj);
  dir = g_dir_make_tmp("pipehost-task-test-XXXXXX", NULL);
  if (!dir) {
    g_printerr("pipehost task test: cannot make a scratch directory\n");
    goto out;
  }
  rc = task_test_run(dir, y->str, argv[1], keep);
out:
  if (dir && !keep) {
    GFile *f = g_file_new_for_path(dir);
    rm_tree(f);
    g_object_unref(f);
  }
  g_free(dir);
  json_array_unref(ups);
  json_object_unref(task);
  g_string_free(y, TRUE);
  g_strfreev(params);
  g_strfreev(xcoms);
  g_option_context_free(ctx);
  return rc;
}

static int cmd_task(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "test"))
    return cmd_task_test(argc - 1, argv + 1);
  if (argc < 2 || strcmp(argv[1], "run")) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
      printf("Usage: pipehost task run FILE TASK [RUN_ID]\n"
             "       pipehost task test OP [--param K=V]... "
             "[--xcom TASK=JSON]...\n\nRuns one try of "
             "TASK of the DAG in FILE in a worker process, ignoring its "
             "dependencies,\nand records it in RUN_ID (created if missing). "
             "This is how a remote executor runs a task.\n");
      return 0;
    }
    g_printerr("pipehost task: expected 'run' (pipehost task run FILE TASK "
               "[RUN_ID])\n");
    return EXIT_USAGE;
  }
  argc--;
  argv++;
  char *date = NULL;
  gboolean json = FALSE;
  GOptionEntry e[] = {
      {"date", 'd', 0, G_OPTION_ARG_STRING, &date, "Logical date for a new run",
       "ISO"},
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL},
      {0}};
  GOptionContext *ctx =
      g_option_context_new("FILE TASK [RUN_ID] - run one try of one task");
  g_option_context_add_main_entries(ctx, e, NULL);
  int rc = EXIT_USAGE;
  run_env re = {0};
  if (!ph_cmd_parse(ctx, &argc, &argv, 2, 3, "task run"))
    goto out;
  if (!run_env_open(&re, argv[1], 1, FALSE, TRUE, argv[2], NULL, NULL))
    goto out;
  if (ph_plan_lookup(re.plan, argv[2]) < 0) {
    g_printerr("pipehost task run: no task '%s' in %s\n", argv[2], argv[1]);
    goto out;
  }
  GError *err = NULL;
  if (!ph_sched_create_run(re.sched, date, NULL, argc > 3 ? argv[3] : NULL,
                           &err)) {
    g_printerr("pipehost task run: %s\n", err->message);
    g_error_free(err);
    goto out;
  }
  rc = run_to_end(&re, json);
out:
  run_env_close(&re);
  g_free(date);
  g_option_context_free(ctx);
  return rc;
}

/* ---- validate, graph */
static int cmd_validate(int argc, char **argv) {
  GOptionContext *ctx =
      g_option_context_new("FILE - check a DAG file without running it");
  int rc = EXIT_USAGE;
  ph_registry *reg = NULL;
  ph_dag *dag = NULL;
  ph_plan *plan = NULL;
  if (!ph_cmd_parse(ctx, &argc, &argv, 1, 1, "validate"))
    goto out;
  reg = ph_cmd_load_registry();
  plan = ph_cmd_load_plan(argv[1], reg, &dag);
  if (!plan)
    goto out;
  printf("%s: DAG '%s' is valid: %u tasks\n", argv[1], ph_plan_get_dag_id(plan),
         ph_plan_n_tasks(plan));
  rc = 0;
out:
  ph_plan_free(plan);
  ph_dag_free(dag);
  ph_registry_free(reg);
  g_option_context_free(ctx);
  return rc;
}

/* ---- plugins */
/* One operator of plugin p as `plugins info --json` prints it. */
static void operator_json(JsonBuilder *b, const ph_plugin *p,
                          const ph_operator *op) {
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "operator");
  json_builder_add_string_value(b, op->type);
  json_builder_set_member_name(b, "plugin");
  json_builder_add_string_value(b, p->name);
  json_builder_set_member_name(b, "version");
  json_builder_add_string_value(b, p->version);
  json_builder_set_member_name(b, "license");
  json_builder_add_string_value(b, p->license);
  json_builder_set_member_name(b, "abi");
  g_autofree char *abi = g_strdup_printf("%u.%u", p->abi_major, p->abi_minor);
  json_builder_add_string_value(b, abi);
  json_builder_set_member_name(b, "kind");
  json_builder_add_string_value(b, op->kind == PH_KIND_SENSOR   ? "sensor"
                                   : op->kind == PH_KIND_BRANCH ? "branch"
                                                                : "task");
  json_builder_set_member_name(b, "doc");
  json_builder_add_string_value(b, op->doc ? op->doc : "");
  json_builder_set_member_name(b, "params");
  json_builder_begin_array(b);
  for (const ph_param *const *pp = op->params; pp && *pp; pp++) {
    const ph_param *q = *pp;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, q->name);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, q->type);
    static const struct {
      const char *name;
      unsigned bit;
    } flags[] = {{"required", PH_PARAM_REQUIRED},
                 {"templated", PH_PARAM_TEMPLATED},
                 {"secret", PH_PARAM_SECRET},
                 {"path", PH_PARAM_PATH}};
    for (gsize k = 0; k < G_N_ELEMENTS(flags); k++) {
      json_builder_set_member_name(b, flags[k].name);
      json_builder_add_boolean_value(b, (q->flags & flags[k].bit) != 0);
    }
    if (q->default_json) {
      JsonNode *d = json_from_string(q->default_json, NULL);
      json_builder_set_member_name(b, "default");
      json_builder_add_value(b, d ? d : json_node_new(JSON_NODE_NULL));
    }
    if (PH_HAS(q, ph_param, choices) && q->choices) {
      json_builder_set_member_name(b, "choices");
      json_builder_begin_array(b);
      for (const char *const *c = q->choices; *c; c++)
        json_builder_add_string_value(b, *c);
      json_builder_end_array(b);
    }
    if (PH_HAS(q, ph_param, maximum) && (q->flags & PH_PARAM_RANGE)) {
      json_builder_set_member_name(b, "minimum");
      json_builder_add_double_value(b, q->minimum);
      json_builder_set_member_name(b, "maximum");
      json_builder_add_double_value(b, q->maximum);
    }
    json_builder_set_member_name(b, "doc");
    json_builder_add_string_value(b, q->doc ? q->doc : "");
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
}

/* `pipehost plugins new NAME [DIR]`: a plugin skeleton that builds with
 * one cc line and tests itself with `pipehost task test`. */
static int plugins_new(const char *name, const char *parent) {
  if (!name || !*name ||
      strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name)) {
    g_printerr("pipehost plugins new: NAME must be lower-case letters, digits "
               "and '_'\n");
    return EXIT_USAGE;
  }
  g_autofree char *dir = g_build_filename(parent ? parent : ".", name, NULL);
  if (g_file_test(dir, G_FILE_TEST_EXISTS)) {
    g_printerr("pipehost plugins new: %s exists; not overwriting it\n", dir);
    return EXIT_USAGE;
  }
  g_mkdir_with_parents(dir, 0755);
  g_autofree char *c = g_strdup_printf(
      "/* %1$s -- a pipehost operator plugin (made by `pipehost plugins "
      "new`).\n"
      " * Build: make   Test: sh test.sh */\n"
      "#include <pipehost/plugin.h>\n\n"
      "/* The work of one try: params in, an XCom out.  Runs in a worker\n"
      " * process of its own; a crash here costs this try only. */\n"
      "static ph_status run(const ph_host *h, ph_task *t, void *state) {\n"
      "  const char *who = \"world\";\n"
      "  h->param_string(t, \"who\", &who);\n"
      "  if (!*who) {\n"
      "    h->set_error(t, \"nobody to greet\", NULL, \"set the who param\");\n"
      "    return PH_FAIL_NO_RETRY;\n"
      "  }\n"
      "  h->log(t, PH_LOG_INFO, \"greeting %%s\", who);\n"
      "  return h->xcom_push_text(t, NULL, who);\n"
      "}\n\n"
      "static const ph_param p_who = {PH_PARAM_INIT, .name = \"who\",\n"
      "    .type = \"string\", .flags = PH_PARAM_TEMPLATED,\n"
      "    .default_json = \"\\\"world\\\"\", .doc = \"who to greet\"};\n"
      "static const ph_param *const params[] = {&p_who, NULL};\n"
      "static const ph_operator op = {PH_OPERATOR_INIT, .type = \"%1$s\",\n"
      "    .doc = \"greets someone\", .kind = PH_KIND_TASK, .params = params,\n"
      "    .execute2 = run};\n"
      "static const ph_operator *const ops[] = {&op, NULL};\n"
      "static const ph_plugin plugin = {PH_PLUGIN_INIT, .name = \"%1$s\",\n"
      "    .version = \"0.1.0\", .license = \"MIT\",\n"
      "    .description = \"%1$s operators\", .operators = ops};\n"
      "PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; "
      "}\n",
      name);
  g_autofree char *mk = g_strdup_printf(
      "# one cc line: the installed header through pkg-config\n"
      "%1$s.so: %1$s.c\n"
      "\tcc -shared -fPIC $$(pkg-config --cflags pipehost-plugin) %1$s.c "
      "-o %1$s.so -Wl,-z,defs\n",
      name);
  g_autofree char *sh = g_strdup_printf(
      "#!/bin/sh\n"
      "# runs the operator once, with no DAG file, and checks its XCom\n"
      "set -e\n"
      "cd \"$(dirname \"$0\")\"\n"
      "out=$(pipehost task test %1$s --plugin-dir . -p who=tester)\n"
      "echo \"$out\"\n"
      "echo \"$out\" | grep -q '\"return_value\": \"tester\"' && "
      "echo \"1 passed, 0 failed\"\n",
      name);
  const char *files[][2] = {{".c", c}, {"Makefile", mk}, {"test.sh", sh}};
  for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
    g_autofree char *fn =
        files[i][0][0] == '.'
            ? g_strdup_printf("%s/%s%s", dir, name, files[i][0])
            : g_build_filename(dir, files[i][0], NULL);
    if (!g_file_set_contents(fn, files[i][1], -1, NULL)) {
      g_printerr("pipehost plugins new: cannot write %s\n", fn);
      return 1;
    }
  }
  printf("wrote %s/{%s.c,Makefile,test.sh}: cd %s && make && sh test.sh\n", dir,
         name, dir);
  return 0;
}

static int cmd_plugins(int argc, char **argv) {
  const char *sub = argc > 1 ? argv[1] : "";
  if (!strcmp(sub, "new") && (argc == 3 || argc == 4))
    return plugins_new(argv[2], argc == 4 ? argv[3] : NULL);
  if (strcmp(sub, "list") && strcmp(sub, "info")) {
    printf("Usage: pipehost plugins list | pipehost plugins info NAME "
           "[--json] | pipehost plugins new NAME [DIR]\n");
    return !strcmp(sub, "--help") || !strcmp(sub, "-h") ? 0 : EXIT_USAGE;
  }
  argc--;
  argv++;
  gboolean info = !strcmp(sub, "info"), json = FALSE;
  GOptionEntry je[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &json,
                        "Print the operators as a JSON array", NULL},
                       {0}};
  GOptionContext *ctx = g_option_context_new(
      info ? "NAME - a plugin's or operator's params, types, defaults and "
             "docs (NAME: a plugin, an operator, or PLUGIN.OPERATOR)"
           : "- list installed plugins and their operators");
  if (info)
    g_option_context_add_main_entries(ctx, je, NULL);
  int rc = EXIT_USAGE;
  ph_registry *reg = NULL;
  JsonBuilder *jb = NULL;
  if (!ph_cmd_parse(ctx, &argc, &argv, info ? 1 : 0, info ? 1 : 0,
             info ? "plugins info" : "plugins list"))
    goto out;
  reg = ph_cmd_load_registry();
  rc = 0;
  if (json) {
    jb = json_builder_new();
    json_builder_begin_array(jb);
  }
  for (guint i = 0; i < ph_registry_n_plugins(reg); i++) {
    const char *path;
    const ph_plugin *p = ph_registry_get_plugin(reg, i, &path);
    if (!info) {
      printf("%-14s %-8s %s\n  %s\n  operators:", p->name, p->version,
             p->description, path);
      for (const ph_operator *const *o = p->operators; *o; o++)
        printf(" %s", (*o)->type);
      printf("\n");
      continue;
    }
    for (const ph_operator *const *o = p->operators; *o; o++) {
      const ph_operator *op = *o;
      g_autofree char *qualified = g_strdup_printf("%s.%s", p->name, op->type);
      if (strcmp(argv[1], p->name) && strcmp(argv[1], op->type) &&
          strcmp(argv[1], qualified))
        continue;
      rc = 3;
      if (jb) {
        operator_json(jb, p, op);
        continue;
      }
      printf("operator %s (plugin %s %s, %s, ABI %u.%u)\n  %s\n  kind: %s\n",
             op->type, p->name, p->version, p->license, p->abi_major,
             p->abi_minor, op->doc ? op->doc : "",
             op->kind == PH_KIND_SENSOR   ? "sensor"
             : op->kind == PH_KIND_BRANCH ? "branch"
                                          : "task");
      printf("  params:\n");
      for (const ph_param *const *pp = op->params; pp && *pp; pp++) {
        const ph_param *q = *pp;
        GString *allowed = g_string_new(NULL);
        if (PH_HAS(q, ph_param, choices) && q->choices)
          for (const char *const *c = q->choices; *c; c++)
            g_string_append_printf(allowed, "%s%s",
                                   allowed->len ? ", " : " one of: ", *c);
        if (PH_HAS(q, ph_param, maximum) && (q->flags & PH_PARAM_RANGE))
          g_string_append_printf(allowed, " range: [%g, %g]", q->minimum,
                                 q->maximum);
        printf("    %-22s %-9s%s%s%s%s%s%s%s\n        %s\n", q->name, q->type,
               q->flags & PH_PARAM_REQUIRED ? " required" : "",
               q->flags & PH_PARAM_TEMPLATED ? " templated" : "",
               q->flags & PH_PARAM_SECRET ? " secret" : "",
               q->flags & PH_PARAM_PATH ? " path" : "",
               q->default_json ? " default=" : "",
               q->default_json ? q->default_json : "", allowed->str,
               q->doc ? q->doc : "");
        g_string_free(allowed, TRUE);
      }
    }
  }
  if (jb) {
    json_builder_end_array(jb);
    JsonNode *root = json_builder_get_root(jb);
    if (rc == 3)
      print_json(root, TRUE);
    json_node_unref(root);
  }
  if (info) {
    if (rc == 3) {
      rc = 0;
    } else {
      g_autofree const char **names = ph_registry_operator_names(reg);
      const char *near = ph_util_nearest(argv[1], names);
      g_printerr("pipehost plugins info: no plugin or operator '%s'%s%s%s\n",
                 argv[1], near ? " (did you mean '" : "", near ? near : "",
                 near ? "'?)" : "");
      rc = 1;
    }
  }
  if (ph_registry_n_problems(reg))
    print_registry_problems(reg);
out:
  if (jb)
    g_object_unref(jb);
  ph_registry_free(reg);
  g_option_context_free(ctx);
  return rc;
}

/* ---- runs, logs, xcom, tasks explain */

static int cmd_runs(int argc, char **argv) {
  const char *sub = argc > 1 ? argv[1] : "";
  if (strcmp(sub, "list") && strcmp(sub, "show")) {
    printf("Usage: pipehost runs list [--json] | pipehost runs show RUN "
           "[--json]\n(RUN: a run id, a unique prefix of one, or 'last')\n");
    return !strcmp(sub, "--help") || !strcmp(sub, "-h") ? 0 : EXIT_USAGE;
  }
  argc--;
  argv++;
  gboolean show = !strcmp(sub, "show"), json = FALSE;
  int limit = 50;
  GOptionEntry e[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL},
      {"limit", 'n', 0, G_OPTION_ARG_INT, &limit, "At most N runs (0: all)",
       "N"},
      {0}};
  GOptionContext *ctx = g_option_context_new(
      show ? "RUN - a run's tasks, states, tries and reasons"
           : "- recent runs, newest first");
  g_option_context_add_main_entries(ctx, e, NULL);
  int rc = EXIT_USAGE;
  ph_store *st = NULL;
  char *id = NULL;
  if (!ph_cmd_parse(ctx, &argc, &argv, show ? 1 : 0, show ? 1 : 0,
             show ? "runs show" : "runs list"))
    goto out;
  st = ph_cmd_open_store();
  if (!st)
    goto out;
  if (!show) {
    JsonNode *runs = ph_store_runs_list(st, limit);
    if (json) {
      print_json(runs, TRUE);
    } else {
      JsonArray *a = json_node_get_array(runs);
      printf("%-52s %-20s %-8s %s\n", "RUN", "DAG", "STATE", "STARTED");
      for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *r = json_array_get_object_element(a, i);
        g_autofree char *started = ph_util_iso8601(
            json_object_get_double_member_with_default(r, "start_date", 0));
        printf("%-52s %-20s %-8s %s\n",
               json_object_get_string_member(r, "run_id"),
               json_object_get_string_member(r, "dag_id"),
               json_object_get_string_member(r, "state"), started);
      }
    }
    json_node_unref(runs);
    rc = 0;
    goto out;
  }
  id = resolve_run(st, argv[1]);
  if (!id) {
    rc = 1;
    goto out;
  }
  JsonNode *run = ph_store_run_show(st, id);
  if (json) {
    print_json(run, TRUE);
  } else {
    JsonObject *r = json_node_get_object(run);
    printf("run %s\n  dag: %s (%s)\n  state: %s\n  logical date: %s\n", id,
           json_object_get_string_member(r, "dag_id"),
           json_object_get_string_member_with_default(r, "dag_file", ""),
           json_object_get_string_member(r, "state"),
           json_object_get_string_member_with_default(r, "logical_date", ""));
    printf("%-28s %-16s %5s %9s  %s\n", "TASK", "STATE", "TRIES", "DURATION",
           "REASON");
    JsonArray *tasks = json_object_get_array_member(r, "tasks");
    for (guint i = 0; i < json_array_get_length(tasks); i++) {
      JsonObject *t = json_array_get_object_element(tasks, i);
      double s0 =
          json_object_get_double_member_with_default(t, "start_date", 0);
      double s1 = json_object_get_double_member_with_default(t, "end_date", 0);
      g_autofree char *why = ph_util_first_line(
          json_object_get_string_member_with_default(t, "reason", ""));
      g_autofree char *name = ph_store_ti_name(
          json_object_get_string_member(t, "task_id"),
          (int)json_object_get_int_member_with_default(t, "map_index", -1));
      printf("%-28s %-16s %5" G_GINT64_FORMAT " %8.3fs  %s\n", name,
             json_object_get_string_member(t, "state"),
             json_object_get_int_member_with_default(t, "try_number", 0),
             s1 > s0 && s0 > 0 ? s1 - s0 : 0.0, why);
    }
  }
  json_node_unref(run);
  rc = 0;
out:
  g_free(id);
  ph_store_close(st);
  g_option_context_free(ctx);
  return rc;
}

/* A task instance as the user named it: TASK, or TASK[N] for instance N
 * of a mapped task (or --map-index N).  *task is a new string. */
static void split_ti(const char *text, char **task, int *map_index) {
  const char *b = strrchr(text, '[');
  size_t n = strlen(text);
  if (b && b > text && n > 2 && text[n - 1] == ']' &&
      strspn(b + 1, "0123456789") == n - (size_t)(b - text) - 2 &&
      b + 1 < text + n - 1) {
    *task = g_strndup(text, (gsize)(b - text));
    *map_index = atoi(b + 1);
    return;
  }
  *task = g_strdup(text);
}

static int cmd_logs(int argc, char **argv) {
  int try_n = 0, map_index = -1;
  GOptionEntry e[] = {{"try", 't', 0, G_OPTION_ARG_INT, &try_n,
                       "The try to show (default: the last)", "N"},
                      {"map-index", 'm', 0, G_OPTION_ARG_INT, &map_index,
                       "The instance of a mapped task (or name it TASK[N])",
                       "N"},
                      {0}};
  GOptionContext *ctx = g_option_context_new("RUN TASK - print a task's log");
  g_option_context_add_main_entries(ctx, e, NULL);
  int rc = EXIT_USAGE;
  ph_store *st = NULL;
  char *id = NULL, *path = NULL, *text = NULL, *task = NULL;
  if (!ph_cmd_parse(ctx, &argc, &argv, 2, 2, "logs"))
    goto out;
  st = ph_cmd_open_store();
  if (!st)
    goto out;
  rc = 1;
  id = resolve_run(st, argv[1]);
  if (!id)
    goto out;
  split_ti(argv[2], &task, &map_index);
  path = ph_store_log_path(st, id, task, map_index, try_n);
  if (!path) {
    g_autofree char *name = ph_store_ti_name(task, map_index);
    g_printerr("pipehost logs: no log for task '%s'%s in run %s\n", name,
               try_n ? " at that try" : "", id);
    goto out;
  }
  gsize len = 0;
  if (!g_file_get_contents(path, &text, &len, NULL)) {
    g_printerr("pipehost logs: %s: cannot be read\n", path);
    goto out;
  }
  fwrite(text, 1, len, stdout);
  rc = 0;
out:
  g_free(text);
  g_free(id);
  g_free(path);
  g_free(task);
  ph_store_close(st);
  g_option_context_free(ctx);
  return rc;
}

static int cmd_xcom(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "list")) {
    printf("Usage: pipehost xcom list RUN [--json]\n");
    return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
               ? 0
               : EXIT_USAGE;
  }
  argc--;
  argv++;
  gboolean json = FALSE;
  GOptionEntry e[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL}, {0}};
  GOptionContext *ctx = g_option_context_new("RUN - the XComs of a run");
  g_option_context_add_main_entries(ctx, e, NULL);
  int rc = EXIT_USAGE;
  ph_store *st = NULL;
  char *id = NULL;
  if (!ph_cmd_parse(ctx, &argc, &argv, 1, 1, "xcom list"))
    goto out;
  st = ph_cmd_open_store();
  if (!st)
    goto out;
  rc = 1;
  id = resolve_run(st, argv[1]);
  if (!id)
    goto out;
  JsonNode *x = ph_store_xcom_list(st, id);
  if (json) {
    print_json(x, TRUE);
  } else {
    JsonObject *o = json_node_get_object(x);
    GList *tasks = json_object_get_members(o);
    printf("%-24s %-20s %s\n", "TASK", "KEY", "VALUE");
    for (GList *l = tasks; l; l = l->next) {
      JsonObject *t = json_object_get_object_member(o, l->data);
      GList *keys = json_object_get_members(t);
      for (GList *k = keys; k; k = k->next) {
        g_autofree char *v =
            ph_util_json_dup(json_object_get_member(t, k->data));
        printf("%-24s %-20s %s\n", (char *)l->data, (char *)k->data, v);
      }
      g_list_free(keys);
    }
    g_list_free(tasks);
  }
  json_node_unref(x);
  rc = 0;
out:
  g_free(id);
  ph_store_close(st);
  g_option_context_free(ctx);
  return rc;
}

/* Adds an upstream instance of `tasks explain` to ups (--json) or prints
 * it, and counts its state. */
static void count_upstream(ph_tr_counts *c, JsonArray *ups, const char *id,
                           int map_index, const char *state) {
  if (ups) {
    JsonObject *u = json_object_new();
    json_object_set_string_member(u, "task_id", id);
    json_object_set_int_member(u, "map_index", map_index);
    json_object_set_string_member(u, "state", state);
    json_array_add_object_element(ups, u);
  } else {
    g_autofree char *name = ph_store_ti_name(id, map_index);
    printf("  %-28s %s\n", name, state);
  }
  c->n++;
  if (!strcmp(state, "success"))
    c->success++;
  else if (!strcmp(state, "skipped"))
    c->skipped++;
  else if (!strcmp(state, "failed"))
    c->failed++;
  else if (!strcmp(state, "upstream_failed"))
    c->upstream_failed++;
}

static int cmd_tasks(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "explain")) {
    printf("Usage: pipehost tasks explain RUN TASK\n\nSays why a task is (not) "
           "running: its trigger rule, the states of its upstreams\nand which "
           "condition holds it back.\n");
    return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
               ? 0
               : EXIT_USAGE;
  }
  argc--;
  argv++;
  GOptionContext *ctx =
      g_option_context_new("RUN TASK - why is this task (not) running");
  int rc = EXIT_USAGE;
  ph_store *st = NULL;
  ph_registry *reg = NULL;
  ph_dag *dag = NULL;
  ph_plan *plan = NULL;
  char *id = NULL;
  JsonNode *run = NULL;
  int map_index = -1;
  gboolean as_json = FALSE;
  GOptionEntry e[] = {{"map-index", 'm', 0, G_OPTION_ARG_INT, &map_index,
                       "The instance of a mapped task (or name it TASK[N])",
                       "N"},
                      {"json", 0, 0, G_OPTION_ARG_NONE, &as_json,
                       "One JSON object: the state, reason, trigger rule, "
                       "each upstream instance's state and the explanation",
                       NULL},
                      {0}};
  g_option_context_add_main_entries(ctx, e, NULL);
  char *task = NULL;
  if (!ph_cmd_parse(ctx, &argc, &argv, 2, 2, "tasks explain"))
    goto out;
  split_ti(argv[2], &task, &map_index);
  st = ph_cmd_open_store();
  if (!st)
    goto out;
  rc = 1;
  id = resolve_run(st, argv[1]);
  if (!id)
    goto out;
  run = ph_store_run_show(st, id);
  JsonObject *r = json_node_get_object(run);
  const char *file =
      json_object_get_string_member_with_default(r, "dag_file", "");
  reg = ph_cmd_load_registry();
  plan = ph_cmd_load_plan(file, reg, &dag);
  if (!plan)
    goto out;
  int idx = ph_plan_lookup(plan, task);
  if (idx < 0) {
    g_printerr("pipehost tasks explain: no task '%s' in DAG %s\n", task,
               ph_plan_get_dag_id(plan));
    goto out;
  }
  JsonArray *tasks = json_object_get_array_member(r, "tasks");
  const char *mystate = "none", *reason = NULL;
  int n_inst = 0;
  for (guint i = 0; i < json_array_get_length(tasks); i++) {
    JsonObject *t = json_array_get_object_element(tasks, i);
    const char *tid = json_object_get_string_member(t, "task_id");
    int mi = (int)json_object_get_int_member_with_default(t, "map_index", -1);
    if (strcmp(tid, task))
      continue;
    n_inst += mi >= 0;
    if (mi == map_index) {
      mystate = json_object_get_string_member(t, "state");
      reason = json_object_get_string_member_with_default(t, "reason", NULL);
    }
  }
  if (n_inst && map_index < 0) {
    g_printerr("pipehost tasks explain: '%s' is mapped into %d instances; "
               "name one as %s[N] (0..%d) or with --map-index N\n",
               task, n_inst, task, n_inst - 1);
    goto out;
  }
  const ph_task_spec *t = ph_plan_get_task(plan, idx);
  /* each instance of a mapped upstream counts, as in Airflow */
  ph_tr_counts c = {.n = 0};
  /* the whole reason: message, then DETAIL and HINT lines, each made
   * printable */
  GString *full = g_string_new(NULL);
  if (reason) {
    g_auto(GStrv) lines = g_strsplit(reason, "\n", -1);
    for (char **l = lines; *l; l++) {
      g_autofree char *pl = ph_util_printable(*l);
      g_string_append_printf(full, "%s%s", l == lines ? "" : "\n  ", pl);
    }
  }
  char *why = g_string_free(full, FALSE);
  JsonArray *ups = as_json ? json_array_new() : NULL;
  if (!as_json) {
    char *me = ph_store_ti_name(t->id, map_index);
    printf("task %s in run %s: %s%s%s\n", me, id, mystate,
           reason ? " — " : "", why);
    g_free(me);
    printf("upstreams:\n");
  }
  for (guint k = 0; k < t->n_up; k++) {
    const char *uid = ph_plan_get_task(plan, t->up[k])->id;
    guint found = 0;
    for (guint i = 0; i < json_array_get_length(tasks); i++) {
      JsonObject *u = json_array_get_object_element(tasks, i);
      if (strcmp(json_object_get_string_member(u, "task_id"), uid))
        continue;
      count_upstream(
          &c, ups, uid,
          (int)json_object_get_int_member_with_default(u, "map_index", -1),
          json_object_get_string_member(u, "state"));
      found++;
    }
    if (!found)
      count_upstream(&c, ups, uid, -1, "none");
  }
  char *ex = ph_trigger_explain(t->rule, &c);
  gboolean direct = !strcmp(mystate, "skipped") && reason;
  if (as_json) {
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "dag_id", ph_plan_get_dag_id(plan));
    json_object_set_string_member(o, "dag_run_id", id);
    json_object_set_string_member(o, "task_id", t->id);
    json_object_set_int_member(o, "map_index", map_index);
    json_object_set_string_member(o, "state", mystate);
    if (reason)
      json_object_set_string_member(o, "reason", reason);
    else
      json_object_set_null_member(o, "reason");
    json_object_set_string_member(o, "trigger_rule",
                                  ph_trigger_name(t->rule));
    json_object_set_array_member(o, "upstreams", ups);
    json_object_set_string_member(o, "explanation", ex);
    json_object_set_boolean_member(o, "skipped_directly", direct);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    g_autofree char *text = ph_util_json_write(n, PH_JSON_PRETTY);
    json_node_unref(n);
    printf("%s\n", text);
  } else {
    if (!t->n_up)
      printf("  (none: it can run as soon as the run starts)\n");
    printf("%s\n", ex);
    if (direct)
      printf("it was skipped directly: %s\n", why);
  }
  g_free(ex);
  g_free(why);
  rc = 0;
out:
  if (run)
    json_node_unref(run);
  g_free(id);
  ph_plan_free(plan);
  ph_dag_free(dag);
  ph_registry_free(reg);
  ph_store_close(st);
  g_option_context_free(ctx);
  g_free(task);
  return rc;
}

static int cmd_variables(int argc, char **argv) {
  const char *sub = argc > 1 ? argv[1] : "";
  ph_store *st = NULL;
  int rc = EXIT_USAGE;
  if (!strcmp(sub, "set") && argc == 4) {
    if ((st = ph_cmd_open_store()))
      ph_store_var_set(st, argv[2], argv[3]), rc = 0;
  } else if (!strcmp(sub, "get") && argc == 3) {
    if ((st = ph_cmd_open_store())) {
      g_autofree char *v = ph_store_var_get(st, argv[2]);
      if (v)
        printf("%s\n", v), rc = 0;
      else
        g_printerr("pipehost variables get: no variable '%s'\n", argv[2]),
            rc = 1;
    }
  } else if (!strcmp(sub, "delete") && argc == 3) {
    if ((st = ph_cmd_open_store()))
      rc = ph_store_var_delete(st, argv[2]) ? 0 : 1;
  } else if (!strcmp(sub, "list") && argc == 2) {
    if ((st = ph_cmd_open_store())) {
      JsonNode *v = ph_store_var_list(st);
      print_json(v, TRUE);
      json_node_unref(v);
      rc = 0;
    }
  } else {
    printf("Usage: pipehost variables set KEY VALUE | get KEY | list | "
           "delete KEY\n");
    rc = !strcmp(sub, "--help") ? 0 : EXIT_USAGE;
  }
  ph_store_close(st);
  return rc;
}

/* One line from standard input without its newline (caller frees), or
 * NULL at EOF; on a terminal, prompt is shown and the input not echoed. */
static char *read_secret_line(const char *prompt) {
  struct termios old, quiet;
  gboolean tty = isatty(0) && tcgetattr(0, &old) == 0;
  if (tty) {
    fputs(prompt, stderr);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(0, TCSAFLUSH, &quiet);
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (tty) {
    tcsetattr(0, TCSAFLUSH, &old);
    fputs("\n", stderr);
  }
  if (n < 0) {
    free(line);
    return NULL;
  }
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = 0;
  char *r = g_strdup(line);
  free(line);
  return r;
}

/* Prints a connection list with passwords masked. */
static int cmd_connections(int argc, char **argv) {
  const char *sub = argc > 1 ? argv[1] : "";
  ph_store *st = NULL;
  int rc = EXIT_USAGE;
  if (!strcmp(sub, "add") && (argc == 3 || argc == 4)) {
    GError *err = NULL;
    /* a URI on the command line is visible to every user (ps, the shell's
     * history): "-" or no URI reads it from standard input */
    g_autofree char *uri = argc == 4 && strcmp(argv[3], "-")
                               ? g_strdup(argv[3])
                               : read_secret_line("URI (input hidden): ");
    if (!uri || !*uri) {
      g_printerr("pipehost connections add: no URI on standard input\n");
      return EXIT_USAGE;
    }
    JsonNode *j = ph_store_conn_json(argv[2], uri, &err);
    if (!j) {
      g_printerr("pipehost connections add: '%s' is not a connection URI "
                 "(scheme://login:password@host:port/schema?extra=value): "
                 "%s\n",
                 argv[2], err->message);
      g_error_free(err);
      return EXIT_USAGE;
    }
    json_node_unref(j);
    if ((st = ph_cmd_open_store()))
      ph_store_conn_set(st, argv[2], uri), rc = 0;
  } else if (!strcmp(sub, "delete") && argc == 3) {
    if ((st = ph_cmd_open_store()))
      rc = ph_store_conn_delete(st, argv[2]) ? 0 : 1;
    if (rc == 1)
      g_printerr("pipehost connections delete: no connection '%s'\n", argv[2]);
  } else if (!strcmp(sub, "list") && argc == 2) {
    if ((st = ph_cmd_open_store())) {
      JsonNode *l = ph_store_conn_list(st);
      JsonObject *o = json_node_get_object(l);
      GList *keys = json_object_get_members(o);
      printf("%-20s %-12s %-24s %s\n", "CONN_ID", "TYPE", "HOST", "LOGIN");
      for (GList *k = keys; k; k = k->next) {
        JsonNode *j = ph_store_conn_json(
            k->data, json_object_get_string_member(o, k->data), NULL);
        JsonObject *c = j ? json_node_get_object(j) : NULL;
        printf(
            "%-20s %-12s %-24s %s%s\n", (char *)k->data,
            c ? json_object_get_string_member_with_default(c, "conn_type", "")
              : "?",
            c ? json_object_get_string_member_with_default(c, "host", "") : "",
            c ? json_object_get_string_member_with_default(c, "login", "") : "",
            c && json_object_has_member(c, "password") ? " (password ***)"
                                                       : "");
        if (j)
          json_node_unref(j);
      }
      g_list_free(keys);
      json_node_unref(l);
      rc = 0;
    }
  } else {
    printf("Usage: pipehost connections add ID [URI|-] | list | delete ID\n\n"
           "URI: scheme://login:password@host:port/schema?extra=value, e.g.\n"
           "  (without URI, or with -, it is read from standard input: a\n"
           "  password on the command line is visible to every user)\n"
           "  postgresql://user:pass@127.0.0.1:5432/db  "
           "smtp://user:pass@host:587\n"
           "A PIPEHOST_CONN_<ID> environment variable holding a URI overrides "
           "the stored one.\n");
    rc = !strcmp(sub, "--help") ? 0 : EXIT_USAGE;
  }
  ph_store_close(st);
  return rc;
}

static void usage(FILE *f) {
  fprintf(
      f,
      "pipehost %s -- a fast workflow orchestrator with Airflow's semantics\n"
      "\n"
      "Usage: pipehost COMMAND [ARGS] [--help]\n"
      "\n"
      "Commands:\n"
      "  run FILE [--param K=V] [--date ISO] [--json]   run one DAG run to its "
      "end\n"
      "  resume RUN                                     carry on a run whose "
      "pipehost was killed\n"
      "  validate FILE                                  check a DAG without "
      "running it\n"
      "  graph FILE [--format dot|mermaid]              print the DAG's graph\n"
      "  plugins list | plugins info NAME               installed operators "
      "and their params\n"
      "  runs list | runs show RUN [--json]             recorded runs\n"
      "  logs RUN TASK[N] [--try N]                     a task try's log\n"
      "  xcom list RUN [--json]                         XCom values of a run\n"
      "  tasks explain RUN TASK                         why a task is (not) "
      "running\n"
      "  task run FILE TASK [RUN_ID]                    run one try of one "
      "task\n"
      "  variables set|get|list|delete                  Airflow-style "
      "variables\n"
      "  connections add|list|delete                    connections (URIs)\n"
      "  cron next 'EXPR' [--from ISO] [--count N] [--tz ZONE]  next fire "
      "times\n"
      "  scheduler --dags-dir DIR                       run DAGs on their "
      "schedules\n"
      "  backfill FILE --from DATE --to DATE            the runs of a date "
      "range\n"
      "  trigger FILE|DAG_ID [--conf JSON] [--wait]     a manual run now\n"
      "  clear RUN [--task T] [--downstream] [--failed-only]  rerun tasks "
      "(then resume)\n"
      "  pools set|list|delete                          named slot limits\n"
      "  experiments list|show|compare                  tracked train tries\n"
      "  models list|show|promote NAME VERSION          the model registry\n"
      "  lineage RUN TASK                               what a result was made "
      "from\n"
      "  lineage [--format dot|mermaid]                 tasks and DAGs linked "
      "by datasets\n"
      "  datasets list | show URI | stale               datasets, their "
      "updates, freshness\n"
      "  db clean --older-than DURATION [--dry-run]     delete old runs "
      "(archived)\n"
      "  webserver [--bind ADDR] [--port N]             the UI and the REST "
      "API (/api/v1)\n"
      "  --version                                      print the version\n"
      "\n"
      "Environment: PIPEHOST_HOME (metadata store, default ~/.pipehost),\n"
      "PIPEHOST_PLUGIN_PATH (extra plugin dirs, colon-separated),\n"
      "PIPEHOST_DAG_LOAD_TIMEOUT / PIPEHOST_DAG_LOAD_MEMORY_MB (Lua DAG\n"
      "loading limits, default 10 s and 256 MiB).\n",
      PH_VERSION);
}

/* experiments, models, lineage: ph_track's CLI */
static int cmd_track(int argc, char **argv) {
  ph_store *st = ph_cmd_open_store();
  if (!st)
    return 1;
  int rc = ph_track_cli(st, argc, argv);
  ph_store_close(st);
  return rc;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "__worker"))
    return ph_worker_main(3);
  if (argc >= 2 && !strcmp(argv[1], "__slurm-try"))
    return ph_slurm_try_main(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "__launcher"))
    return ph_exec_launcher_main(3, argc >= 3 ? atoi(argv[2]) : -1);
  if (argc >= 2 && !strcmp(argv[1], "__notify")) {
    g_exe = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *bd = g_path_get_dirname(g_exe);
    g_prefix = g_path_get_dirname(bd);
    g_autofree char *plugins = builtin_plugin_dir();
    int nrc = ph_notify_main(g_exe, plugins);
    g_free(g_exe);
    g_free(g_prefix);
    return nrc;
  }
  g_exe = g_file_read_link("/proc/self/exe", NULL);
  if (!g_exe)
    g_exe = g_canonicalize_filename(argv[0], NULL);
  g_autofree char *bindir = g_path_get_dirname(g_exe);
  g_prefix = g_path_get_dirname(bindir);
  int rc;
  /* "-j4", as make and ninja take it, is "-j 4" (GOption wants a space) */
  GPtrArray *args = g_ptr_array_new();
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] == '-' && a[1] == 'j' && a[2] &&
        strspn(a + 2, "0123456789") == strlen(a + 2)) {
      g_ptr_array_add(args, "-j");
      g_ptr_array_add(args, (char *)a + 2);
    } else {
      g_ptr_array_add(args, (char *)a);
    }
  }
  g_ptr_array_add(args, NULL);
  argc = (int)args->len - 1;
  argv = (char **)args->pdata; /* owned by args, freed at the end */
  const char *cmd = argc >= 2 ? argv[1] : "";
  int sargc = argc - 1;
  char **sargv = argv + 1;
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("pipehost %s (plugin ABI %d.%d)%s\n", PH_VERSION, PH_ABI_MAJOR,
           PH_ABI_MINOR,
#ifdef PH_FAULT_INJECTION
           " with fault injection"
#else
           ""
#endif
    );
    rc = 0;
  } else if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") ||
             !strcmp(cmd, "help")) {
    usage(stdout);
    rc = 0;
  } else if (!strcmp(cmd, "run")) {
    rc = cmd_run(sargc, sargv);
  } else if (!strcmp(cmd, "resume")) {
    rc = cmd_resume(sargc, sargv);
  } else if (!strcmp(cmd, "validate")) {
    rc = cmd_validate(sargc, sargv);
  } else if (!strcmp(cmd, "graph")) {
    rc = ph_cmd_graph(sargc, sargv);
  } else if (!strcmp(cmd, "plugins")) {
    rc = cmd_plugins(sargc, sargv);
  } else if (!strcmp(cmd, "runs")) {
    rc = cmd_runs(sargc, sargv);
  } else if (!strcmp(cmd, "logs")) {
    rc = cmd_logs(sargc, sargv);
  } else if (!strcmp(cmd, "xcom")) {
    rc = cmd_xcom(sargc, sargv);
  } else if (!strcmp(cmd, "tasks")) {
    rc = cmd_tasks(sargc, sargv);
  } else if (!strcmp(cmd, "task")) {
    rc = cmd_task(sargc, sargv);
  } else if (!strcmp(cmd, "cron")) {
    rc = cmd_cron(sargc, sargv);
  } else if (!strcmp(cmd, "connections")) {
    rc = cmd_connections(sargc, sargv);
  } else if (!strcmp(cmd, "variables")) {
    rc = cmd_variables(sargc, sargv);
  } else if (!strcmp(cmd, "scheduler") || !strcmp(cmd, "backfill") ||
             !strcmp(cmd, "trigger") || !strcmp(cmd, "clear") ||
             !strcmp(cmd, "pools")) {
    g_autofree char *bdir = builtin_plugin_dir();
    g_autofree char *ldir = lua_dir();
    /* runs are forked from the scheduler, the registry loaded once */
    ph_scheduler_env env = {g_exe, bdir, ldir, cmd_run, preload_registry};
    rc = ph_scheduler_cli(&env, sargc, sargv);
  } else if (!strcmp(cmd, "datasets") ||
             (!strcmp(cmd, "lineage") &&
              !(sargc >= 3 && sargv[1][0] != '-' && sargv[2][0] != '-'))) {
    /* lineage RUN TASK is a result's; lineage alone, the datasets' */
    rc = ph_cmd_datasets(sargc, sargv);
  } else if (!strcmp(cmd, "experiments") || !strcmp(cmd, "models") ||
             !strcmp(cmd, "lineage")) {
    rc = cmd_track(sargc, sargv);
  } else if (!strcmp(cmd, "db")) {
    rc = ph_cmd_db(sargc, sargv);
  } else if (!strcmp(cmd, "webserver")) {
    /* its own program (pipehost-web, next to this one): only it loads
     * libsoup */
    g_autofree char *exedir = g_path_get_dirname(g_exe);
    g_autofree char *web = g_build_filename(exedir, "pipehost-web", NULL);
    sargv[0] = web;
    execv(web, sargv);
    g_printerr("pipehost webserver: cannot run %s: %s\n", web,
               g_strerror(errno));
    rc = EXIT_USAGE;
  } else {
    if (*cmd) {
      static const char *const cmds[] = {
          "run",       "resume",      "validate", "graph",       "plugins",
          "runs",      "logs",        "xcom",     "tasks",       "task",
          "variables", "connections", "cron",     "experiments", "models",
          "lineage",   "scheduler",   "backfill", "trigger",     "clear",
          "pools",     "db",          "datasets", "webserver", NULL};
      const char *near = ph_util_nearest(cmd, cmds);
      fprintf(stderr, "pipehost: unknown command '%s'%s%s%s\n\n", cmd,
              near ? " (did you mean '" : "", near ? near : "",
              near ? "'?)" : "");
    }
    usage(stderr);
    rc = EXIT_USAGE;
  }
  /* a store that failed (a damaged page, a full disk) is an error
   * whatever the command printed: an empty list may be a failed read */
  if (ph_store_process_error() && rc != EXIT_USAGE) {
    g_printerr("pipehost %s: the metadata store failed: %s\n", cmd,
               ph_store_process_error());
    rc = EXIT_USAGE;
  }
  g_strfreev(g_plugin_dirs);
  g_free(g_exe);
  g_free(g_prefix);
  g_ptr_array_free(args, TRUE);
  return rc;
}
