/* ph_notify -- see ph_notify.h. */
#include "ph_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ph_registry.h"
#include "ph_store.h"
#include "ph_util.h"
#include "ph_worker.h"

extern char **environ;

gboolean ph_notify_send(const char *exe, JsonObject *request, GError **error) {
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(n, request);
  g_autofree char *text = ph_util_json_dup(n);
  json_node_unref(n);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "notify: pipe: %s", g_strerror(errno));
    return FALSE;
  }
  pid_t pid = fork();
  if (pid < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "notify: fork: %s", g_strerror(errno));
    close(p[0]);
    close(p[1]);
    return FALSE;
  }
  if (pid == 0) {
    /* a grandchild does the work, so nobody has to reap it */
    setsid();
    if (fork() != 0)
      _exit(0);
    dup2(p[0], 0);
    int nul = open("/dev/null", O_WRONLY);
    if (nul >= 0) {
      dup2(nul, 1);
      dup2(nul, 2);
    }
    char *argv[] = {(char *)exe, "__notify", NULL};
    execve(exe, argv, environ);
    _exit(127);
  }
  close(p[0]);
  gsize len = strlen(text);
  const char *q = text;
  while (len) {
    ssize_t w = write(p[1], q, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    q += w;
    len -= w;
  }
  close(p[1]);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
  return TRUE;
}

char *ph_notify_log_tail(const char *path, int n) {
  char *text = NULL;
  gsize len = 0;
  if (!path || !g_file_get_contents(path, &text, &len, NULL))
    return g_strdup("");
  const char *p = text + len;
  int lines = 0;
  while (p > text) {
    p--;
    if (*p == '\n' && p != text + len - 1 && ++lines == n) {
      p++;
      break;
    }
  }
  char *tail = g_strdup(p);
  g_free(text);
  return tail;
}

/* ---- the __notify process */

