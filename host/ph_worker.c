/* ph_worker -- see ph_worker.h. */
#include "ph_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "ph_backoff.h"
#include "ph_registry.h"
#include "ph_template.h"
#include "ph_util.h"
#include "pipehost/plugin.h"

extern char **environ;

/* The opaque ph_task of the ABI: one try, as the worker sees it. */
struct ph_task {
  int fd;
  GString *inbuf;
  JsonObject *spec;
  JsonObject *params; /* rendered */
  char *context_json;
  const char *task_id;
  GPtrArray *scratch;       /* strings borrowed until the callback returns */
  GPtrArray *scratch_nodes; /* parsed JSON borrowed until then */
  GPtrArray *secrets;
  GHashTable *downstream; /* direct downstream ids */
  gint64 xcom_max;
  atomic_int cancelled;
  int64_t deadline_ns;
  char *reason;
  char *push_error;   /* an xcom_push that was refused, and why */
  char *dag_dir;      /* the DAG file's directory: relative paths */
  gboolean pushed_truthy; /* a return_value was pushed, and is truthy */
  char *artifact_dir; /* made on first artifact_dir() call */
  gboolean artifact_made;
  pthread_mutex_t lock; /* log and socket writes */
};

static const ph_operator *g_op;
static void *g_state;
static atomic_int g_state_ready;
/* Held by the signal thread while it runs on_kill, and by the main thread
 * while it ends the state's life: on_kill never overlaps destroy, and
 * never runs once destroy has begun. */
static pthread_mutex_t g_kill_lock = PTHREAD_MUTEX_INITIALIZER;
static ph_task *g_task;

static char *mask_text(ph_task *t, const char *text) {
  GString *s = g_string_new(text);
  for (guint i = 0; i < t->secrets->len; i++) {
    const char *sec = t->secrets->pdata[i];
    size_t n = strlen(sec);
    if (n < 3)
      continue;
    char *p;
    gsize from = 0;
    while ((p = strstr(s->str + from, sec))) {
      gsize at = p - s->str;
      g_string_erase(s, at, n);
      g_string_insert(s, at, "***");
      from = at + 3;
    }
  }
  return g_string_free(s, FALSE);
}

static void send_msg(ph_task *t, JsonBuilder *b) {
  JsonNode *n = json_builder_get_root(b);
  g_autofree char *txt = ph_util_json_dup(n);
  json_node_unref(n);
  GString *line = g_string_new(txt);
  g_string_append_c(line, '\n');
  pthread_mutex_lock(&t->lock);
  const char *p = line->str;
  size_t len = line->len;
  while (len) {
    ssize_t w = write(t->fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      break;
    p += w;
    len -= w;
  }
  pthread_mutex_unlock(&t->lock);
  g_string_free(line, TRUE);
}

/* Blocks for the scheduler's next line (without its newline; the caller
 * frees it); NULL if the socket closed first. */
static char *read_line(ph_task *t) {
  for (;;) {
    char *nl = memchr(t->inbuf->str, '\n', t->inbuf->len);
    if (nl) {
      gsize n = nl - t->inbuf->str;
      char *text = g_strndup(t->inbuf->str, n);
      g_string_erase(t->inbuf, 0, n + 1);
      return text;
    }
    char buf[65536];
    ssize_t r = read(t->fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return NULL;
    g_string_append_len(t->inbuf, buf, r);
  }
}

/* Blocks for the scheduler's reply line; NULL if the socket closed. */
static JsonObject *read_reply(ph_task *t) {
  g_autofree char *text = read_line(t);
  JsonNode *node = text ? json_from_string(text, NULL) : NULL;
  if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
    if (node)
      json_node_unref(node);
    return NULL;
  }
  JsonObject *o = json_object_ref(json_node_get_object(node));
  json_node_unref(node);
  return o;
}

static JsonObject *request(ph_task *t, JsonBuilder *b) {
  send_msg(t, b);
  return read_reply(t);
}

static const char *keep(ph_task *t, char *s) {
  if (s)
    g_ptr_array_add(t->scratch, s);
  return s;
}

/* ---- the ph_host services */

static void h_log(ph_task *t, int32_t level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  const char *lv = level >= PH_LOG_ERROR     ? "ERROR"
                   : level >= PH_LOG_WARNING ? "WARNING"
                   : level >= PH_LOG_INFO    ? "INFO"
                                             : "DEBUG";
  pthread_mutex_lock(&t->lock);
  g_autofree char *masked = mask_text(t, msg);
  pthread_mutex_unlock(&t->lock);
  g_autofree char *line = ph_util_log_line(lv, masked);
  fputs(line, stderr);
  fflush(stderr);
}

static const char *h_param_json(ph_task *t, const char *name) {
  JsonNode *n = json_object_get_member(t->params, name);
  return n ? keep(t, ph_util_json_dup(n)) : NULL;
}

static JsonNode *param_value(ph_task *t, const char *name, GType want,
                             ph_status *st) {
  JsonNode *n = json_object_get_member(t->params, name);
  if (!n || JSON_NODE_HOLDS_NULL(n)) {
    *st = PH_NOT_FOUND;
    return NULL;
  }
  if (!JSON_NODE_HOLDS_VALUE(n)) {
    *st = PH_INVALID;
    return NULL;
  }
  GType have = json_node_get_value_type(n);
  if (have != want && !(want == G_TYPE_DOUBLE && have == G_TYPE_INT64)) {
    *st = PH_INVALID;
    return NULL;
  }
  *st = PH_OK;
  return n;
}

static ph_status h_param_string(ph_task *t, const char *name,
                                const char **out) {
  ph_status st;
  JsonNode *n = param_value(t, name, G_TYPE_STRING, &st);
  if (n)
    *out = json_node_get_string(n);
  return st;
}

static ph_status h_param_int(ph_task *t, const char *name, int64_t *out) {
  ph_status st;
  JsonNode *n = param_value(t, name, G_TYPE_INT64, &st);
  if (n)
    *out = json_node_get_int(n);
  return st;
}

static ph_status h_param_double(ph_task *t, const char *name, double *out) {
  ph_status st;
  JsonNode *n = param_value(t, name, G_TYPE_DOUBLE, &st);
  if (n)
    *out = json_node_get_double(n);
  return st;
}

static ph_status h_param_bool(ph_task *t, const char *name, int32_t *out) {
  ph_status st;
  JsonNode *n = param_value(t, name, G_TYPE_BOOLEAN, &st);
  if (n)
    *out = json_node_get_boolean(n) ? 1 : 0;
  return st;
}

static ph_status h_xcom_push(ph_task *t, const char *key, const char *json) {
  if (!json)
    return PH_INVALID;
  if (!key)
    key = "return_value";
  size_t len = strlen(json);
  if ((gint64)len > t->xcom_max) {
    h_log(t, PH_LOG_ERROR,
          "xcom_push refused: value for key '%s' is %zu bytes, over the "
          "XCom limit of %" G_GINT64_FORMAT
          " bytes (set PIPEHOST_XCOM_MAX_BYTES "
          "to raise it); nothing was pushed",
          key, len, t->xcom_max);
    g_free(t->reason);
    t->reason = g_strdup_printf(
        "XCom value for key '%s' is %zu bytes, over the limit of "
        "%" G_GINT64_FORMAT " bytes",
        key, len, t->xcom_max);
    if (!t->push_error)
      t->push_error = g_strdup(t->reason);
    return PH_FAIL;
  }
  GError *err = NULL;
  JsonNode *v = json_from_string(json, &err);
  if (!v) {
    g_autofree char *head = ph_util_utf8_lossy(json, MIN(len, 80), NULL);
    g_autofree char *why = g_strdup_printf(
        "xcom_push refused: the value for key '%s' is not valid JSON (%s): "
        "%s%s",
        key, err ? err->message : "empty", head, len > 80 ? "..." : "");
    g_clear_error(&err);
    h_log(t, PH_LOG_ERROR, "%s", why);
    if (!t->push_error)
      t->push_error = g_strdup(why);
    return PH_INVALID;
  }
  if (!strcmp(key, "return_value"))
    t->pushed_truthy = !ph_util_json_falsy(v);
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "m");
  json_builder_add_string_value(b, "xcom_push");
  json_builder_set_member_name(b, "key");
  json_builder_add_string_value(b, key);
  json_builder_set_member_name(b, "value");
  json_builder_add_value(b, v);
  json_builder_end_object(b);
  send_msg(t, b);
  g_object_unref(b);
  return PH_OK;
}

