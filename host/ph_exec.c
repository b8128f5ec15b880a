/* ph_exec -- see ph_exec.h. */
#include "ph_exec.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ph_fault.h"
#include "ph_proc.h"
#include "ph_registry.h"
#include "ph_util.h"
#include "ph_worker.h"

extern char **environ;

/* A spare worker: forked ahead of demand by the launcher and warmed up,
 * waiting on its socket for a try (a 'W' request with the try's socket
 * and log attached).  The host holds it and hands it a try directly. */
typedef struct {
  int pid;
  int sock;
} ph_spare;

/* A launcher as the host sees it: the main one, or a zygote -- a child
 * of the main one for one plugin with a prefork (ABI 1.5), whose workers
 * start from the state that prefork made, so that another plugin's
 * workers never carry its libraries. */
typedef struct {
  int ctl;        /* control socket; -1 when gone (or never there) */
  int pid;
  int ready;      /* a zygote's prefork is done ('Y'); the main one: 1 */
  GArray *spares; /* ph_spare, oldest first */
  int asked;      /* spares asked for, not yet received */
} ph_launcher;

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
  ph_launcher *lau; /* the launcher that started it; NULL: our child */
  int awaiting;  /* launched; its pid ('P') not received yet (pid 0) */
  int start_errno; /* the launcher could not fork it */
  int noted;    /* our child, noted for the launcher to stop if we die:
                   1 by message, 2 in live slot `slot` */
  guint slot;
  int status; /* wait status from the launcher */
  int have_status;
  gsize scanned;   /* inbuf bytes already searched for a newline */
  gsize oversized; /* > 0: the worker sent a line over max_msg; stopped */
  int outfd;       /* filtered output: the read end of its stdout/stderr
                      pipe, -1 when it writes to the log itself */
  int logfd;       /* filtered output: the log, appended */
  GString *outbuf; /* filtered output not yet written (a partial line) */
  gboolean prepared; /* waits for ph_exec_go (sock -1: spoiled, it spoke
                        or died first, so never run) */
} ph_job;

/* Launcher protocol (SOCK_SEQPACKET, one message per packet):
 * host -> launcher: a ph_lreq with the worker's socket and log fd attached
 * (SCM_RIGHTS) followed by the plugin path to keep mapped;
 * launcher -> host: ph_lmsg 'P' (job started as pid, or errno in status
 * when pid < 0) and 'X' (pid ended with wait status). */
typedef struct {
  char type; /* 'W' fork a worker; 'C'/'E' the host started/ended pid */
  guint32 job;
  gint32 pid;
  char path[4096];
} ph_lreq;

typedef struct {
  char type;
  guint32 job;
  gint32 pid;
  gint32 status;
} ph_lmsg;

struct ph_exec {
  char *exe;
  ph_exec_callbacks cb;
  void *user;
  double grace;
  GPtrArray *jobs; /* ph_job* */
  ph_launcher main;     /* ctl -1: spawning directly */
  GHashTable *zygotes;  /* plugin path -> ph_launcher* (ctl -1: none) */
  GQueue zygote_asked;  /* plugin paths asked for, replies pending */
  /* Commands we started ourselves, shared with the launcher (which stops
   * them if we die): one pid per slot, 0 = free.  Written without a
   * system call, read by the launcher only once we are gone. */
  gint32 *live;
  GArray *free_slots; /* guint */
  guint live_used;
  int devnull;              /* O_RDONLY, close-on-exec */
  gboolean no_fast;         /* PIPEHOST_POSIX_SPAWN: always use posix_spawn */
  char *stack;              /* for the clone of spawn_fast */
  gsize max_msg;            /* longest message a worker may send */
  const GPtrArray *secrets; /* masked in filtered output (borrowed) */
  gboolean filter_workers;  /* every worker's output goes through us */
  int want_spares;          /* PIPEHOST_WARM_WORKERS (default 2) */
};

#define PH_SPAWN_STACK (64 * 1024)

#define PH_LIVE_SLOTS 65536

ph_exec *ph_exec_new(const char *worker_exe, const ph_exec_callbacks *cb,
                     void *user, double kill_grace) {
  ph_exec *ex = g_new0(ph_exec, 1);
  ex->exe = g_strdup(worker_exe);
  ex->cb = *cb;
  ex->user = user;
  ex->grace = kill_grace;
  ex->jobs = g_ptr_array_new();
  ex->main.ctl = -1;
  ex->main.ready = 1;
  ex->main.spares = g_array_new(FALSE, FALSE, sizeof(ph_spare));
  ex->zygotes = g_hash_table_new(g_str_hash, g_str_equal);
  g_queue_init(&ex->zygote_asked);
  ex->free_slots = g_array_new(FALSE, FALSE, sizeof(guint));
  ex->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ex->max_msg = 64u << 20;
  const char *ws = g_getenv("PIPEHOST_WARM_WORKERS");
  ex->want_spares = ws && *ws ? (int)CLAMP(atoi(ws), 0, 64) : 2;
  const char *ps = g_getenv("PIPEHOST_POSIX_SPAWN");
  ex->no_fast = ps && *ps && strcmp(ps, "0");
  signal(SIGPIPE, SIG_IGN);
  return ex;
}

static void launcher_close(ph_launcher *l);

static void job_free(ph_job *j) {
  if (j->sock >= 0)
    close(j->sock);
  if (j->outfd >= 0)
    close(j->outfd);
  if (j->logfd >= 0)
    close(j->logfd);
  if (j->outbuf)
    g_string_free(j->outbuf, TRUE);
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
    if (j->pid > 0) {
      kill(-j->pid, SIGKILL);
      kill(j->pid, SIGKILL);
      waitpid(j->pid, NULL, 0);
    }
    job_free(j);
  }
  g_ptr_array_unref(ex->jobs);
  /* zygotes first (the main launcher waits for them): they and the
   * spares see their sockets close and exit */
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, ex->zygotes);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    launcher_close(v);
    g_array_free(((ph_launcher *)v)->spares, TRUE);
    g_free(v);
    g_free(k);
  }
  g_hash_table_unref(ex->zygotes);
  g_queue_clear_full(&ex->zygote_asked, g_free);
  int main_pid = ex->main.ctl >= 0 ? ex->main.pid : 0;
  launcher_close(&ex->main); /* the launcher exits on EOF */
  if (main_pid > 0)
    waitpid(main_pid, NULL, 0);
  g_array_free(ex->main.spares, TRUE);
  g_array_free(ex->free_slots, TRUE);
  if (ex->devnull >= 0)
    close(ex->devnull);
  g_free(ex->stack);
  if (ex->live)
    munmap(ex->live, PH_LIVE_SLOTS * sizeof(gint32));
  g_free(ex->exe);
  g_free(ex);
}

/* Forgets prepared job j: its socket closes, and its worker, waiting for
 * the word to go, exits without running anything (the launcher reaps it;
 * its end then matches no job). */
static void drop_prepared(ph_exec *ex, ph_job *j) {
  g_ptr_array_remove_fast(ex->jobs, j);
  job_free(j);
}

static ph_job *find(ph_exec *ex, guint job) {
  for (guint i = 0; i < ex->jobs->len; i++) {
    ph_job *j = ex->jobs->pdata[i];
    if (j->job == job)
      return j;
  }
  return NULL;
}

/* What every try's process gets: stdin /dev/null, stdout and stderr the
 * log, its own process group, no blocked signals and default dispositions
 * for those the host handles or ignores.  Destroy both after the spawn. */
