/* ph_direct -- see ph_direct.h. */
#include "ph_direct.h"
#include "ph_template.h"

#include <string.h>

#include "ph_registry.h"
#include "ph_util.h"

static gboolean named(const ph_command *c, const char *name) {
  if ((c->cwd_param && !strcmp(c->cwd_param, name)) ||
      (c->skip_code_param && !strcmp(c->skip_code_param, name)))
    return TRUE;
  for (guint i = 0; c->argv[i]; i++) {
    g_autofree char *p = ph_registry_placeholder(c->argv[i]);
    if (p && !strcmp(p, name))
      return TRUE;
  }
  return FALSE;
}

gboolean ph_direct_applies(const ph_operator *op, JsonObject *params) {
  if (!PH_HAS(op, ph_operator, command) || !op->command)
    return FALSE;
  gboolean ok = TRUE;
  GList *keys = json_object_get_members(params);
  for (GList *l = keys; l && ok; l = l->next) {
    const char *k = l->data;
    const ph_param *pp = ph_registry_find_param(op, k);
    g_autofree char *text = ph_util_json_dup(json_object_get_member(params, k));
    if (!pp || (pp->flags & PH_PARAM_SECRET)) {
      ok = FALSE;
    } else if (ph_template_calls_patterns(text)) {
      ok = FALSE; /* rendered where a timeout can stop it: the worker */
    } else if (!named(op->command, k)) {
      /* a param the command does not use must keep its default (the
       * text of defaults the plan applied; another spelling of the same
       * value only costs the worker path) */
      ok = pp->default_json && !strcmp(pp->default_json, text);
    }
  }
  g_list_free(keys);
  return ok;
}

static const char *param_string(JsonObject *params, const char *name) {
  JsonNode *n = name ? json_object_get_member(params, name) : NULL;
  return n && JSON_NODE_HOLDS_VALUE(n) &&
                 json_node_get_value_type(n) == G_TYPE_STRING
             ? json_node_get_string(n)
             : NULL;
}

char **ph_direct_argv(const ph_operator *op, JsonObject *params, char ***plain,
                      char **cwd, int *skip_code) {
  const ph_command *c = op->command;
  GPtrArray *a = g_ptr_array_new();
  for (guint i = 0; c->argv[i]; i++) {
    g_autofree char *p = ph_registry_placeholder(c->argv[i]);
    const char *v = p ? param_string(params, p) : c->argv[i];
    g_ptr_array_add(a, g_strdup(v ? v : ""));
  }
  g_ptr_array_add(a, NULL);
  char **argv = (char **)g_ptr_array_free(a, FALSE);
  if (plain) {
    guint n = g_strv_length(argv);
    *plain = (c->flags & PH_COMMAND_SHELL_LINE) && n
                 ? ph_direct_split_plain(argv[n - 1])
                 : NULL;
  }
  const char *d = param_string(params, c->cwd_param);
  *cwd = d && *d ? g_strdup(d) : NULL;
  JsonNode *sk = c->skip_code_param
                     ? json_object_get_member(params, c->skip_code_param)
                     : NULL;
  *skip_code = sk && JSON_NODE_HOLDS_VALUE(sk) &&
                       json_node_get_value_type(sk) == G_TYPE_INT64
                   ? (int)json_node_get_int(sk)
                   : -1;
  return argv;
}

char **ph_direct_split_plain(const char *line) {
  static const char *const builtins[] = {
      ".",        ":",        "[",        "alias",   "bg",      "bind",
      "break",    "builtin",  "caller",   "cd",      "command", "compgen",
      "complete", "compopt",  "continue", "declare", "dirs",    "disown",
      "echo",     "enable",   "eval",     "exec",    "exit",    "export",
      "fc",       "fg",       "getopts",  "hash",    "help",    "history",
      "jobs",     "kill",     "let",      "local",   "logout",  "mapfile",
      "popd",     "printf",   "pushd",    "pwd",     "read",    "readarray",
      "readonly", "return",   "set",      "shift",   "shopt",   "source",
      "suspend",  "test",     "times",    "trap",    "type",    "typeset",
      "ulimit",   "umask",    "unalias",  "unset",   "wait",    "if",
      "then",     "else",     "elif",     "fi",      "case",    "esac",
      "for",      "select",   "while",    "until",   "do",      "done",
      "in",       "function", "time",     "coproc",  NULL};
  for (const char *p = line; *p; p++)
    if (!g_ascii_isalnum(*p) && !strchr("_./:,+@%=- \t", *p))
      return NULL;
  char **argv = g_strsplit_set(line, " \t", -1);
  guint n = 0; /* drop the empty words blanks leave */
  for (guint i = 0; argv[i]; i++) {
    if (*argv[i])
      argv[n++] = argv[i];
    else
      g_free(argv[i]);
  }
  argv[n] = NULL;
  if (n == 0 || strchr(argv[0], '=') || argv[0][0] == '-')
    goto shell;
  for (const char *const *b = builtins; *b; b++)
    if (!strcmp(*b, argv[0]))
      goto shell;
  return argv;
shell:
  g_strfreev(argv);
  return NULL;
}