/* Asks the scheduler for one value; returns JSON text (caller frees) or
 * NULL. */
static char *ask(ph_task *t, const char *what, const char *k1, const char *v1,
                 const char *k2, const char *v2) {
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "m");
  json_builder_add_string_value(b, what);
  json_builder_set_member_name(b, k1);
  json_builder_add_string_value(b, v1);
  if (k2) {
    json_builder_set_member_name(b, k2);
    json_builder_add_string_value(b, v2);
  }
  json_builder_end_object(b);
  JsonObject *r = request(t, b);
  g_object_unref(b);
  char *out = NULL;
  if (r && json_object_has_member(r, "value"))
    out = ph_util_json_dup(json_object_get_member(r, "value"));
  if (r)
    json_object_unref(r);
  return out;
}

static ph_status h_xcom_pull(ph_task *t, const char *task_id, const char *key,
                             const char **out_json) {
  if (!task_id)
    return PH_INVALID;
  char *v = ask(t, "xcom_pull", "task_id", task_id, "key",
                key ? key : "return_value");
  if (!v)
    return PH_NOT_FOUND;
  *out_json = keep(t, v);
  return PH_OK;
}

static char *template_xcom(const char *task_id, const char *key, void *user) {
  return ask(user, "xcom_pull", "task_id", task_id, "key",
             key ? key : "return_value");
}

static void h_mask(ph_task *t, const char *secret) {
  if (!secret || !*secret)
    return;
  pthread_mutex_lock(&t->lock);
  g_ptr_array_add(t->secrets, g_strdup(secret));
  pthread_mutex_unlock(&t->lock);
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "m");
  json_builder_add_string_value(b, "mask");
  json_builder_set_member_name(b, "secret");
  json_builder_add_string_value(b, secret);
  json_builder_end_object(b);
  send_msg(t, b);
  g_object_unref(b);
}

static ph_status h_connection_get(ph_task *t, const char *conn_id,
                                  const char **out_json) {
  if (!conn_id)
    return PH_INVALID;
  char *v = ask(t, "conn_get", "conn_id", conn_id, NULL, NULL);
  if (!v)
    return PH_NOT_FOUND;
  JsonNode *n = json_from_string(v, NULL);
  if (n && JSON_NODE_HOLDS_OBJECT(n)) {
    const char *pw = json_object_get_string_member_with_default(
        json_node_get_object(n), "password", NULL);
    if (pw)
      h_mask(t, pw);
  }
  if (n)
    json_node_unref(n);
  *out_json = keep(t, v);
  return PH_OK;
}

