/* cmd_datasets -- `pipehost datasets list|show URI|stale` and `pipehost
 * lineage` without a run: datasets, their updates and freshness, and the
 * tasks and DAGs they connect across DAGs (ph_dataset). */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "ph_dataset.h"
#include "ph_util.h"

/* "a, b" of a JSON array of strings; "-" when empty.  Caller frees. */
static char *joined(JsonArray *a) {
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < json_array_get_length(a); i++)
    g_string_append_printf(s, "%s%s", i ? ", " : "",
                           json_array_get_string_element(a, i));
  if (!s->len)
    g_string_append(s, "-");
  return g_string_free(s, FALSE);
}

/* A duration for people: 42s, 5m, 3h, 2d. */
static char *human(double secs) {
  if (secs < 120)
    return g_strdup_printf("%.0fs", secs);
  if (secs < 7200)
    return g_strdup_printf("%.0fm", secs / 60);
  if (secs < 172800)
    return g_strdup_printf("%.0fh", secs / 3600);
  return g_strdup_printf("%.0fd", secs / 86400);
}

static void print_table(JsonArray *a) {
  printf("%-40s %-25s %6s %8s %-6s %s\n", "DATASET", "LAST UPDATE", "AGE",
         "MAX_LAG", "STALE", "PRODUCERS -> CONSUMERS");
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *o = json_array_get_object_element(a, i);
    JsonNode *lag = json_object_get_member(o, "lag");
    JsonNode *max = json_object_get_member(o, "max_lag");
    g_autofree char *age = JSON_NODE_HOLDS_NULL(lag)
                               ? g_strdup("-")
                               : human(json_node_get_double(lag));
    g_autofree char *maxs = JSON_NODE_HOLDS_NULL(max)
                                ? g_strdup("-")
                                : human(json_node_get_double(max));
    g_autofree char *prod =
        joined(json_object_get_array_member(o, "producers"));
    g_autofree char *cons =
        joined(json_object_get_array_member(o, "consumers"));
    const char *last =
        json_object_get_string_member_with_default(o, "last_update", NULL);
    printf("%-40s %-25s %6s %8s %-6s %s -> %s\n",
           json_object_get_string_member(o, "uri"), last ? last : "never", age,
           maxs, json_object_get_boolean_member(o, "stale") ? "yes" : "no",
           prod, cons);
  }
}

/* Prints the datasets' lineage: producer tasks -> dataset -> reading
 * tasks and the DAGs scheduled on it (text, dot or mermaid). */
static void print_lineage(JsonArray *a, const char *format) {
  gboolean dot = format && !strcmp(format, "dot");
  gboolean mermaid = format && !strcmp(format, "mermaid");
  if (dot)
    printf("digraph lineage {\n  rankdir=LR;\n");
  if (mermaid)
    printf("graph LR\n");
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonObject *o = json_array_get_object_element(a, i);
    const char *uri = json_object_get_string_member(o, "uri");
    JsonArray *prod = json_object_get_array_member(o, "producers");
    JsonArray *read = json_object_get_array_member(o, "readers");
    JsonArray *cons = json_object_get_array_member(o, "consumers");
    g_autofree char *mid = g_strdup_printf("d%u", i);
    if (dot)
      printf("  \"%s\" [shape=cylinder];\n", uri);
    else if (mermaid)
      printf("  %s[(\"%s\")]\n", mid, uri);
    else
      printf("%s\n", uri);
    for (guint k = 0; k < json_array_get_length(prod); k++) {
      const char *p = json_array_get_string_element(prod, k);
      if (dot)
        printf("  \"%s\" -> \"%s\";\n", p, uri);
      else if (mermaid)
        printf("  %s_p%u[\"%s\"] --> %s\n", mid, k, p, mid);
      else
        printf("  updated by  %s\n", p);
    }
    for (guint k = 0; k < json_array_get_length(read); k++) {
      const char *r = json_array_get_string_element(read, k);
      if (dot)
        printf("  \"%s\" -> \"%s\";\n", uri, r);
      else if (mermaid)
        printf("  %s --> %s_r%u[\"%s\"]\n", mid, mid, k, r);
      else
        printf("  read by     %s\n", r);
    }
    for (guint k = 0; k < json_array_get_length(cons); k++) {
      const char *c = json_array_get_string_element(cons, k);
      if (dot)
        printf("  \"%s\" -> \"%s\" [style=dashed, label=\"triggers\"];\n", uri,
               c);
      else if (mermaid)
        printf("  %s -. triggers .-> %s_c%u[\"%s\"]\n", mid, mid, k, c);
      else
        printf("  triggers    %s (DAG)\n", c);
    }
  }
  if (dot)
    printf("}\n");
}

