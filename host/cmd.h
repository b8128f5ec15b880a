/* cmd -- pipehost subcommands that live in files of their own (as git's
 * builtin/ does; main.c dispatches).  Each takes the arguments after
 * "pipehost" (argv[0] is the command's name) and returns the exit status:
 * 0 ok, 1 the work failed, 2 usage or store error. */
#ifndef PH_CMD_H
#define PH_CMD_H

#include <glib.h>

#include "ph_dag.h"
#include "ph_plan.h"
#include "ph_registry.h"
#include "ph_store.h"

/* pipehost db clean ... (cmd_db.c) */
int ph_cmd_db(int argc, char **argv);
/* pipehost graph FILE [--format dot|mermaid] [--expand] (cmd_graph.c) */
int ph_cmd_graph(int argc, char **argv);

/* pipehost datasets list|show|stale, and pipehost lineage with no run
 * (cmd_datasets.c) */
int ph_cmd_datasets(int argc, char **argv);

/* ---- what main.c offers the commands */
/* The store under $PIPEHOST_HOME, or NULL after printing why. */
ph_store *ph_cmd_open_store(void);

/* Parses the command line with the common options (--plugin-dir); FALSE
 * after printing the error and a usage hint when it is wrong or has not
 * min_args..max_args arguments (max_args -1: no limit). */
gboolean ph_cmd_parse(GOptionContext *ctx, int *argc, char ***argv,
                      int min_args, int max_args, const char *cmd);
/* The plugin registry (free with ph_registry_free). */
ph_registry *ph_cmd_load_registry(void);
/* Loads and validates a DAG file, printing every error: the plan and, in
 * *dag_out, its DAG (freed by the caller after the plan), or NULL. */
ph_plan *ph_cmd_load_plan(const char *file, ph_registry *reg,
                          ph_dag **dag_out);

#endif
