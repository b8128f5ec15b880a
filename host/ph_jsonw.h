/* ph_jsonw -- JSON text written as it is produced: a streaming writer for
 * replies made of many rows (the REST API's lists), where building a
 * json-glib tree and then serialising it costs more than the query; and
 * the serialiser of json-glib trees that ph_util_json_write uses.
 *
 *   ph_jsonw *w = ph_jsonw_new();
 *   ph_jsonw_begin_object(w);
 *   ph_jsonw_key(w, "state"); ph_jsonw_string(w, "success");
 *   ph_jsonw_end_object(w);
 *   char *text = ph_jsonw_free_to_text(w, &len);
 *
 * Commas are the writer's business; the caller's is only to pair begins
 * with ends and to give each object member a key first.  Strings are
 * escaped as RFC 8259 asks; a double is written as Python's repr writes
 * it (10.0, 0.1, 1e+20), non-finite numbers are null. */
#ifndef PH_JSONW_H
#define PH_JSONW_H
#include <glib.h>
#include <json-glib/json-glib.h>

/* How a json-glib tree is laid out. */
typedef enum {
  PH_JSON_COMPACT = 0,   /* no white space */
  PH_JSON_PRETTY = 1,    /* two-space indentation, one member per line */
  PH_JSON_CANONICAL = 2, /* keys sorted bytewise, integral numbers as
                          * integers, other doubles as %.17g: the input of
                          * fingerprints */
} ph_json_style;

typedef struct ph_jsonw ph_jsonw;

/* A new, empty writer (compact output). */
ph_jsonw *ph_jsonw_new(void);
/* Frees w and returns its text (caller frees); *len (may be NULL) gets its
 * length. */
char *ph_jsonw_free_to_text(ph_jsonw *w, gsize *len);
void ph_jsonw_begin_object(ph_jsonw *w);
void ph_jsonw_end_object(ph_jsonw *w);
void ph_jsonw_begin_array(ph_jsonw *w);
void ph_jsonw_end_array(ph_jsonw *w);
/* The key of the next object member. */
void ph_jsonw_key(ph_jsonw *w, const char *key);
/* A string value; NULL writes null. */
void ph_jsonw_string(ph_jsonw *w, const char *s);
void ph_jsonw_int(ph_jsonw *w, gint64 v);
void ph_jsonw_double(ph_jsonw *w, double v);
void ph_jsonw_bool(ph_jsonw *w, gboolean v);
void ph_jsonw_null(ph_jsonw *w);
/* A json-glib value (borrowed; NULL writes null), compact. */
void ph_jsonw_node(ph_jsonw *w, JsonNode *n);
/* text, which the caller vouches is one valid JSON value. */
void ph_jsonw_raw(ph_jsonw *w, const char *text);

/* The shortest text that reads back to d, with ".0" when it is integral
 * (Python's str() of a float: 10.0 gives "10.0", 0.1 "0.1", 1e20
 * "1e+20"); "nan", "inf" or "-inf" when it is not finite.  Caller frees. */
char *ph_jsonw_double_text(double d);

/* Appends node to out in the given style. */
void ph_jsonw_append_node(GString *out, JsonNode *node, ph_json_style style);
#endif /* PH_JSONW_H */
