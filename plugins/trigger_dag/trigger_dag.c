/* trigger_dag -- starts a run of another DAG (Airflow's
 * TriggerDagRunOperator): `pipehost trigger DAG --conf JSON [--wait]`, run
 * by this very pipehost binary.  dag is a DAG file or the id of a DAG with
 * earlier runs; conf becomes the new run's {{ dag_run.conf }}.  With
 * wait_for_completion the task succeeds only when that run does.  The
 * triggered run's id is the XCom. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "pipehost/plugin.h"

typedef struct {
  const ph_host *h;
  volatile GPid child;
} tg_state;

static ph_status tg_init(const ph_host *h, ph_task *t, void **out) {
  tg_state *s = g_new0(tg_state, 1);
  s->h = h;
  *out = s;
  return PH_OK;
}

static void tg_destroy(void *s) { g_free(s); }

static void tg_kill(void *sv) {
  tg_state *s = sv;
  if (s->child > 0)
    kill(s->child, SIGTERM);
}

static ph_status tg_execute(void *sv, ph_task *t) {
  tg_state *s = sv;
  const ph_host *h = s->h;
  const char *dag = NULL;
  int32_t wait = 0;
  h->param_string(t, "dag", &dag);
  h->param_bool(t, "wait_for_completion", &wait);
  const char *conf = h->param_json(t, "conf");
  g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
  if (!exe || !dag) {
    h->set_reason(t, "cannot find the pipehost binary");
    return PH_FAIL;
  }
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, exe);
  g_ptr_array_add(argv, "trigger");
  g_ptr_array_add(argv, (char *)dag);
  if (conf) {
    g_ptr_array_add(argv, "--conf");
    g_ptr_array_add(argv, (char *)conf);
  }
  if (wait)
    g_ptr_array_add(argv, "--wait");
  g_ptr_array_add(argv, NULL);
  GError *err = NULL;
  int out_fd = -1;
  GPid pid;
  gboolean ok = g_spawn_async_with_pipes(
      NULL, (char **)argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
      &pid, NULL, &out_fd, NULL, &err);
  g_ptr_array_free(argv, TRUE);
  if (!ok) {
    h->set_reason(t, "cannot start pipehost trigger: %s", err->message);
    g_error_free(err);
    return PH_ERROR;
  }
  s->child = pid;
  h->log(t, PH_LOG_INFO, "triggering %s%s", dag,
         wait ? " and waiting for the run to end" : "");
  GString *out = g_string_new(NULL);
  char buf[1024];
  ssize_t r;
  while ((r = read(out_fd, buf, sizeof buf)) != 0) {
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      break;
    g_string_append_len(out, buf, r);
  }
  close(out_fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  s->child = 0;
  g_strstrip(out->str);
  char *run_id = g_strdup(out->str);
  g_string_free(out, TRUE);
  ph_status st;
  if (!*run_id) {
    h->set_reason(t, "pipehost trigger %s failed (exit %d)", dag,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    st = PH_FAIL;
  } else if (wait && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    h->set_reason(t, "the triggered run %s did not succeed", run_id);
    st = h->is_cancelled(t) ? PH_CANCELLED : PH_FAIL;
  } else {
    JsonNode *n = json_node_init_string(json_node_alloc(), run_id);
    JsonGenerator *g = json_generator_new();
    json_generator_set_root(g, n);
    g_autofree char *txt = json_generator_to_data(g, NULL);
    g_object_unref(g);
    json_node_unref(n);
    h->log(t, PH_LOG_INFO, "triggered run %s", run_id);
    /* Airflow's TriggerDagRunOperator pushes the id as trigger_run_id;
     * return_value keeps it for pipehost's own templates */
    st = h->xcom_push(t, "trigger_run_id", txt);
    if (st == PH_OK)
      st = h->xcom_push(t, NULL, txt);
  }
  g_free(run_id);
  return st;
}

static const ph_param p_dag = {
    PH_PARAM_INIT, .name = "dag", .type = "string",
    .flags = PH_PARAM_REQUIRED | PH_PARAM_TEMPLATED,
    .doc = "a DAG file, or the id of a DAG with earlier runs"};
static const ph_param p_conf = {PH_PARAM_INIT, .name = "conf",
                                .type = "object",
                                .flags = PH_PARAM_TEMPLATED,
                                .doc = "the run's conf ({{ dag_run.conf }})"};
static const ph_param p_wait = {
    PH_PARAM_INIT, .name = "wait_for_completion", .type = "boolean",
    .default_json = "false",
    .doc = "succeed only when the triggered run succeeds"};
static const ph_param *const tg_params[] = {&p_dag, &p_conf, &p_wait, NULL};

static const ph_operator tg_op = {
    PH_OPERATOR_INIT,
    .type = "trigger_dag",
    .doc = "Start a run of another DAG, with conf; optionally wait for it",
    .kind = PH_KIND_TASK,
    .params = tg_params,
    .init = tg_init,
    .execute = tg_execute,
    .on_kill = tg_kill,
    .destroy = tg_destroy};
static const ph_operator *const ops[] = {&tg_op, NULL};

static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "trigger_dag",
                                 .version = "1.0.0",
                                 .license = "MIT",
                                 .description = "trigger another DAG's run",
                                 .origin = "pipehost",
                                 .operators = ops};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
