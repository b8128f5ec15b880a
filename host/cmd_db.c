/* cmd_db -- `pipehost db`: the store's maintenance (see cmd.h). */
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "cmd.h"
#include "ph_clean.h"
#include "ph_store.h"
#include "ph_util.h"

static const char usage_text[] =
    "usage: pipehost db check [--json]\n"
    "       pipehost db upgrade\n"
    "       pipehost db clean --older-than DURATION [--dag DAG_ID] "
    "[--dry-run]\n"
    "                         [--skip-archive] [--logs-older-than DURATION] "
    "[--json]\n"
    "\n"
    "Deletes the finished runs that ended more than DURATION ago (30d, 12h, "
    "90m, 3600s),\n"
    "with their task instances, tries, XComs, experiments, lineage, logs "
    "and per-run\n"
    "artifacts, as Airflow's `db clean` does.  The rows are archived first "
    "into\n"
    "$PIPEHOST_HOME/archive/clean-TIME.db (--skip-archive: not).  Never "
    "deleted: runs\n"
    "not finished, the latest run of each DAG, and runs a cached result, a "
    "lineage\n"
    "record or a registered model version points to.\n"
    "--logs-older-than DURATION also deletes the log files of the finished "
    "runs it\n"
    "keeps that ended more than DURATION ago (log retention).\n"
    "\n"
    "check reads the store without changing it: its schema version against "
    "this\n"
    "pipehost's and SQLite's quick_check.  Exit 0 when it is current and "
    "intact, 1 when\n"
    "an upgrade is pending or a newer pipehost wrote it, 2 when it is "
    "missing, unreadable\nor damaged.\n"
    "upgrade migrates the store to this pipehost's schema now, in one "
    "transaction (any\n"
    "command would at its first open; run it once before starting "
    "schedulers).\n";

/* A duration option ("30d", "12h", "3600"); FALSE when it is not one. */
static gboolean duration(const char *text, double *out) {
  JsonNode *n = json_node_new(JSON_NODE_VALUE);
  json_node_set_string(n, text);
  gboolean ok = ph_util_parse_duration(n, out);
  json_node_unref(n);
  return ok;
}

static void print_report(const ph_clean_report *r, gboolean dry,
                         gboolean json) {
  if (json) {
    g_autofree char *archive =
        r->archive ? g_strescape(r->archive, NULL) : NULL;
    printf(
        "{\"dry_run\":%s,\"runs\":%" G_GUINT64_FORMAT
        ",\"task_instances\":%" G_GUINT64_FORMAT ",\"tries\":%" G_GUINT64_FORMAT
        ",\"xcoms\":%" G_GUINT64_FORMAT ",\"experiments\":%" G_GUINT64_FORMAT
        ",\"lineage\":%" G_GUINT64_FORMAT
        ",\"kept_unfinished\":%" G_GUINT64_FORMAT
        ",\"kept_latest\":%" G_GUINT64_FORMAT
        ",\"kept_referenced\":%" G_GUINT64_FORMAT
        ",\"log_files\":%" G_GUINT64_FORMAT ",\"dirs\":%" G_GUINT64_FORMAT
        ",\"archive\":%s%s%s}\n",
        dry ? "true" : "false", r->runs, r->task_instances, r->tries, r->xcoms,
        r->experiments, r->lineage, r->kept_unfinished, r->kept_latest,
        r->kept_referenced, r->log_files, r->dirs, archive ? "\"" : "",
        archive ? archive : "null", archive ? "\"" : "");
    return;
  }
  printf("%s %" G_GUINT64_FORMAT " runs (%" G_GUINT64_FORMAT
         " task instances, %" G_GUINT64_FORMAT " tries, %" G_GUINT64_FORMAT
         " XComs, %" G_GUINT64_FORMAT " experiments, %" G_GUINT64_FORMAT
         " lineage records)\n",
         dry ? "would delete" : "deleted", r->runs, r->task_instances, r->tries,
         r->xcoms, r->experiments, r->lineage);
  if (r->kept_unfinished || r->kept_latest || r->kept_referenced)
    printf("kept although old enough: %" G_GUINT64_FORMAT
           " not finished, %" G_GUINT64_FORMAT
           " latest of their DAG, %" G_GUINT64_FORMAT
           " still referenced (cache, lineage, model registry)\n",
           r->kept_unfinished, r->kept_latest, r->kept_referenced);
  if (r->log_files)
    printf("%s %" G_GUINT64_FORMAT " log files of kept runs\n",
           dry ? "would delete" : "deleted", r->log_files);
  if (r->archive)
    printf("archived the rows into %s\n", r->archive);
}

