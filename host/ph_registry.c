/* ph_registry -- see ph_registry.h. */
#include "ph_registry.h"

#include "ph_fault.h"
#include "ph_scan.h"
#include "ph_util.h"

#include <dlfcn.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *ph_registry_placeholder(const char *arg) {
  size_t n = strlen(arg);
  return n > 2 && arg[0] == '{' && arg[n - 1] == '}'
             ? g_strndup(arg + 1, n - 2)
             : NULL;
}

/* The size of each struct in ABI 1.0: a plugin's struct_size must be at
 * least this, and never more than the host's own (a newer minor's larger
 * struct is refused by the minor check first). */
#define PH_PLUGIN_V1_0_SIZE (offsetof(ph_plugin, load) + sizeof(void *))
#define PH_OPERATOR_V1_0_SIZE (offsetof(ph_operator, destroy) + sizeof(void *))
#define PH_PARAM_V1_0_SIZE (offsetof(ph_param, doc) + sizeof(char *))
#define PH_COMMAND_V1_3_SIZE                                                   \
  (offsetof(ph_command, skip_code_param) + sizeof(char *))

typedef struct {
  const ph_plugin *desc;
  char *path;
} ph_loaded;

typedef struct {
  const ph_operator *op;
  guint plugin; /* index into plugins */
} ph_opref;

struct ph_registry {
  GArray *plugins;     /* ph_loaded */
  GHashTable *ops;     /* name -> ph_opref* (types and plugin.type) */
  GHashTable *by_name; /* plugin name -> path */
  GHashTable *paths;   /* realpath -> 1, files already seen */
  GPtrArray *problems;
  gboolean sandboxed; /* load without vetting in a child (ph_scan) */
};

ph_registry *ph_registry_new(void) {
  ph_registry *r = g_new0(ph_registry, 1);
  r->plugins = g_array_new(FALSE, FALSE, sizeof(ph_loaded));
  r->ops = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  r->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  r->paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  r->problems = g_ptr_array_new_with_free_func(g_free);
  return r;
}

void ph_registry_set_sandboxed(ph_registry *r, gboolean sandboxed) {
  r->sandboxed = sandboxed;
}

void ph_registry_free(ph_registry *r) {
  if (!r)
    return;
  for (guint i = 0; i < r->plugins->len; i++)
    g_free(g_array_index(r->plugins, ph_loaded, i).path);
  g_array_free(r->plugins, TRUE);
  g_hash_table_unref(r->ops);
  g_hash_table_unref(r->by_name);
  g_hash_table_unref(r->paths);
  g_ptr_array_unref(r->problems);
  g_free(r);
}