static void note(FILE *log, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void note(FILE *log, const char *fmt, ...) {
  if (!log)
    return;
  g_autofree char *ts = ph_util_iso8601(ph_util_now());
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  fprintf(log, "[%s] notify: %s\n", ts, msg);
  fflush(log);
}

/* The answer to one of the worker's requests, as a JSON line. */
static char *answer(ph_store *st, JsonObject *msg) {
  const char *m = json_object_get_string_member_with_default(msg, "m", "");
  JsonObject *r = json_object_new();
  JsonNode *value = NULL;
  if (!strcmp(m, "conn_get")) {
    const char *cid =
        json_object_get_string_member_with_default(msg, "conn_id", "");
    g_autofree char *up = g_ascii_strup(cid, -1);
    g_autofree char *env = g_strdup_printf("PIPEHOST_CONN_%s", up);
    g_autofree char *uri = g_getenv(env) ? g_strdup(g_getenv(env))
                           : st          ? ph_store_conn_get(st, cid)
                                         : NULL;
    value = uri ? ph_store_conn_json(cid, uri, NULL) : NULL;
  } else if (!strcmp(m, "var_get")) {
    const char *name =
        json_object_get_string_member_with_default(msg, "name", "");
    g_autofree char *v = ph_store_var_lookup(st, name);
    value = v ? json_node_init_string(json_node_alloc(), v) : NULL;
  }
  if (value)
    json_object_set_member(r, "value", value);
  else
    json_object_set_boolean_member(r, "missing", TRUE);
  JsonNode *rn = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(rn, r);
  char *line = ph_util_json_dup(rn);
  json_node_unref(rn);
  return line;
}

/* Messages that expect an answer from the scheduler. */
static gboolean wants_answer(const char *m) {
  static const char *const asks[] = {
      "conn_get",       "var_get",   "xcom_pull",       "track",
      "model_register", "model_get", "model_set_alias", NULL};
  for (const char *const *a = asks; *a; a++)
    if (!strcmp(*a, m))
      return TRUE;
  return FALSE;
}

int ph_notify_main(const char *exe, const char *builtin_dir) {
  int rc = 1;
  FILE *log = NULL;
  ph_registry *reg = NULL;
  ph_store *st = NULL;
  JsonNode *req = NULL;
  GString *in = g_string_new(NULL), *buf = g_string_new(NULL);
  int sv[2] = {-1, -1};
  pid_t pid = -1;
  char *tid = NULL, *spec_text = NULL;
  char chunk[4096];
  ssize_t r;
  while ((r = read(0, chunk, sizeof chunk)) > 0 || (r < 0 && errno == EINTR))
    if (r > 0)
      g_string_append_len(in, chunk, r);
  req = json_from_string(in->str, NULL);
  if (!req || !JSON_NODE_HOLDS_OBJECT(req))
    goto out;
  JsonObject *ro = json_node_get_object(req);
  const char *logp =
      json_object_get_string_member_with_default(ro, "log", NULL);
  if (logp) {
    g_autofree char *dir = g_path_get_dirname(logp);
    g_mkdir_with_parents(dir, 0700);
    log = fopen(logp, "a");
  }
  const char *home =
      json_object_get_string_member_with_default(ro, "home", NULL);
  if (home)
    st = ph_store_open(home, NULL);
  reg = ph_registry_new();
  ph_registry_scan_default(reg, NULL, builtin_dir);
  const ph_plugin *plugin = NULL;
  const char *path = NULL;
  if (!ph_registry_lookup(reg, "email", &plugin, &path)) {
    note(log, "no email operator is installed: nothing sent");
    goto out;
  }
  /* the worker's task spec, as the scheduler would build it */
  JsonObject *spec = json_object_new();
  json_object_set_string_member(
      spec, "dag_id",
      json_object_get_string_member_with_default(ro, "dag_id", ""));
  tid = g_strdup_printf("%s.notify", json_object_get_string_member_with_default(
                                         ro, "task_id", ""));
  json_object_set_string_member(spec, "task_id", tid);
  json_object_set_string_member(
      spec, "run_id",
      json_object_get_string_member_with_default(ro, "run_id", ""));
  json_object_set_int_member(spec, "try_number", 1);
  json_object_set_string_member(spec, "op", "email");
  json_object_set_string_member(spec, "plugin_path", path);
  json_object_set_int_member(spec, "xcom_max", 1 << 20);
  json_object_set_member(spec, "params",
                         json_node_copy(json_object_get_member(ro, "params")));
  /* the alert's text is literal: a log tail holding "{{ ... }}" is not a
   * template, and a reason that is not one must not stop the alert */
  json_object_set_boolean_member(spec, "literal_params", TRUE);
  JsonNode *sn = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(sn, spec);
  char *spec_json = ph_util_json_dup(sn);
  json_node_unref(sn);
  spec_text = ph_worker_spec_text(spec_json, NULL);
  g_free(spec_json);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    note(log, "socketpair: %s", g_strerror(errno));
    goto out;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (log) {
    posix_spawn_file_actions_adddup2(&fa, fileno(log), 1);
    posix_spawn_file_actions_adddup2(&fa, fileno(log), 2);
  }
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  char *argv[] = {(char *)exe, "__worker", NULL};
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
  int e = posix_spawn(&pid, exe, &fa, &at, argv, environ);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  sv[1] = -1;
  if (e != 0) {
    note(log, "cannot start a worker: %s", g_strerror(e));
    pid = -1;
    goto out;
  }
  g_string_append(buf, spec_text);
  g_string_append_c(buf, '\n');
  if (write(sv[0], buf->str, buf->len) != (ssize_t)buf->len)
    note(log, "could not hand the worker its task");
  g_string_truncate(buf, 0);
  int status = -1;
  const char *tv = g_getenv("PIPEHOST_NOTIFY_TIMEOUT");
  double limit = tv && g_ascii_strtod(tv, NULL) > 0 ? g_ascii_strtod(tv, NULL)
                                                    : 120;
  double deadline = ph_util_mono() + limit;
  for (;;) {
    struct pollfd pf = {sv[0], POLLIN, 0};
    double left = deadline - ph_util_mono();
    if (left <= 0 || poll(&pf, 1, (int)(left * 1000) + 1) == 0) {
      note(log, "the email operator did not finish within %g s "
                "(PIPEHOST_NOTIFY_TIMEOUT): stopped",
           limit);
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      break;
    }
    r = read(sv[0], chunk, sizeof chunk);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    g_string_append_len(buf, chunk, r);
    char *nl;
    while ((nl = memchr(buf->str, '\n', buf->len))) {
      g_autofree char *line = g_strndup(buf->str, nl - buf->str);
      g_string_erase(buf, 0, nl - buf->str + 1);
      JsonNode *mn = json_from_string(line, NULL);
      if (!mn || !JSON_NODE_HOLDS_OBJECT(mn)) {
        if (mn)
          json_node_unref(mn);
        continue;
      }
      JsonObject *mo = json_node_get_object(mn);
      const char *m = json_object_get_string_member_with_default(mo, "m", "");
      if (!strcmp(m, "result")) {
        status = (int)json_object_get_int_member_with_default(mo, "status", 1);
        const char *why =
            json_object_get_string_member_with_default(mo, "reason", NULL);
        note(log, "email operator: %s%s%s", status == 0 ? "sent" : "failed",
             why ? ": " : "", why ? why : "");
      } else if (wants_answer(m)) {
        g_autofree char *a = answer(st, mo);
        g_autofree char *al = g_strconcat(a, "\n", NULL);
        if (write(sv[0], al, strlen(al)) < 0)
          note(log, "the worker went away");
      }
      json_node_unref(mn);
    }
  }
  rc = status == 0 ? 0 : 1;
out:
  if (pid > 0)
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
  if (sv[0] >= 0)
    close(sv[0]);
  if (sv[1] >= 0)
    close(sv[1]);
  if (log)
    fclose(log);
  ph_store_close(st);
  ph_registry_free(reg);
  if (req)
    json_node_unref(req);
  g_free(tid);
  g_free(spec_text);
  g_string_free(in, TRUE);
  g_string_free(buf, TRUE);
  return rc;
}
