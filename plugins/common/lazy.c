/* lazy -- see lazy.h. */
#include "lazy.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
      h->set_reason(t, "%s: refused: writable by group or others", path);
      return PH_FAIL;
    }
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
