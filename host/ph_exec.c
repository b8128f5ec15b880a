/* ph_exec -- see ph_exec.h. */
#include "ph_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ph_util.h"

extern char **environ;

typedef struct {
  guint job;
  int pid;
  int sock;
  int pidfd;
  GString *inbuf;
  JsonObject *result;
  double deadline; /* monotonic, 0 = none */
  double kill_at;  /* monotonic, 0 = not stopping */
  int timed_out;
} ph_job;

struct ph_exec {
  char *exe;
  ph_exec_callbacks cb;
  void *user;
  double grace;
  GPtrArray *jobs; /* ph_job* */
};

ph_exec *ph_exec_new(const char *worker_exe, const ph_exec_callbacks *cb,
                     void *user, double kill_grace) {
  ph_exec *ex = g_new0(ph_exec, 1);
  ex->exe = g_strdup(worker_exe);
  ex->cb = *cb;
  ex->user = user;
  ex->grace = kill_grace;
  ex->jobs = g_ptr_array_new();
  signal(SIGPIPE, SIG_IGN);
  return ex;
}

static void job_free(ph_job *j) {
  if (j->sock >= 0)
    close(j->sock);
  if (j->pidfd >= 0)
    close(j->pidfd);
  g_string_free(j->inbuf, TRUE);
  if (j->result)
    json_object_unref(j->result);
  g_free(j);
}

void ph_exec_free(ph_exec *ex) {
  if (!ex)
    return;
  for (guint i = 0; i < ex->jobs->len; i++) {
    ph_job *j = ex->jobs->pdata[i];
    kill(-j->pid, SIGKILL);
    kill(j->pid, SIGKILL);
    waitpid(j->pid, NULL, 0);
    job_free(j);
  }
  g_ptr_array_unref(ex->jobs);
  g_free(ex->exe);
  g_free(ex);
}

static ph_job *find(ph_exec *ex, guint job) {
  for (guint i = 0; i < ex->jobs->len; i++) {
    ph_job *j = ex->jobs->pdata[i];
    if (j->job == job)
      return j;
  }
  return NULL;
}

static gboolean write_all(int fd, const char *buf, size_t len) {
  while (len) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, 1000);
      continue;
    }
    if (w <= 0)
      return FALSE;
    buf += w;
    len -= w;
  }
  return TRUE;
}

int ph_exec_start(ph_exec *ex, guint job, const char *spec_json,
                  const char *log_path, double timeout, GError **error) {
  int sv[2] = {-1, -1}, logfd = -1, pid = -1;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  gboolean fa_init = FALSE, at_init = FALSE;
  char *dir = NULL;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "socketpair: %s", g_strerror(errno));
    goto out;
  }
  dir = g_path_get_dirname(log_path);
  g_mkdir_with_parents(dir, 0700);
  logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (logfd < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "%s: cannot open the task log: %s", log_path,
                g_strerror(errno));
    goto out;
  }
  posix_spawn_file_actions_init(&fa);
  fa_init = TRUE;
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, logfd, 1);
  posix_spawn_file_actions_adddup2(&fa, logfd, 2);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  posix_spawnattr_init(&at);
  at_init = TRUE;
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  sigaddset(&def, SIGTERM);
  sigaddset(&def, SIGINT);
  sigaddset(&def, SIGCHLD);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &def);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF);
  char *argv[] = {ex->exe, "__worker", NULL};
  int rc = posix_spawn(&pid, ex->exe, &fa, &at, argv, environ);
  if (rc != 0) {
    pid = -1;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(rc),
                "posix_spawn %s: %s", ex->exe, g_strerror(rc));
    goto out;
  }
  close(sv[1]);
  sv[1] = -1;
  ph_job *j = g_new0(ph_job, 1);
  j->job = job;
  j->pid = pid;
  j->sock = sv[0];
  sv[0] = -1;
  j->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  j->inbuf = g_string_new(NULL);
  j->deadline = timeout > 0 ? ph_util_mono() + timeout : 0;
  fcntl(j->sock, F_SETFL, O_NONBLOCK);
  g_ptr_array_add(ex->jobs, j);
  GString *line = g_string_new(spec_json);
  g_string_append_c(line, '\n');
  write_all(j->sock, line->str, line->len); /* a dead worker shows as exit */
  g_string_free(line, TRUE);
out:
  if (fa_init)
    posix_spawn_file_actions_destroy(&fa);
  if (at_init)
    posix_spawnattr_destroy(&at);
  if (sv[0] >= 0)
    close(sv[0]);
  if (sv[1] >= 0)
    close(sv[1]);
  if (logfd >= 0)
    close(logfd);
  g_free(dir);
  return pid;
}