static void spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at,
                        int logfd) {
  posix_spawn_file_actions_init(fa);
  posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(fa, logfd, 1);
  posix_spawn_file_actions_adddup2(fa, logfd, 2);
  posix_spawnattr_init(at);
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  sigaddset(&def, SIGTERM);
  sigaddset(&def, SIGINT);
  sigaddset(&def, SIGCHLD);
  posix_spawnattr_setsigmask(at, &none);
  posix_spawnattr_setsigdefault(at, &def);
  posix_spawnattr_setpgroup(at, 0);
  posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                   POSIX_SPAWN_SETSIGDEF);
}

/* Starts the worker directly: posix_spawn of this binary.  Returns the
 * pid or -1 (error set). */
static int spawn_direct(ph_exec *ex, int sock, int logfd, GError **error) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  spawn_setup(&fa, &at, logfd);
  posix_spawn_file_actions_adddup2(&fa, sock, 3);
  char *argv[] = {ex->exe, "__worker", NULL};
  int pid = -1;
  GPtrArray *env = g_ptr_array_new();
  for (char **e = environ; *e; e++)
    if (!ph_util_env_is_secret(*e))
      g_ptr_array_add(env, *e);
  g_ptr_array_add(env, NULL);
  int rc = posix_spawn(&pid, ex->exe, &fa, &at, argv, (char **)env->pdata);
  g_ptr_array_free(env, TRUE);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(rc),
                "posix_spawn %s: %s", ex->exe, g_strerror(rc));
    return -1;
  }
  return pid;
}

static gsize req_len(const ph_lreq *req) {
  return offsetof(ph_lreq, path) + strlen(req->path) + 1;
}

/* A request to a launcher (or a spare): type, job, pid, plugin path. */
static ph_lreq make_req(char type, guint job, int pid, const char *path) {
  ph_lreq req = {0};
  req.type = type;
  req.job = job;
  req.pid = pid;
  if (path)
    g_strlcpy(req.path, path, sizeof req.path);
  return req;
}

/* Tells the launcher that we started ('C') or are about to reap ('E')
 * the command pid, so that it stops the command's process group if we
 * die first, as it stops its own workers.  No reply. */
static void note_command(ph_exec *ex, char type, int pid) {
  if (ex->main.ctl < 0)
    return;
  ph_lreq req = make_req(type, 0, pid, NULL);
  send(ex->main.ctl, &req, offsetof(ph_lreq, path), MSG_NOSIGNAL);
}

/* Notes j's command for the launcher: in a shared slot, or by message
 * when there is no free slot. */
static void note_start(ph_exec *ex, ph_job *j) {
  if (ex->main.ctl < 0)
    return;
  if (ex->live && (ex->free_slots->len || ex->live_used < PH_LIVE_SLOTS)) {
    if (ex->free_slots->len) {
      j->slot = g_array_index(ex->free_slots, guint, ex->free_slots->len - 1);
      g_array_set_size(ex->free_slots, ex->free_slots->len - 1);
    } else {
      j->slot = ex->live_used++;
    }
    __atomic_store_n(&ex->live[j->slot], j->pid, __ATOMIC_RELEASE);
    j->noted = 2;
    return;
  }
  note_command(ex, 'C', j->pid);
  j->noted = 1;
}

/* Un-notes j's command, before it is reaped (its pid stays reserved). */
static void note_end(ph_exec *ex, ph_job *j) {
  if (j->noted == 2) {
    __atomic_store_n(&ex->live[j->slot], 0, __ATOMIC_RELEASE);
    g_array_append_val(ex->free_slots, j->slot);
  } else if (j->noted == 1) {
    note_command(ex, 'E', j->pid);
  }
  j->noted = 0;
}

/* Sends len bytes of buf with the n descriptors of fds attached
 * (SCM_RIGHTS); the byte count or -1. */