static ph_status h_variable_get(ph_task *t, const char *name,
                                const char **out) {
  if (!name)
    return PH_INVALID;
  char *v = ask(t, "var_get", "name", name, NULL, NULL);
  if (!v)
    return PH_NOT_FOUND;
  JsonNode *n = json_from_string(v, NULL);
  g_free(v);
  const char *s = n && JSON_NODE_HOLDS_VALUE(n) &&
                          json_node_get_value_type(n) == G_TYPE_STRING
                      ? json_node_get_string(n)
                      : "";
  *out = keep(t, g_strdup(s));
  if (n)
    json_node_unref(n);
  return PH_OK;
}

static int32_t h_is_cancelled(const ph_task *t) {
  return atomic_load(&((ph_task *)t)->cancelled);
}

static int64_t h_deadline_ns(const ph_task *t) { return t->deadline_ns; }

static ph_status h_branch_follow(ph_task *t, const char *task_id) {
  if (!task_id || !g_hash_table_contains(t->downstream, task_id))
    return PH_INVALID;
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "m");
  json_builder_add_string_value(b, "branch");
  json_builder_set_member_name(b, "task_id");
  json_builder_add_string_value(b, task_id);
  json_builder_end_object(b);
  send_msg(t, b);
  g_object_unref(b);
  return PH_OK;
}

static const char *h_context_json(ph_task *t) { return t->context_json; }

static void h_set_reason(ph_task *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *raw = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_free(t->reason);
  /* a reason must reach the host: bytes that are not UTF-8 become \xNN */
  t->reason = ph_util_utf8_lossy(raw, -1, NULL);
}

/* ---- ABI 1.1: artifacts, tracking, model registry */

static const char *h_artifact_dir(ph_task *t) {
  if (!t->artifact_dir)
    return NULL;
  if (!t->artifact_made) {
    if (g_mkdir_with_parents(t->artifact_dir, 0755) != 0) {
      h_log(t, PH_LOG_ERROR, "cannot create the artifact directory %s: %s",
            t->artifact_dir, g_strerror(errno));
      return NULL;
    }
    t->artifact_made = TRUE;
  }
  return t->artifact_dir;
}

/* Sends {"m": what, k1: v1, ...} (string members; a member whose name
 * starts with '=' carries JSON text) and waits for the reply object. */
static JsonObject *ask_obj(ph_task *t, const char *what, ...) {
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "m");
  json_builder_add_string_value(b, what);
  va_list ap;
  va_start(ap, what);
  const char *k;
  while ((k = va_arg(ap, const char *))) {
    const char *v = va_arg(ap, const char *);
    if (k[0] == '=') {
      json_builder_set_member_name(b, k + 1);
      JsonNode *n = json_from_string(v, NULL);
      json_builder_add_value(b, n ? n : json_node_new(JSON_NODE_NULL));
    } else {
      json_builder_set_member_name(b, k);
      json_builder_add_string_value(b, v);
    }
  }
  va_end(ap);
  json_builder_end_object(b);
  JsonObject *r = request(t, b);
  g_object_unref(b);
  return r;
}

/* The status of a reply: PH_OK with its value stored in *out (borrowed
 * until the callback returns), else the error it names. */
static ph_status reply_status(ph_task *t, JsonObject *r, const char *what,
                              const char **out) {
  ph_status st;
  if (!r)
    return PH_ERROR;
  if (json_object_has_member(r, "error")) {
    const char *e =
        json_object_get_string_member_with_default(r, "error", "error");
    h_log(t, PH_LOG_ERROR, "%s: %s", what, e);
    st = json_object_get_int_member_with_default(r, "status", PH_INVALID);
  } else if (json_object_has_member(r, "missing")) {
    st = PH_NOT_FOUND;
  } else {
    st = PH_OK;
    if (out)
      *out = keep(t, json_object_has_member(r, "value")
                         ? ph_util_json_dup(json_object_get_member(r, "value"))
                         : g_strdup("null"));
  }
  json_object_unref(r);
  return st;
}

static ph_status h_track(ph_task *t, const char *kind, const char *json) {
  if (!kind || !json)
    return PH_INVALID;
  JsonNode *n = json_from_string(json, NULL);
  gboolean obj = n && JSON_NODE_HOLDS_OBJECT(n);
  if (n)
    json_node_unref(n);
  if (!obj)
    return PH_INVALID;
  return reply_status(t,
                      ask_obj(t, "track", "kind", kind, "=value", json, NULL),
                      "track", NULL);
}

static ph_status h_model_register(ph_task *t, const char *name,
                                  const char *path, const char **out_json) {
  if (!name || !path)
    return PH_INVALID;
  g_autofree char *abs = g_canonicalize_filename(path, NULL);
  return reply_status(
      t, ask_obj(t, "model_register", "name", name, "path", abs, NULL),
      "model_register", out_json);
}

static ph_status h_model_get(ph_task *t, const char *ref,
                             const char **out_json) {
  if (!ref)
    return PH_INVALID;
  return reply_status(t, ask_obj(t, "model_get", "ref", ref, NULL), "model_get",
                      out_json);
}