static gint cmp_strp(gconstpointer a, gconstpointer b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static gboolean valid_name(const char *s) {
  if (!s || !*s)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

static const char *const param_types[] = {"string",  "integer",  "number",
                                          "boolean", "object",   "array",
                                          "any",     "callable", NULL};

static const char *const host_keys[] = {"trigger_rule",
                                        "retries",
                                        "retry_delay",
                                        "retry_exponential_backoff",
                                        "max_retry_delay",
                                        "execution_timeout",
                                        "memory_limit",
                                        "pool",
                                        "pool_slots",
                                        "priority_weight",
                                        "weight_rule",
                                        "doc",
                                        "poke_interval",
                                        "timeout",
                                        "mode",
                                        "soft_fail",
                                        "exponential_backoff",
                                        "max_wait",
                                        "cache",
                                        "email",
                                        "email_on_failure",
                                        "email_on_retry",
                                        "email_conn_id",
                                        "depends_on_past",
                                        "queue",
                                        "executor",
                                        "slurm",
                                        "expand",
                                        "expand_kwargs",
                                        "max_map_length",
                                        "max_active_tis_per_dag",
                                        "outlets",
                                        "inlets",
                                        NULL};

const char *const *ph_registry_host_keys(void) { return host_keys; }

static gboolean check_param(const ph_operator *op, const ph_param *pp,
                            GError **error) {
  if (pp->struct_size < PH_PARAM_V1_0_SIZE) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "param size: operator '%s' has a param with struct_size %u, "
                "smaller than ABI 1.0's %zu",
                op->type, pp->struct_size, PH_PARAM_V1_0_SIZE);
    return FALSE;
  }
  if (!valid_name(pp->name)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "param name: operator '%s' has a param with a NULL or "
                "invalid name",
                op->type);
    return FALSE;
  }
  static const char *const structural[] = {"op", "id", "upstream", NULL};
  for (int pass = 0; pass < 2; pass++)
    for (const char *const *k = pass ? structural : host_keys; *k; k++)
      if (!strcmp(pp->name, *k)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "param name: '%s.%s' is a task key the host reads "
                    "itself, so no task could set it; rename the param "
                    "(e.g. '%s_%s')",
                    op->type, pp->name, op->type, pp->name);
        return FALSE;
      }
  gboolean ok = FALSE;
  for (int i = 0; pp->type && param_types[i]; i++)
    ok |= !strcmp(pp->type, param_types[i]);
  if (!ok) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "param type: '%s.%s' has type '%s'; expected one of string, "
                "integer, number, boolean, object, array, any, callable",
                op->type, pp->name, pp->type ? pp->type : "(null)");
    return FALSE;
  }
  if (PH_HAS(pp, ph_param, choices) && pp->choices &&
      strcmp(pp->type, "string")) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "param choices: '%s.%s' lists choices, but only a string "
                "param can have them",
                op->type, pp->name);
    return FALSE;
  }
  if (PH_HAS(pp, ph_param, maximum) && (pp->flags & PH_PARAM_RANGE) &&
      ((strcmp(pp->type, "integer") && strcmp(pp->type, "number")) ||
       !(pp->minimum <= pp->maximum))) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "param range: '%s.%s' has a range, but it is not an integer "
                "or number param with minimum <= maximum",
                op->type, pp->name);
    return FALSE;
  }
  if (pp->default_json) {
    JsonNode *d = json_from_string(pp->default_json, NULL);
    GError *e = NULL;
    gboolean fits = d && ph_registry_param_value_ok(pp, d, &e);
    if (d)
      json_node_unref(d);
    if (!fits) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "param default: '%s.%s' has default %s, which %s", op->type,
                  pp->name, pp->default_json, e ? e->message : "is not JSON");
      g_clear_error(&e);
      return FALSE;
    }
  }
  return TRUE;
}

const char *ph_registry_json_type(JsonNode *n) {
  if (JSON_NODE_HOLDS_NULL(n))
    return "null";
  if (JSON_NODE_HOLDS_OBJECT(n))
    return "object";
  if (JSON_NODE_HOLDS_ARRAY(n))
    return "array";
  GType t = json_node_get_value_type(n);
  if (t == G_TYPE_BOOLEAN)
    return "boolean";
  if (t == G_TYPE_INT64)
    return "integer";
  if (t == G_TYPE_DOUBLE)
    return "number";
  return "string";
}

gboolean ph_registry_type_ok(const char *type, JsonNode *n) {
  const char *have = ph_registry_json_type(n);
  if (!strcmp(type, "any"))
    return TRUE;
  if (!strcmp(type, "number"))
    return !strcmp(have, "number") || !strcmp(have, "integer");
  if (!strcmp(type, "callable"))
    return !strcmp(have, "string") ||
           (!strcmp(have, "object") &&
            json_object_has_member(json_node_get_object(n), "$lua"));
  return !strcmp(type, have);
}

