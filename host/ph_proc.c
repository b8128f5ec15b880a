/* ph_proc -- see ph_proc.h. */
#include "ph_proc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The machine's identity, read once: PIPEHOST_HOST_ID when set (two
 * containers on one kernel share its boot id but not their pids), else
 * the kernel's boot id (it cannot change while we run). */
static const char *boot_id(void) {
  static char id[40];
  static gsize done;
  if (g_once_init_enter(&done)) {
    g_autofree char *t = NULL;
    const char *own = g_getenv("PIPEHOST_HOST_ID");
    if (own && *own && !strchr(own, '@'))
      g_strlcpy(id, own, sizeof id);
    else if (g_file_get_contents("/proc/sys/kernel/random/boot_id", &t, NULL,
                                 NULL))
      g_strlcpy(id, g_strstrip(t), sizeof id);
    g_once_init_leave(&done, 1);
  }
  return id;
}

/* Reads pid's state letter, process group and start time from
 * /proc/PID/stat.  FALSE when pid does not exist. */
static gboolean read_stat(int pid, char *state, int *pgrp,
                          unsigned long long *start) {
  if (pid <= 0)
    return FALSE;
  char path[64], buf[1024];
  g_snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return FALSE;
  buf[n] = 0;
  /* the command name may hold spaces and parentheses: start after the
   * last ')' */
  const char *p = strrchr(buf, ')');
  if (!p || p[1] != ' ')
    return FALSE;
  p += 2;
  *state = *p;
  /* fields from 3 (state): ppid 4, pgrp 5, ..., starttime 22 */
  int field = 3;
  unsigned long long v = 0;
  while (*p && field < 22) {
    if (*p++ == ' ') {
      field++;
      if (field == 5)
        *pgrp = (int)strtol(p, NULL, 10);
    }
  }
  if (field != 22)
    return FALSE;
  v = strtoull(p, NULL, 10);
  *start = v;
  return TRUE;
}

char *ph_proc_identity(int pid) {
  char state;
  int pgrp;
  unsigned long long start;
  if (!read_stat(pid, &state, &pgrp, &start))
    return NULL;
  return g_strdup_printf("%llu@%s", start, boot_id());
}

/* The start ticks an identity names, or 0 when it is from another boot or
 * unreadable. */
static unsigned long long ident_ticks(const char *ident) {
  const char *at = ident ? strchr(ident, '@') : NULL;
  if (!at || strcmp(at + 1, boot_id()))
    return 0;
  return strtoull(ident, NULL, 10);
}

gboolean ph_proc_is_local(const char *ident) {
  const char *at = ident ? strchr(ident, '@') : NULL;
  return !at || !strcmp(at + 1, boot_id());
}

gboolean ph_proc_alive(int pid, const char *ident) {
  char state;
  int pgrp;
  unsigned long long start;
  if (!read_stat(pid, &state, &pgrp, &start) || state == 'Z' || state == 'X')
    return FALSE;
  if (!ident || !*ident)
    return TRUE;
  unsigned long long want = ident_ticks(ident);
  return want && want == start;
}

/* Number of live members of process group pgid that started at or after
 * ticks. */
static int group_members(int pgid, unsigned long long ticks) {
  DIR *d = opendir("/proc");
  if (!d)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    char state;
    int pgrp;
    unsigned long long start;
    if (read_stat(atoi(e->d_name), &state, &pgrp, &start) && pgrp == pgid &&
        state != 'Z' && state != 'X' && start >= ticks)
      n++;
  }
  closedir(d);
  return n;
}

static void nap(void) {
  struct timespec ts = {0, 10 * 1000 * 1000};
  nanosleep(&ts, NULL);
}

gboolean ph_proc_group_stop(int pid, const char *ident, double wait) {
  if (pid <= 0)
    return TRUE;
  unsigned long long ticks = ident_ticks(ident);
  if (!ticks)
    return TRUE; /* no identity (an older record, another boot): the pid
                  * may name any process now, so nothing is touched */
  char state;
  int pgrp;
  unsigned long long start;
  if (read_stat(pid, &state, &pgrp, &start) && start != ticks)
    return TRUE; /* the pid is another process's now: the kernel reuses no
                  * pid while a group of that id has members, so nothing
                  * of the recorded group is left */
  gboolean leader = ph_proc_alive(pid, ident);
  if (!leader && group_members(pid, ticks) == 0)
    return TRUE;
  gint64 until = g_get_monotonic_time() + (gint64)(wait * G_USEC_PER_SEC);
  for (;;) {
    if (ph_proc_alive(pid, ident))
      kill(pid, SIGKILL);
    kill(-pid, SIGKILL);
    if (!ph_proc_alive(pid, ident) && group_members(pid, ticks) == 0)
      return TRUE;
    if (g_get_monotonic_time() >= until)
      return FALSE;
    nap();
  }
}

gboolean ph_proc_wait_gone(int pid, const char *ident, double wait) {
  gint64 until = g_get_monotonic_time() + (gint64)(wait * G_USEC_PER_SEC);
  while (ph_proc_alive(pid, ident)) {
    if (g_get_monotonic_time() >= until)
      return FALSE;
    nap();
  }
  return TRUE;
}

int ph_proc_fork_pipe(int *fd) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0)
    return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    errno = e;
    return -1;
  }
  close(pid == 0 ? p[0] : p[1]);
  *fd = pid == 0 ? p[1] : p[0];
  return pid;
}

gboolean ph_proc_write_all(int fd, const char *buf, size_t len) {
  while (len) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && errno == EAGAIN) { /* a non-blocking fd: wait for room */
      struct pollfd p = {fd, POLLOUT, 0};
      poll(&p, 1, 1000);
      continue;
    }
    if (w <= 0)
      return FALSE;
    buf += w;
    len -= (size_t)w;
  }
  return TRUE;
}