static ph_status h_model_set_alias(ph_task *t, const char *name,
                                   int64_t version, const char *alias) {
  if (!name || !alias)
    return PH_INVALID;
  char v[32];
  g_snprintf(v, sizeof v, "%" G_GINT64_FORMAT, (gint64)version);
  return reply_status(t,
                      ask_obj(t, "model_set_alias", "name", name, "=version", v,
                              "alias", alias, NULL),
                      "model_set_alias", NULL);
}

/* ---- ABI 1.4: variable_set */

static ph_status h_variable_set(ph_task *t, const char *name,
                                const char *value) {
  if (!name || !*name || !value)
    return PH_INVALID;
  return reply_status(t,
                      ask_obj(t, "var_set", "name", name, "value", value, NULL),
                      "variable_set", NULL);
}

/* ---- ABI 1.4: JSON without hand-written JSON */

static ph_status push_node(ph_task *t, const char *key, JsonNode *n) {
  g_autofree char *json = ph_util_json_dup(n);
  json_node_unref(n);
  return h_xcom_push(t, key, json);
}

static ph_status h_xcom_push_text(ph_task *t, const char *key,
                                  const char *text) {
  if (!text)
    return PH_INVALID;
  g_autofree char *valid = ph_util_utf8_lossy(text, -1, NULL);
  return push_node(t, key, json_node_init_string(json_node_alloc(), valid));
}

static ph_status h_xcom_push_number(ph_task *t, const char *key, double value) {
  JsonNode *n = json_node_alloc();
  if (value == (double)(gint64)value && fabs(value) < 9e15)
    json_node_init_int(n, (gint64)value);
  else
    json_node_init_double(n, value);
  return push_node(t, key, n);
}

static ph_status h_xcom_push_bool(ph_task *t, const char *key, int32_t value) {
  return push_node(t, key, json_node_init_boolean(json_node_alloc(), value));
}

/* The node at path ("a.b[0].c") below root, or NULL. */
static JsonNode *walk_path(JsonNode *root, const char *path) {
  JsonNode *n = root;
  const char *p = path ? path : "";
  while (n && *p) {
    if (*p == '.') {
      p++;
      continue;
    }
    if (*p == '[') {
      char *end = NULL;
      gint64 i = g_ascii_strtoll(p + 1, &end, 10);
      if (!end || *end != ']' || !JSON_NODE_HOLDS_ARRAY(n) || i < 0 ||
          i >= json_array_get_length(json_node_get_array(n)))
        return NULL;
      n = json_array_get_element(json_node_get_array(n), (guint)i);
      p = end + 1;
      continue;
    }
    size_t len = strcspn(p, ".[");
    g_autofree char *name = g_strndup(p, len);
    if (!JSON_NODE_HOLDS_OBJECT(n) ||
        !json_object_has_member(json_node_get_object(n), name))
      return NULL;
    n = json_object_get_member(json_node_get_object(n), name);
    p += len;
  }
  return n;
}

/* Parses json (kept on t until the callback returns) and walks path. */
static ph_status get_path(ph_task *t, const char *json, const char *path,
                          JsonNode **out) {
  if (!json)
    return PH_INVALID;
  JsonNode *root = json_from_string(json, NULL);
  if (!root)
    return PH_INVALID;
  g_ptr_array_add(t->scratch_nodes, root);
  *out = walk_path(root, path);
  return *out ? PH_OK : PH_NOT_FOUND;
}

static ph_status h_json_get(ph_task *t, const char *json, const char *path,
                            const char **out_json) {
  JsonNode *n = NULL;
  ph_status st = get_path(t, json, path, &n);
  if (st == PH_OK)
    *out_json = keep(t, ph_util_json_dup(n));
  return st;
}

static ph_status h_json_get_text(ph_task *t, const char *json, const char *path,
                                 const char **out) {
  JsonNode *n = NULL;
  ph_status st = get_path(t, json, path, &n);
  if (st != PH_OK)
    return st;
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return PH_INVALID;
  *out = keep(t, g_strdup(json_node_get_string(n)));
  return PH_OK;
}

static ph_status h_json_get_number(ph_task *t, const char *json,
                                   const char *path, double *out) {
  JsonNode *n = NULL;
  ph_status st = get_path(t, json, path, &n);
  if (st != PH_OK)
    return st;
  if (!JSON_NODE_HOLDS_VALUE(n) ||
      (json_node_get_value_type(n) != G_TYPE_INT64 &&
       json_node_get_value_type(n) != G_TYPE_DOUBLE))
    return PH_INVALID;
  *out = json_node_get_double(n);
  return PH_OK;
}

static void h_set_error(ph_task *t, const char *message, const char *detail,
                        const char *hint) {
  GString *g = g_string_new(message && *message ? message : "failed");
  /* the message is one line; detail and hint follow on their own */
  for (char *nl; (nl = strchr(g->str, '\n'));)
    *nl = ' ';
  if (detail && *detail)
    g_string_append_printf(g, "\nDETAIL: %s", detail);
  if (hint && *hint)
    g_string_append_printf(g, "\nHINT: %s", hint);
  h_set_reason(t, "%s", g->str);
  g_string_free(g, TRUE);
}

/* ---- ABI 1.2: exec_command */

