/* ph_util -- small helpers shared by host modules: durations, edit
 * distance for "did you mean" hints, time formatting. */
#ifndef PH_UTIL_H
#define PH_UTIL_H

#include <glib.h>
#include <json-glib/json-glib.h>

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

/* Serialises node as compact JSON text; caller frees. NULL node gives
 * "null". */
char *ph_util_json_dup(JsonNode *node);

/* Parses JSON text into a new node (caller frees with json_node_unref), or
 * NULL with error set. */
JsonNode *ph_util_json_parse(const char *text, GError **error);

/* TRUE when a JSON value is "falsy" in Airflow's (Python's) sense: null,
 * false, 0, "", [] or {}. */
gboolean ph_util_json_falsy(JsonNode *node);

#endif
