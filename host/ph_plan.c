/* ph_plan -- see ph_plan.h. */
#include "ph_plan.h"

#include <string.h>

#include "ph_dataset.h"
#include "ph_trigger.h"
#include "ph_util.h"

struct ph_plan {
  ph_dag *dag;
  ph_task_spec *tasks;
  guint n;
  GHashTable *index; /* id -> idx+1 */
  guint *topo;
  guint *edge_store; /* up/down arrays live here */
  JsonObject *params;
  GStringChunk *strings;
};

/* the keys of a task the host reads itself (ph_registry owns the list:
 * no plugin param may take one of these names) */
#define host_keys (ph_registry_host_keys())

static const char *const sensor_keys[] = {"poke_interval", "timeout", "mode",
                                          "soft_fail", "exponential_backoff",
                                          "max_wait", NULL};

const char *const *ph_plan_host_keys(void) { return ph_registry_host_keys(); }

static gboolean in_list(const char *k, const char *const *l) {
  for (; *l; l++)
    if (!strcmp(*l, k))
      return TRUE;
  return FALSE;
}

void ph_plan_free(ph_plan *p) {
  if (!p)
    return;
  for (guint i = 0; i < p->n; i++) {
    if (p->tasks[i].params)
      json_object_unref(p->tasks[i].params);
    if (p->tasks[i].expand)
      json_object_unref(p->tasks[i].expand);
    if (p->tasks[i].expand_kwargs)
      json_node_unref(p->tasks[i].expand_kwargs);
    if (p->tasks[i].outlets)
      json_array_unref(p->tasks[i].outlets);
    if (p->tasks[i].inlets)
      json_array_unref(p->tasks[i].inlets);
    if (p->tasks[i].slurm)
      json_object_unref(p->tasks[i].slurm);
  }
  g_free(p->tasks);
  if (p->index)
    g_hash_table_unref(p->index);
  g_free(p->topo);
  g_free(p->edge_store);
  if (p->params)
    json_object_unref(p->params);
  if (p->strings)
    g_string_chunk_free(p->strings);
  g_free(p);
}

typedef struct {
  ph_dag *dag;
  GPtrArray *errors;
  guint edge_errors; /* errors in dependencies (no cycle check then) */
} ctx_t;

