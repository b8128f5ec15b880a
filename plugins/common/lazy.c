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
 * owner is root or the user running pipehost.  NULL when it holds, else
 * why not (what names the file: "the implementation library" or "its
 * directory"), in buf. */
static const char *untrusted(const char *path, const struct stat *st,
                             const char *what, char *buf, size_t cap) {
  if (st->st_mode & (S_IWGRP | S_IWOTH)) {
    snprintf(buf, cap,
             "%s: refused: permissions: %s is writable by group or others "
             "(mode %04o); run chmod go-w on it",
             path, what, (unsigned)(st->st_mode & 07777));
    return buf;
  }
  if (st->st_uid != 0 && st->st_uid != geteuid()) {
    snprintf(buf, cap,
             "%s: refused: ownership: %s is owned by uid %u, neither root "
             "nor the current user",
             path, what, (unsigned)st->st_uid);
    return buf;
  }
  return NULL;
}

/* Loads the implementation library impl (once per process).  NULL when it
 * is loaded, else why not, in buf. */
static const char *load_impl(const char *impl, char *buf, size_t cap) {
  char path[4096];
  if (impl_path(impl, path, sizeof path) != 0) {
    snprintf(buf, cap, "cannot locate the %s implementation library", impl);
    return buf;
  }
  if (g_impl)
    return NULL;
  struct stat st;
  /* the same rule as for plugins: nobody else may write it */
  if (stat(path, &st) != 0) {
    snprintf(buf, cap,
             "%s: missing (the plugin is installed without its "
             "implementation library)",
             path);
    return buf;
  }
  const char *why = untrusted(path, &st, "the implementation library", buf,
                              cap);
  if (why)
    return why;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = 0;
  struct stat dst;
  if (stat(dir, &dst) != 0) {
    snprintf(buf, cap, "%s: cannot stat its directory", path);
    return buf;
  }
  if ((why = untrusted(path, &dst, "its directory", buf, cap)))
    return why;
  g_impl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!g_impl) {
    snprintf(buf, cap, "%s: cannot load: %s", path, dlerror());
    return buf;
  }
  return NULL;
}

void ph_lazy_prefork(const char *impl) {
  char buf[8192];
  load_impl(impl, buf, sizeof buf); /* a try that needs it says why not */
}

ph_status ph_lazy_init(const ph_host *h, ph_task *t, const char *impl,
                       const char *type, void **out) {
  char buf[8192];
  const char *why = load_impl(impl, buf, sizeof buf);
  if (why) {
    h->set_reason(t, "%s", why);
    return PH_FAIL;
  }
  char path[4096];
  impl_path(impl, path, sizeof path);
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
