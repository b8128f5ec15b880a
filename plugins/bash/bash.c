/* bash -- the bash operator: runs a command with bash -c.
 *
 * Exit 0 -> success; exit skip_on_exit_code (default 99) -> skipped; any
 * other exit -> failed (retryable).  stdout and stderr go to the task log;
 * the last non-empty line of its output is pushed as XCom "return_value".
 * Built only against the public header (plus json-glib for the env param),
 * so it doubles as a worked example for plugin authors.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "pipehost/plugin.h"

extern char **environ;

typedef struct {
  const ph_host *h;
  const char *command; /* borrowed from the host until execute returns */
  char **envp;         /* owned */
  const char *cwd;
  int64_t skip_code;
  volatile pid_t child;
} bash_state;

static const ph_param p_command = {
    PH_PARAM_INIT, .name = "command", .type = "string",
    .flags = PH_PARAM_REQUIRED | PH_PARAM_TEMPLATED,
    .doc = "The bash command or script to run (bash -c); templated"};
static const ph_param p_env = {
    PH_PARAM_INIT, .name = "env", .type = "object",
    .flags = PH_PARAM_TEMPLATED,
    .doc = "Environment variables for the command; replaces the inherited "
           "environment unless append_env is true"};
static const ph_param p_append_env = {
    PH_PARAM_INIT, .name = "append_env", .type = "boolean",
    .default_json = "false",
    .doc = "Add env to the inherited environment instead of replacing it"};
static const ph_param p_cwd = {PH_PARAM_INIT, .name = "cwd", .type = "string",
                               .flags = PH_PARAM_TEMPLATED,
                               .doc = "Working directory of the command"};
static const ph_param p_skip = {
    PH_PARAM_INIT, .name = "skip_on_exit_code", .type = "integer",
    .default_json = "99",
    .doc = "Exit code that marks the task skipped instead of failed"};
static const ph_param *const bash_params[] = {&p_command, &p_env, &p_append_env,
                                              &p_cwd, &p_skip, NULL};

static char **build_env(const ph_host *h, ph_task *t) {
  const char *json = h->param_json(t, "env");
  int32_t append = 0;
  h->param_bool(t, "append_env", &append);
  GPtrArray *env = g_ptr_array_new();
  if (!json || append)
    for (char **e = environ; *e; e++)
      g_ptr_array_add(env, g_strdup(*e));
  if (json) {
    /* keep the try's identity variables even when env replaces the rest */
    const char *keep[] = {"PIPEHOST_DAG_ID", "PIPEHOST_TASK_ID",
                          "PIPEHOST_RUN_ID", "PIPEHOST_TRY_NUMBER",
                          "PIPEHOST_LOGICAL_DATE", "PATH"};
    if (!append)
      for (size_t i = 0; i < G_N_ELEMENTS(keep); i++)
        if (getenv(keep[i]))
          g_ptr_array_add(env, g_strdup_printf("%s=%s", keep[i],
                                               getenv(keep[i])));
    JsonNode *n = json_from_string(json, NULL);
    if (n && JSON_NODE_HOLDS_OBJECT(n)) {
      JsonObject *o = json_node_get_object(n);
      GList *keys = json_object_get_members(o);
      for (GList *l = keys; l; l = l->next) {
        JsonNode *v = json_object_get_member(o, l->data);
        char *val = JSON_NODE_HOLDS_VALUE(v) &&
                            json_node_get_value_type(v) == G_TYPE_STRING
                        ? g_strdup(json_node_get_string(v))
                        : json_to_string(v, FALSE);
        g_ptr_array_add(env, g_strdup_printf("%s=%s", (char *)l->data, val));
        g_free(val);
      }
      g_list_free(keys);
    }
    if (n)
      json_node_unref(n);
  }
  g_ptr_array_add(env, NULL);
  return (char **)g_ptr_array_free(env, FALSE);
}

static ph_status bash_init(const ph_host *h, ph_task *t, void **out) {
  bash_state *s = calloc(1, sizeof *s);
  if (!s)
    return PH_ERROR;
  s->h = h;
  s->skip_code = 99;
  h->param_string(t, "command", &s->command);
  h->param_string(t, "cwd", &s->cwd);
  h->param_int(t, "skip_on_exit_code", &s->skip_code);
  s->envp = build_env(h, t);
  *out = s;
  return PH_OK;
}