static void err(ctx_t *c, int line, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void err(ctx_t *c, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_ptr_array_add(c->errors, g_strdup_printf("%s:%d: %s",
                                             ph_dag_get_file(c->dag), line,
                                             msg));
}

static char *hint(const char *word, const char *const *cands) {
  const char *n = ph_util_nearest(word, cands);
  return n ? g_strdup_printf(" (did you mean '%s'?)", n) : g_strdup("");
}

#define json_type_name ph_registry_json_type
#define type_ok ph_registry_type_ok

static gboolean get_int(JsonNode *n, gint64 *out) {
  if (!JSON_NODE_HOLDS_VALUE(n))
    return FALSE;
  if (json_node_get_value_type(n) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int(n);
  return TRUE;
}

static gboolean get_bool(JsonNode *n, int *out) {
  if (!JSON_NODE_HOLDS_VALUE(n) ||
      json_node_get_value_type(n) != G_TYPE_BOOLEAN)
    return FALSE;
  *out = json_node_get_boolean(n);
  return TRUE;
}

/* {from: TASK_ID[, key: KEY]}: the task id, or NULL when v is not that
 * shape. */
static const char *from_ref(JsonNode *v) {
  if (!v || !JSON_NODE_HOLDS_OBJECT(v))
    return NULL;
  JsonObject *o = json_node_get_object(v);
  JsonNode *f = json_object_get_member(o, "from");
  JsonNode *k = json_object_get_member(o, "key");
  if (!f || !JSON_NODE_HOLDS_VALUE(f) ||
      json_node_get_value_type(f) != G_TYPE_STRING ||
      (k && (!JSON_NODE_HOLDS_VALUE(k) ||
             json_node_get_value_type(k) != G_TYPE_STRING)) ||
      json_object_get_size(o) != (k ? 2u : 1u))
    return NULL;
  return json_node_get_string(f);
}

/* Checks one value a mapped instance will give param pp (literal lists
 * are checked here; values from XComs when the task expands). */
static gboolean map_value_ok(ctx_t *c, const ph_task_spec *t,
                             const ph_param *pp, JsonNode *v, int line,
                             const char *where) {
  gboolean deferred = (pp->flags & PH_PARAM_TEMPLATED) &&
                      JSON_NODE_HOLDS_VALUE(v) &&
                      json_node_get_value_type(v) == G_TYPE_STRING &&
                      strstr(json_node_get_string(v), "{{");
  GError *verr = NULL;
  if (deferred || !strcmp(pp->name, "kwargs"))
    return TRUE; /* a keyword argument takes any value */
  if (!type_ok(pp->type, v)) {
    err(c, line, "task '%s': %s: param '%s' of operator '%s' must be of type "
        "%s, got %s",
        t->id, where, pp->name, t->op_name, pp->type, json_type_name(v));
    return FALSE;
  }
  if (!ph_registry_param_value_ok(pp, v, &verr)) {
    err(c, line, "task '%s' (operator '%s'): %s: %s", t->id, t->op_name, where,
        verr->message);
    g_clear_error(&verr);
    return FALSE;
  }
  return TRUE;
}

/* The param pp of t named k, or NULL after reporting it (with the
 * operator's params as a hint). */
static const ph_param *map_param(ctx_t *c, const ph_task_spec *t,
                                 const char *k, int line, const char *where) {
  const ph_param *pp = ph_registry_find_param(t->op, k);
  if (pp)
    return pp;
  /* an operator with an object param `kwargs` (lua) maps a keyword
   * argument of its function, as Airflow's TaskFlow f.expand(x=...) */
  pp = ph_registry_find_param(t->op, "kwargs");
  if (pp && !strcmp(pp->type, "object") && !in_list(k, host_keys))
    return pp;
  GString *valid = g_string_new(NULL);
  GPtrArray *cands = g_ptr_array_new();
  for (const ph_param *const *q = t->op->params; q && *q; q++) {
    g_string_append_printf(valid, "%s%s", valid->len ? ", " : "", (*q)->name);
    g_ptr_array_add(cands, (gpointer)(*q)->name);
  }
  g_ptr_array_add(cands, NULL);
  g_autofree char *h = hint(k, (const char *const *)cands->pdata);
  err(c, line, "task '%s': %s names '%s', which is not a param of operator "
      "'%s'%s; its params are: %s (only operator params can be mapped)",
      t->id, where, k, t->op_name, h, valid->len ? valid->str : "(none)");
  g_ptr_array_unref(cands);
  g_string_free(valid, TRUE);
  return NULL;
}

/* A copy of v that shares nothing with it (json_node_copy shares objects
 * and arrays): resolve_map_sources writes full task ids into it. */
static JsonNode *deep_copy(JsonNode *v) {
  g_autofree char *text = ph_util_json_dup(v);
  return json_from_string(text, NULL);
}

/* expand: {PARAM: [v, ...] | {from: TASK_ID, key: KEY}, ...} */
static void apply_expand(ctx_t *c, ph_task_spec *t, JsonNode *v, int line) {
  if (!JSON_NODE_HOLDS_OBJECT(v) ||
      json_object_get_size(json_node_get_object(v)) == 0) {
    err(c, line, "task '%s': 'expand' must map one or more params to a list "
        "of values or to {from: TASK_ID}, e.g. expand: {x: [1, 2, 3]}",
        t->id);
    return;
  }
  JsonObject *o = json_node_get_object(v);
  GList *keys = json_object_get_members(o);
  gboolean ok = TRUE;
  for (GList *l = keys; l; l = l->next) {
    const char *k = l->data;
    JsonNode *m = json_object_get_member(o, k);
    const ph_param *pp = map_param(c, t, k, line, "expand");
    if (!pp) {
      ok = FALSE;
      continue;
    }
    if (from_ref(m))
      continue; /* resolved with the edges (resolve_map_sources) */
    if (JSON_NODE_HOLDS_OBJECT(m) &&
        json_object_get_size(json_node_get_object(m)) == 0)
      continue; /* Lua's empty table: an empty list */
    if (!JSON_NODE_HOLDS_ARRAY(m)) {
      err(c, line, "task '%s': expand.%s must be a list of values or "
          "{from: TASK_ID} (an upstream's return value), got %s",
          t->id, k, json_type_name(m));
      ok = FALSE;
      continue;
    }
    JsonArray *a = json_node_get_array(m);
    g_autofree char *where = g_strdup_printf("expand.%s", k);
    for (guint i = 0; i < json_array_get_length(a); i++)
      ok &= map_value_ok(c, t, pp, json_array_get_element(a, i), line, where);
  }
  g_list_free(keys);
  if (ok) {
    JsonNode *cp = deep_copy(v);
    t->expand = json_object_ref(json_node_get_object(cp));
    json_node_unref(cp);
  }
}

/* expand_kwargs: [{PARAM: v, ...}, ...] | {from: TASK_ID, key: KEY} */
static void apply_expand_kwargs(ctx_t *c, ph_task_spec *t, JsonNode *v,
                                int line) {
  if (from_ref(v)) {
    t->expand_kwargs = deep_copy(v);
    return;
  }
  if (!JSON_NODE_HOLDS_ARRAY(v)) {
    err(c, line, "task '%s': 'expand_kwargs' must be a list of objects "
        "{param: value} or {from: TASK_ID}, got %s",
        t->id, json_type_name(v));
    return;
  }
  JsonArray *a = json_node_get_array(v);
  gboolean ok = TRUE;
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *e = json_array_get_element(a, i);
    if (!JSON_NODE_HOLDS_OBJECT(e)) {
      err(c, line, "task '%s': expand_kwargs[%u] must be an object "
          "{param: value}, got %s",
          t->id, i, json_type_name(e));
      ok = FALSE;
      continue;
    }
    JsonObject *o = json_node_get_object(e);
    GList *keys = json_object_get_members(o);
    g_autofree char *where = g_strdup_printf("expand_kwargs[%u]", i);
    for (GList *l = keys; l; l = l->next) {
      const ph_param *pp = map_param(c, t, l->data, line, where);
      ok &= pp && map_value_ok(c, t, pp, json_object_get_member(o, l->data),
                               line, where);
    }
    g_list_free(keys);
  }
  if (ok)
    t->expand_kwargs = json_node_copy(v);
}

/* outlets: [URI | {uri: URI, freshness: {max_lag: DURATION}, auto: lazy}]
 * and inlets: [URI]: the datasets a task updates and reads. */
static void apply_datasets(ctx_t *c, ph_task_spec *t, const char *key,
                           JsonNode *v, int line) {
  gboolean out = !strcmp(key, "outlets");
  JsonArray *res = json_array_new();
  if (!JSON_NODE_HOLDS_ARRAY(v)) {
    err(c, line, "task '%s': '%s' must be a list of dataset URIs, e.g. "
        "%s: [\"s3://bucket/features.parquet\"]",
        t->id, key, key);
    goto out;
  }
  JsonArray *a = json_node_get_array(v);
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *e = json_array_get_element(a, i);
    JsonObject *eo = out && JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e)
                                                       : NULL;
    JsonNode *un = eo ? json_object_get_member(eo, "uri") : e;
    const char *uri = un && JSON_NODE_HOLDS_VALUE(un) &&
                              json_node_get_value_type(un) == G_TYPE_STRING
                          ? json_node_get_string(un)
                          : NULL;
    g_autofree char *bad = uri ? ph_dataset_uri_problem(uri) : NULL;
    if (!uri || bad) {
      err(c, line, "task '%s': %s[%u]: %s", t->id, key, i,
          bad ? bad
          : out ? "an outlet is a URI or {uri: URI, freshness: {max_lag: 7d}, "
                  "auto: lazy}"
                : "an inlet is a URI");
      continue;
    }
    if (!out) {
      json_array_add_string_element(res, uri);
      continue;
    }
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "uri", uri);
    double lag = 0;
    const char *autom = "";
    GList *ks = eo ? json_object_get_members(eo) : NULL;
    for (GList *l = ks; l; l = l->next) {
      const char *k = l->data;
      JsonNode *m = json_object_get_member(eo, k);
      JsonNode *ml = !strcmp(k, "freshness") && JSON_NODE_HOLDS_OBJECT(m)
                         ? json_object_get_member(json_node_get_object(m),
                                                  "max_lag")
                         : NULL;
      if (!strcmp(k, "uri"))
        continue;
      if (!strcmp(k, "freshness") &&
          (!ml || !ph_util_parse_duration(ml, &lag) || lag <= 0))
        err(c, line, "task '%s': outlet '%s': freshness must be {max_lag: "
            "DURATION}, e.g. {max_lag: 7d}",
            t->id, uri);
      else if (!strcmp(k, "auto") &&
               !(JSON_NODE_HOLDS_VALUE(m) &&
                 json_node_get_value_type(m) == G_TYPE_STRING &&
                 !strcmp(autom = json_node_get_string(m), "lazy")))
        err(c, line, "task '%s': outlet '%s': auto must be \"lazy\" (start "
            "the DAG when the dataset would miss its freshness)",
            t->id, uri);
      else if (strcmp(k, "freshness") && strcmp(k, "auto"))
        err(c, line, "task '%s': outlet '%s': unknown key '%s' (an outlet "
            "has uri, freshness and auto)",
            t->id, uri, k);
    }
    g_list_free(ks);
    if (*autom && lag <= 0)
      err(c, line, "task '%s': outlet '%s': auto: lazy needs freshness: "
          "{max_lag: ...} (when to start it)",
          t->id, uri);
    json_object_set_double_member(o, "max_lag", lag);
    json_object_set_string_member(o, "auto", autom);
    json_array_add_object_element(res, o);
  }
