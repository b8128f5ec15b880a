/* ph_map -- see ph_map.h. */
#include "ph_map.h"

#include <string.h>

/* A new node holding a new empty array. */
static JsonNode *empty_list(void) {
  JsonNode *n = json_node_new(JSON_NODE_ARRAY);
  json_node_take_array(n, json_array_new());
  return n;
}

/* The list a mapped param (or expand_kwargs) takes: the literal list, or
 * the upstream's XCom, which must be a list.  A new node, or NULL with
 * *why set. */
static JsonNode *map_source(ph_store *st, const char *run_id,
                            const ph_task_spec *t, JsonNode *src,
                            const char *what, char **why) {
  if (JSON_NODE_HOLDS_ARRAY(src))
    return json_node_copy(src);
  if (JSON_NODE_HOLDS_OBJECT(src) &&
      !json_object_has_member(json_node_get_object(src), "from"))
    return empty_list(); /* {}: Lua's empty table */
  JsonObject *ref = json_node_get_object(src);
  const char *from = json_object_get_string_member(ref, "from");
  const char *key =
      json_object_get_string_member_with_default(ref, "key", "return_value");
  g_autofree char *text = ph_store_xcom_get(st, run_id, from, key);
  JsonNode *v = text ? json_from_string(text, NULL) : NULL;
  if (v && JSON_NODE_HOLDS_ARRAY(v))
    return v;
  /* Lua has one empty table for [] and {}: an empty object is no items */
  if (v && JSON_NODE_HOLDS_OBJECT(v) &&
      json_object_get_size(json_node_get_object(v)) == 0) {
    json_node_unref(v);
    return empty_list();
  }
  *why = g_strdup_printf(
      "cannot expand %s of '%s': upstream '%s' %s %s, not a list", what, t->id,
      from, v ? "returned" : "pushed no", v ? ph_registry_json_type(v) : key);
  if (v)
    json_node_unref(v);
  return NULL;
}

/* The object param `kwargs` of an operator whose function takes keyword
 * arguments (lua), or NULL. */
static const ph_param *kwargs_param(const ph_task_spec *t) {
  const ph_param *pp = ph_registry_find_param(t->op, "kwargs");
  return pp && !strcmp(pp->type, "object") ? pp : NULL;
}

/* Sets mapped param name of instance params o to v (taken): an operator
 * param, or else a keyword argument in o's kwargs (as ph_plan allows). */
static void set_mapped(const ph_task_spec *t, JsonObject *o, const char *name,
                       JsonNode *v) {
  if (ph_registry_find_param(t->op, name)) {
    json_object_set_member(o, name, v);
    return;
  }
  /* a new kwargs object: the one o has may be the task's own (copying a
   * node only refs an object), shared by every instance */
  JsonNode *kw = json_object_get_member(o, "kwargs");
  JsonObject *ko = json_object_new();
  GList *ks = kw && JSON_NODE_HOLDS_OBJECT(kw)
                  ? json_object_get_members(json_node_get_object(kw))
                  : NULL;
  for (GList *l = ks; l; l = l->next)
    json_object_set_member(ko, l->data,
                           json_node_copy(json_object_get_member(
                               json_node_get_object(kw), l->data)));
  g_list_free(ks);
  json_object_set_member(ko, name, v);
  json_object_set_object_member(o, "kwargs", ko);
}

/* Checks and converts value v for param name of a mapped instance; NULL
 * with *why set when the operator cannot take it. */
static JsonNode *map_value(const ph_task_spec *t, const char *name, JsonNode *v,
                           guint item, char **why) {
  const ph_param *pp = ph_registry_find_param(t->op, name);
  GError *err = NULL;
  if (!pp && kwargs_param(t))
    return json_node_copy(v); /* a keyword argument takes any value */
  if (!pp) {
    *why = g_strdup_printf("cannot expand '%s': item %u sets '%s', which is "
                           "not a param of operator '%s'",
                           t->id, item, name, t->op_name);
    return NULL;
  }
  gboolean deferred = (pp->flags & PH_PARAM_TEMPLATED) &&
                      JSON_NODE_HOLDS_VALUE(v) &&
                      json_node_get_value_type(v) == G_TYPE_STRING &&
                      strstr(json_node_get_string(v), "{{");
  if (!deferred && (!ph_registry_type_ok(pp->type, v) ||
                    !ph_registry_param_value_ok(pp, v, &err))) {
    *why = g_strdup_printf(
        "cannot expand '%s': item %u gives param '%s' a %s; operator '%s' "
        "wants %s%s%s",
        t->id, item, name, ph_registry_json_type(v), t->op_name, pp->type,
        err ? ": " : "", err ? err->message : "");
    g_clear_error(&err);
    return NULL;
  }
  return json_node_copy(v);
}

