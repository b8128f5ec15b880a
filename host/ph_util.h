/* ph_util -- small helpers shared by host modules: durations, edit
 * distance for "did you mean" hints, time formatting. */
#ifndef PH_UTIL_H
#define PH_UTIL_H

#include <glib.h>
#include <sys/stat.h>
#include <json-glib/json-glib.h>
#include "ph_jsonw.h"

/* A file's identity as stat sees it, as text: device, inode, size, and
 * modification and change times (nanoseconds).  Equal texts mean the
 * file was not written, replaced or renamed over in between.  Caller
 * frees. */
char *ph_util_stat_identity(const struct stat *st);

/* Parses a duration: a JSON number of seconds, or a string "1.5", "30s",
 * "5m", "2h", "1d", "250ms".  Stores seconds in *out and returns TRUE; FALSE
 * (out untouched) when node is not a valid non-negative duration. */
gboolean ph_util_parse_duration(JsonNode *node, double *out);

/* Parses a size: a JSON integer of bytes, or a string "512K", "64M",
 * "2G" (powers of 1024).  Stores bytes in *out and returns TRUE; FALSE
 * (out untouched) when node is not a positive size. */
gboolean ph_util_parse_size(JsonNode *node, double *out);

/* Levenshtein distance between a and b (bytes). */
guint ph_util_edit_distance(const char *a, const char *b);

/* The candidate closest to word, or NULL when none is close enough to be a
 * plausible typo.  candidates is NULL-terminated; result is borrowed from
 * it. */
const char *ph_util_nearest(const char *word, const char *const *candidates);

/* Current wall-clock time in seconds since the epoch (microsecond
 * resolution). */
double ph_util_now(void);

/* Monotonic time in seconds. */
double ph_util_mono(void);

/* ISO-8601 UTC text ("2024-01-02T03:04:05+00:00") for t seconds since the
 * epoch; caller frees. */
char *ph_util_iso8601(double t);

/* One task log line, "[2024-01-02T03:04:05Z] LEVEL msg\n", stamped now;
 * caller frees.  The worker's log() and the host's own lines use it. */
char *ph_util_log_line(const char *level, const char *msg);

/* text with every secret of secrets (strings; those under 3 bytes are
 * left alone, they would mask ordinary text) replaced by "***"; caller
 * frees.  secrets may be NULL. */
char *ph_util_mask(const GPtrArray *secrets, const char *text);

/* TRUE when a variable's name marks its value as a secret, as Airflow's
 * secrets masker decides: it contains (case-insensitively) access_token,
 * api_key, apikey, authorization, passphrase, passwd, password,
 * private_key, secret or token. */
gboolean ph_util_name_is_sensitive(const char *name);

/* TRUE when the environment entry "NAME=value" carries a credential the
 * host serves to tasks on request (PIPEHOST_CONN_*, PIPEHOST_VAR_*): such
 * entries are not passed to tasks, whose commands could print them. */
gboolean ph_util_env_is_secret(const char *entry);

/* text made safe to print on a terminal (caller frees): control
 * characters (escape sequences, carriage returns, newlines) become
 * "\xNN", so a reason or id cannot move the cursor, recolour or rewrite
 * what the terminal shows.  NULL gives "". */
char *ph_util_printable(const char *text);

/* The first line of a reason (its message, without DETAIL / HINT lines),
 * printable as ph_util_printable makes it; caller frees. */
char *ph_util_first_line(const char *text);

/* The kinds of id ph_util_id_problem checks. */
typedef enum {
  PH_ID_DAG,  /* a DAG id: [A-Za-z0-9_.-], as Airflow's KEY_REGEX */
  PH_ID_TASK, /* a task id: the same set */
  PH_ID_RUN,  /* a run id: also '~', ':' and '+', as Airflow's RUN_ID_REGEX;
               * "last" and "latest" name the newest run, so are refused */
} ph_id_kind;

/* Why id is not a safe id of its kind (caller frees), or NULL when it is.
 * Ids name files under $PIPEHOST_HOME (logs, artifacts), so each is 1 to
 * 250 characters of its set and never "." or "..": no id can reach outside
 * its directory or share a file with another. */
char *ph_util_id_problem(ph_id_kind kind, const char *id);

/* len bytes of text (len < 0: up to its NUL) as valid UTF-8: each byte
 * that is not part of a valid sequence becomes "\xNN", as Python's
 * errors="backslashreplace" decodes.  *was_valid (may be NULL) tells
 * whether the text was valid already.  Caller frees. */
char *ph_util_utf8_lossy(const char *text, gssize len, gboolean *was_valid);

/* Serialises node as compact JSON text; caller frees. NULL node gives
 * "null".  Unlike json-glib's generator it always writes valid JSON: a
 * double as Python's repr writes it: the fewest digits that read back to
 * the same value, fixed notation for exponents -4 to 15 (10.0, 0.0001),
 * scientific otherwise (1e+20, never "1e+20.0"); non-finite numbers as
 * null. */
char *ph_util_json_dup(JsonNode *node);
/* s (taken, freed) as a JSON string's text, e.g. "a\"b" (caller frees);
 * NULL for NULL. */
char *ph_util_json_string_take(char *s);

/* Serialises node in the given style; caller frees. */
char *ph_util_json_write(JsonNode *node, ph_json_style style);

/* Parses JSON text into a new node (caller frees with json_node_unref), or
 * NULL with error set. */
JsonNode *ph_util_json_parse(const char *text, GError **error);

/* TRUE when a JSON value is "falsy" in Airflow's (Python's) sense: null,
 * false, 0, "", [] or {}. */
gboolean ph_util_json_falsy(JsonNode *node);

#endif