out:
  if (out) {
    if (t->outlets)
      json_array_unref(t->outlets);
    t->outlets = res;
  } else {
    if (t->inlets)
      json_array_unref(t->inlets);
    t->inlets = res;
  }
}

/* PH_EXECUTOR_* of an executor's name, or -1. */
static int executor_named(const char *s) {
  if (!strcmp(s, "local"))
    return PH_EXECUTOR_LOCAL;
  if (!strcmp(s, "slurm"))
    return PH_EXECUTOR_SLURM;
  return -1;
}

/* slurm: {partition, cpus_per_task, mem, gres, time, account, qos,
 * constraint, extra_args}; merged over what default_args set */
static void apply_slurm(ctx_t *c, ph_task_spec *t, JsonNode *v, int line) {
  static const char *const strings[] = {"partition", "gres",       "account",
                                        "qos",       "constraint", NULL};
  if (!JSON_NODE_HOLDS_OBJECT(v)) {
    err(c, line,
        "task '%s': 'slurm' must be a mapping, e.g. slurm: "
        "{partition: gpu, cpus_per_task: 4, mem: 16G, time: \"2:00:00\"}",
        t->id);
    return;
  }
  JsonObject *o = json_node_get_object(v);
  GList *keys = json_object_get_members(o);
  gboolean ok = TRUE;
  for (GList *l = keys; l && ok; l = l->next) {
    const char *k = l->data;
    JsonNode *e = json_object_get_member(o, k);
    gboolean str = JSON_NODE_HOLDS_VALUE(e) &&
                   json_node_get_value_type(e) == G_TYPE_STRING &&
                   *json_node_get_string(e) &&
                   !strchr(json_node_get_string(e), '\n');
    gint64 i = 0;
    if (in_list(k, strings))
      ok = str;
    else if (!strcmp(k, "cpus_per_task"))
      ok = get_int(e, &i) && i > 0 && i <= 65536;
    else if (!strcmp(k, "mem") || !strcmp(k, "time"))
      ok = str || (get_int(e, &i) && i > 0);
    else if (!strcmp(k, "extra_args")) {
      ok = JSON_NODE_HOLDS_ARRAY(e);
      for (guint n = 0; ok && n < json_array_get_length(json_node_get_array(e));
           n++) {
        JsonNode *a = json_array_get_element(json_node_get_array(e), n);
        ok = JSON_NODE_HOLDS_VALUE(a) &&
             json_node_get_value_type(a) == G_TYPE_STRING;
      }
    } else {
      err(c, line,
          "task '%s': unknown slurm option '%s'; known: partition, "
          "cpus_per_task, mem, gres, time, account, qos, constraint, "
          "extra_args (a list of sbatch options)",
          t->id, k);
      ok = TRUE;
      break;
    }
    if (!ok)
      err(c, line, "task '%s': slurm.%s must be %s", t->id, k,
          in_list(k, strings)           ? "a non-empty string"
          : !strcmp(k, "cpus_per_task") ? "a positive integer"
          : !strcmp(k, "extra_args")
              ? "a list of strings (sbatch options, e.g. [\"--exclusive\"])"
              : "a string (as sbatch takes it, e.g. \"16G\" or \"1:30:00\") "
                "or a positive integer (MB for mem, minutes for time)");
  }
  g_list_free(keys);
  if (!t->slurm)
    t->slurm = json_object_new();
  keys = json_object_get_members(o);
  for (GList *l = keys; l; l = l->next)
    json_object_set_member(t->slurm, l->data,
                           json_node_copy(json_object_get_member(o, l->data)));
  g_list_free(keys);
}