gboolean ph_registry_param_value_ok(const ph_param *pp, JsonNode *v,
                                    GError **error) {
  if (PH_HAS(pp, ph_param, choices) && pp->choices &&
      JSON_NODE_HOLDS_VALUE(v) &&
      json_node_get_value_type(v) == G_TYPE_STRING) {
    const char *got = json_node_get_string(v);
    GString *list = g_string_new(NULL);
    gboolean found = FALSE;
    for (const char *const *c = pp->choices; *c; c++) {
      found |= !strcmp(*c, got);
      g_string_append_printf(list, "%s%s", list->len ? ", " : "", *c);
    }
    if (!found) {
      const char *near = ph_util_nearest(got, pp->choices);
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "param '%s' must be one of %s, got '%s'%s%s%s", pp->name,
                  list->str, got, near ? " (did you mean '" : "",
                  near ? near : "", near ? "'?)" : "");
      g_string_free(list, TRUE);
      return FALSE;
    }
    g_string_free(list, TRUE);
  }
  if (PH_HAS(pp, ph_param, maximum) && (pp->flags & PH_PARAM_RANGE) &&
      JSON_NODE_HOLDS_VALUE(v) &&
      (json_node_get_value_type(v) == G_TYPE_INT64 ||
       json_node_get_value_type(v) == G_TYPE_DOUBLE)) {
    double d = json_node_get_double(v);
    if (!(d >= pp->minimum && d <= pp->maximum)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "param '%s' must be between %g and %g, got %g", pp->name,
                  pp->minimum, pp->maximum, d);
      return FALSE;
    }
  }
  return TRUE;
}

JsonNode *ph_registry_param_coerce(const ph_param *pp, JsonNode *rendered,
                                   GError **error) {
  if (ph_registry_type_ok(pp->type, rendered))
    return ph_registry_param_value_ok(pp, rendered, error)
               ? json_node_copy(rendered)
               : NULL;
  /* a template renders text: read it as the declared type */
  if (JSON_NODE_HOLDS_VALUE(rendered) &&
      json_node_get_value_type(rendered) == G_TYPE_STRING) {
    const char *text = json_node_get_string(rendered);
    g_autofree char *trimmed = g_strstrip(g_strdup(text));
    JsonNode *n = json_from_string(trimmed, NULL);
    if (n && ph_registry_type_ok(pp->type, n)) {
      if (ph_registry_param_value_ok(pp, n, error))
        return n;
      json_node_unref(n);
      return NULL;
    }
    if (n)
      json_node_unref(n);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "param '%s': the template rendered \"%.80s\", which is not "
                "a%s %s",
                pp->name, text,
                pp->type[0] == 'i' || pp->type[0] == 'a' || pp->type[0] == 'o'
                    ? "n"
                    : "",
                pp->type);
    return NULL;
  }
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
              "param '%s' must be of type %s, got %s", pp->name, pp->type,
              ph_registry_json_type(rendered));
  return NULL;
}

/* Resolves one relative path string in place (see the header). */
static void resolve_one(JsonNode *n, const char *base) {
  if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
      json_node_get_value_type(n) != G_TYPE_STRING)
    return;
  const char *v = json_node_get_string(n);
  if (!*v || g_path_is_absolute(v) || strstr(v, "://"))
    return;
  g_autofree char *full = g_build_filename(base, v, NULL);
  if (g_file_test(full, G_FILE_TEST_EXISTS))
    json_node_set_string(n, full);
}

void ph_registry_resolve_paths(const ph_param *pp, JsonNode *v,
                               const char *base) {
  if (!pp || !(pp->flags & PH_PARAM_PATH) || !v || !base || !*base)
    return;
  if (JSON_NODE_HOLDS_ARRAY(v)) {
    JsonArray *a = json_node_get_array(v);
    for (guint i = 0; i < json_array_get_length(a); i++)
      ph_registry_resolve_paths(pp, json_array_get_element(a, i), base);
  } else if (JSON_NODE_HOLDS_OBJECT(v)) {
    JsonObject *o = json_node_get_object(v);
    static const char *const keys[] = {"path", "target_path", NULL};
    for (const char *const *k = keys; *k; k++)
      resolve_one(json_object_get_member(o, *k), base);
  } else {
    resolve_one(v, base);
  }
}

/* A declared param of op with type type, or NULL. */
static const ph_param *param_of_type(const ph_operator *op, const char *name,
                                     const char *type) {
  const ph_param *pp = ph_registry_find_param(op, name);
  return pp && pp->type && !strcmp(pp->type, type) ? pp : NULL;
}

