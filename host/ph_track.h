/* ph_track -- experiment tracking, the model registry and the result cache
 * (MLflow's and Hamilton's ideas, in the metadata store).
 *
 *  - An experiment is one task try that tracked params, metrics or
 *    artifacts (ph_track_log); `pipehost experiments` lists and compares
 *    them.
 *  - A model is a name with numbered versions, each a file made by one try;
 *    aliases ("production") point at versions.
 *  - The cache maps a task fingerprint to the successful try that produced
 *    it; lineage keeps, per run and task, the document the fingerprint was
 *    computed from.
 *
 * The tables live in the store's SQLite database and are written inside the
 * store's open transaction.  Returned strings are owned by the caller.
 */
#ifndef PH_TRACK_H
#define PH_TRACK_H

#include <glib.h>

#include "ph_store.h"

/* Which try is speaking. */
typedef struct ph_track_try {
  const char *dag_id;
  const char *run_id;
  const char *task_id;
  int try_number;
  const char *op;
} ph_track_try;

/* Creates the tracking tables if needed.  FALSE with error on failure. */
gboolean ph_track_init(ph_store *st, GError **error);

/* Merges json (an object) into the try's "params", "metrics" or
 * "artifacts".  FALSE with error for another kind or a non-object. */
gboolean ph_track_log(ph_store *st, const ph_track_try *who, const char *kind,
                      const char *json, GError **error);
/* Records the final state of a try that has an experiment row (no-op
 * otherwise). */
void ph_track_try_end(ph_store *st, const ph_track_try *who, const char *state);

/* Registers path as the next version of model name; returns
 * {"name","version"} as JSON, or NULL with error. */
char *ph_track_model_register(ph_store *st, const ph_track_try *who,
                              const char *name, const char *path,
                              GError **error);
/* Resolves "name@alias", "name:VERSION" or "name" (latest) to a JSON object
 * (see ph_host.model_get); NULL when nothing matches. */
char *ph_track_model_get(ph_store *st, const char *ref);
/* Points alias of name at version.  FALSE with error for an unknown
 * version. */
gboolean ph_track_model_set_alias(ph_store *st, const char *name,
                                  gint64 version, const char *alias,
                                  GError **error);

/* The successful try recorded for fingerprint fp: stores its run and task
 * ids (caller frees) and returns TRUE, or FALSE when there is none. */
gboolean ph_track_cache_lookup(ph_store *st, const char *fp, char **run_id,
                               char **task_id);
/* Records that the try who succeeded with fingerprint fp. */
void ph_track_cache_put(ph_store *st, const char *fp, const ph_track_try *who);
/* Records the fingerprint document of a task in a run; cached_from is the
 * run whose result was reused, or NULL. */
void ph_track_lineage_set(ph_store *st, const char *run_id, const char *task_id,
                          const char *fp, const char *doc_json,
                          const char *cached_from);

/* The CLI: `pipehost experiments|models|lineage ...` (argv[0] is the
 * command name).  Returns the process exit status. */
int ph_track_cli(ph_store *st, int argc, char **argv);

#endif