static ssize_t send_with_fds(int sock, const void *buf, gsize len,
                             const int *fds, int n) {
  char cbuf[CMSG_SPACE(2 * sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov = {(void *)buf, len};
  struct msghdr mh = {0};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(n * sizeof(int));
  memcpy(CMSG_DATA(c), fds, n * sizeof(int));
  return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/* Sends a request with fds[2] attached; the byte count or -1. */
static ssize_t send_fds(int sock, const ph_lreq *req, gsize len,
                        const int fds[2]) {
  return send_with_fds(sock, req, len, fds, 2);
}

/* Receives a request with two fds attached (close-on-exec); the byte
 * count (0 at end of file) or -1. */
static ssize_t recv_fds(int sock, ph_lreq *req, int fds[2]) {
  char cbuf[CMSG_SPACE(2 * sizeof(int))];
  struct iovec iov = {req, sizeof *req};
  struct msghdr mh = {0};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof cbuf;
  fds[0] = fds[1] = -1;
  ssize_t r;
  do
    r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  struct cmsghdr *c = r > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
  if (c && c->cmsg_type == SCM_RIGHTS &&
      c->cmsg_len == CMSG_LEN(2 * sizeof(int)))
    memcpy(fds, CMSG_DATA(c), 2 * sizeof(int));
  req->path[sizeof req->path - 1] = 0;
  return r;
}

/* Sends a launcher message with fd attached. */
static void send_lmsg_fd(int sock, const ph_lmsg *m, int fd) {
  send_with_fds(sock, m, sizeof *m, &fd, 1);
}

/* Closes the host's side of launcher l: its control socket and its
 * spares (which then exit). */
static void launcher_close(ph_launcher *l) {
  for (guint i = 0; i < l->spares->len; i++)
    close(g_array_index(l->spares, ph_spare, i).sock);
  g_array_set_size(l->spares, 0);
  l->asked = 0;
  if (l->ctl >= 0)
    close(l->ctl);
  l->ctl = -1;
}

/* Reads one message from launcher l, and the fd it carries into *fd (-1
 * when none; close-on-exec); FALSE when there is none yet (not blocking)
 * or the launcher is gone. */
static gboolean read_lmsg(ph_launcher *l, ph_lmsg *m, int *fd,
                          gboolean block) {
  *fd = -1;
  for (;;) {
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {m, sizeof *m};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    ssize_t r =
        recvmsg(l->ctl, &mh, MSG_CMSG_CLOEXEC | (block ? 0 : MSG_DONTWAIT));
    if (r < 0 && errno == EINTR)
      continue;
    if (r == (ssize_t)sizeof *m) {
      struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
      if (c && c->cmsg_type == SCM_RIGHTS &&
          c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(fd, CMSG_DATA(c), sizeof(int));
      return TRUE;
    }
    if (r < 0 && errno == EAGAIN)
      return FALSE;
    /* EOF or error: the launcher died; carry on without it */
    launcher_close(l);
    return FALSE;
  }
}

/* Asks the launcher for one more spare, telling it that spare pid (0:
 * none) has a try of the plugin at path (NULL: none). */
static void ask_spare(ph_launcher *l, int pid, const char *path) {
  ph_lreq req = make_req('R', 0, pid, path);
  if (send(l->ctl, &req, req_len(&req), MSG_NOSIGNAL) < 0)
    return; /* a dead launcher shows on the next read */
  l->asked++;
}

/* Starts the try whose socket and log are fds in a spare, if there is
 * one; its pid, or -1.  Asks for its replacement. */
static int use_spare(ph_launcher *l, guint job, const char *plugin_path,
                     const int fds[2]) {
  while (l->spares->len) {
    ph_spare sp = g_array_index(l->spares, ph_spare, 0);
    g_array_remove_index(l->spares, 0);
    ph_lreq req = make_req('W', job, 0, plugin_path);
    ssize_t sent = send_fds(sp.sock, &req, req_len(&req), fds);
    close(sp.sock);
    /* then its replacement (the launcher stops a spare with a try as any
     * worker if we die): the spare gets a CPU before the new fork */
    ask_spare(l, sent > 0 ? sp.pid : 0, plugin_path);
    if (sent > 0)
      return sp.pid;
  }
  return -1;
}

/* Asks the launcher to start the worker (from a spare, or forked), without
 * waiting for its pid: that comes as a 'P' message while the worker runs
 * (see handle_lmsg).  FALSE when the launcher is gone (the caller then
 * spawns directly). */
static gboolean spawn_launched(ph_launcher *l, guint job, int sock,
                               int logfd, const char *plugin_path) {
  ph_lreq req = make_req('W', job, 0, plugin_path);
  int fds[2] = {sock, logfd};
  if (send_fds(l->ctl, &req, req_len(&req), fds) < 0) {
    launcher_close(l);
    return FALSE;
  }
  return TRUE;
}

/* The job awaiting its pid as job id, or NULL. */
static ph_job *find_awaiting(ph_exec *ex, ph_launcher *l, guint job) {
  for (guint i = 0; i < ex->jobs->len; i++) {
    ph_job *j = ex->jobs->pdata[i];
    if (j->awaiting && j->lau == l && j->job == job)
      return j;
  }
  return NULL;
}

static gboolean note_exit(ph_exec *ex, ph_launcher *l, const ph_lmsg *m);

/* Handles a message from the launcher: a worker's pid ('P', or the errno
 * of a failed fork) or its exit ('X'). */
static void handle_lmsg(ph_exec *ex, ph_launcher *l, const ph_lmsg *m,
                        int fd) {
  if (m->type == 'S') {
    l->asked = MAX(0, l->asked - 1);
    if (m->pid > 0 && fd >= 0) {
      ph_spare sp = {m->pid, fd};
      g_array_append_val(l->spares, sp);
    } else if (fd >= 0) {
      close(fd);
    }
    return;
  }
  if (m->type == 'Z' && l == &ex->main) {
    /* the zygote asked for first (in order), or none for that plugin */
    char *path = g_queue_pop_head(&ex->zygote_asked);
    ph_launcher *z = path ? g_hash_table_lookup(ex->zygotes, path) : NULL;
    g_free(path);
    if (z && fd >= 0 && m->pid > 0) {
      z->ctl = fd;
      z->pid = m->pid;
    } else if (fd >= 0) {
      close(fd);
    }
    return;
  }
  if (fd >= 0)
    close(fd);
  if (m->type == 'Y') {
    l->ready = 1;
    return;
  }
  if (m->type == 'X') {
    if (!note_exit(ex, l, m))
      for (guint i = 0; i < l->spares->len; i++)
        if (g_array_index(l->spares, ph_spare, i).pid == m->pid) {
          close(g_array_index(l->spares, ph_spare, i).sock);
          g_array_remove_index(l->spares, i); /* a spare died */
          break;
        }
    return;
  }
  ph_job *j = m->type == 'P' ? find_awaiting(ex, l, m->job) : NULL;
  if (!j)
    return;
  j->awaiting = 0;
  if (m->pid <= 0) {
    j->start_errno = m->status ? m->status : EAGAIN;
    return;
  }
  j->pid = m->pid;
  j->pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0);
  if (ex->cb.on_pid)
    ex->cb.on_pid(ex->user, j->job, j->pid);
}

/* Waits until j's pid is known (or its launcher is gone: pid stays 0). */
static void await_pid(ph_exec *ex, ph_job *j) {
  ph_lmsg m;
  int fd;
  while (j->awaiting && j->lau->ctl >= 0 &&
         read_lmsg(j->lau, &m, &fd, TRUE))
    handle_lmsg(ex, j->lau, &m, fd);
  j->awaiting = 0;
}

/* The launcher for a try of the plugin at path: its zygote when it has
 * one that is ready, else the main launcher (asking it, once per plugin,
 * for a zygote); NULL when there is no launcher. */
static ph_launcher *launcher_for(ph_exec *ex, const char *path) {
  if (ex->main.ctl < 0)
    return NULL;
  if (!path || !*path || ex->want_spares == 0)
    return &ex->main;
  ph_launcher *z = g_hash_table_lookup(ex->zygotes, path);
  if (!z) {
    z = g_new0(ph_launcher, 1);
    z->ctl = -1;
    z->spares = g_array_new(FALSE, FALSE, sizeof(ph_spare));
    g_hash_table_insert(ex->zygotes, g_strdup(path), z);
    ph_lreq req = make_req('Z', 0, 0, path);
    if (send(ex->main.ctl, &req, req_len(&req), MSG_NOSIGNAL) > 0)
      g_queue_push_tail(&ex->zygote_asked, g_strdup(path));
  }
  return z->ctl >= 0 && z->ready ? z : &ex->main;
}

/* Opens (creates, appends) a try's log; its directory is made when the
 * first open fails.  Returns the fd or -1 with error set. */
static int open_log(const char *log_path, GError **error) {
  int fd = -1;
  for (int k = 0; k < 2 && fd < 0; k++) {
    fd = ph_fault_hit("log_open")
             ? (errno = ENOSPC, -1)
             : open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ENOENT && k == 0) {
      g_autofree char *dir = g_path_get_dirname(log_path);
      g_mkdir_with_parents(dir, 0700);
    } else if (fd < 0) {
      break;
    }
  }
  if (fd < 0)
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "%s: cannot open the task log: %s", log_path,
                g_strerror(errno));
  return fd;
}

/* Tracks a started process as job; takes sock (may be -1). */
/* ---- filtered output: a try whose output may hold a secret writes to a
 * pipe; we mask each line and append it to the log. */

/* A pipe for a filtered try's stdout and stderr: *rd is ours
 * (non-blocking), *wr the try's.  FALSE with error set. */
static gboolean out_pipe(int *rd, int *wr, GError **error) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "pipe: %s",
                g_strerror(errno));
    return FALSE;
  }
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  *rd = p[0];
  *wr = p[1];
  return TRUE;
}

/* Writes len bytes of j's output to its log, secrets masked. */
static void out_write(ph_exec *ex, ph_job *j, const char *text, gsize len) {
  g_autofree char *raw = g_strndup(text, len);
  g_autofree char *masked = ph_util_mask(ex->secrets, raw);
  if (!ph_proc_write_all(j->logfd, masked, strlen(masked))) {
    /* a full disk: the output is lost, the try's end is still seen */
  }
}

/* Moves what j's output pipe holds into its log: whole lines, and the
 * rest too when all is set (the try ended, or a message needs the log up
 * to date) or when a line grows past 64 KiB. */
static void out_pump(ph_exec *ex, ph_job *j, gboolean all) {
  char buf[65536];
  while (j->outfd >= 0) {
    ssize_t r = read(j->outfd, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN)
      break;
    if (r <= 0) {
      close(j->outfd);
      j->outfd = -1;
      all = TRUE;
      break;
    }
    g_string_append_len(j->outbuf, buf, r);
  }
  if (!j->outbuf || !j->outbuf->len)
    return;
  const char *nl = memrchr(j->outbuf->str, '\n', j->outbuf->len);
  gsize n = all || j->outbuf->len > 65536 ? j->outbuf->len
            : nl                          ? (gsize)(nl - j->outbuf->str) + 1
                                          : 0;
  if (n) {
    out_write(ex, j, j->outbuf->str, n);
    g_string_erase(j->outbuf, 0, n);
  }
}

/* Makes job j filtered: rd is the pipe's read end, logfd the log. */
static void out_attach(ph_job *j, int rd, int logfd) {
  j->outfd = rd;
  j->logfd = logfd;
  j->outbuf = g_string_new(NULL);
}

void ph_exec_set_secrets(ph_exec *ex, const GPtrArray *secrets,
                         gboolean filter_workers) {
  ex->secrets = secrets;
  ex->filter_workers = filter_workers;
}

/* TRUE when a new try's output must be filtered: there are secrets to
 * mask (a worker may learn one while it runs, so workers always are when
 * filter_workers is set). */