/* Applies one host key to spec; reports type errors. */
static void apply_host_key(ctx_t *c, ph_plan *p, ph_task_spec *t,
                           const char *key, JsonNode *v, int line) {
  double d;
  gint64 i;
  int b;
  if (!strcmp(key, "trigger_rule")) {
    const char *s = JSON_NODE_HOLDS_VALUE(v) &&
                            json_node_get_value_type(v) == G_TYPE_STRING
                        ? json_node_get_string(v)
                        : NULL;
    int r = s ? ph_trigger_from_name(s) : -1;
    if (r < 0) {
      g_autofree char *h = hint(s ? s : "", ph_trigger_names());
      err(c, line, "task '%s': unknown trigger_rule '%s'%s; valid rules: "
          "all_success, all_failed, all_done, all_skipped, one_success, "
          "one_failed, one_done, none_failed, none_failed_min_one_success, "
          "none_skipped, always",
          t->id, s ? s : json_type_name(v), h);
      return;
    }
    t->rule = r;
  } else if (!strcmp(key, "retries") || !strcmp(key, "pool_slots") ||
             !strcmp(key, "priority_weight") ||
             !strcmp(key, "max_map_length") ||
             !strcmp(key, "max_active_tis_per_dag")) {
    if (!get_int(v, &i) || i < 0 || i > G_MAXINT32) {
      err(c, line, "task '%s': '%s' must be a non-negative integer, got %s",
          t->id, key, json_type_name(v));
      return;
    }
    if (!strcmp(key, "retries"))
      t->retries = i;
    else if (!strcmp(key, "pool_slots"))
      t->pool_slots = i;
    else if (!strcmp(key, "max_map_length"))
      t->max_map_length = i;
    else if (!strcmp(key, "max_active_tis_per_dag"))
      t->max_active_tis = i;
    else
      t->priority_weight = i;
  } else if (!strcmp(key, "outlets") || !strcmp(key, "inlets")) {
    apply_datasets(c, t, key, v, line);
  } else if (!strcmp(key, "executor")) {
    const char *s =
        JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING
            ? json_node_get_string(v)
            : "";
    int e = executor_named(s);
    if (e < 0)
      err(c, line, "task '%s': 'executor' must be \"local\" or \"slurm\"",
          t->id);
    else
      t->executor = e;
  } else if (!strcmp(key, "slurm")) {
    apply_slurm(c, t, v, line);
  } else if (!strcmp(key, "expand") || !strcmp(key, "expand_kwargs")) {
    if (t->expand || t->expand_kwargs)
      err(c, line, "task '%s': use 'expand' or 'expand_kwargs', not both",
          t->id);
    else if (!strcmp(key, "expand"))
      apply_expand(c, t, v, line);
    else
      apply_expand_kwargs(c, t, v, line);
  } else if (!strcmp(key, "retry_delay") || !strcmp(key, "max_retry_delay") ||
             !strcmp(key, "execution_timeout") ||
             !strcmp(key, "poke_interval") || !strcmp(key, "timeout") ||
             !strcmp(key, "max_wait")) {
    if (JSON_NODE_HOLDS_NULL(v)) {
      d = 0;
    } else if (!ph_util_parse_duration(v, &d)) {
      err(c, line, "task '%s': '%s' must be a duration (seconds, or a string "
          "like \"30s\", \"5m\", \"2h\")",
          t->id, key);
      return;
    }
    if (!strcmp(key, "retry_delay"))
      t->retry_delay = d;
    else if (!strcmp(key, "max_retry_delay"))
      t->max_retry_delay = d;
    else if (!strcmp(key, "execution_timeout"))
      t->execution_timeout = d;
    else if (!strcmp(key, "poke_interval"))
      t->poke_interval = d;
    else if (!strcmp(key, "timeout"))
      t->timeout = d;
    else
      t->max_wait = d;
  } else if (!strcmp(key, "memory_limit")) {
    if (!ph_util_parse_size(v, &d)) {
      err(c, line, "task '%s': 'memory_limit' must be a size in bytes or a "
          "string like \"512M\" or \"2G\"",
          t->id);
      return;
    }
    t->memory_limit = d;
  } else if (!strcmp(key, "retry_exponential_backoff")) {
    if (get_bool(v, &b))
      t->backoff = b ? 2.0 : 0;
    else if (JSON_NODE_HOLDS_VALUE(v) &&
             (json_node_get_value_type(v) == G_TYPE_DOUBLE ||
              json_node_get_value_type(v) == G_TYPE_INT64) &&
             json_node_get_double(v) >= 1)
      t->backoff = json_node_get_double(v);
    else
      err(c, line, "task '%s': 'retry_exponential_backoff' must be a boolean "
          "or a multiplier >= 1",
          t->id);
  } else if (!strcmp(key, "email")) {
    gboolean ok = JSON_NODE_HOLDS_VALUE(v) &&
                  json_node_get_value_type(v) == G_TYPE_STRING;
    if (JSON_NODE_HOLDS_ARRAY(v)) {
      JsonArray *a = json_node_get_array(v);
      ok = TRUE;
      for (guint k = 0; k < json_array_get_length(a); k++) {
        JsonNode *e = json_array_get_element(a, k);
        ok &= JSON_NODE_HOLDS_VALUE(e) &&
              json_node_get_value_type(e) == G_TYPE_STRING;
      }
    }
    if (!ok) {
      err(c, line, "task '%s': 'email' must be an address or a list of "
          "addresses",
          t->id);
      return;
    }
    g_autofree char *txt = ph_util_json_dup(v);
    t->email = g_string_chunk_insert_const(p->strings, txt);
  } else if (!strcmp(key, "email_conn_id")) {
    if (!JSON_NODE_HOLDS_VALUE(v) ||
        json_node_get_value_type(v) != G_TYPE_STRING) {
      err(c, line, "task '%s': 'email_conn_id' must be a string", t->id);
      return;
    }
    t->email_conn_id =
        g_string_chunk_insert_const(p->strings, json_node_get_string(v));
  } else if (!strcmp(key, "email_on_failure") ||
             !strcmp(key, "email_on_retry")) {
    if (!get_bool(v, &b)) {
      err(c, line, "task '%s': '%s' must be a boolean", t->id, key);
      return;
    }
    if (!strcmp(key, "email_on_failure"))
      t->email_on_failure = b;
    else
      t->email_on_retry = b;
  } else if (!strcmp(key, "depends_on_past")) {
    if (!get_bool(v, &b)) {
      err(c, line, "task '%s': 'depends_on_past' must be a boolean", t->id);
      return;
    }
    t->depends_on_past = b;
  } else if (!strcmp(key, "soft_fail") || !strcmp(key, "exponential_backoff") ||
             !strcmp(key, "cache")) {
    if (!get_bool(v, &b)) {
      err(c, line, "task '%s': '%s' must be a boolean", t->id, key);
      return;
    }
    if (!strcmp(key, "soft_fail"))
      t->soft_fail = b;
    else if (!strcmp(key, "cache"))
      t->cache = b;
    else
      t->exponential_backoff = b;
  } else if (!strcmp(key, "mode")) {
    const char *s = JSON_NODE_HOLDS_VALUE(v) &&
                            json_node_get_value_type(v) == G_TYPE_STRING
                        ? json_node_get_string(v)
                        : "";
    if (strcmp(s, "poke") && strcmp(s, "reschedule")) {
      err(c, line, "task '%s': 'mode' must be \"poke\" or \"reschedule\"",
          t->id);
      return;
    }
    t->reschedule = !strcmp(s, "reschedule");
  } else if (!strcmp(key, "pool") || !strcmp(key, "doc") ||
             !strcmp(key, "weight_rule") || !strcmp(key, "queue")) {
    if (!JSON_NODE_HOLDS_VALUE(v) ||
        json_node_get_value_type(v) != G_TYPE_STRING) {
      err(c, line, "task '%s': '%s' must be a string", t->id, key);
      return;
    }
    const char *s = g_string_chunk_insert_const(p->strings,
                                                json_node_get_string(v));
    if (!strcmp(key, "pool"))
      t->pool = s;
    else if (!strcmp(key, "queue"))
      t->queue = s;
    else if (!strcmp(key, "doc"))
      t->doc = s;
    else if (!strcmp(s, "downstream"))
      t->weight_rule = PH_WEIGHT_DOWNSTREAM;
    else if (!strcmp(s, "upstream"))
      t->weight_rule = PH_WEIGHT_UPSTREAM;
    else if (!strcmp(s, "absolute"))
      t->weight_rule = PH_WEIGHT_ABSOLUTE;
    else
      err(c, line, "task '%s': weight_rule must be downstream, upstream or "
          "absolute",
          t->id);
  }
}

/* The group a task or group is in (its index), or -1 at the top. */
static int group_parent(ph_dag *dag, const char *parent) {
  return parent ? ph_dag_group_lookup(dag, parent) : -1;
}

/* Applies a default_args object (the DAG's, or a group's) to t: host
 * keys always, params only when t's operator declares them. */