static ph_status h_exec_command(ph_task *t, const char *what,
                                const char *const *argv,
                                const char *const *envp, const char *cwd,
                                int32_t skip_code) {
  if (!argv || !argv[0]) {
    h_set_reason(t, "exec_command: no command");
    return PH_ERROR;
  }
  fflush(NULL);
  /* where the command's output starts in the log: its last line is the
   * return value */
  off_t off = lseek(1, 0, SEEK_END);
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "m");
  json_builder_add_string_value(b, "exec");
  json_builder_set_member_name(b, "offset");
  json_builder_add_int_value(b, off < 0 ? 0 : (gint64)off);
  json_builder_set_member_name(b, "skip_code");
  json_builder_add_int_value(b, skip_code);
  json_builder_set_member_name(b, "what");
  json_builder_add_string_value(b, what ? what : argv[0]);
  json_builder_end_object(b);
  /* a request: the host has taken the log's end as where the command's
   * output starts before the command can write anything (with filtered
   * output, the command's first lines could otherwise reach the host's
   * pipe before this message, and be taken for what came before) */
  JsonObject *ack = request(t, b);
  g_object_unref(b);
  if (ack)
    json_object_unref(ack);
  if (cwd && *cwd && chdir(cwd) != 0) {
    h_set_reason(t, "cannot enter %s: %s", cwd, g_strerror(errno));
    return PH_ERROR;
  }
  int fl = fcntl(t->fd, F_GETFD);
  if (fl >= 0)
    fcntl(t->fd, F_SETFD, fl | FD_CLOEXEC);
  execvpe(argv[0], (char *const *)argv, envp ? (char *const *)envp : environ);
  h_set_reason(t, "cannot run %s: %s", argv[0], g_strerror(errno));
  if (fl >= 0)
    fcntl(t->fd, F_SETFD, fl);
  return PH_ERROR;
}

static const ph_host host_table = {
    .struct_size = sizeof(ph_host),
    .abi_major = PH_ABI_MAJOR,
    .abi_minor = PH_ABI_MINOR,
    .host_version = PH_VERSION,
    .log = h_log,
    .param_json = h_param_json,
    .param_string = h_param_string,
    .param_int = h_param_int,
    .param_double = h_param_double,
    .param_bool = h_param_bool,
    .xcom_push = h_xcom_push,
    .xcom_pull = h_xcom_pull,
    .connection_get = h_connection_get,
    .variable_get = h_variable_get,
    .mask = h_mask,
    .is_cancelled = h_is_cancelled,
    .deadline_ns = h_deadline_ns,
    .branch_follow = h_branch_follow,
    .context_json = h_context_json,
    .set_reason = h_set_reason,
    .artifact_dir = h_artifact_dir,
    .track = h_track,
    .model_register = h_model_register,
    .model_get = h_model_get,
    .model_set_alias = h_model_set_alias,
    .exec_command = h_exec_command,
    .variable_set = h_variable_set,
    .set_error = h_set_error,
    .xcom_push_text = h_xcom_push_text,
    .xcom_push_number = h_xcom_push_number,
    .xcom_push_bool = h_xcom_push_bool,
    .json_get = h_json_get,
    .json_get_text = h_json_get_text,
    .json_get_number = h_json_get_number,
};

/* SIGTERM/SIGINT: a handler (not a blocked mask, which the operator's
 * child processes would inherit) sets the flag and wakes a thread that
 * calls on_kill outside signal context. */
static int g_sigpipe[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno;
  if (g_task)
    atomic_store(&g_task->cancelled, 1);
  char c = (char)sig;
  if (write(g_sigpipe[1], &c, 1) < 0) {
    /* nothing to do in a handler */
  }
  errno = saved;
}

static void *signal_thread(void *arg) {
  for (;;) {
    char c;
    ssize_t r = read(g_sigpipe[0], &c, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    pthread_mutex_lock(&g_kill_lock);
    if (g_op && g_op->on_kill && atomic_load(&g_state_ready))
      g_op->on_kill(g_state);
    pthread_mutex_unlock(&g_kill_lock);
  }
  return NULL;
}

static void send_result(ph_task *t, ph_status st, int done, int sensor) {
  if (st != PH_OK && st != PH_SKIP && !t->reason)
    t->reason = t->push_error
                    ? g_strdup(t->push_error)
                    : g_strdup_printf("the operator returned %s without "
                                      "giving a reason",
                                      st == PH_FAIL ? "PH_FAIL" : "an error");
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "m");
  json_builder_add_string_value(b, "result");
  json_builder_set_member_name(b, "status");
  json_builder_add_int_value(b, st);
  if (t->reason) {
    g_autofree char *masked = mask_text(t, t->reason);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, masked);
  }
  if (sensor) {
    json_builder_set_member_name(b, "done");
    json_builder_add_boolean_value(b, done);
  }
  json_builder_set_member_name(b, "return_falsy");
  json_builder_add_boolean_value(b, !t->pushed_truthy);
  json_builder_end_object(b);
  send_msg(t, b);
  g_object_unref(b);
}

static void clear_scratch(ph_task *t) {
  g_ptr_array_set_size(t->scratch, 0);
  g_ptr_array_set_size(t->scratch_nodes, 0);
}