static ph_status bash_execute(void *state, ph_task *t) {
  bash_state *s = state;
  const ph_host *h = s->h;
  const char *command = NULL;
  /* the borrowed command from init is gone: fetch it again */
  if (h->param_string(t, "command", &command) != PH_OK || !command) {
    h->set_reason(t, "param 'command' is missing");
    return PH_FAIL;
  }
  const char *cwd = NULL;
  h->param_string(t, "cwd", &cwd);
  if (PH_HAS(h, ph_host, exec_command) && h->exec_command) {
    /* ABI 1.2: the worker becomes the command (one process per task); the
     * host reads the exit status and the last line of the output.  (A
     * 1.3 host usually starts the command itself from bash_command below
     * and never calls execute; it comes here for what it cannot do
     * alone, such as a task's env.) */
    const char *argv[] = {"bash", "-c", command, NULL};
    h->log(t, PH_LOG_INFO, "running: bash -c %s", command);
    return h->exec_command(t, "bash", argv, (const char *const *)s->envp, cwd,
                           (int32_t)s->skip_code);
  }
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    h->set_reason(t, "pipe: %s", strerror(errno));
    return PH_ERROR;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  if (cwd && *cwd)
    posix_spawn_file_actions_addchdir_np(&fa, cwd);
  char *argv[] = {"bash", "-c", (char *)command, NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, "/bin/bash", &fa, NULL, argv, s->envp);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    h->set_reason(t, "cannot start /bin/bash: %s", strerror(rc));
    return PH_ERROR;
  }
  s->child = pid;
  h->log(t, PH_LOG_INFO, "running: bash -c %s", command);
  /* copy stdout to the log, remembering the last non-empty line */
  GString *last = g_string_new(NULL), *cur = g_string_new(NULL);
  char buf[65536];
  for (;;) {
    struct pollfd p = {out[0], POLLIN, 0};
    int pr = poll(&p, 1, 200);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr == 0)
      continue;
    ssize_t r = read(out[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    ssize_t off = 0;
    while (off < r) {
      ssize_t w = write(1, buf + off, r - off);
      if (w <= 0)
        break;
      off += w;
    }
    for (ssize_t i = 0; i < r; i++) {
      if (buf[i] == '\n') {
        if (cur->len)
          g_string_assign(last, cur->str);
        g_string_truncate(cur, 0);
      } else {
        g_string_append_c(cur, buf[i]);
      }
    }
  }
  close(out[0]);
  if (cur->len)
    g_string_assign(last, cur->str);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  s->child = 0;
  ph_status st = PH_OK;
  if (WIFSIGNALED(status)) {
    h->set_reason(t, "bash was killed by signal %d (%s)", WTERMSIG(status),
                  strsignal(WTERMSIG(status)));
    st = h->is_cancelled(t) ? PH_CANCELLED : PH_ERROR;
  } else if (WEXITSTATUS(status) == s->skip_code) {
    h->set_reason(t, "bash exited with code %d (skip_on_exit_code)",
                  WEXITSTATUS(status));
    st = PH_SKIP;
  } else if (WEXITSTATUS(status) != 0) {
    h->set_reason(t, "bash exited with code %d", WEXITSTATUS(status));
    st = PH_ERROR;
  }
  if (st == PH_OK && last->len) {
    /* trailing whitespace is not part of the value (Airflow strips) */
    while (last->len && g_ascii_isspace(last->str[last->len - 1]))
      g_string_truncate(last, last->len - 1);
    JsonNode *n = json_node_new(JSON_NODE_VALUE);
    if (g_utf8_validate(last->str, last->len, NULL))
      json_node_set_string(n, last->str);
    else
      json_node_set_string(n, "<binary output>");
    char *js = json_to_string(n, FALSE);
    ph_status ps = h->xcom_push(t, NULL, js);
    if (ps != PH_OK)
      st = ps;
    g_free(js);
    json_node_unref(n);
  }
  g_string_free(last, TRUE);
  g_string_free(cur, TRUE);
  return st;
}

static void bash_on_kill(void *state) {
  bash_state *s = state;
  pid_t c = s->child;
  if (c > 0)
    kill(c, SIGTERM);
}

static void bash_destroy(void *state) {
  bash_state *s = state;
  g_strfreev(s->envp);
  free(s);
}

/* ABI 1.3: what execute runs, as data, so that the host can start the
 * command itself (no worker process) when the task sets nothing else;
 * it then also skips bash for a line of plain words, as make does. */
static const char *const bash_argv[] = {"bash", "-c", "{command}", NULL};
static const ph_command bash_command = {
    PH_COMMAND_INIT,
    .flags = PH_COMMAND_SHELL_LINE,
    .what = "bash",
    .argv = bash_argv,
    .cwd_param = "cwd",
    .skip_code_param = "skip_on_exit_code",
};

static const ph_operator bash_op = {
    PH_OPERATOR_INIT,
    .type = "bash",
    .doc = "Run a bash command; exit 0 succeeds, exit 99 skips, anything "
           "else fails. The last non-empty line of its output (stdout and "
           "stderr, as they reach the log) becomes the XCom return_value.",
    .kind = PH_KIND_TASK,
    .params = bash_params,
    .init = bash_init,
    .execute = bash_execute,
    .on_kill = bash_on_kill,
    .destroy = bash_destroy,
    .command = &bash_command,
};

static const ph_operator *const ops[] = {&bash_op, NULL};

static const ph_plugin plugin = {
    PH_PLUGIN_INIT,
    .name = "bash",
    .version = "1.0.0",
    .license = "MIT",
    .description = "Run shell commands (Airflow's BashOperator)",
    .origin = "pipehost",
    .operators = ops,
};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