static void apply_defaults(ctx_t *c, ph_plan *p, ph_task_spec *t,
                           JsonObject *defs, gboolean sensor,
                           gboolean dag_level) {
  ph_dag *dag = c->dag;
  GList *keys = json_object_get_members(defs);
  for (GList *l = keys; l; l = l->next) {
    const char *k = l->data;
    JsonNode *v = json_object_get_member(defs, k);
    g_autofree char *lk = g_strconcat("default_args.", k, NULL);
    int line = dag_level ? ph_dag_get_arg_line(dag, lk) : t->line;
    if (in_list(k, host_keys)) {
      if (!sensor && in_list(k, sensor_keys))
        continue;
      if (!strcmp(k, "expand") || !strcmp(k, "expand_kwargs")) {
        err(c, line, "default_args cannot hold '%s': set it on the task "
            "that is mapped",
            k);
        continue;
      }
      apply_host_key(c, p, t, k, v, line);
    } else if (ph_registry_find_param(t->op, k)) {
      json_object_set_member(t->params, k, json_node_copy(v));
    }
  }
  g_list_free(keys);
}

static void resolve_task(ctx_t *c, ph_plan *p, const ph_registry *reg,
                         ph_dag_task *dt, ph_task_spec *t) {
  ph_dag *dag = c->dag;
  t->id = ph_dag_task_get_id(dt);
  t->line = ph_dag_task_get_line(dt);
  t->rule = PH_TR_ALL_SUCCESS;
  t->retry_delay = 300;
  t->pool = "default_pool";
  t->pool_slots = 1;
  t->priority_weight = 1;
  t->email_on_failure = 1; /* Airflow's defaults, once `email` is set */
  t->email_on_retry = 1;
  t->email_conn_id = "smtp_default";
  t->poke_interval = 60;
  t->timeout = 604800;
  t->max_map_length = 1024;
  t->params = json_object_new();
  const char *ex = g_getenv("PIPEHOST_EXECUTOR");
  if (ex && *ex && executor_named(ex) >= 0)
    t->executor = executor_named(ex);
  const char *op = ph_dag_task_get_op(dt);
  if (!op) {
    err(c, t->line, "task '%s' has no 'op'; set op: to an operator such as "
        "bash, empty or lua",
        t->id);
    return;
  }
  t->op_name = op;
  t->op = ph_registry_lookup(reg, op, &t->plugin, &t->plugin_path);
  if (!t->op) {
    g_autofree const char **names = ph_registry_operator_names(reg);
    g_autofree char *h = hint(op, names);
    g_autofree char *all = g_strjoinv(", ", (char **)names);
    err(c, ph_dag_task_get_op_line(dt),
        "task '%s': unknown operator '%s'%s; installed operators: %s "
        "(see `pipehost plugins list`)",
        t->id, op, h, all);
    return;
  }
  gboolean sensor = t->op->kind == PH_KIND_SENSOR;
  /* default_args first (the DAG's, then each enclosing group's, outermost
   * first): host keys always apply, params only if declared */
  t->group = ph_dag_task_get_group(dt);
  GPtrArray *chain = g_ptr_array_new();
  g_ptr_array_add(chain, ph_dag_get_default_args(dag));
  guint first_group = chain->len;
  for (int g = group_parent(dag, t->group); g >= 0;
       g = group_parent(dag, ph_dag_group_get_parent(dag, (guint)g)))
    g_ptr_array_insert(chain, (int)first_group,
                       ph_dag_group_get_default_args(dag, (guint)g));
  for (guint ci = 0; ci < chain->len; ci++)
    apply_defaults(c, p, t, chain->pdata[ci], sensor, ci == 0);
  g_ptr_array_unref(chain);
  /* the task's own keys */
  JsonObject *args = ph_dag_task_get_args(dt);
  GList *keys = json_object_get_members(args);
  for (GList *l = keys; l; l = l->next) {
    const char *k = l->data;
    JsonNode *v = json_object_get_member(args, k);
    int line = ph_dag_task_get_arg_line(dt, k);
    if (in_list(k, host_keys)) {
      if (!sensor && in_list(k, sensor_keys)) {
        err(c, line, "task '%s': '%s' applies only to sensors, and '%s' is "
            "not a sensor",
            t->id, k, op);
        continue;
      }
      apply_host_key(c, p, t, k, v, line);
      continue;
    }
    const ph_param *pp = ph_registry_find_param(t->op, k);
    if (!pp) {
      GPtrArray *cands = g_ptr_array_new();
      for (const ph_param *const *q = t->op->params; q && *q; q++)
        g_ptr_array_add(cands, (gpointer)(*q)->name);
      for (const char *const *h = host_keys; *h; h++)
        g_ptr_array_add(cands, (gpointer)*h);
      g_ptr_array_add(cands, NULL);
      g_autofree char *h = hint(k, (const char *const *)cands->pdata);
      g_ptr_array_set_size(cands, cands->len - 1);
      GString *valid = g_string_new(NULL);
      for (const ph_param *const *q = t->op->params; q && *q; q++)
        g_string_append_printf(valid, "%s%s", valid->len ? ", " : "",
                               (*q)->name);
      err(c, line, "task '%s': unknown param '%s' for operator '%s'%s; its "
          "params are: %s",
          t->id, k, op, h, valid->len ? valid->str : "(none)");
      g_string_free(valid, TRUE);
      g_ptr_array_unref(cands);
      continue;
    }
    /* a templated param may hold a template for a value of any type: it
     * is rendered, then converted to the declared type (Airflow's native
     * rendering) when the try starts */
    gboolean deferred =
        (pp->flags & PH_PARAM_TEMPLATED) && JSON_NODE_HOLDS_VALUE(v) &&
        json_node_get_value_type(v) == G_TYPE_STRING &&
        strstr(json_node_get_string(v), "{{");
    GError *verr = NULL;
    if (!deferred && !type_ok(pp->type, v))
      err(c, line, "task '%s': param '%s' of operator '%s' must be of type %s, "
          "got %s",
          t->id, k, op, pp->type, json_type_name(v));
    else if (!deferred && !ph_registry_param_value_ok(pp, v, &verr))
      err(c, line, "task '%s' (operator '%s'): %s", t->id, op, verr->message);
    g_clear_error(&verr);
    /* kept even when mistyped: no second, spurious "missing" error */
    json_object_set_member(t->params, k, json_node_copy(v));
  }
  g_list_free(keys);
  /* a mapped param is not also a constant (Airflow: partial and expand
   * take different arguments) */
  keys = t->expand ? json_object_get_members(t->expand) : NULL;
  for (GList *l = keys; l; l = l->next)
    if (json_object_has_member(args, l->data))
      err(c, ph_dag_task_get_arg_line(dt, l->data),
          "task '%s': param '%s' is both set and mapped by 'expand'; keep "
          "one",
          t->id, (char *)l->data);
  g_list_free(keys);
  if ((t->expand || t->expand_kwargs) && t->rule == PH_TR_ALWAYS)
    err(c, ph_dag_task_get_arg_line(dt, "trigger_rule"),
        "task '%s': a mapped task cannot use trigger_rule 'always' (its "
        "input may not exist yet), as in Airflow",
        t->id);
  /* defaults and required (a mapped param is given by each instance;
   * expand_kwargs is checked when the task expands) */
  for (const ph_param *const *q = t->op->params; q && *q; q++) {
    const ph_param *pp = *q;
    if (json_object_has_member(t->params, pp->name))
      continue;
    if (t->expand && json_object_has_member(t->expand, pp->name))
      continue;
    if ((pp->flags & PH_PARAM_REQUIRED) && !t->expand_kwargs) {
      err(c, t->line, "task '%s': missing required param '%s' for operator "
          "'%s' (%s)",
          t->id, pp->name, op, pp->doc ? pp->doc : pp->type);
      continue;
    }
    if (pp->default_json) {
      JsonNode *d = ph_util_json_parse(pp->default_json, NULL);
      if (d)
        json_object_set_member(t->params, pp->name, d);
    }
  }
}