/* ABI 1.3: the command an operator declares must name its own params. */
static gboolean check_command(const ph_operator *op, GError **error) {
  const ph_command *c = op->command;
  const char *bad = NULL;
  g_autofree char *what = NULL;
  if (c->struct_size < PH_COMMAND_V1_3_SIZE ||
      c->struct_size > sizeof(ph_command))
    what = g_strdup_printf("struct_size %u, expected %zu..%zu", c->struct_size,
                           PH_COMMAND_V1_3_SIZE, sizeof(ph_command));
  else if (op->kind != PH_KIND_TASK)
    what = g_strdup("only a PH_KIND_TASK operator may declare a command");
  else if (c->flags & ~PH_COMMAND_SHELL_LINE)
    what = g_strdup_printf("unknown flags 0x%x", c->flags);
  else if (!valid_name(c->what))
    what = g_strdup("'what' is NULL or not a valid name");
  else if (!c->argv || !c->argv[0] || !*c->argv[0])
    what = g_strdup("argv is NULL or empty, or argv[0] is empty");
  else if (c->cwd_param && !param_of_type(op, c->cwd_param, "string"))
    bad = c->cwd_param;
  else if (c->skip_code_param &&
           !param_of_type(op, c->skip_code_param, "integer"))
    bad = c->skip_code_param;
  for (guint i = 0; !what && !bad && c->argv[i]; i++) {
    g_autofree char *name = ph_registry_placeholder(c->argv[i]);
    if (i >= 256)
      what = g_strdup("argv has more than 256 elements (missing NULL "
                      "terminator?)");
    else if (name && !param_of_type(op, name, "string"))
      what = g_strdup_printf("argv element '%s' names no declared string "
                             "param",
                             c->argv[i]);
  }
  if (bad)
    what = g_strdup_printf("'%s' is not a declared param of the right type "
                           "(cwd_param: string, skip_code_param: integer)",
                           bad);
  if (what) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "command: operator '%s': %s", op->type, what);
    return FALSE;
  }
  return TRUE;
}

/* TRUE when bytes [from, to) of the struct at base are all zero: members
 * of a newer ABI that the plugin left unset. */
static gboolean zero_tail(const void *base, size_t from, size_t to) {
  const unsigned char *b = base;
  for (size_t i = from; i < to; i++)
    if (b[i])
      return FALSE;
  return TRUE;
}