static gboolean want_filter(const ph_exec *ex, gboolean worker) {
  return ex->secrets &&
         ((worker && ex->filter_workers) || ex->secrets->len > 0);
}

gint64 ph_exec_log_end(ph_exec *ex, guint job) {
  ph_job *j = find(ex, job);
  if (!j || j->logfd < 0)
    return -1;
  out_pump(ex, j, TRUE);
  off_t off = lseek(j->logfd, 0, SEEK_END);
  return off < 0 ? -1 : (gint64)off;
}

static ph_job *add_job(ph_exec *ex, guint job, int pid, int sock,
                       ph_launcher *lau, double timeout) {
  ph_job *j = g_new0(ph_job, 1);
  j->job = job;
  j->pid = pid;
  j->lau = lau;
  j->sock = sock;
  /* launched workers report their end through the launcher; the pidfd
   * stays the way to notice them if the launcher itself dies */
  j->pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
  j->inbuf = g_string_new(NULL);
  j->outfd = j->logfd = -1;
  j->deadline = timeout > 0 ? ph_util_mono() + timeout : 0;
  if (sock >= 0)
    fcntl(sock, F_SETFL, O_NONBLOCK);
  g_ptr_array_add(ex->jobs, j);
  return j;
}

/* ---- spawn_fast: posix_spawn without its per-call costs.
 *
 * glibc's posix_spawn maps a stack for every call, and its child resets
 * all 64 signal dispositions one system call at a time while the parent
 * waits: ~45 us of the ~100 us a spawn costs here.  The host knows which
 * dispositions matter (it ignores only SIGPIPE; exec resets handlers), so
 * its clone reuses one stack and makes six system calls before exec. */
typedef struct {
  const char *path;
  char *const *argv;
  char *const *envp;
  const char *cwd;
  int logfd, devnull;
  int parent; /* > 0: no launcher watches us; die with this parent */
  int err;    /* set by the child when a step before exec fails */
} ph_spawn_args;

/* The child of spawn_fast: shares the parent's memory (CLONE_VM) while
 * the parent waits (CLONE_VFORK), so it makes raw system calls only (no
 * allocation, no locks, no sanitizer interceptors) until execve. */
__attribute__((no_sanitize("address", "undefined"))) static int
spawn_child(void *arg) {
  ph_spawn_args *a = arg;
  long r = syscall(SYS_setpgid, 0, 0);
  if (r >= 0)
    r = syscall(SYS_dup2, a->devnull, 0);
  if (r >= 0)
    r = syscall(SYS_dup2, a->logfd, 1);
  if (r >= 0)
    r = syscall(SYS_dup2, a->logfd, 2);
  if (r >= 0 && a->cwd)
    r = syscall(SYS_chdir, a->cwd);
  if (r >= 0 && a->parent > 0) {
    /* without a launcher nobody stops it if we die: it dies with us */
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (syscall(SYS_getppid) != a->parent)
      syscall(SYS_exit, 127);
  }
  if (r >= 0) {
    guint64 none = 0; /* the kernel's sigset: unblock everything */
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    syscall(SYS_execve, a->path, a->argv, a->envp);
  }
  a->err = errno ? errno : EINVAL;
  syscall(SYS_exit, 127);
  return 127;
}

/* Starts path (absolute) like spawn_setup + posix_spawn would.  Returns the
 * pid, or -1 with errno set. */
static int spawn_fast(ph_exec *ex, const char *path, char *const *argv,
                      char *const *envp, const char *cwd, int logfd) {
  if (!ex->stack)
    ex->stack = g_malloc(PH_SPAWN_STACK);
  ph_spawn_args a = {path,
                     argv,
                     envp,
                     cwd,
                     logfd,
                     ex->devnull,
                     ex->main.ctl < 0 ? (int)getpid() : 0,
                     0};
  /* no handler may run in the child: block everything around the clone;
   * SIGPIPE, which the host ignores, goes back to its default for the
   * command (an ignored signal stays ignored across exec) */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  struct sigaction dfl = {0}, pipe_old;
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, &pipe_old);
  int pid = clone(spawn_child, ex->stack + PH_SPAWN_STACK,
                  CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
  int err = errno;
  sigaction(SIGPIPE, &pipe_old, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid > 0 && a.err) {
    /* it never got to exec: reap it, report why */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
      ;
    pid = -1;
    err = a.err;
  }
  errno = err;
  return pid;
}

int ph_exec_start_command(ph_exec *ex, guint job, const char *path,
                          char *const *argv, char *const *envp, const char *cwd,
                          const char *log_path, const char *header,
                          gint64 *out_offset, double timeout, GError **error) {
  int pid = -1, rd = -1;
  int logfd = open_log(log_path, error);
  if (logfd < 0)
    return -1;
  if (header && !ph_proc_write_all(logfd, header, strlen(header))) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "%s: cannot write the task log: %s", log_path,
                g_strerror(errno));
    goto out;
  }
  off_t off = lseek(logfd, 0, SEEK_END);
  *out_offset = off < 0 ? 0 : (gint64)off;
  if (ph_fault_hit("spawn")) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_AGAIN,
                "fork: injected failure (resource temporarily unavailable)");
    goto out;
  }
  int rc = 0, outfd = logfd;
  if (want_filter(ex, FALSE) && !out_pipe(&rd, &outfd, error))
    goto out;
  /* (a log or /dev/null on fd 0-2, when the host was started with those
   * closed, needs posix_spawn's care with dup2 onto itself) */
  if (path && path[0] == '/' && ex->devnull > 2 && outfd > 2 && !ex->no_fast) {
    pid = spawn_fast(ex, path, argv, envp, cwd, outfd);
    rc = pid < 0 ? errno : 0;
  } else {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    spawn_setup(&fa, &at, outfd);
    if (cwd)
      posix_spawn_file_actions_addchdir_np(&fa, cwd);
    rc = path ? posix_spawn(&pid, path, &fa, &at, argv, envp)
              : posix_spawnp(&pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
  }
  if (rd >= 0)
    close(outfd);
  if (rc != 0) {
    pid = -1;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(rc), "%s",
                g_strerror(rc));
    goto out;
  }
  ph_job *j = add_job(ex, job, pid, -1, NULL, timeout);
  if (rd >= 0) {
    out_attach(j, rd, logfd);
    rd = logfd = -1;
  }
  note_start(ex, j);
out:
  if (rd >= 0)
    close(rd);
  if (logfd >= 0)
    close(logfd);
  return pid;
}

gboolean ph_exec_spare_ready(ph_exec *ex, const char *plugin_path) {
  ph_launcher *l = launcher_for(ex, plugin_path);
  return l && l->ctl >= 0 && l->spares->len > 0;
}

/* ph_exec_start, or ph_exec_prepare (prepare: only into a spare that is
 * ready, else nothing is done and 0 returned). */
