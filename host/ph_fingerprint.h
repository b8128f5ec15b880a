/* ph_fingerprint -- content fingerprints for result caching: a canonical
 * JSON form (keys sorted bytewise, no whitespace, integers in decimal,
 * other numbers as %.17g, minimal RFC 8259 escapes) hashed with SHA-256,
 * and SHA-256 content hashes of files and directory trees.  A task's
 * fingerprint is "sha256:" + hex(SHA-256(canonical JSON of what made it)).
 */
#ifndef PH_FINGERPRINT_H
#define PH_FINGERPRINT_H

#include <glib.h>
#include <json-glib/json-glib.h>

/* The canonical JSON text of node (caller frees).  Non-finite numbers are
 * written as null. */
char *ph_fingerprint_canonical(JsonNode *node);

/* "sha256:" + the hex SHA-256 of the canonical JSON of node (caller
 * frees). */
char *ph_fingerprint_json(JsonNode *node);

/* "sha256:" + the hex SHA-256 of len bytes of data (caller frees). */
char *ph_fingerprint_bytes(const void *data, gsize len);

/* The content hash of a file ("sha256:<hex>"), or of a directory (the hash
 * of its sorted relative paths, each followed by its file's hash; symlinks
 * are followed, hidden files included).  NULL with error set when path
 * cannot be read. */
char *ph_fingerprint_path(const char *path, GError **error);

#endif