/* Member k of o when it is an array (borrowed), else NULL. */
static JsonArray *array_member(JsonObject *o, const char *k) {
  JsonNode *n = o ? json_object_get_member(o, k) : NULL;
  return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* Appends copies of the strings of a (may be NULL) to into. */
static void add_strings(GPtrArray *into, JsonArray *a) {
  for (guint i = 0; a && i < json_array_get_length(a); i++)
    g_ptr_array_add(into, g_strdup(json_array_get_string_element(a, i)));
}

static double spec_double(JsonObject *o, const char *k, double def) {
  JsonNode *n = o ? json_object_get_member(o, k) : NULL;
  return n && JSON_NODE_HOLDS_VALUE(n) ? json_node_get_double(n) : def;
}

/* Sleeps up to secs, waking early when cancelled. */
static void nap(ph_task *t, double secs) {
  double end = ph_util_mono() + secs;
  while (!atomic_load(&t->cancelled)) {
    double left = end - ph_util_mono();
    if (left <= 0)
      break;
    double step = MIN(left, 0.05);
    struct timespec ts = {(time_t)step, (long)((step - (time_t)step) * 1e9)};
    nanosleep(&ts, NULL);
  }
}

/* Starts the thread that calls the operator's on_kill when the try is
 * stopped (once).  Only an operator with an on_kill gets one: a second
 * thread makes every later page fault and unmapping of this process a TLB
 * shootdown across CPUs (an IPI each; costly in a VM), and its exit too.
 * A signal that came earlier is waiting in the pipe. */
static void start_kill_thread(void) {
  static gboolean started;
  if (g_sigpipe[0] < 0 || started)
    return;
  pthread_t sig_tid;
  if (pthread_create(&sig_tid, NULL, signal_thread, NULL) == 0) {
    pthread_detach(sig_tid);
    started = TRUE;
  }
}

char *ph_worker_spec_text(const char *spec_json, const char *context_json) {
  return g_strdup_printf("%s\n%s", spec_json,
                         context_json ? context_json : "{}");
}

static GHashTable *g_preloaded; /* plugin path -> ph_registry* of it */

void ph_worker_preload(const char *plugin_path) {
  if (!g_preloaded)
    g_preloaded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)ph_registry_free);
  if (g_hash_table_contains(g_preloaded, plugin_path))
    return;
  ph_registry *reg = ph_registry_new();
  ph_registry_set_sandboxed(reg, TRUE);
  if (ph_registry_load_file(reg, plugin_path, NULL))
    g_hash_table_insert(g_preloaded, g_strdup(plugin_path), reg);
  else
    ph_registry_free(reg); /* the try loads it again and says why not */
}

void ph_worker_warm_libraries(void) {
  static gboolean warm;
  if (warm)
    return;
  warm = TRUE;
  /* what every try does first: parse a spec, build a message */
  JsonNode *n =
      json_from_string("{\"params\":{\"a\":[1,2.5,\"x\",true]}}", NULL);
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "m");
  json_builder_add_string_value(b, "result");
  json_builder_end_object(b);
  JsonNode *root = json_builder_get_root(b);
  g_free(json_to_string(root, FALSE));
  json_node_unref(root);
  g_object_unref(b);
  if (n)
    json_node_unref(n);
}

void ph_worker_warm(const char *plugin_path) {
  static gboolean warm;
  if (warm)
    return;
  warm = TRUE;
  /* the pipe's ends are moved out of the way of fds 0-3, which a spare
   * worker is given only when its try comes */
  int p[2];
  if (pipe2(p, O_CLOEXEC) == 0) {
    for (int k = 0; k < 2; k++) {
      g_sigpipe[k] = fcntl(p[k], F_DUPFD_CLOEXEC, 64);
      close(p[k]);
    }
  }
  if (g_sigpipe[0] >= 0 && g_sigpipe[1] >= 0) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
  }
  ph_worker_warm_libraries();
  /* the kill thread, now rather than on the try's path, when the try
   * will be one of this plugin's and one of its operators has an on_kill */
  ph_registry *reg = plugin_path && g_preloaded
                         ? g_hash_table_lookup(g_preloaded, plugin_path)
                         : NULL;
  const ph_plugin *plugin = reg ? ph_registry_get_plugin(reg, 0, NULL) : NULL;
  for (guint i = 0; plugin && plugin->operators && plugin->operators[i]; i++)
    if (plugin->operators[i]->on_kill)
      start_kill_thread();
}