static int start_worker(ph_exec *ex, guint job, const char *spec_json,
                        const char *log_path, const char *plugin_path,
                        double timeout, gboolean prepare, GError **error) {
  int sv[2] = {-1, -1}, logfd = -1, pid = -1;
  if (prepare && !ph_exec_spare_ready(ex, plugin_path))
    return 0;
  GString *line = g_string_new(spec_json);
  g_string_append_c(line, '\n');
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "socketpair: %s", g_strerror(errno));
    goto out;
  }
  logfd = open_log(log_path, error);
  if (logfd < 0)
    goto out;
  int outfd = logfd, rd = -1;
  /* a prepared try may learn of secrets only later: its output is
   * filtered whatever the run knows now */
  if ((prepare || want_filter(ex, TRUE)) && !out_pipe(&rd, &outfd, error))
    goto out;
  /* the spec goes into the socket first (as much as its buffer takes):
   * the worker finds it there the moment it starts */
  gsize sent = 0;
  if (fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) == 0) {
    ssize_t w;
    while (sent < line->len &&
           ((w = write(sv[0], line->str + sent, line->len - sent)) > 0 ||
            (w < 0 && errno == EINTR)))
      if (w > 0)
        sent += (gsize)w;
  }
  gboolean launched = FALSE;
  if (ph_fault_hit("spawn")) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_AGAIN,
                "fork: injected failure (resource temporarily unavailable)");
    goto out;
  }
  gboolean awaiting = FALSE;
  ph_launcher *l = launcher_for(ex, plugin_path);
  if (l) {
    /* spares for the next tries, as many as configured */
    while (l->ctl >= 0 && (int)l->spares->len + l->asked < ex->want_spares)
      ask_spare(l, 0, plugin_path);
    int fds[2] = {sv[1], outfd};
    pid = use_spare(l, job, plugin_path, fds);
    if (pid > 0) {
      launched = TRUE;
    } else if (prepare) {
      pid = 0; /* no spare after all: nothing started */
      if (rd >= 0) {
        close(rd);
        close(outfd);
      }
      unlink(log_path);
      goto out;
    } else if (l->ctl >= 0 &&
               spawn_launched(l, job, sv[1], outfd, plugin_path)) {
      pid = 0; /* forked by the launcher; its pid comes later */
      launched = awaiting = TRUE;
    }
  }
  if (!launched)
    pid = spawn_direct(ex, sv[1], outfd, error);
  if (rd >= 0)
    close(outfd);
  if (pid < 0) {
    if (rd >= 0)
      close(rd);
    goto out;
  }
  close(sv[1]);
  sv[1] = -1;
  ph_job *j =
      add_job(ex, job, pid, sv[0], launched ? l : NULL, prepare ? 0 : timeout);
  j->awaiting = awaiting;
  j->prepared = prepare;
  sv[0] = -1;
  if (rd >= 0) {
    out_attach(j, rd, logfd);
    logfd = -1;
  }
  /* the rest, if any; a dead worker shows as its exit */
  if (sent < line->len)
    ph_proc_write_all(j->sock, line->str + sent, line->len - sent);
out:
  g_string_free(line, TRUE);
  if (sv[0] >= 0)
    close(sv[0]);
  if (sv[1] >= 0)
    close(sv[1]);
  if (logfd >= 0)
    close(logfd);
  return pid;
}

int ph_exec_start(ph_exec *ex, guint job, const char *spec_json,
                  const char *log_path, const char *plugin_path, double timeout,
                  GError **error) {
  return start_worker(ex, job, spec_json, log_path, plugin_path, timeout, FALSE,
                      error);
}

int ph_exec_prepare(ph_exec *ex, guint job, const char *spec_text,
                    const char *log_path, const char *plugin_path,
                    GError **error) {
  return start_worker(ex, job, spec_text, log_path, plugin_path, 0, TRUE,
                      error);
}

int ph_exec_go(ph_exec *ex, guint job, const char *go_line, double timeout) {
  ph_job *j = find(ex, job);
  if (!j || !j->prepared)
    return -1;
  g_autofree char *line = g_strconcat(go_line, "\n", NULL);
  if (j->have_status || j->sock < 0 || j->pid <= 0 ||
      !ph_proc_write_all(j->sock, line, strlen(line))) {
    drop_prepared(ex, j);
    return -1;
  }
  j->prepared = FALSE;
  j->deadline = timeout > 0 ? ph_util_mono() + timeout : 0;
  return j->pid;
}

void ph_exec_discard(ph_exec *ex, guint job) {
  ph_job *j = find(ex, job);
  if (j && j->prepared)
    drop_prepared(ex, j);
}

void ph_exec_reply(ph_exec *ex, guint job, JsonNode *reply) {
  ph_job *j = find(ex, job);
  if (!j || j->sock < 0)
    return;
  g_autofree char *txt = ph_util_json_dup(reply);
  GString *line = g_string_new(txt);
  g_string_append_c(line, '\n');
  ph_proc_write_all(j->sock, line->str, line->len);
  g_string_free(line, TRUE);
}

void ph_exec_stop(ph_exec *ex, guint job, int timed_out) {
  ph_job *j = find(ex, job);
  if (!j || j->kill_at)
    return;
  j->timed_out = timed_out;
  await_pid(ex, j);
  if (j->pid > 0)
    kill(j->pid, SIGTERM);
  j->kill_at = ph_util_mono() + ex->grace;
}

guint ph_exec_n_running(const ph_exec *ex) {
  guint n = 0;
  for (guint i = 0; i < ex->jobs->len; i++)
    n += !((ph_job *)ex->jobs->pdata[i])->prepared;
  return n;
}

/* Reads what the worker sent and dispatches complete lines.  Returns FALSE
 * on EOF or error (the socket is then closed). */