void ph_exec_reply(ph_exec *ex, guint job, JsonNode *reply) {
  ph_job *j = find(ex, job);
  if (!j || j->sock < 0)
    return;
  g_autofree char *txt = ph_util_json_dup(reply);
  GString *line = g_string_new(txt);
  g_string_append_c(line, '\n');
  write_all(j->sock, line->str, line->len);
  g_string_free(line, TRUE);
}

void ph_exec_stop(ph_exec *ex, guint job, int timed_out) {
  ph_job *j = find(ex, job);
  if (!j || j->kill_at)
    return;
  j->timed_out = timed_out;
  kill(j->pid, SIGTERM);
  j->kill_at = ph_util_mono() + ex->grace;
}

guint ph_exec_n_running(const ph_exec *ex) { return ex->jobs->len; }

/* Reads what the worker sent and dispatches complete lines.  Returns FALSE
 * on EOF or error (the socket is then closed). */
static gboolean drain(ph_exec *ex, ph_job *j) {
  char buf[65536];
  for (;;) {
    ssize_t r = read(j->sock, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN)
      break;
    if (r <= 0) {
      close(j->sock);
      j->sock = -1;
      break;
    }
    g_string_append_len(j->inbuf, buf, r);
  }
  char *nl;
  while ((nl = memchr(j->inbuf->str, '\n', j->inbuf->len))) {
    gsize n = nl - j->inbuf->str;
    g_autofree char *text = g_strndup(j->inbuf->str, n);
    g_string_erase(j->inbuf, 0, n + 1);
    JsonNode *node = json_from_string(text, NULL);
    if (node && JSON_NODE_HOLDS_OBJECT(node)) {
      JsonObject *o = json_node_get_object(node);
      const char *m = json_object_get_string_member_with_default(o, "m", "");
      if (!strcmp(m, "result")) {
        if (j->result)
          json_object_unref(j->result);
        j->result = json_object_ref(o);
      } else {
        ex->cb.on_message(ex->user, j->job, o);
      }
    }
    if (node)
      json_node_unref(node);
  }
  return j->sock >= 0;
}

static void finish(ph_exec *ex, guint idx) {
  ph_job *j = ex->jobs->pdata[idx];
  if (j->sock >= 0)
    drain(ex, j);
  int status = 0;
  while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
    ;
  kill(-j->pid, SIGKILL); /* leftovers of the try's process group */
  ph_exec_end end = {.pid = j->pid, .exit_code = -1};
  if (WIFEXITED(status))
    end.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    end.signal = WTERMSIG(status);
  end.timed_out = j->timed_out;
  end.result = j->result;
  g_ptr_array_remove_index_fast(ex->jobs, idx);
  ex->cb.on_end(ex->user, j->job, &end);
  job_free(j);
}

int ph_exec_poll(ph_exec *ex, double max_wait) {
  guint n = ex->jobs->len;
  double now = ph_util_mono();
  int handled = 0;
  /* deadlines first */
  for (guint i = 0; i < n; i++) {
    ph_job *j = ex->jobs->pdata[i];
    if (j->kill_at && now >= j->kill_at) {
      kill(-j->pid, SIGKILL);
      kill(j->pid, SIGKILL);
      j->kill_at = now + 3600;
    } else if (j->deadline && !j->kill_at && now >= j->deadline) {
      ph_exec_stop(ex, j->job, 1);
    }
    double next = j->kill_at ? j->kill_at : j->deadline;
    if (j->pidfd < 0)
      next = now + 0.02;
    if (next) {
      double w = MAX(0, next - now);
      if (max_wait < 0 || w < max_wait)
        max_wait = w;
    }
  }
  struct pollfd *pf = g_new(struct pollfd, n * 2 + 1);
  for (guint i = 0; i < n; i++) {
    ph_job *j = ex->jobs->pdata[i];
    pf[2 * i] = (struct pollfd){j->sock, POLLIN, 0};
    pf[2 * i + 1] = (struct pollfd){j->pidfd, POLLIN, 0};
  }
  int ms = max_wait < 0 ? -1 : (int)(max_wait * 1000 + 0.999);
  int rc = poll(pf, n * 2, ms);
  if (rc > 0) {
    /* messages first, then exits, from the end so removal is safe */
    for (guint i = 0; i < n; i++) {
      ph_job *j = ex->jobs->pdata[i];
      if (pf[2 * i].revents && j->sock >= 0) {
        drain(ex, j);
        handled++;
      }
    }
    for (gint i = n - 1; i >= 0; i--) {
      ph_job *j = ex->jobs->pdata[i];
      gboolean exited = pf[2 * i + 1].revents != 0;
      if (j->pidfd < 0) { /* no pidfd: fall back to polling */
        siginfo_t si = {0};
        exited = waitid(P_PID, j->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                 si.si_pid == j->pid;
      }
      if (exited) {
        finish(ex, i);
        handled++;
      }
    }
  }
  g_free(pf);
  return handled;
}