/* Kahn's algorithm; on a cycle, reports one cycle path. */
static gboolean toposort(ctx_t *c, ph_plan *p) {
  guint n = p->n, *indeg = g_new0(guint, n), head = 0, tail = 0;
  p->topo = g_new(guint, n);
  for (guint i = 0; i < n; i++)
    indeg[i] = p->tasks[i].n_up;
  for (guint i = 0; i < n; i++)
    if (!indeg[i])
      p->topo[tail++] = i;
  while (head < tail) {
    guint u = p->topo[head++];
    for (guint k = 0; k < p->tasks[u].n_down; k++)
      if (--indeg[p->tasks[u].down[k]] == 0)
        p->topo[tail++] = p->tasks[u].down[k];
  }
  gboolean ok = tail == n;
  if (!ok) {
    /* walk upstream among unsorted nodes until a node repeats */
    guint start = 0;
    while (!indeg[start])
      start++;
    int *seen = g_new0(int, n);
    GArray *path = g_array_new(FALSE, FALSE, sizeof(guint));
    guint u = start;
    while (!seen[u]) {
      seen[u] = path->len + 1;
      g_array_append_val(path, u);
      guint next = u;
      for (guint k = 0; k < p->tasks[u].n_up; k++)
        if (indeg[p->tasks[u].up[k]]) {
          next = p->tasks[u].up[k];
          break;
        }
      u = next;
    }
    GString *s = g_string_new(NULL);
    /* path holds u0 <- u1 <- ...; print in >> order from the repeat */
    for (gint k = path->len - 1; k >= seen[u] - 1; k--)
      g_string_append_printf(s, "%s >> ",
                             p->tasks[g_array_index(path, guint, k)].id);
    g_string_append(s, p->tasks[g_array_index(path, guint, path->len - 1)].id);
    err(c, p->tasks[u].line, "cycle: %s; a DAG must not depend on itself, "
        "remove one of these edges",
        s->str);
    g_string_free(s, TRUE);
    g_array_free(path, TRUE);
    g_free(seen);
  }
  g_free(indeg);
  return ok;
}

/* Sums of own weights over each task's transitive downstreams (down) or
 * upstreams (!down), plus its own, into out.  Exact for DAGs up to 20000
 * tasks (bitsets); beyond that, summed along a single path (documented). */
static void closure_sums(ph_plan *p, const gint64 *own, gboolean uniform,
                         gboolean down, gint64 *out) {
  guint n = p->n;
  if (n <= 20000) {
    guint words = (n + 63) / 64;
    guint64 *bits = g_new0(guint64, (gsize)n * words);
    for (guint k = 0; k < n; k++) {
      guint u = p->topo[down ? n - 1 - k : k];
      guint64 *bu = bits + (gsize)u * words;
      guint nn = down ? p->tasks[u].n_down : p->tasks[u].n_up;
      const guint *nb = down ? p->tasks[u].down : p->tasks[u].up;
      for (guint j = 0; j < nn; j++) {
        guint v = nb[j];
        guint64 *bv = bits + (gsize)v * words;
        bu[v / 64] |= 1ull << (v % 64);
        for (guint w = 0; w < words; w++)
          bu[w] |= bv[w];
      }
      gint64 sum = own[u];
      for (guint w = 0; w < words; w++) {
        if (!bu[w])
          continue;
        if (uniform) {
          sum += own[0] * __builtin_popcountll(bu[w]);
          continue;
        }
        for (guint b = 0; b < 64; b++)
          if (bu[w] >> b & 1)
            sum += own[w * 64 + b];
      }
      out[u] = sum;
    }
    g_free(bits);
    return;
  }
  for (guint k = 0; k < n; k++) {
    guint u = p->topo[down ? n - 1 - k : k];
    guint nn = down ? p->tasks[u].n_down : p->tasks[u].n_up;
    const guint *nb = down ? p->tasks[u].down : p->tasks[u].up;
    gint64 best = 0;
    for (guint j = 0; j < nn; j++)
      best = MAX(best, out[nb[j]]);
    out[u] = own[u] + best;
  }
}

/* Effective priority weights with Airflow's weight rules: downstream (the
 * default: own weight plus every transitive downstream's), upstream (plus
 * every upstream's) or absolute (own weight only). */
static void compute_weights(ph_plan *p) {
  guint n = p->n;
  gint64 *own = g_new(gint64, n), *down = g_new(gint64, n), *up = NULL;
  gboolean uniform = TRUE, any_up = FALSE;
  for (guint i = 0; i < n; i++) {
    own[i] = p->tasks[i].priority_weight;
    uniform &= own[i] == own[0];
    any_up |= p->tasks[i].weight_rule == PH_WEIGHT_UPSTREAM;
  }
  closure_sums(p, own, uniform, TRUE, down);
  if (any_up) {
    up = g_new(gint64, n);
    closure_sums(p, own, uniform, FALSE, up);
  }
  for (guint i = 0; i < n; i++) {
    gint64 w = p->tasks[i].weight_rule == PH_WEIGHT_ABSOLUTE   ? own[i]
               : p->tasks[i].weight_rule == PH_WEIGHT_UPSTREAM ? up[i]
                                                                : down[i];
    p->tasks[i].priority_weight = (int)MIN(w, G_MAXINT32);
  }
  g_free(own);
  g_free(down);
  g_free(up);
}

/* ---- dependencies and task groups */

/* What a name in a dependency stands for: a task or a task group. */
typedef struct {
  int task;  /* task index, or -1 */
  int group; /* group index, or -1 */
} ref_t;

/* Resolves name written in scope (a group's full id, or NULL): a member
 * of scope first, then of each enclosing group, then of the DAG. */