static gboolean drain(ph_exec *ex, ph_job *j) {
  char buf[65536];
  for (;;) {
    if (j->inbuf->len > ex->max_msg) {
      /* a message longer than any the protocol has: the worker is broken
       * or hostile; it is stopped before it can exhaust our memory */
      j->oversized = j->inbuf->len;
      g_string_truncate(j->inbuf, 0);
      j->scanned = 0;
      close(j->sock);
      j->sock = -1;
      await_pid(ex, j);
      if (j->pid > 0) {
        kill(-j->pid, SIGKILL);
        kill(j->pid, SIGKILL);
      }
      break;
    }
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
  /* lines are looked for only in what was not scanned yet: a long
   * message arriving in pieces costs linear time, not quadratic */
  while ((nl = memchr(j->inbuf->str + j->scanned, '\n',
                      j->inbuf->len - j->scanned))) {
    gsize n = nl - j->inbuf->str;
    g_autofree char *text = g_strndup(j->inbuf->str, n);
    g_string_erase(j->inbuf, 0, n + 1);
    j->scanned = 0;
    JsonNode *node = json_from_string(text, NULL);
    if (node && JSON_NODE_HOLDS_OBJECT(node)) {
      JsonObject *o = json_node_get_object(node);
      const char *m = json_object_get_string_member_with_default(o, "m", "");
      if (!strcmp(m, "result")) {
        if (j->result)
          json_object_unref(j->result);
        j->result = json_object_ref(o);
      } else {
        /* what the worker wrote before it exec'd its command is in the
         * log before the exec message is handled (its offset is the log's
         * end); messages are handled before the output that follows them,
         * so a "mask" is known before the output it covers */
        if (!strcmp(m, "exec") && j->outfd >= 0)
          out_pump(ex, j, TRUE);
        ex->cb.on_message(ex->user, j->job, o);
      }
    }
    if (node)
      json_node_unref(node);
  }
  j->scanned = j->inbuf->len;
  return j->sock >= 0;
}

static void finish(ph_exec *ex, guint idx) {
  ph_job *j = ex->jobs->pdata[idx];
  if (j->prepared) {
    /* its worker died before it was told to go: never a try, nothing to
     * report (ph_exec_go then finds no job) */
    drop_prepared(ex, j);
    return;
  }
  await_pid(ex, j); /* its pid is in the socket already, or never comes */
  if (j->sock >= 0)
    drain(ex, j);
  if (j->outbuf)
    out_pump(ex, j, TRUE); /* what it wrote last, without waiting for an
                              EOF that an escaped child could withhold */
  int status = 0;
  if (j->lau) {
    /* the launcher killed the group's leftovers before reaping */
    status = j->have_status ? j->status : (SIGKILL & 0x7f); /* launcher lost */
  } else {
    /* leftovers of the try's process group, killed while the exited
     * worker is still a zombie: its pid (the group id) cannot have been
     * reused by another process yet */
    kill(-j->pid, SIGKILL);
    note_end(ex, j);
    while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
      ;
  }
  ph_exec_end end = {.pid = j->pid, .exit_code = -1};
  if (WIFEXITED(status))
    end.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    end.signal = WTERMSIG(status);
  end.timed_out = j->timed_out;
  end.start_errno = j->start_errno;
  end.result = j->oversized ? NULL : j->result;
  end.oversized = j->oversized;
  g_ptr_array_remove_index_fast(ex->jobs, idx);
  ex->cb.on_end(ex->user, j->job, &end);
  job_free(j);
}

/* Records a launcher 'X' message on its job; TRUE when one matched. */
static gboolean note_exit(ph_exec *ex, ph_launcher *l, const ph_lmsg *m) {
  for (guint i = 0; i < ex->jobs->len; i++) {
    ph_job *j = ex->jobs->pdata[i];
    if (j->lau == l && j->pid == m->pid) {
      j->status = m->status;
      j->have_status = 1;
      return TRUE;
    }
  }
  return FALSE;
}

void ph_exec_enforce_deadlines(ph_exec *ex) {
  double now = ph_util_mono();
  for (guint i = 0; i < ex->jobs->len; i++) {
    ph_job *j = ex->jobs->pdata[i];
    if (j->kill_at && now >= j->kill_at) {
      await_pid(ex, j);
      if (j->pid > 0) {
        kill(-j->pid, SIGKILL);
        kill(j->pid, SIGKILL);
      }
      j->kill_at = now + 3600;
    } else if (j->deadline && !j->kill_at && now >= j->deadline) {
      ph_exec_stop(ex, j->job, 1);
    }
  }
}

int ph_exec_poll(ph_exec *ex, double max_wait) {
  guint n = ex->jobs->len;
  double now = ph_util_mono();
  int handled = 0;
  /* deadlines first */
  ph_exec_enforce_deadlines(ex);
  for (guint i = 0; i < n; i++) {
    ph_job *j = ex->jobs->pdata[i];
    if (j->have_status)
      max_wait = 0;
    double next = j->kill_at ? j->kill_at : j->deadline;
    if (j->pidfd < 0 && !j->lau)
      next = now + 0.02;
    if (next) {
      double w = MAX(0, next - now);
      if (max_wait < 0 || w < max_wait)
        max_wait = w;
    }
  }
  /* the launchers: the main one, then the zygotes */
  guint nl = 1 + g_hash_table_size(ex->zygotes);
  ph_launcher **lau = g_new(ph_launcher *, nl);
  lau[0] = &ex->main;
  GHashTableIter it;
  gpointer zv;
  guint li = 1;
  g_hash_table_iter_init(&it, ex->zygotes);
  while (g_hash_table_iter_next(&it, NULL, &zv))
    lau[li++] = zv;
  /* [0, 2n): each job's socket and pidfd; [2n, 2n+nl): the launchers;
   * then each job's filtered output */
  struct pollfd *pf = g_new(struct pollfd, n * 3 + nl);
  for (guint i = 0; i < n; i++) {
    ph_job *j = ex->jobs->pdata[i];
    pf[2 * i] = (struct pollfd){j->sock, POLLIN, 0};
    /* a launched worker's end comes from the launcher, unless it died */
    int fd = j->lau && j->lau->ctl >= 0 ? -1 : j->pidfd;
    pf[2 * i + 1] = (struct pollfd){fd, POLLIN, 0};
    pf[2 * n + nl + i] = (struct pollfd){j->outfd, POLLIN, 0};
  }
  for (guint k = 0; k < nl; k++)
    pf[2 * n + k] = (struct pollfd){lau[k]->ctl, POLLIN, 0};
  int ms = max_wait < 0 ? -1 : (int)(max_wait * 1000 + 0.999);
  /* jobs without filtered output add no descriptor to wait on */
  nfds_t nf = n * 2 + nl;
  for (guint i = 0; i < n; i++)
    if (((ph_job *)ex->jobs->pdata[i])->outfd >= 0)
      nf = n * 3 + nl;
  int rc = poll(pf, nf, ms);
  if (rc < 0 && errno != EINTR) {
    /* not a wait that can be retried (EINVAL: more fds than the open-file
     * limit, ENOMEM): spinning on it would hide the tries' ends forever */
    int e = errno;
    g_free(pf);
    g_free(lau);
    errno = e;
    return -1;
  }
  for (guint k = 0; rc > 0 && k < nl; k++)
    if (pf[2 * n + k].revents && lau[k]->ctl >= 0) {
      ph_lmsg m;
      int fd;
      while (lau[k]->ctl >= 0 && read_lmsg(lau[k], &m, &fd, FALSE))
        handle_lmsg(ex, lau[k], &m, fd);
    }
  if (rc >= 0) {
    /* messages first (a secret to mask comes before the output holding
     * it), then output, then exits, from the end so removal is safe */
    for (guint i = 0; i < n; i++) {
      ph_job *j = ex->jobs->pdata[i];
      if (pf[2 * i].revents && j->sock >= 0 && j->prepared) {
        /* a prepared worker says nothing before it is told to go: one
         * that does (its plugin failed to load, it died) is not used */
        close(j->sock);
        j->sock = -1;
      } else if (pf[2 * i].revents && j->sock >= 0) {
        drain(ex, j);
        handled++;
      }
    }
    for (guint i = 0; nf > n * 2 + nl && i < n; i++) {
      ph_job *j = ex->jobs->pdata[i];
      if (pf[2 * n + nl + i].revents && j->outfd >= 0)
        out_pump(ex, j, FALSE);
    }
    for (gint i = n - 1; i >= 0; i--) {
      ph_job *j = ex->jobs->pdata[i];
      gboolean exited;
      if (j->lau) {
        exited =
            j->have_status || j->start_errno ||
            (j->lau->ctl < 0 && (pf[2 * i + 1].revents || j->pidfd < 0));
        if (!exited && j->result && j->sock < 0 && !j->kill_at) {
          /* it reported its result and closed its socket: the try is
           * over.  The launcher still kills what is left of its process
           * group when it has exited; its report then matches no job.
           * Tearing down a process costs ~0.3 ms, none of it the try's. */
          j->have_status = 1;
          j->status = 0;
          exited = TRUE;
        }
      } else if (j->pidfd >= 0) {
        exited = pf[2 * i + 1].revents != 0;
      } else {
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
  g_free(lau);
  return handled;
}

/* ---- the launcher process */

static int g_chld_pipe[2] = {-1, -1};

static void on_chld(int sig) {
  (void)sig;
  int saved = errno;
  if (write(g_chld_pipe[1], "c", 1) < 0) {
    /* the pipe is full: a wake-up is already pending */
  }
  errno = saved;
}

/* Removes the credentials the host serves on request from this process's
 * environment, so that the tries it starts do not inherit them. */
static void drop_secret_env(void) {
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  for (char **e = environ; *e; e++)
    if (ph_util_env_is_secret(*e))
      g_ptr_array_add(names, g_strndup(*e, strcspn(*e, "=")));
  for (guint i = 0; i < names->len; i++)
    unsetenv(names->pdata[i]);
  g_ptr_array_unref(names);
}

/* In a child of the launcher: leaves the launcher's descriptors and
 * signal handling behind, takes a process group of its own and dies with
 * the launcher. */
static void worker_child_setup(pid_t launcher, int ctl) {
  close(ctl);
  close(g_chld_pipe[0]);
  close(g_chld_pipe[1]);
  setpgid(0, 0);
  /* should the launcher itself be killed, its workers die with it */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != launcher)
    _exit(1);
  struct sigaction dfl = {0};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, NULL);
  sigaction(SIGPIPE, &dfl, NULL);
  sigaction(SIGINT, &dfl, NULL);
}

/* In a child of the launcher: runs the try whose socket and log are fds;
 * never returns. */
G_GNUC_NORETURN static void worker_child_exec(int fds[2]) {
  int nul = open("/dev/null", O_RDONLY);
  dup2(nul, 0);
  dup2(fds[1], 1);
  dup2(fds[1], 2);
  dup2(fds[0], 3);
  for (int k = 0; k < 2; k++)
    if (fds[k] > 3)
      close(fds[k]);
  if (nul > 3)
    close(nul);
  _exit(ph_worker_main(3));
}

/* The prefork (ABI 1.5) of the plugin loaded as handle, or NULL. */
static void (*prefork_of(void *handle))(void) {
  const ph_plugin *(*entry)(void) =
      (const ph_plugin *(*)(void))dlsym(handle, PH_PLUGIN_ENTRY);
  const ph_plugin *p = entry ? entry() : NULL;
  if (!p || !ph_registry_check_descriptor(p, NULL) ||
      !PH_HAS(p, ph_plugin, prefork))
    return NULL;
  return p->prefork;
}

/* Keeps the plugin at path mapped and loaded here (once), so that the
 * workers forked from now on find it loaded; the handle, or NULL. */
static void *map_plugin(GHashTable *mapped, const char *path) {
  if (!path[0])
    return NULL;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h && !g_hash_table_contains(mapped, path)) {
    g_hash_table_add(mapped, g_strdup(path));
    ph_worker_preload(path);
  }
  return h;
}

/* Forks one spare worker and hands the host its socket ('S' with the
 * pid; a failed fork sends pid -1 and the errno). */
static void fork_spare(pid_t self, int ctl, GHashTable *spares,
                       const char *zygote_of) {
  int sv[2] = {-1, -1};
  pid_t pid = -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0)
    pid = fork();
  if (pid == 0) {
    close(sv[0]);
    worker_child_setup(self, ctl);
    ph_worker_warm(zygote_of);
    ph_lreq req;
    int fds[2];
    ssize_t r = recv_fds(sv[1], &req, fds);
    if (r <= 0 || fds[0] < 0 || fds[1] < 0)
      _exit(0); /* the host let it go, or is gone */
    close(sv[1]);
    worker_child_exec(fds);
  }
  ph_lmsg m = {'S', 0, pid, pid < 0 ? errno : 0};
  if (pid > 0)
    g_hash_table_add(spares, GINT_TO_POINTER(pid));
  if (pid < 0) {
    send(ctl, &m, sizeof m, MSG_NOSIGNAL);
  } else {
    close(sv[1]);
    send_lmsg_fd(ctl, &m, sv[0]);
  }
  if (sv[0] >= 0)
    close(sv[0]);
  if (pid < 0 && sv[1] >= 0)
    close(sv[1]);
}