gboolean ph_registry_check_descriptor(const ph_plugin *p, GError **error) {
  if (!p) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "descriptor: " PH_PLUGIN_ENTRY "() returned NULL");
    return FALSE;
  }
  if (p->abi_major != PH_ABI_MAJOR) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "ABI major: plugin was built for ABI %u.%u, this host "
                "speaks ABI %d.%d; rebuild the plugin against this "
                "pipehost's plugin.h",
                p->abi_major, p->abi_minor, PH_ABI_MAJOR, PH_ABI_MINOR);
    return FALSE;
  }
  /* a plugin built against a newer header loads when it says it needs
   * no more than this host has (min_host_minor), as a Redis module runs
   * on an older server when it checks for the APIs it uses */
  gboolean newer = p->abi_minor > PH_ABI_MINOR;
  guint need_minor = p->abi_minor;
  gboolean declared = newer && p->struct_size >= PH_PLUGIN_V1_0_SIZE &&
                      p->struct_size >= offsetof(ph_plugin, min_host_minor) +
                                            sizeof(p->min_host_minor) &&
                      p->min_host_minor;
  if (declared)
    need_minor = p->min_host_minor;
  if (need_minor > PH_ABI_MINOR) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "ABI minor: plugin needs ABI %u.%u (%s), newer than this "
                "host's %d.%d; upgrade pipehost",
                p->abi_major, need_minor,
                declared ? "its min_host_minor"
                         : "it was built against it and declares no older "
                           "min_host_minor",
                PH_ABI_MAJOR, PH_ABI_MINOR);
    return FALSE;
  }
  if (p->struct_size < PH_PLUGIN_V1_0_SIZE) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "descriptor size: struct_size %u is smaller than ABI 1.0's "
                "ph_plugin (%zu bytes)",
                p->struct_size, PH_PLUGIN_V1_0_SIZE);
    return FALSE;
  }
  if (p->struct_size > sizeof(ph_plugin) &&
      (!newer || !zero_tail(p, sizeof(ph_plugin), p->struct_size))) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "descriptor size: struct_size %u is larger than this host's "
                "ph_plugin (%zu bytes) %s",
                p->struct_size, sizeof(ph_plugin),
                newer ? "and sets members this host does not know (a feature "
                        "of a newer ABI it cannot honour); upgrade pipehost"
                      : "although the plugin claims this host's ABI");
    return FALSE;
  }
  const char *missing = !p->name          ? "name"
                        : !p->version     ? "version"
                        : !p->license     ? "license"
                        : !p->description ? "description"
                        : !p->operators   ? "operators"
                                          : NULL;
  if (missing) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "required field: descriptor field '%s' is NULL", missing);
    return FALSE;
  }
  if (!valid_name(p->name)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "plugin name: '%s' is not a valid name ([A-Za-z0-9_-]+)",
                p->name);
    return FALSE;
  }
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  gboolean ok = FALSE;
  guint nops = 0;
  for (const ph_operator *const *o = p->operators; *o; o++, nops++) {
    const ph_operator *op = *o;
    if (nops > 4096) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "operators: more than 4096 operators (missing NULL "
                  "terminator?)");
      goto out;
    }
    if (op->struct_size < PH_OPERATOR_V1_0_SIZE ||
        (op->struct_size > sizeof(ph_operator) &&
         (!newer || !zero_tail(op, sizeof(ph_operator), op->struct_size)))) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "operator size: operator #%u has struct_size %u, expected "
                  "%zu..%zu",
                  nops, op->struct_size, PH_OPERATOR_V1_0_SIZE,
                  sizeof(ph_operator));
      goto out;
    }
    if (!valid_name(op->type)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "operator type: operator #%u has a NULL or invalid type "
                  "name",
                  nops);
      goto out;
    }
    if (g_hash_table_contains(seen, op->type)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "duplicate operator: '%s' is declared twice", op->type);
      goto out;
    }
    g_hash_table_add(seen, (gpointer)op->type);
    if (op->kind != PH_KIND_TASK && op->kind != PH_KIND_SENSOR &&
        op->kind != PH_KIND_BRANCH) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "operator kind: '%s' has kind %d; expected PH_KIND_TASK, "
                  "PH_KIND_SENSOR or PH_KIND_BRANCH",
                  op->type, op->kind);
      goto out;
    }
    if (!(op->flags & PH_OP_NO_WORKER)) {
      /* ABI 1.4: execute2 / poke2 make init and destroy optional */
      gboolean ex2 = PH_HAS(op, ph_operator, execute2) && op->execute2;
      gboolean pk2 = PH_HAS(op, ph_operator, poke2) && op->poke2;
      gboolean modern = ex2 || pk2 || p->abi_minor >= 4;
      const char *need =
          !op->init && !ex2 && !pk2                            ? "init"
          : op->kind == PH_KIND_SENSOR && !op->poke && !pk2    ? "poke"
          : op->kind != PH_KIND_SENSOR && !op->execute && !ex2 ? "execute"
          : !op->destroy && !modern                            ? "destroy"
                                                               : NULL;
      if (need) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "required callback: operator '%s' has no %s()", op->type,
                    need);
        goto out;
      }
    }
    guint np = 0;
    GHashTable *pseen = g_hash_table_new(g_str_hash, g_str_equal);
    for (const ph_param *const *pp = op->params; pp && *pp; pp++, np++) {
      if (np > 1024 || !check_param(op, *pp, error)) {
        if (np > 1024)
          g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                      "params: operator '%s' has more than 1024 params",
                      op->type);
        g_hash_table_unref(pseen);
        goto out;
      }
      if (!g_hash_table_add(pseen, (gpointer)(*pp)->name)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "duplicate param: operator '%s' declares '%s' twice",
                    op->type, (*pp)->name);
        g_hash_table_unref(pseen);
        goto out;
      }
    }
    g_hash_table_unref(pseen);
    if (PH_HAS(op, ph_operator, command) && op->command &&
        !check_command(op, error))
      goto out;
  }
  ok = TRUE;