static ref_t resolve_ref(ph_plan *p, const char *name, const char *scope) {
  ph_dag *dag = p->dag;
  int g = scope ? ph_dag_group_lookup(dag, scope) : -1;
  for (;;) {
    const char *gid = g >= 0 ? ph_dag_group_get_id(dag, (guint)g) : NULL;
    g_autofree char *full = gid ? g_strconcat(gid, ".", name, NULL)
                                : g_strdup(name);
    int t = ph_plan_lookup(p, full);
    if (t >= 0)
      return (ref_t){t, -1};
    int gg = ph_dag_group_lookup(dag, full);
    if (gg >= 0)
      return (ref_t){-1, gg};
    if (g < 0)
      return (ref_t){-1, -1};
    g = group_parent(dag, ph_dag_group_get_parent(dag, (guint)g));
  }
}

/* The groups containing a task (its own group first) or a group (its
 * parent first), as indexes, innermost first; caller frees. */
static GArray *containers(ph_plan *p, ref_t r) {
  ph_dag *dag = p->dag;
  GArray *a = g_array_new(FALSE, FALSE, sizeof(int));
  int g = r.task >= 0
              ? group_parent(dag, p->tasks[r.task].group)
              : group_parent(dag, ph_dag_group_get_parent(dag, (guint)r.group));
  for (; g >= 0; g = group_parent(dag, ph_dag_group_get_parent(dag, (guint)g)))
    g_array_append_val(a, g);
  return a;
}

/* TRUE when task i is in group g (directly or in a group inside it). */
static gboolean in_group(ph_plan *p, guint i, int g) {
  ph_dag *dag = p->dag;
  for (int k = group_parent(dag, p->tasks[i].group); k >= 0;
       k = group_parent(dag, ph_dag_group_get_parent(dag, (guint)k)))
    if (k == g)
      return TRUE;
  return FALSE;
}

/* The tasks a group stands for as an upstream (its leaves: members with
 * no downstream inside it) or a downstream (its roots), given the task
 * edges so far. */
static GArray *group_ends(ph_plan *p, int g, GArray *pairs, gboolean leaves) {
  guint8 *inner = g_new0(guint8, p->n + 1), *linked = g_new0(guint8, p->n + 1);
  for (guint i = 0; i < p->n; i++)
    inner[i] = in_group(p, i, g);
  for (guint e = 0; e < pairs->len; e++) {
    guint *pr = &g_array_index(pairs, guint, e * 2);
    if (inner[pr[0]] && inner[pr[1]])
      linked[leaves ? pr[0] : pr[1]] = 1;
  }
  GArray *out = g_array_new(FALSE, FALSE, sizeof(guint));
  for (guint i = 0; i < p->n; i++)
    if (inner[i] && !linked[i])
      g_array_append_val(out, i);
  g_free(inner);
  g_free(linked);
  return out;
}

typedef struct {
  ref_t up, down;
  int line, depth;
  const char *up_name, *down_name;
} gedge_t;

/* Deeper first: a group's inner edges decide its roots and leaves before
 * an edge to or from the group uses them. */
static gint by_depth(gconstpointer a, gconstpointer b) {
  return ((const gedge_t *)b)->depth - ((const gedge_t *)a)->depth;
}

/* Adds up >> down to pairs once. */
static void add_pair(GArray *pairs, GHashTable *seen, guint up, guint down) {
  gint64 key = ((gint64)up << 32) | down;
  if (g_hash_table_contains(seen, &key))
    return;
  g_hash_table_add(seen, g_memdup2(&key, sizeof key));
  guint pair[2] = {up, down};
  g_array_append_val(pairs, pair);
}

/* Every dependency as task index pairs {up, down}, deduplicated.  Names
 * are resolved in the scope they were written in; a group as an upstream
 * stands for its leaves, as a downstream for its roots (Airflow's
 * TaskGroup). */
static GArray *resolve_edges(ctx_t *c, ph_plan *p) {
  ph_dag *dag = p->dag;
  guint ne = ph_dag_n_edges(dag), nerr0 = c->errors->len;
  GArray *pairs = g_array_new(FALSE, FALSE, sizeof(guint) * 2);
  GArray *pending = g_array_new(FALSE, FALSE, sizeof(gedge_t));
  GHashTable *seen = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                           g_free, NULL);
  const char **ids = g_new(const char *, p->n + ph_dag_n_groups(dag) + 1);
  guint nid = 0;
  for (guint i = 0; i < p->n; i++)
    ids[nid++] = p->tasks[i].id;
  for (guint i = 0; i < ph_dag_n_groups(dag); i++)
    ids[nid++] = ph_dag_group_get_id(dag, i);
  ids[nid] = NULL;
  for (guint e = 0; e < ne; e++) {
    const char *up, *down;
    int line;
    ph_dag_get_edge(dag, e, &up, &down, &line);
    const char *scope = ph_dag_get_edge_scope(dag, e);
    ref_t u = resolve_ref(p, up, scope), d = resolve_ref(p, down, scope);
    if ((u.task < 0 && u.group < 0) || (d.task < 0 && d.group < 0)) {
      gboolean bad_up = u.task < 0 && u.group < 0;
      const char *bad = bad_up ? up : down;
      g_autofree char *h = hint(bad, ids);
      err(c, line, "unknown %s task '%s' in dependency %s >> %s%s",
          bad_up ? "upstream" : "downstream", bad, up, down, h);
      continue;
    }
    if (u.task >= 0 && d.task >= 0) {
      add_pair(pairs, seen, (guint)u.task, (guint)d.task);
      continue;
    }
    if ((u.group >= 0 && d.task >= 0 && in_group(p, (guint)d.task, u.group)) ||
        (d.group >= 0 && u.task >= 0 && in_group(p, (guint)u.task, d.group)) ||
        (u.group >= 0 && u.group == d.group)) {
      err(c, line, "dependency %s >> %s: a task group cannot depend on its "
          "own members (or they on it)",
          up, down);
      continue;
    }
    /* the depth of the innermost group holding both ends */
    GArray *cu = containers(p, u), *cd = containers(p, d);
    int depth = 0;
    for (guint i = 0; i < cu->len; i++)
      for (guint j = 0; j < cd->len; j++)
        if (g_array_index(cu, int, i) == g_array_index(cd, int, j))
          depth = MAX(depth, (int)(cu->len - i));
    g_array_free(cu, TRUE);
    g_array_free(cd, TRUE);
    gedge_t ge = {u, d, line, depth, up, down};
    g_array_append_val(pending, ge);
  }
  g_array_sort(pending, by_depth);
  for (guint k = 0; k < pending->len; k++) {
    gedge_t *ge = &g_array_index(pending, gedge_t, k);
    GArray *us = ge->up.group >= 0 ? group_ends(p, ge->up.group, pairs, TRUE)
                                   : NULL;
    GArray *ds = ge->down.group >= 0
                     ? group_ends(p, ge->down.group, pairs, FALSE)
                     : NULL;
    if ((us && !us->len) || (ds && !ds->len)) {
      err(c, ge->line, "dependency %s >> %s: task group '%s' has no tasks",
          ge->up_name, ge->down_name,
          us && !us->len ? ge->up_name : ge->down_name);
    } else {
      guint nu = us ? us->len : 1, nd = ds ? ds->len : 1;
      for (guint i = 0; i < nu; i++)
        for (guint j = 0; j < nd; j++)
          add_pair(pairs, seen,
                   us ? g_array_index(us, guint, i) : (guint)ge->up.task,
                   ds ? g_array_index(ds, guint, j) : (guint)ge->down.task);
    }
    if (us)
      g_array_free(us, TRUE);
    if (ds)
      g_array_free(ds, TRUE);
  }
  c->edge_errors = c->errors->len - nerr0;
  g_free(ids);
  g_array_free(pending, TRUE);
  g_hash_table_unref(seen);
  return pairs;
}