static int launcher_loop(int ctl, gint32 *hostlive, const char *zygote_of);

/* Forks a zygote for the plugin at path if it has a prefork: a launcher
 * of its own (launcher_loop) that runs the prefork first, says 'Y', and
 * forks that plugin's workers from then on.  Replies 'Z' to the host:
 * with the zygote's control socket, or none. */
static void fork_zygote(int ctl, GHashTable *mapped, GArray *zygotes,
                        const char *path) {
  void *h = map_plugin(mapped, path);
  void (*prefork)(void) = h ? prefork_of(h) : NULL;
  int sv[2] = {-1, -1};
  pid_t pid = -1;
  if (prefork && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0)
    pid = fork();
  if (pid == 0) {
    close(ctl);
    close(sv[0]);
    close(g_chld_pipe[0]);
    close(g_chld_pipe[1]);
    /* dies with the main launcher, and its workers with it */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    _exit(launcher_loop(sv[1], NULL, path));
  }
  ph_lmsg m = {'Z', 0, pid, 0};
  if (pid > 0) {
    g_array_append_val(zygotes, pid);
    send_lmsg_fd(ctl, &m, sv[0]);
  } else {
    m.pid = 0;
    send(ctl, &m, sizeof m, MSG_NOSIGNAL);
  }
  for (int k = 0; k < 2; k++) /* the zygote's end went with the message */
    if (sv[k] >= 0)
      close(sv[k]);
}

int ph_exec_launcher_main(int ctl, int live_fd) {
  drop_secret_env();
  if (getenv("PIPEHOST_LAUNCHER_BIND_NOW")) {
    /* set by ph_exec_start_launcher for this process's own start */
    unsetenv("LD_BIND_NOW");
    unsetenv("PIPEHOST_LAUNCHER_BIND_NOW");
  }
  gint32 *hostlive = NULL; /* the host's own commands (ph_exec.live) */
  if (live_fd >= 0) {
    hostlive = mmap(NULL, PH_LIVE_SLOTS * sizeof(gint32), PROT_READ, MAP_SHARED,
                    live_fd, 0);
    if (hostlive == MAP_FAILED)
      hostlive = NULL;
    close(live_fd);
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_IGN); /* a ^C is the host's to handle */
  return launcher_loop(ctl, hostlive, NULL);
}

/* The launcher's loop on control socket ctl: the main launcher
 * (zygote_of NULL; hostlive: the host's own commands, or NULL), or the
 * zygote of the plugin at zygote_of. */