out:
  g_hash_table_unref(seen);
  return ok;
}

static void add_problem(ph_registry *r, const char *msg) {
  g_ptr_array_add(r->problems, g_strdup(msg));
}

/* Refuses a path that group or others may write, or that another
 * non-root user owns. */
static gboolean check_perms(const char *path, const struct stat *st,
                            const char *what, GError **error) {
  if (st->st_mode & (S_IWGRP | S_IWOTH)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                "%s: permissions: %s is writable by group or others (mode "
                "%04o); run chmod go-w on it",
                path, what, (unsigned)(st->st_mode & 07777));
    return FALSE;
  }
  if (st->st_uid != 0 && st->st_uid != geteuid()) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                "%s: ownership: %s is owned by uid %u, neither root nor the "
                "current user",
                path, what, (unsigned)st->st_uid);
    return FALSE;
  }
  return TRUE;
}

static gboolean check_any(const void *desc, GError **error) {
  return ph_registry_check_descriptor(desc, error);
}

const ph_plugin *ph_registry_load_file(ph_registry *r, const char *path,
                                       GError **error) {
  GError *err = NULL;
  const ph_plugin *p = NULL;
  char *dir = NULL;
  char *real = realpath(path, NULL);
  struct stat st;
  if (!real || stat(real, &st) != 0) {
    g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "%s: file: cannot be read", path);
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: file: not a regular file", path);
    goto out;
  }
  if (!check_perms(path, &st, "the plugin file", &err))
    goto out;
  dir = g_path_get_dirname(real);
  struct stat dst;
  if (stat(dir, &dst) == 0 && !check_perms(path, &dst, "its directory", &err))
    goto out;
  if (g_hash_table_contains(r->paths, real)) {
    g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                "%s: duplicate file: already loaded", path);
    goto out;
  }
  /* its load-time code runs in a child first: a plugin that exits,
   * crashes or hangs while loading is refused, not fatal here */
  if (!r->sandboxed && !ph_scan_vet(path, real, &st, check_any, &err))
    goto out;
  void *h =
      ph_fault_hit("plugin_load") ? NULL : dlopen(real, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: dlopen: %s", path,
                why ? why : "injected failure");
    goto out;
  }
  const ph_plugin *(*entry)(void) =
      (const ph_plugin *(*)(void))dlsym(h, PH_PLUGIN_ENTRY);
  if (!entry) {
    g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: entry point: no exported function " PH_PLUGIN_ENTRY "()",
                path);
    dlclose(h); /* never initialised: safe to unmap */
    goto out;
  }
  const ph_plugin *desc = entry();
  GError *cerr = NULL;
  if (!ph_registry_check_descriptor(desc, &cerr)) {
    g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", path,
                cerr->message);
    g_error_free(cerr);
    goto out; /* keep mapped: its constructors may have run */
  }
  if (g_hash_table_contains(r->by_name, desc->name)) {
    g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                "%s: duplicate plugin: a plugin named '%s' is already loaded "
                "from %s",
                path, desc->name,
                (char *)g_hash_table_lookup(r->by_name, desc->name));
    goto out;
  }
  for (const ph_operator *const *o = desc->operators; *o; o++) {
    ph_opref *dup = g_hash_table_lookup(r->ops, (*o)->type);
    if (dup) {
      ph_loaded *other = &g_array_index(r->plugins, ph_loaded, dup->plugin);
      g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                  "%s: duplicate operator: '%s' is already provided by "
                  "plugin '%s' (%s)",
                  path, (*o)->type, other->desc->name, other->path);
      goto out;
    }
  }
  ph_loaded l = {desc, g_strdup(real)};
  g_array_append_val(r->plugins, l);
  guint idx = r->plugins->len - 1;
  g_hash_table_insert(r->by_name, g_strdup(desc->name), l.path);
  g_hash_table_add(r->paths, g_strdup(real));
  for (const ph_operator *const *o = desc->operators; *o; o++) {
    ph_opref *a = g_new(ph_opref, 1), *b = g_new(ph_opref, 1);
    a->op = b->op = *o;
    a->plugin = b->plugin = idx;
    g_hash_table_insert(r->ops, g_strdup((*o)->type), a);
    g_hash_table_insert(r->ops,
                        g_strdup_printf("%s.%s", desc->name, (*o)->type), b);
  }
  p = desc;