int ph_cmd_datasets(int argc, char **argv) {
  gboolean lineage = !strcmp(argv[0], "lineage");
  const char *sub = lineage ? "lineage" : argc > 1 ? argv[1] : "";
  if (!lineage && strcmp(sub, "list") && strcmp(sub, "show") &&
      strcmp(sub, "stale")) {
    printf("Usage: pipehost datasets list [--json]\n"
           "       pipehost datasets show URI [--json] [--limit N]\n"
           "       pipehost datasets stale [--json]   (exit 1 when one is "
           "stale)\n"
           "       pipehost lineage [--json] [--format dot|mermaid]\n");
    return !strcmp(sub, "--help") || !strcmp(sub, "-h") ? 0 : 2;
  }
  if (!lineage) {
    argc--;
    argv++;
  }
  gboolean json = FALSE;
  int limit = 20;
  char *format = NULL;
  GOptionEntry e[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON output", NULL},
      {"limit", 'n', 0, G_OPTION_ARG_INT, &limit,
       "show: at most N events, newest first (default 20; 0: all)", "N"},
      {"format", 'f', 0, G_OPTION_ARG_STRING, &format,
       "lineage: text (default), dot or mermaid", "FMT"},
      {0}};
  GOptionContext *ctx = g_option_context_new(
      lineage ? "- the tasks and DAGs datasets connect, across DAGs"
      : !strcmp(sub, "show")
          ? "URI - a dataset, its producers and consumers, its last updates"
      : !strcmp(sub, "stale")
          ? "- the datasets past their freshness (max_lag)"
          : "- every dataset: last update, age, freshness, producers, "
            "consumers");
  g_option_context_add_main_entries(ctx, e, NULL);
  int rc = 2;
  ph_store *st = NULL;
  JsonNode *n = NULL;
  gboolean show = !strcmp(sub, "show");
  if (!ph_cmd_parse(ctx, &argc, &argv, show ? 1 : 0, show ? 1 : 0,
                    lineage ? "lineage" : "datasets"))
    goto out;
  if (format && strcmp(format, "dot") && strcmp(format, "mermaid") &&
      strcmp(format, "text")) {
    g_printerr("pipehost lineage: --format must be text, dot or mermaid\n");
    goto out;
  }
  st = ph_cmd_open_store();
  if (!st)
    goto out;
  double now = ph_util_now();
  if (show) {
    n = ph_dataset_show(st, argv[1], limit, now);
    if (!n) {
      g_printerr("pipehost datasets show: no dataset '%s' (see pipehost "
                 "datasets list)\n",
                 argv[1]);
      rc = 1;
      goto out;
    }
  } else {
    n = ph_dataset_list(st, now);
  }
  if (!strcmp(sub, "stale")) {
    JsonArray *all = json_node_get_array(n), *stale = json_array_new();
    for (guint i = 0; i < json_array_get_length(all); i++) {
      JsonObject *o = json_array_get_object_element(all, i);
      if (json_object_get_boolean_member(o, "stale"))
        json_array_add_object_element(stale, json_object_ref(o));
    }
    json_node_unref(n);
    n = json_node_init_array(json_node_alloc(), stale);
    json_array_unref(stale);
  }
  if (json) {
    g_autofree char *txt = ph_util_json_write(n, PH_JSON_PRETTY);
    printf("%s\n", txt);
  } else if (lineage) {
    print_lineage(json_node_get_array(n), format);
  } else if (show) {
    JsonObject *o = json_node_get_object(n);
    JsonArray *one = json_array_new();
    json_array_add_object_element(one, json_object_ref(o));
    print_table(one);
    json_array_unref(one);
    g_autofree char *readers =
        joined(json_object_get_array_member(o, "readers"));
    printf("read by: %s\nevents (newest first):\n", readers);
    JsonArray *ev = json_object_get_array_member(o, "events");
    for (guint i = 0; i < json_array_get_length(ev); i++) {
      JsonObject *x = json_array_get_object_element(ev, i);
      gint64 mi = json_object_get_int_member(x, "map_index");
      g_autofree char *mis = mi >= 0
                                 ? g_strdup_printf("[%" G_GINT64_FORMAT "]", mi)
                                 : g_strdup("");
      printf("  %s  %s.%s%s  run %s\n",
             json_object_get_string_member(x, "timestamp"),
             json_object_get_string_member(x, "dag_id"),
             json_object_get_string_member(x, "task_id"), mis,
             json_object_get_string_member(x, "run_id"));
    }
  } else {
    print_table(json_node_get_array(n));
  }
  rc = !strcmp(sub, "stale") && json_array_get_length(json_node_get_array(n))
           ? 1
           : 0;
out:
  if (n)
    json_node_unref(n);
  ph_store_close(st);
  g_free(format);
  g_option_context_free(ctx);
  return rc;
}