/* A mapped task names the upstreams it maps over ({from: NAME}) in its
 * group's scope: each becomes the upstream's full id, and an edge. */
static void resolve_map_sources(ctx_t *c, ph_plan *p) {
  for (guint i = 0; i < p->n; i++) {
    ph_task_spec *t = &p->tasks[i];
    GPtrArray *refs = g_ptr_array_new();
    if (t->expand_kwargs && JSON_NODE_HOLDS_OBJECT(t->expand_kwargs))
      g_ptr_array_add(refs, json_node_get_object(t->expand_kwargs));
    GList *keys = t->expand ? json_object_get_members(t->expand) : NULL;
    for (GList *l = keys; l; l = l->next) {
      JsonNode *m = json_object_get_member(t->expand, l->data);
      if (JSON_NODE_HOLDS_OBJECT(m) &&
          json_object_has_member(json_node_get_object(m), "from"))
        g_ptr_array_add(refs, json_node_get_object(m));
    }
    g_list_free(keys);
    for (guint k = 0; k < refs->len; k++) {
      JsonObject *o = refs->pdata[k];
      const char *from = json_object_get_string_member(o, "from");
      ref_t r = resolve_ref(p, from, t->group);
      if (r.task >= 0)
        json_object_set_string_member(o, "from", p->tasks[r.task].id);
      else if (r.group >= 0)
        err(c, t->line, "task '%s' maps over '%s', a task group; map over "
            "one of its tasks",
            t->id, from);
      /* an unknown name is reported with the edge */
      ph_dag_add_edge_in(c->dag, json_object_get_string_member(o, "from"),
                         t->id, t->line, r.task >= 0 ? NULL : t->group);
    }
    g_ptr_array_unref(refs);
  }
}

ph_plan *ph_plan_build(ph_dag *dag, const ph_registry *reg, GPtrArray *errors) {
  ctx_t c = {dag, errors, 0};
  guint nerr0 = errors->len;
  for (guint i = 0; i < ph_dag_n_errors(dag); i++)
    g_ptr_array_add(errors, g_strdup(ph_dag_get_error(dag, i)));
  ph_plan *p = g_new0(ph_plan, 1);
  p->dag = dag;
  p->strings = g_string_chunk_new(256);
  p->index = g_hash_table_new(g_str_hash, g_str_equal);
  if (!ph_dag_get_id(dag))
    err(&c, 1, "the DAG has no id; set dag: {id: NAME} (YAML) or "
        "pipehost.dag{id = \"NAME\"} (Lua)");
  /* DAG params */
  JsonNode *pn = json_object_get_member(ph_dag_get_args(dag), "params");
  if (pn && !JSON_NODE_HOLDS_OBJECT(pn))
    err(&c, ph_dag_get_arg_line(dag, "params"),
        "DAG 'params' must be a mapping of name to default value");
  p->params = pn && JSON_NODE_HOLDS_OBJECT(pn)
                  ? json_object_ref(json_node_get_object(pn))
                  : json_object_new();
  p->n = ph_dag_n_tasks(dag);
  p->tasks = g_new0(ph_task_spec, p->n);
  for (guint i = 0; i < p->n; i++) {
    ph_dag_task *dt = ph_dag_get_task(dag, i);
    resolve_task(&c, p, reg, dt, &p->tasks[i]);
    g_hash_table_insert(p->index, (gpointer)p->tasks[i].id,
                        GUINT_TO_POINTER(i + 1));
  }
  /* mapped tasks: the upstreams they map over, named in their scope */
  resolve_map_sources(&c, p);
  /* edges, deduplicated; a group stands for its leaves or roots */
  GArray *ups = resolve_edges(&c, p);
  guint *nup = g_new0(guint, p->n ? p->n : 1),
        *ndown = g_new0(guint, p->n ? p->n : 1);
  for (guint e = 0; e < ups->len; e++) {
    guint *pair = &g_array_index(ups, guint, e * 2);
    nup[pair[1]]++;
    ndown[pair[0]]++;
  }
  guint edge_errors = c.edge_errors;
  p->edge_store = g_new(guint, ups->len * 2 + 1);
  guint off = 0;
  for (guint i = 0; i < p->n; i++) {
    p->tasks[i].up = p->edge_store + off;
    off += nup[i];
    p->tasks[i].down = p->edge_store + off;
    off += ndown[i];
  }
  for (guint e = 0; e < ups->len; e++) {
    guint *pair = &g_array_index(ups, guint, e * 2);
    ph_task_spec *u = &p->tasks[pair[0]], *d = &p->tasks[pair[1]];
    ((guint *)u->down)[u->n_down++] = pair[1];
    ((guint *)d->up)[d->n_up++] = pair[0];
  }
  g_free(nup);
  g_free(ndown);
  g_array_free(ups, TRUE);
  /* a cycle is reported even next to other errors, once edges resolve */
  if (edge_errors == 0 && toposort(&c, p) && errors->len == nerr0)
    compute_weights(p);
  if (errors->len > nerr0) {
    ph_plan_free(p);
    return NULL;
  }
  return p;
}

const char *ph_plan_get_dag_id(const ph_plan *p) {
  return ph_dag_get_id(p->dag);
}
const char *ph_plan_get_file(const ph_plan *p) {
  return ph_dag_get_file(p->dag);
}
ph_dag *ph_plan_get_dag(const ph_plan *p) { return p->dag; }
JsonObject *ph_plan_get_params(const ph_plan *p) { return p->params; }
guint ph_plan_n_tasks(const ph_plan *p) { return p->n; }
const ph_task_spec *ph_plan_get_task(const ph_plan *p, guint i) {
  return &p->tasks[i];
}
int ph_plan_lookup(const ph_plan *p, const char *task_id) {
  gpointer v = g_hash_table_lookup(p->index, task_id);
  return v ? (int)GPOINTER_TO_UINT(v) - 1 : -1;
}
const guint *ph_plan_topo_order(const ph_plan *p) { return p->topo; }