out:
  if (err) {
    add_problem(r, err->message);
    g_propagate_error(error, err);
  }
  free(real);
  g_free(dir);
  return p;
}

guint ph_registry_scan_dir(ph_registry *r, const char *dir) {
  GDir *d = g_dir_open(dir, 0, NULL);
  if (!d)
    return 0;
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  const char *n;
  while ((n = g_dir_read_name(d)))
    if (g_str_has_suffix(n, ".so"))
      g_ptr_array_add(names, g_strdup(n));
  g_dir_close(d);
  g_ptr_array_sort(names, cmp_strp);
  guint loaded = 0;
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *path = g_build_filename(dir, names->pdata[i], NULL);
    if (ph_registry_load_file(r, path, NULL))
      loaded++;
  }
  g_ptr_array_unref(names);
  return loaded;
}

void ph_registry_scan_default(ph_registry *r, const char *const *extra_dirs,
                              const char *builtin_dir) {
  /* built-ins first: a dropped-in plugin cannot take over a core name */
  if (builtin_dir)
    ph_registry_scan_dir(r, builtin_dir);
  const char *env = g_getenv("PIPEHOST_PLUGIN_PATH");
  if (env && *env) {
    g_auto(GStrv) dirs = g_strsplit(env, ":", -1);
    for (size_t i = 0; dirs[i]; i++)
      if (*dirs[i])
        ph_registry_scan_dir(r, dirs[i]);
  }
  for (size_t i = 0; extra_dirs && extra_dirs[i]; i++)
    ph_registry_scan_dir(r, extra_dirs[i]);
}

const ph_operator *ph_registry_lookup(const ph_registry *r, const char *name,
                                      const ph_plugin **plugin,
                                      const char **path) {
  ph_opref *ref = g_hash_table_lookup(r->ops, name);
  if (!ref)
    return NULL;
  ph_loaded *l = &g_array_index(r->plugins, ph_loaded, ref->plugin);
  if (plugin)
    *plugin = l->desc;
  if (path)
    *path = l->path;
  return ref->op;
}

const char **ph_registry_operator_names(const ph_registry *r) {
  GPtrArray *a = g_ptr_array_new();
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, r->ops);
  while (g_hash_table_iter_next(&it, &k, NULL))
    if (!strchr(k, '.'))
      g_ptr_array_add(a, k);
  g_ptr_array_sort(a, cmp_strp);
  g_ptr_array_add(a, NULL);
  return (const char **)g_ptr_array_free(a, FALSE);
}

guint ph_registry_n_plugins(const ph_registry *r) { return r->plugins->len; }

const ph_plugin *ph_registry_get_plugin(const ph_registry *r, guint i,
                                        const char **path) {
  ph_loaded *l = &g_array_index(r->plugins, ph_loaded, i);
  if (path)
    *path = l->path;
  return l->desc;
}

guint ph_registry_n_problems(const ph_registry *r) { return r->problems->len; }

const char *ph_registry_get_problem(const ph_registry *r, guint i) {
  return g_ptr_array_index(r->problems, i);
}

const ph_param *ph_registry_find_param(const ph_operator *op,
                                       const char *name) {
  for (const ph_param *const *pp = op->params; pp && *pp; pp++)
    if (!strcmp((*pp)->name, name))
      return *pp;
  return NULL;
}