/* pipehost db check [--json] */
static int db_check(int argc, char **argv) {
  gboolean json = argc == 3 && !strcmp(argv[2], "--json");
  if (argc > 2 && !json) {
    fputs(usage_text, stderr);
    return 2;
  }
  g_autofree char *home = ph_store_default_home();
  g_autofree char *where = ph_store_describe(home);
  g_autofree char *integrity = NULL;
  GError *err = NULL;
  int v = ph_store_check(home, &integrity, &err);
  int known = ph_store_schema_known();
  int rc = v < 0 || g_strcmp0(integrity, "ok") ? 2 : v != known ? 1 : 0;
  const char *state = v < 0                         ? "unreadable"
                      : g_strcmp0(integrity, "ok")  ? "damaged"
                      : v < known                   ? "upgrade pending"
                      : v > known                   ? "newer"
                                                    : "current";
  if (json) {
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "store", where);
    json_object_set_string_member(o, "state", state);
    json_object_set_int_member(o, "schema_version", v);
    json_object_set_int_member(o, "known_version", known);
    if (integrity)
      json_object_set_string_member(o, "integrity", integrity);
    else
      json_object_set_null_member(o, "integrity");
    if (err)
      json_object_set_string_member(o, "error", err->message);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    g_autofree char *text = ph_util_json_write(n, PH_JSON_PRETTY);
    json_node_unref(n);
    printf("%s\n", text);
  } else if (v < 0) {
    g_printerr("pipehost db check: %s\n", err->message);
  } else if (rc == 2) {
    printf("%s: schema %d, DAMAGED: %s\n(restore it from a "
           "backup, or move it away to start a new store)\n",
           where, v, integrity);
  } else if (v < known) {
    printf("%s: schema %d, this pipehost's is %d: an upgrade is "
           "pending (pipehost db upgrade); integrity ok\n",
           where, v, known);
  } else if (v > known) {
    printf("%s: schema %d was written by a newer pipehost (this "
           "one knows up to %d); integrity ok\n",
           where, v, known);
  } else {
    printf("%s: schema %d, current; integrity ok\n", where, v);
  }
  g_clear_error(&err);
  return rc;
}

/* pipehost db upgrade */
static int db_upgrade(int argc, char **argv) {
  (void)argv;
  if (argc > 2) {
    fputs(usage_text, stderr);
    return 2;
  }
  g_autofree char *home = ph_store_default_home();
  g_autofree char *where = ph_store_describe(home);
  g_autofree char *integrity = NULL;
  GError *err = NULL;
  int before = ph_store_check(home, &integrity, NULL);
  ph_store *st = ph_store_open(home, &err); /* migrates, or refuses */
  if (!st) {
    g_printerr("pipehost db upgrade: %s\n", err->message);
    g_clear_error(&err);
    return 2;
  }
  ph_store_close(st);
  int known = ph_store_schema_known();
  if (before == known)
    printf("%s: schema %d, already current\n", where, known);
  else if (before <= 0)
    printf("%s: made at schema %d\n", where, known);
  else
    printf("%s: upgraded from schema %d to %d\n", where, before, known);
  return 0;
}

int ph_cmd_db(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "check"))
    return db_check(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "upgrade"))
    return db_upgrade(argc, argv);
  if (argc < 2 || strcmp(argv[1], "clean")) {
    fputs(usage_text,
          argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
    return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
  }
  char *older = NULL, *logs_older = NULL, *dag = NULL;
  gboolean dry = FALSE, skip_archive = FALSE, json = FALSE;
  GOptionEntry entries[] = {
      {"older-than", 0, 0, G_OPTION_ARG_STRING, &older,
       "delete finished runs that ended more than DURATION ago", "DURATION"},
      {"dag", 0, 0, G_OPTION_ARG_STRING, &dag, "only this DAG's runs",
       "DAG_ID"},
      {"dry-run", 0, 0, G_OPTION_ARG_NONE, &dry, "count, change nothing", NULL},
      {"skip-archive", 0, 0, G_OPTION_ARG_NONE, &skip_archive,
       "delete rows without archiving them", NULL},
      {"logs-older-than", 0, 0, G_OPTION_ARG_STRING, &logs_older,
       "also delete the log files of kept runs that ended before", "DURATION"},
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "print the counts as JSON",
       NULL},
      {NULL, 0, 0, 0, NULL, NULL, NULL}};
  GOptionContext *ctx = g_option_context_new("- delete old runs");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_set_help_enabled(ctx, TRUE);
  GError *err = NULL;
  int rc = 2;
  ph_store *st = NULL;
  ph_clean_report rep = {0};
  int sargc = argc - 1;
  char **sargv = argv + 1;
  if (!g_option_context_parse(ctx, &sargc, &sargv, &err)) {
    g_printerr("pipehost db clean: %s\n%s", err->message, usage_text);
    goto out;
  }
  ph_clean_opts o = {.older_than = -1,
                     .logs_older_than = -1,
                     .dag_id = dag,
                     .dry_run = dry,
                     .skip_archive = skip_archive};
  if (!older && !logs_older) {
    g_printerr("pipehost db clean: give --older-than DURATION (or "
               "--logs-older-than): nothing is deleted by default\n%s",
               usage_text);
    goto out;
  }
  const char *bad = older && !duration(older, &o.older_than) ? older
                    : logs_older && !duration(logs_older, &o.logs_older_than)
                        ? logs_older
                        : NULL;
  if (bad) {
    g_printerr("pipehost db clean: '%s' is not a duration (say 30d, 12h, "
               "90m or 3600s)\n",
               bad);
    goto out;
  }
  if (sargc > 1) {
    g_printerr("pipehost db clean: unexpected argument '%s'\n%s", sargv[1],
               usage_text);
    goto out;
  }
  char *home = ph_store_default_home();
  st = ph_store_open(home, &err);
  g_free(home);
  if (!st) {
    g_printerr("pipehost: %s\n", err->message);
    goto out;
  }
  if (!ph_clean_run(st, &o, &rep, &err)) {
    g_printerr("pipehost db clean: %s\n", err->message);
    goto out;
  }
  print_report(&rep, dry, json);
  rc = 0;
out:
  g_clear_error(&err);
  ph_clean_report_clear(&rep);
  if (st)
    ph_store_close(st);
  g_option_context_free(ctx);
  g_free(older);
  g_free(logs_older);
  g_free(dag);
  return rc;
}