static int launcher_loop(int ctl, gint32 *hostlive, const char *zygote_of) {
  if (pipe2(g_chld_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
    return 1;
  struct sigaction sa = {0};
  sa.sa_handler = on_chld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  GHashTable *mapped =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  GHashTable *live = g_hash_table_new(g_direct_hash, g_direct_equal);
  GArray *zygotes = g_array_new(FALSE, FALSE, sizeof(pid_t));
  GHashTable *spares = g_hash_table_new(g_direct_hash, g_direct_equal);
  pid_t self = getpid();
  /* what every worker would repeat: done once, inherited */
  ph_worker_warm_libraries();
  if (zygote_of) {
    /* what every worker of this plugin would repeat, done once here */
    void *h = map_plugin(mapped, zygote_of);
    void (*prefork)(void) = h ? prefork_of(h) : NULL;
    if (prefork)
      prefork();
    ph_lmsg y = {'Y', 0, (gint32)self, 0};
    send(ctl, &y, sizeof y, MSG_NOSIGNAL);
  }
  for (;;) {
    struct pollfd pf[2] = {{ctl, POLLIN, 0}, {g_chld_pipe[0], POLLIN, 0}};
    if (poll(pf, 2, -1) < 0 && errno != EINTR)
      break;
    if (pf[1].revents) {
      char buf[256];
      while (read(g_chld_pipe[0], buf, sizeof buf) > 0)
        ;
      int st;
      pid_t pid;
      for (;;) {
        /* find an ended worker without reaping it, kill what is left of
         * its process group while the pid is still reserved, then reap */
        siginfo_t si = {0};
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            si.si_pid == 0)
          break;
        pid = si.si_pid;
        kill(-pid, SIGKILL);
        if (waitpid(pid, &st, 0) != pid)
          break;
        g_hash_table_remove(live, GINT_TO_POINTER(pid));
        g_hash_table_remove(spares, GINT_TO_POINTER(pid));
        ph_lmsg m = {'X', 0, pid, st};
        send(ctl, &m, sizeof m, MSG_NOSIGNAL);
      }
    }
    if (!pf[0].revents)
      continue;
    ph_lreq req;
    int fds[2];
    ssize_t r = recv_fds(ctl, &req, fds);
    if (r <= 0)
      break; /* the host is gone: running workers go on alone */
    if (req.type == 'C' || req.type == 'E') {
      /* a command the host started itself: stop it too if the host dies */
      if (req.type == 'C')
        g_hash_table_add(live, GINT_TO_POINTER(req.pid));
      else
        g_hash_table_remove(live, GINT_TO_POINTER(req.pid));
      continue;
    }
    if (req.type == 'Z') {
      if (!zygote_of)
        fork_zygote(ctl, mapped, zygotes, req.path);
      continue;
    }
    if (req.type == 'R') {
      /* the host gave spare req.pid (if any) a try of plugin req.path:
       * stop it too if the host dies; keep the plugin mapped; fork the
       * next spare */
      if (req.pid > 0) {
        g_hash_table_remove(spares, GINT_TO_POINTER(req.pid));
        g_hash_table_add(live, GINT_TO_POINTER(req.pid));
      }
      map_plugin(mapped, req.path);
      fork_spare(self, ctl, spares, zygote_of);
      continue;
    }
    if (fds[0] < 0 || fds[1] < 0) {
      if (fds[0] >= 0)
        close(fds[0]);
      if (fds[1] >= 0)
        close(fds[1]);
      continue;
    }
    map_plugin(mapped, req.path);
    pid_t pid = fork();
    if (pid == 0) {
      worker_child_setup(self, ctl);
      worker_child_exec(fds);
    }
    ph_lmsg m = {'P', req.job, pid, pid < 0 ? errno : 0};
    if (pid > 0)
      g_hash_table_add(live, GINT_TO_POINTER(pid));
    close(fds[0]);
    close(fds[1]);
    send(ctl, &m, sizeof m, MSG_NOSIGNAL);
  }
  /* The host is gone: nobody will record what its tries do, so stop them
   * (SIGTERM, then SIGKILL) rather than let them act unobserved; `pipehost
   * resume` counts them as lost tries.  A spare may have been given a try
   * the host had no time to tell us about: spares count too. */
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, spares);
  while (g_hash_table_iter_next(&it, &k, NULL))
    g_hash_table_add(live, k);
  for (guint i = 0; hostlive && i < PH_LIVE_SLOTS; i++) {
    gint32 pid = __atomic_load_n(&hostlive[i], __ATOMIC_ACQUIRE);
    if (pid > 0)
      g_hash_table_add(live, GINT_TO_POINTER(pid));
  }
  if (hostlive)
    munmap(hostlive, PH_LIVE_SLOTS * sizeof(gint32));
  g_hash_table_iter_init(&it, live);
  while (g_hash_table_iter_next(&it, &k, NULL))
    kill(-GPOINTER_TO_INT(k), SIGTERM);
  /* up to a second for them to go (on_kill runs), then SIGKILL */
  for (int waited = 0; waited < 1000 && g_hash_table_size(live); waited++) {
    while (waitpid(-1, NULL, WNOHANG) > 0)
      ;
    g_hash_table_iter_init(&it, live);
    while (g_hash_table_iter_next(&it, &k, NULL))
      if (kill(-GPOINTER_TO_INT(k), 0) != 0 && errno == ESRCH)
        g_hash_table_iter_remove(&it);
    if (g_hash_table_size(live)) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
  }
  g_hash_table_iter_init(&it, live);
  while (g_hash_table_iter_next(&it, &k, NULL))
    kill(-GPOINTER_TO_INT(k), SIGKILL);
  /* spares (killed above with the tries): reaped here, not left to
   * init; one reaped already is no child of ours any more (ECHILD) */
  g_hash_table_iter_init(&it, spares);
  while (g_hash_table_iter_next(&it, &k, NULL))
    waitpid(GPOINTER_TO_INT(k), NULL, 0);
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
  g_hash_table_unref(spares);
  g_hash_table_unref(live);
  g_hash_table_unref(mapped);
  /* the zygotes stop their own tries (their control sockets closed with
   * the host): we are gone only once they are.  One still in its
   * prefork after 2 s is killed (its workers die with it). */
  for (int waited = 0; zygotes->len; waited++) {
    for (guint i = 0; i < zygotes->len; i++) {
      pid_t z = g_array_index(zygotes, pid_t, i);
      if (waited == 2000)
        kill(z, SIGKILL);
      pid_t r = waitpid(z, NULL, waited >= 2000 ? 0 : WNOHANG);
      if (r == z || (r < 0 && errno == ECHILD))
        g_array_remove_index_fast(zygotes, i--);
    }
    if (zygotes->len) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
  }
  g_array_free(zygotes, TRUE);
  return 0;
}

int ph_exec_max_parallel(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 256;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1 << 20 : rl.rlim_max;
    struct rlimit up = {want, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0)
      rl.rlim_cur = want;
  }
  /* per try: its socket, its pidfd, a log open while it starts; plus the
   * store, the launcher and what libraries keep open */
  long n = ((long)MIN(rl.rlim_cur, (rlim_t)1 << 24) - 32) / 3;
  return (int)CLAMP(n, 1, G_MAXINT / 4);
}

void ph_exec_set_max_message(ph_exec *ex, gsize bytes) { ex->max_msg = bytes; }

int ph_exec_get_launcher_pid(const ph_exec *ex) {
  return ex->main.ctl >= 0 ? ex->main.pid : 0;
}

gboolean ph_exec_start_launcher(ph_exec *ex, GError **error) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "socketpair: %s", g_strerror(errno));
    return FALSE;
  }
  /* the table of our own commands, shared with the launcher as fd 4 */
  int mfd = memfd_create("pipehost-live", MFD_CLOEXEC);
  if (mfd >= 0 && ftruncate(mfd, PH_LIVE_SLOTS * sizeof(gint32)) == 0) {
    void *m = mmap(NULL, PH_LIVE_SLOTS * sizeof(gint32), PROT_READ | PROT_WRITE,
                   MAP_SHARED, mfd, 0);
    ex->live = m == MAP_FAILED ? NULL : m;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  if (ex->live)
    posix_spawn_file_actions_adddup2(&fa, mfd, 4);
  /* pipehost-worker next to the program, when installed: the launcher
   * and worker without the rest of the host (fewer mappings to copy at
   * each fork and to unmap at each worker's end) */
  g_autofree char *real = g_file_read_link(ex->exe, NULL);
  g_autofree char *dir = g_path_get_dirname(real ? real : ex->exe);
  g_autofree char *lean = g_build_filename(dir, "pipehost-worker", NULL);
  const char *prog = access(lean, X_OK) == 0 ? lean : ex->exe;
  char *argv[] = {(char *)prog, "__launcher", ex->live ? "4" : NULL, NULL};
  /* In a session of its own: a signal to the host's process group (a
   * closed terminal's SIGHUP, ^C, kill -TERM -PGID, kill -9 -PGID) reaches
   * the host but not the launcher, which then sees the host gone and stops
   * the tries.  Were they in one group, both would die and the tries would
   * run on unobserved. */
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
  /* Every symbol bound when the launcher loads a library, not at its
   * first call: else each worker, forked from a launcher that never made
   * those calls, would look each one up again (a tenth of a lua try's
   * CPU).  The launcher takes the variable out of its environment at
   * once, so that nothing it starts inherits it. */
  GStrv env = g_get_environ();
  if (!g_environ_getenv(env, "LD_BIND_NOW")) {
    env = g_environ_setenv(env, "LD_BIND_NOW", "1", TRUE);
    env = g_environ_setenv(env, "PIPEHOST_LAUNCHER_BIND_NOW", "1", TRUE);
  }
  int pid = -1;
  int rc = posix_spawn(&pid, prog, &fa, &at, argv, env);
  g_strfreev(env);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  if (mfd >= 0)
    close(mfd);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(rc),
                "posix_spawn %s: %s", ex->exe, g_strerror(rc));
    return FALSE;
  }
  ex->main.ctl = sv[0];
  ex->main.pid = pid;
  return TRUE;
}
