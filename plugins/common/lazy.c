/* lazy -- see lazy.h. */
#include "lazy.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef const ph_operator *(*impl_fn)(const char *type);

typedef struct {
  const ph_operator *op;
  void *state;
} lazy_state;

static void *g_impl;

/* The impl library's path: <dir of this plugin>/impl/<impl>.so */
static int impl_path(const char *impl, char *buf, size_t cap) {
  Dl_info info;
  if (!dladdr((void *)ph_lazy_init, &info) || !info.dli_fname)
    return -1;
  const char *slash = strrchr(info.dli_fname, '/');
  int dlen = slash ? (int)(slash - info.dli_fname) : 1;
  int n = snprintf(buf, cap, "%.*s/impl/%s.so", dlen,
                   slash ? info.dli_fname : ".", impl);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* The registry's rule for plugin files, applied to the implementation
 * library and its directory: nobody but its owner may write it, and the
 * owner is root or the user running pipehost. */
static int trusted(const ph_host *h, ph_task *t, const char *path,
                   const struct stat *st, const char *what) {
  if (st->st_mode & (S_IWGRP | S_IWOTH)) {
    h->set_reason(t,
                  "%s: refused: permissions: %s is writable by group or "
                  "others (mode %04o); run chmod go-w on it",
                  path, what, (unsigned)(st->st_mode & 07777));
    return 0;
  }
  if (st->st_uid != 0 && st->st_uid != geteuid()) {
    h->set_reason(t,
                  "%s: refused: ownership: %s is owned by uid %u, neither "
                  "root nor the current user",
                  path, what, (unsigned)st->st_uid);
    return 0;
  }
  return 1;
}

ph_status ph_lazy_init(const ph_host *h, ph_task *t, const char *impl,
                       const char *type, void **out) {
  char path[4096];
  if (impl_path(impl, path, sizeof path) != 0) {
    h->set_reason(t, "cannot locate the %s implementation library", impl);
    return PH_FAIL;
  }
  if (!g_impl) {
    struct stat st;
    /* the same rule as for plugins: nobody else may write it */
    if (stat(path, &st) != 0) {
      h->set_reason(t,
                    "%s: missing (the plugin is installed without its "
                    "implementation library)",
                    path);
      return PH_FAIL;
    }
    if (!trusted(h, t, path, &st, "the implementation library"))
      return PH_FAIL;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
      *slash = 0;
    struct stat dst;
    if (stat(dir, &dst) != 0 || !trusted(h, t, path, &dst, "its directory"))
      return PH_FAIL;
    g_impl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!g_impl) {
      h->set_reason(t, "%s: cannot load: %s", path, dlerror());
      return PH_FAIL;
    }
  }
  impl_fn find = (impl_fn)dlsym(g_impl, "pipehost_impl_operator");
  const ph_operator *op = find ? find(type) : NULL;
  if (!op || !op->init) {
    h->set_reason(t, "%s has no implementation of operator '%s'", path, type);
    return PH_FAIL;
  }
  lazy_state *s = calloc(1, sizeof *s);
  if (!s)
    return PH_ERROR;
  s->op = op;
  ph_status st = op->init(h, t, &s->state);
  if (st != PH_OK) {
    free(s);
    return st;
  }
  *out = s;
  return PH_OK;
}

ph_status ph_lazy_execute(void *state, ph_task *t) {
  lazy_state *s = state;
  return s->op->execute ? s->op->execute(s->state, t) : PH_FAIL;
}

ph_status ph_lazy_poke(void *state, ph_task *t, int32_t *done) {
  lazy_state *s = state;
  return s->op->poke ? s->op->poke(s->state, t, done) : PH_FAIL;
}

void ph_lazy_on_kill(void *state) {
  lazy_state *s = state;
  if (s && s->op->on_kill)
    s->op->on_kill(s->state);
}

void ph_lazy_destroy(void *state) {
  lazy_state *s = state;
  if (s->op->destroy)
    s->op->destroy(s->state);
  free(s);
}
