/* Fingerprints: SHA-256 against FIPS 180-2's published vectors, the
 * canonical JSON form (stardag's documented example, key order, escapes,
 * numbers), and content hashes of files and directory trees. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_fingerprint.h"

static void test_sha256_vectors(void) {
  /* FIPS 180-2, appendix B.1 and the empty message */
  g_autofree char *abc = ph_fingerprint_bytes("abc", 3);
  g_assert_cmpstr(abc, ==,
                  "sha256:ba7816bf8f01cfea414140de5dae2223b00361a3"
                  "96177a9cb410ff61f20015ad");
  g_autofree char *empty = ph_fingerprint_bytes("", 0);
  g_assert_cmpstr(empty, ==,
                  "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e"
                  "4649b934ca495991b7852b855");
  /* B.2: the 448-bit message */
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  g_autofree char *b2 = ph_fingerprint_bytes(m, strlen(m));
  g_assert_cmpstr(b2, ==,
                  "sha256:248d6a61d20638b8e5c026930c3e6039a33ce4596"
                  "4ff2167f6ecedd419db06c1");
}

static char *canon(const char *json) {
  JsonNode *n = json_from_string(json, NULL);
  g_assert_nonnull(n);
  char *c = ph_fingerprint_canonical(n);
  json_node_unref(n);
  return c;
}

static void test_canonical(void) {
  /* stardag's documented task-id input (ML.md section 6) */
  g_autofree char *s1 = canon("{\"b\": 2, \"a\": 1, \"version\": \"\", "
                              "\"__namespace\": \"\", \"__name\": \"add\"}");
  g_assert_cmpstr(s1, ==,
                  "{\"__name\":\"add\",\"__namespace\":\"\",\"a\":1,\"b\":2,"
                  "\"version\":\"\"}");
  g_autofree char *s2 =
      canon("{\"z\": {\"y\": [3, 2.5, true, null], \"x\": \"a\\nb\\u0001\"}}");
  g_assert_cmpstr(s2, ==,
                  "{\"z\":{\"x\":\"a\\nb\\u0001\",\"y\":[3,2.5,true,null]}}");
  /* integers and integral doubles hash alike; %.17g for the rest */
  g_autofree char *s3 = canon("[2.0, 0.1, -0.0, 1e300, 12345678901234567]");
  g_assert_cmpstr(s3, ==,
                  "[2,0.10000000000000001,0,1.0000000000000001e+300,"
                  "12345678901234567]");
  g_autofree char *s4 = canon("\"caf\\u00e9 \\\"q\\\" \\\\\"");
  g_assert_cmpstr(s4, ==, "\"caf\xc3\xa9 \\\"q\\\" \\\\\"");
  /* key order does not change the hash; a value does */
  JsonNode *a = json_from_string("{\"p\": 1, \"q\": [1, 2]}", NULL);
  JsonNode *b = json_from_string("{\"q\": [1, 2], \"p\": 1.0}", NULL);
  JsonNode *c = json_from_string("{\"q\": [2, 1], \"p\": 1}", NULL);
  g_autofree char *ha = ph_fingerprint_json(a);
  g_autofree char *hb = ph_fingerprint_json(b);
  g_autofree char *hc = ph_fingerprint_json(c);
  g_assert_cmpstr(ha, ==, hb);
  g_assert_cmpstr(ha, !=, hc);
  json_node_unref(a);
  json_node_unref(b);
  json_node_unref(c);
}

static void put(const char *dir, const char *name, const char *text) {
  g_autofree char *p = g_build_filename(dir, name, NULL);
  g_autofree char *d = g_path_get_dirname(p);
  g_mkdir_with_parents(d, 0755);
  g_assert_true(g_file_set_contents(p, text, -1, NULL));
}

static void test_paths(void) {
  g_autofree char *d1 = g_dir_make_tmp("ph-fp-XXXXXX", NULL);
  g_autofree char *d2 = g_dir_make_tmp("ph-fp-XXXXXX", NULL);
  /* the same tree written in another order hashes alike */
  put(d1, "a.csv", "1,2\n");
  put(d1, "sub/b.csv", "3\n");
  put(d2, "sub/b.csv", "3\n");
  put(d2, "a.csv", "1,2\n");
  GError *err = NULL;
  g_autofree char *h1 = ph_fingerprint_path(d1, &err);
  g_autofree char *h2 = ph_fingerprint_path(d2, &err);
  g_assert_no_error(err);
  g_assert_cmpstr(h1, ==, h2);
  /* a file's hash is the SHA-256 of its bytes */
  g_autofree char *fa = g_build_filename(d1, "a.csv", NULL);
  g_autofree char *hf = ph_fingerprint_path(fa, &err);
  g_autofree char *hb = ph_fingerprint_bytes("1,2\n", 4);
  g_assert_cmpstr(hf, ==, hb);
  /* content and names both count */
  put(d2, "sub/b.csv", "4\n");
  g_autofree char *h3 = ph_fingerprint_path(d2, &err);
  g_assert_cmpstr(h1, !=, h3);
  put(d2, "sub/b.csv", "3\n");
  g_autofree char *old = g_build_filename(d2, "a.csv", NULL);
  g_autofree char *new = g_build_filename(d2, "c.csv", NULL);
  g_assert_cmpint(g_rename(old, new), ==, 0);
  g_autofree char *h4 = ph_fingerprint_path(d2, &err);
  g_assert_cmpstr(h1, !=, h4);
  /* a missing path is an error naming it */
  g_autofree char *none = g_build_filename(d1, "nope", NULL);
  char *h5 = ph_fingerprint_path(none, &err);
  g_assert_null(h5);
  g_assert_nonnull(err);
  g_assert_nonnull(strstr(err->message, "nope"));
  g_clear_error(&err);
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s' '%s'", d1, d2);
  g_assert_cmpint(system(cmd), ==, 0);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/fingerprint/sha256_vectors", test_sha256_vectors);
  g_test_add_func("/fingerprint/canonical", test_canonical);
  g_test_add_func("/fingerprint/paths", test_paths);
  return g_test_run();
}