GPtrArray *ph_map_items(ph_store *st, const char *run_id, const ph_task_spec *t,
                        char **why) {
  GPtrArray *items =
      g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);
  GPtrArray *lists =
      g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
  GList *names = t->expand ? json_object_get_members(t->expand) : NULL;
  guint64 n = 1;
  if (t->expand_kwargs) {
    JsonNode *l =
        map_source(st, run_id, t, t->expand_kwargs, "expand_kwargs", why);
    if (!l)
      goto fail;
    g_ptr_array_add(lists, l);
    n = json_array_get_length(json_node_get_array(l));
  }
  for (GList *k = names; k; k = k->next) {
    g_autofree char *what = g_strdup_printf("param '%s'", (char *)k->data);
    JsonNode *l = map_source(
        st, run_id, t, json_object_get_member(t->expand, k->data), what, why);
    if (!l)
      goto fail;
    g_ptr_array_add(lists, l);
    n *= json_array_get_length(json_node_get_array(l));
    n = MIN(n, (guint64)G_MAXUINT32);
  }
  if (n > (guint64)t->max_map_length) {
    *why = g_strdup_printf("cannot expand '%s' into %" G_GUINT64_FORMAT
                           " instances: over its max_map_length of %d",
                           t->id, n, t->max_map_length);
    goto fail;
  }
  for (guint64 i = 0; i < n; i++) {
    JsonObject *o = json_object_new();
    g_ptr_array_add(items, o);
    GList *ks = json_object_get_members(t->params);
    for (GList *k = ks; k; k = k->next)
      json_object_set_member(
          o, k->data,
          json_node_copy(json_object_get_member(t->params, k->data)));
    g_list_free(ks);
    if (t->expand_kwargs) {
      JsonNode *e =
          json_array_get_element(json_node_get_array(lists->pdata[0]), i);
      if (!JSON_NODE_HOLDS_OBJECT(e)) {
        *why = g_strdup_printf(
            "cannot expand '%s': expand_kwargs item %" G_GUINT64_FORMAT
            " is a %s, not an object {param: value}",
            t->id, i, ph_registry_json_type(e));
        goto fail;
      }
      JsonObject *eo = json_node_get_object(e);
      ks = json_object_get_members(eo);
      for (GList *k = ks; k && !*why; k = k->next) {
        JsonNode *v = map_value(t, k->data, json_object_get_member(eo, k->data),
                                (guint)i, why);
        if (v)
          set_mapped(t, o, k->data, v);
      }
      g_list_free(ks);
      for (const ph_param *const *q = t->op->params; q && *q && !*why; q++)
        if (((*q)->flags & PH_PARAM_REQUIRED) &&
            !json_object_has_member(o, (*q)->name))
          *why = g_strdup_printf("cannot expand '%s': item %" G_GUINT64_FORMAT
                                 " lacks required param '%s' of operator '%s'",
                                 t->id, i, (*q)->name, t->op_name);
      if (*why)
        goto fail;
      continue;
    }
    /* the cartesian product: the last list varies fastest */
    guint64 rest = i;
    guint j = lists->len;
    GList *k = g_list_last(names);
    for (; k; k = k->prev) {
      JsonArray *a = json_node_get_array(lists->pdata[--j]);
      guint len = json_array_get_length(a);
      JsonNode *v = map_value(t, k->data, json_array_get_element(a, rest % len),
                              (guint)i, why);
      if (!v)
        goto fail;
      set_mapped(t, o, k->data, v);
      rest /= len;
    }
  }
  g_list_free(names);
  g_ptr_array_unref(lists);
  return items;
fail:
  g_list_free(names);
  g_ptr_array_unref(lists);
  g_ptr_array_unref(items);
  return NULL;
}