int ph_worker_main(int fd) {
  ph_task task = {0}, *t = &task;
  ph_status st = PH_ERROR;
  int done = 0, sensor = 0;
  /* A worker dies with whoever started it (the launcher, or the host when
   * there is no launcher): nobody would record what it does otherwise.
   * The signal survives the exec of exec_command. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  t->fd = fd;
  t->inbuf = g_string_new(NULL);
  t->scratch = g_ptr_array_new_with_free_func(g_free);
  t->scratch_nodes =
      g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
  t->secrets = g_ptr_array_new_with_free_func(g_free);
  t->downstream = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  pthread_mutex_init(&t->lock, NULL);
  g_task = t;
  ph_worker_warm(NULL);

  JsonObject *spec = read_reply(t);
  if (!spec) {
    fprintf(stderr, "pipehost worker: no task spec on fd %d\n", fd);
    return 3;
  }
  t->spec = spec;
  t->task_id = json_object_get_string_member_with_default(spec, "task_id", "");
  t->xcom_max =
      json_object_get_int_member_with_default(spec, "xcom_max", 1 << 20);
  t->artifact_dir = g_strdup(
      json_object_get_string_member_with_default(spec, "artifact_dir", NULL));
  /* the template context: the next line, kept as the text it is */
  t->context_json = read_line(t);
  if (!t->context_json) {
    fprintf(stderr, "pipehost worker: no context after the spec on fd %d\n",
            fd);
    return 3;
  }
  t->dag_dir =
      g_strdup(json_object_get_string_member_with_default(spec, "dag_dir", ""));
  JsonArray *down = array_member(spec, "downstream");
  for (guint i = 0; down && i < json_array_get_length(down); i++)
    g_hash_table_add(t->downstream,
                     g_strdup(json_array_get_string_element(down, i)));
  add_strings(t->secrets, array_member(spec, "secrets"));
  /* the try's identity, for the operator's child processes */
  const char *envs[][2] = {{"PIPEHOST_DAG_ID", "dag_id"},
                           {"PIPEHOST_TASK_ID", "task_id"},
                           {"PIPEHOST_RUN_ID", "run_id"},
                           {"PIPEHOST_LOGICAL_DATE", "logical_date"}};
  for (size_t i = 0; i < G_N_ELEMENTS(envs); i++) {
    const char *v =
        json_object_get_string_member_with_default(spec, envs[i][1], NULL);
    if (v)
      g_setenv(envs[i][0], v, TRUE);
  }
  g_autofree char *tryn = g_strdup_printf(
      "%" G_GINT64_FORMAT,
      json_object_get_int_member_with_default(spec, "try_number", 1));
  g_setenv("PIPEHOST_TRY_NUMBER", tryn, TRUE);
  g_autofree char *mapi = g_strdup_printf(
      "%" G_GINT64_FORMAT,
      json_object_get_int_member_with_default(spec, "map_index", -1));
  g_setenv("PIPEHOST_MAP_INDEX", mapi, TRUE);

  /* the try's memory limit, before any plugin code runs */
  double memlim = spec_double(spec, "memory_limit", 0);
  if (memlim > 0) {
    struct rlimit rl = {(rlim_t)memlim, (rlim_t)memlim};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
      fprintf(stderr, "pipehost worker: cannot set memory_limit: %s\n",
              strerror(errno));
  }

  /* load only the plugin this try needs */
  const char *path =
      json_object_get_string_member_with_default(spec, "plugin_path", "");
  const char *opname =
      json_object_get_string_member_with_default(spec, "op", "");
  GError *err = NULL;
  ph_registry *reg = NULL;
  const ph_plugin *plugin = NULL;
  gpointer key = NULL;
  if (g_preloaded &&
      g_hash_table_steal_extended(g_preloaded, path, &key, (gpointer *)&reg)) {
    g_free(key);
    plugin = ph_registry_get_plugin(reg, 0, NULL);
  } else {
    reg = ph_registry_new();
    ph_registry_set_sandboxed(reg, TRUE); /* this process is the sandbox */
    plugin = ph_registry_load_file(reg, path, &err);
  }
  if (!plugin) {
    t->reason = g_strdup_printf("plugin load failed: %s", err->message);
    g_clear_error(&err);
    goto report;
  }
  g_op = ph_registry_lookup(reg, opname, NULL, NULL);
  if (!g_op) {
    t->reason = g_strdup_printf("plugin %s has no operator '%s'", path, opname);
    goto report;
  }
  sensor = g_op->kind == PH_KIND_SENSOR;
  if (g_op->on_kill)
    start_kill_thread();
  if (json_object_get_boolean_member_with_default(spec, "await_go", FALSE)) {
    /* prepared while the upstream ran (ph_exec_prepare): the try itself
     * waits for the word, which brings the secrets known by then */
    JsonObject *go = read_reply(t);
    if (!go)
      goto unsaid; /* not needed after all: it ran nothing */
    add_strings(t->secrets, array_member(go, "secrets"));
    json_object_unref(go);
  }
  double timeout = spec_double(spec, "execution_timeout", 0);
  if (timeout > 0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    t->deadline_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec +
                     (int64_t)(timeout * 1e9);
  }
  if (plugin->load) {
    char ebuf[1024] = "";
    ph_status ls = plugin->load(&host_table, ebuf, sizeof ebuf);
    if (ls != PH_OK) {
      ebuf[sizeof ebuf - 1] = 0;
      t->reason = g_strdup_printf("plugin '%s' load() failed: %s", plugin->name,
                                  ebuf[0] ? ebuf : "no message");
      goto report;
    }
  }

  /* render templated params */
  JsonObject *raw = json_object_has_member(spec, "params")
                        ? json_object_get_object_member(spec, "params")
                        : NULL;
  t->params = json_object_new();
  /* params that hold text from outside (an alert's log tail and reason)
   * are final: rendering them would run whatever they contain */
  gboolean literal = json_object_get_boolean_member_with_default(
      spec, "literal_params", FALSE);
  GList *keys = raw ? json_object_get_members(raw) : NULL;
  for (GList *l = keys; l; l = l->next) {
    const char *k = l->data;
    JsonNode *v = json_object_get_member(raw, k);
    const ph_param *pp = ph_registry_find_param(g_op, k);
    g_autofree char *src = pp && (pp->flags & PH_PARAM_TEMPLATED) && !literal
                               ? ph_util_json_dup(v)
                               : NULL;
    if (src) {
      JsonNode *nv;
      if (ph_template_has_markers(src)) {
        char *out = ph_template_render_json(src, t->context_json, template_xcom,
                                            t, &err);
        if (!out) {
          /* retryable, as any exception at render time is in Airflow */
          t->reason = g_strdup_printf("param '%s': %s", k, err->message);
          g_clear_error(&err);
          st = PH_ERROR;
          g_list_free(keys);
          goto report_status;
        }
        nv = json_from_string(out, NULL);
        g_free(out);
      } else {
        nv = json_node_copy(v); /* no template in it: renders as itself */
      }
      /* rendered text becomes the declared type (Airflow's native
       * rendering): "{{ params.port }}" is an integer for an integer
       * param */
      JsonNode *typed = nv ? ph_registry_param_coerce(pp, nv, &err) : NULL;
      if (nv)
        json_node_unref(nv);
      if (!typed && err) {
        t->reason = g_strdup(err->message);
        g_clear_error(&err);
        st = PH_FAIL;
        g_list_free(keys);
        goto report_status;
      }
      json_object_set_member(t->params, k, typed ? typed : json_node_copy(v));
    } else {
      json_object_set_member(t->params, k, json_node_copy(v));
    }
    /* a relative path param means next to the DAG file */
    JsonNode *rv = json_object_get_member(t->params, k);
    ph_registry_resolve_paths(pp, rv, t->dag_dir);
    /* a secret param (as rendered) is masked here and, told to the host,
     * in everything this try writes to its log */
    if (pp && (pp->flags & PH_PARAM_SECRET) && JSON_NODE_HOLDS_VALUE(rv) &&
        json_node_get_value_type(rv) == G_TYPE_STRING)
      h_mask(t, json_node_get_string(rv));
  }
  g_list_free(keys);

  g_state = NULL;
  st = g_op->init ? g_op->init(&host_table, t, &g_state) : PH_OK;
  clear_scratch(t);
  if (st != PH_OK)
    goto report_status;
  atomic_store(&g_state_ready, 1);
  if (!sensor) {
    st = PH_HAS(g_op, ph_operator, execute2) && g_op->execute2
             ? g_op->execute2(&host_table, t, g_state)
             : g_op->execute(g_state, t);
    clear_scratch(t);
  } else {
    JsonObject *so = json_object_has_member(spec, "sensor")
                         ? json_object_get_object_member(spec, "sensor")
                         : json_object_new();
    if (!json_object_has_member(spec, "sensor"))
      json_object_set_object_member(spec, "sensor", so); /* owned by spec */
    gboolean reschedule =
        json_object_get_boolean_member_with_default(so, "reschedule", FALSE);
    double interval = spec_double(so, "poke_interval", 60);
    double started = spec_double(so, "started", ph_util_now());
    double stimeout = spec_double(so, "timeout", 604800);
    double max_wait = spec_double(so, "max_wait", 0);
    gboolean expo = json_object_get_boolean_member_with_default(
        so, "exponential_backoff", FALSE);
    gboolean soft =
        json_object_get_boolean_member_with_default(so, "soft_fail", FALSE);
    for (int pokes = 1;; pokes++) {
      int32_t d = 0;
      st = PH_HAS(g_op, ph_operator, poke2) && g_op->poke2
               ? g_op->poke2(&host_table, t, g_state, &d)
               : g_op->poke(g_state, t, &d);
      clear_scratch(t);
      done = d != 0;
      if (st != PH_OK || done || reschedule)
        break;
      if (ph_util_now() - started >= stimeout) {
        g_free(t->reason);
        t->reason = g_strdup_printf("sensor timed out after %.3g s "
                                    "(timeout %g s)%s",
                                    ph_util_now() - started, stimeout,
                                    soft ? "; soft_fail: skipped" : "");
        st = soft ? PH_SKIP : PH_FAIL;
        break;
      }
      double wait = interval;
      if (expo) {
        g_autofree char *st_iso = ph_util_iso8601(started);
        wait = ph_backoff_poke(
            interval, pokes,
            json_object_get_string_member_with_default(spec, "dag_id", ""),
            t->task_id, st_iso, stimeout, ph_util_now() - started, max_wait);
      } else if (max_wait > 0) {
        wait = MIN(wait, max_wait);
      }
      wait = MIN(wait, MAX(0.0, stimeout - (ph_util_now() - started)));
      h_log(t, PH_LOG_INFO, "poke %d: condition not met; next poke in %.3g s",
            pokes, wait);
      nap(t, wait);
      if (atomic_load(&t->cancelled)) {
        st = PH_CANCELLED;
        break;
      }
    }
  }
  pthread_mutex_lock(&g_kill_lock);
  atomic_store(&g_state_ready, 0);
  pthread_mutex_unlock(&g_kill_lock);
  if (t->push_error && st == PH_OK) {
    /* a value it pushed was refused: never a silent success */
    st = PH_FAIL;
    g_free(t->reason);
    t->reason = g_strdup(t->push_error);
  }
  if (PH_HAS(g_op, ph_operator, destroy2) && g_op->destroy2)
    g_op->destroy2(&host_table, t, g_state);
  else if (g_op->destroy)
    g_op->destroy(g_state);
  clear_scratch(t);
  goto report_status;
report:
  st = PH_FAIL;
report_status:
  send_result(t, st, done, sensor);
unsaid:
  /* nothing more to say: the end of file tells the host now, before this
   * process is torn down (a child that inherited the socket cannot hold
   * it back) */
  shutdown(t->fd, SHUT_WR);
  ph_registry_free(reg);
  g_free(t->reason);
  g_free(t->push_error);
  g_free(t->dag_dir);
  g_free(t->artifact_dir);
  g_free(t->context_json);
  if (t->params)
    json_object_unref(t->params);
  json_object_unref(spec);
  g_ptr_array_unref(t->scratch);
  g_ptr_array_unref(t->scratch_nodes);
  g_ptr_array_unref(t->secrets);
  g_hash_table_unref(t->downstream);
  g_string_free(t->inbuf, TRUE);
  g_task = NULL;
  return 0;
}
