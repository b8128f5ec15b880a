/* ml -- the train, predict and model_promote operators.
 *
 * train reads a table (CSV, or a SQLite query through a connection),
 * splits it deterministically (row i is validation when i % every == fold),
 * trains XGBoost or a liblinear model, computes validation metrics as
 * scikit-learn does, saves the model with a JSON description of its
 * features and labels into the try's artifact directory, tracks params and
 * metrics, and can register it and promote it when it beats the aliased
 * version.  predict loads a model (a path or a registry reference) and
 * scores a table.  model_promote moves an alias to a version when it is
 * better on a metric.
 *
 * This is the implementation library (impl/ml.so); ml_ops.c holds the
 * descriptors the host scans (plugins/common/lazy.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ml_metrics.h"
#include "ml_model.h"
#include "ml_table.h"
#include "../common/putil.h"
#include "pipehost/plugin.h"

#define SIDECAR "pipehost-model.json"

typedef struct {
  const ph_host *h;
} ml_state;

static ph_status ml_init(const ph_host *h, ph_task *t, void **out) {
  if (!PH_HAS(h, ph_host, model_set_alias)) {
    h->set_reason(t, "the ml operators need a host with plugin ABI 1.1 or "
                     "later (artifacts and the model registry)");
    return PH_FAIL;
  }
  ml_state *s = g_new0(ml_state, 1);
  s->h = h;
  *out = s;
  return PH_OK;
}

static void ml_destroy(void *s) { g_free(s); }

/* ---- helpers */

/* A string that holds a JSON object (a rendered template of an XCom) is
 * read as that object. */
static JsonNode *unwrap(JsonNode *n) {
  if (n && JSON_NODE_HOLDS_VALUE(n) &&
      json_node_get_value_type(n) == G_TYPE_STRING) {
    const char *s = json_node_get_string(n);
    while (g_ascii_isspace(*s))
      s++;
    if (*s == '{') {
      JsonNode *o = json_from_string(s, NULL);
      if (o && JSON_NODE_HOLDS_OBJECT(o)) {
        json_node_unref(n);
        return o;
      }
      if (o)
        json_node_unref(o);
    }
  }
  return n;
}

/* A connection as a JSON node (caller frees), or NULL with error. */
static JsonNode *conn_node(const ph_host *h, ph_task *t, const char *conn_id,
                           GError **error) {
  const char *cj = NULL;
  if (h->connection_get(t, conn_id, &cj) != PH_OK) {
    g_autofree char *up = g_ascii_strup(conn_id ? conn_id : "", -1);
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "connection '%s' is not defined (pipehost connections add, "
                "or PIPEHOST_CONN_%s=sqlite:///path.db or postgresql://...)",
                conn_id, up);
    return NULL;
  }
  return json_from_string(cj, NULL);
}

static gboolean valid_ident(const char *s) {
  if (!s || !*s || g_ascii_isdigit(*s))
    return FALSE;
  for (; *s; s++)
    if (!g_ascii_isalnum(*s) && *s != '_' && *s != '.')
      return FALSE;
  return TRUE;
}

/* Reads the table a param names: a CSV path, {"path": ...} (what
 * feature_fetch pushes) or {"conn_id", "table"|"query"}.  Stores a label
 * for messages in *what. */
static ml_table *read_input(const ph_host *h, ph_task *t, const char *param,
                            char **what, GError **error) {
  ml_table *tab = NULL;
  JsonNode *n = unwrap(pu_param_node(h, t, param));
  *what = NULL;
  if (!n) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "param '%s' is missing", param);
    return NULL;
  }
  if (JSON_NODE_HOLDS_VALUE(n) &&
      json_node_get_value_type(n) == G_TYPE_STRING) {
    *what = g_strdup(json_node_get_string(n));
    tab = ml_table_read_csv(*what, error);
  } else if (JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObject *o = json_node_get_object(n);
    const char *path =
        json_object_get_string_member_with_default(o, "path", NULL);
    const char *conn =
        json_object_get_string_member_with_default(o, "conn_id", NULL);
    if (path) {
      /* a layout other than CSV with a header: sep, header, columns; and
       * a target kept in a file of its own: target_path */
      *what = g_strdup(path);
      const char *sep =
          json_object_get_string_member_with_default(o, "sep", ",");
      ml_csv_opts opts = {0};
      opts.whitespace = !strcmp(sep, "whitespace") || !strcmp(sep, "\\s+");
      opts.no_header =
          !json_object_get_boolean_member_with_default(o, "header", TRUE);
      JsonArray *cols = json_object_has_member(o, "columns")
                            ? json_object_get_array_member(o, "columns")
                            : NULL;
      GPtrArray *names = g_ptr_array_new();
      for (guint i = 0; cols && i < json_array_get_length(cols); i++)
        g_ptr_array_add(names, (char *)json_array_get_string_element(cols, i));
      g_ptr_array_add(names, NULL);
      if (cols)
        opts.columns = (const char *const *)names->pdata;
      if (strcmp(sep, ",") && !opts.whitespace)
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "param '%s': sep must be \",\" or \"whitespace\", not "
                    "'%s'",
                    param, sep);
      else
        tab = ml_table_read_file(path, &opts, error);
      g_ptr_array_free(names, TRUE);
      const char *tp =
          json_object_get_string_member_with_default(o, "target_path", NULL);
      const char *target = NULL;
      h->param_string(t, "target", &target);
      if (tab && tp && target &&
          !ml_table_add_column_file(tab, target, tp, error)) {
        ml_table_free(tab);
        tab = NULL;
      }
    } else if (conn) {
      const char *table =
          json_object_get_string_member_with_default(o, "table", NULL);
      const char *query =
          json_object_get_string_member_with_default(o, "query", NULL);
      JsonNode *cn = conn_node(h, t, conn, error);
      if (cn && table && !valid_ident(table)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "param '%s': table name '%s' is not a plain identifier "
                    "(use query: for anything else)",
                    param, table);
      } else if (cn) {
        *what = g_strdup_printf("%s (%s)", table ? table : "query", conn);
        tab = ml_table_read_conn(json_node_get_object(cn), table, query, error);
      }
      if (cn)
        json_node_unref(cn);
    }
  }
  if (!tab && error && !*error)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "param '%s' must be a CSV path, {\"path\": ...} or "
                "{\"conn_id\": ..., \"table\": ...}",
                param);
  if (!*what)
    *what = g_strdup(param);
  json_node_unref(n);
  return tab;
}

/* Strings of a param that is a list of strings (NULL-terminated, caller
 * frees), or NULL when absent. */
static char **param_strv(const ph_host *h, ph_task *t, const char *name) {
  JsonNode *n = pu_param_node(h, t, name);
  if (!n || !JSON_NODE_HOLDS_ARRAY(n)) {
    if (n)
      json_node_unref(n);
    return NULL;
  }
  JsonArray *a = json_node_get_array(n);
  GPtrArray *v = g_ptr_array_new();
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *e = json_array_get_element(a, i);
    if (JSON_NODE_HOLDS_VALUE(e) &&
        json_node_get_value_type(e) == G_TYPE_STRING)
      g_ptr_array_add(v, g_strdup(json_node_get_string(e)));
  }
  g_ptr_array_add(v, NULL);
  json_node_unref(n);
  return (char **)g_ptr_array_free(v, FALSE);
}

static gboolean in_strv(char **v, const char *s) {
  return v && g_strv_contains((const char *const *)v, s);
}

/* The feature matrix of rows [rows] (or all when rows is NULL) of the
 * columns cols; fails naming the first non-numeric cell. */
static double *matrix(const ml_table *tab, const int *cols, guint d,
                      const guint *rows, guint n, const char *what,
                      GError **error) {
  double *X = g_new(double, (gsize)n *d + 1);
  for (guint i = 0; i < n; i++) {
    guint r = rows ? rows[i] : i;
    for (guint j = 0; j < d; j++)
      if (!ml_table_cell_double(tab, r, cols[j], &X[(gsize)i * d + j])) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: column '%s', data row %u: '%s' is not a number "
                    "(features must be numeric; drop the column with "
                    "exclude: [...])",
                    what, ml_table_col_name(tab, cols[j]), r + 1,
                    ml_table_cell(tab, r, cols[j]));
        g_free(X);
        return NULL;
      }
  }
  return X;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The text of a label value as the data writes it. */
static char *label_text(double v) {
  if (v == floor(v) && fabs(v) < 1e15)
    return g_strdup_printf("%.0f", v);
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  return g_strdup(g_ascii_dtostr(buf, sizeof buf, v));
}

static void log_metrics(const ph_host *h, ph_task *t, JsonObject *m) {
  GString *s = g_string_new(NULL);
  GList *keys = json_object_get_members(m);
  for (GList *l = keys; l; l = l->next)
    g_string_append_printf(s, "%s%s=%.4f", s->len ? " " : "", (char *)l->data,
                           json_object_get_double_member(m, l->data));
  g_list_free(keys);
  h->log(t, PH_LOG_INFO, "validation metrics: %s", s->str);
  g_string_free(s, TRUE);
}

/* Compares metric of a candidate with the current holder of alias;
 * returns TRUE when the candidate should take the alias, with the reason
 * in *why. */
static gboolean better(const ph_host *h, ph_task *t, const char *name,
                       const char *alias, const char *metric, gboolean higher,
                       double cand, gint64 cand_version, double *old_value,
                       gint64 *old_version, char **why) {
  g_autofree char *ref = g_strdup_printf("%s@%s", name, alias);
  const char *cur = NULL;
  *old_version = 0;
  *old_value = NAN;
  if (h->model_get(t, ref, &cur) != PH_OK) {
    *why =
        g_strdup_printf("no version of %s has the alias '%s' yet", name, alias);
    return TRUE;
  }
  JsonNode *n = json_from_string(cur, NULL);
  JsonObject *o = json_node_get_object(n);
  *old_version = json_object_get_int_member_with_default(o, "version", 0);
  JsonObject *m = json_object_get_object_member(o, "metrics");
  gboolean win;
  if (*old_version == cand_version) {
    *why = g_strdup_printf("version %" G_GINT64_FORMAT " already is %s",
                           cand_version, ref);
    win = FALSE;
  } else if (!m || !json_object_has_member(m, metric)) {
    *why = g_strdup_printf("%s (version %" G_GINT64_FORMAT ") has no metric "
                           "'%s'",
                           ref, *old_version, metric);
    win = TRUE;
  } else {
    *old_value = json_object_get_double_member(m, metric);
    win = higher ? cand > *old_value : cand < *old_value;
    *why = g_strdup_printf(
        "%s %.6g %s %s's %.6g (version %" G_GINT64_FORMAT ")", metric, cand,
        win ? "beats" : "does not beat", ref, *old_value, *old_version);
  }
  json_node_unref(n);
  return win;
}

/* ---- train */

static ph_status train_execute(void *state, ph_task *t) {
  ml_state *s = state;
  const ph_host *h = s->h;
  ph_status st = PH_FAIL;
  GError *err = NULL;
  char *what = NULL, *vwhat = NULL;
  ml_table *tab = NULL, *vtab = NULL;
  char **features = NULL, **exclude = NULL;
  int *cols = NULL;
  guint *tr_rows = NULL, *va_rows = NULL;
  double *X = NULL, *Xv = NULL, *y = NULL, *yv = NULL, *labels = NULL;
  double *pred = NULL, *proba = NULL, *score = NULL;
  int *yi = NULL, *pi = NULL;
  ml_model *model = NULL;
  JsonObject *metrics = json_object_new();
  JsonNode *hyper = NULL, *promo = NULL;
  const char *algorithm = NULL, *target = NULL, *task = "auto",
             *reg_name = NULL;
  int64_t every = 5, fold = 0, num_round = 20;
  guint n_lab = 0;
  char *libv = NULL, *side_path = NULL;

  h->param_string(t, "algorithm", &algorithm);
  h->param_string(t, "target", &target);
  h->param_string(t, "task", &task);
  h->param_int(t, "validation_every", &every);
  h->param_int(t, "validation_fold", &fold);
  h->param_int(t, "num_round", &num_round);
  h->param_string(t, "register", &reg_name);
  if (!ml_model_known(algorithm)) {
    h->set_reason(t,
                  "algorithm '%s' is not one of xgboost, "
                  "logistic_regression, linear_svm, baseline",
                  algorithm ? algorithm : "");
    goto out;
  }
  if (num_round < 1 || every < 1) {
    h->set_reason(t, "%s must be at least 1, got %" G_GINT64_FORMAT,
                  num_round < 1 ? "num_round" : "validation_every",
                  (gint64)(num_round < 1 ? num_round : every));
    goto out;
  }
  if (fold < 0 || fold >= every) {
    h->set_reason(t,
                  "validation_fold must be from 0 to validation_every - 1 "
                  "(%" G_GINT64_FORMAT "), got %" G_GINT64_FORMAT,
                  (gint64)every - 1, (gint64)fold);
    goto out;
  }
  if (strcmp(task, "auto") && strcmp(task, "classification") &&
      strcmp(task, "regression")) {
    h->set_reason(t,
                  "task must be auto, classification or regression, not "
                  "'%s'",
                  task);
    goto out;
  }
  tab = read_input(h, t, "input", &what, &err);
  if (!tab)
    goto fail_err;
  int tcol = ml_table_col(tab, target);
  if (tcol < 0) {
    h->set_reason(t, "%s: no target column '%s' (columns: %s%s)%s", what,
                  target, ml_table_n_cols(tab) ? ml_table_col_name(tab, 0) : "",
                  ml_table_n_cols(tab) > 1 ? ", ..." : "",
                  ml_table_layout_hint(tab));
    goto out;
  }
  /* the features: listed, or every other numeric column */
  features = param_strv(h, t, "features");
  exclude = param_strv(h, t, "exclude");
  GArray *fc = g_array_new(FALSE, FALSE, sizeof(int));
  if (features) {
    for (char **f = features; *f; f++) {
      int c = ml_table_col(tab, *f);
      if (c < 0) {
        h->set_reason(t, "%s: no feature column '%s'", what, *f);
        g_array_free(fc, TRUE);
        goto out;
      }
      g_array_append_val(fc, c);
    }
  } else {
    for (guint c = 0; c < ml_table_n_cols(tab); c++) {
      if ((int)c == tcol || in_strv(exclude, ml_table_col_name(tab, c)))
        continue;
      if (!ml_table_col_numeric(tab, c)) {
        h->log(t, PH_LOG_INFO, "column '%s' is not numeric: left out",
               ml_table_col_name(tab, c));
        continue;
      }
      int ci = (int)c;
      g_array_append_val(fc, ci);
    }
  }
  guint d = fc->len;
  cols = (int *)g_array_free(fc, FALSE);
  if (d == 0) {
    h->set_reason(t, "%s: no numeric feature columns", what);
    goto out;
  }
  /* the target */
  guint n_all = ml_table_n_rows(tab);
  double *yall = g_new(double, n_all + 1);
  for (guint r = 0; r < n_all; r++)
    if (!ml_table_cell_double(tab, r, tcol, &yall[r]) || isnan(yall[r])) {
      h->set_reason(t, "%s: target '%s', data row %u: '%s' is not a number",
                    what, target, r + 1, ml_table_cell(tab, r, tcol));
      g_free(yall);
      goto out;
    }
  /* classes: the sorted distinct target values */
  double *sorted = g_memdup2(yall, sizeof(double) * (n_all + 1));
  qsort(sorted, n_all, sizeof(double), cmp_double);
  labels = g_new(double, n_all + 1);
  gboolean integral = TRUE;
  for (guint r = 0; r < n_all; r++) {
    if (sorted[r] != floor(sorted[r]))
      integral = FALSE;
    if (n_lab == 0 || sorted[r] != labels[n_lab - 1])
      labels[n_lab++] = sorted[r];
  }
  g_free(sorted);
  gboolean classify = !strcmp(task, "classification") ||
                      (!strcmp(task, "auto") && integral && n_lab <= 20);
  if (classify && !integral) {
    h->set_reason(t,
                  "target '%s' has non-integer values: use task: "
                  "regression",
                  target);
    g_free(yall);
    goto out;
  }
  int k = classify ? (int)n_lab : 0;
  /* the split */
  GArray *tr = g_array_new(FALSE, FALSE, sizeof(guint)),
         *va = g_array_new(FALSE, FALSE, sizeof(guint));
  gboolean separate = h->param_json(t, "validation_input") != NULL;
  if (every < 2 && !separate) {
    h->set_reason(t, "validation_every must be at least 2");
    g_free(yall);
    g_array_free(tr, TRUE);
    g_array_free(va, TRUE);
    goto out;
  }
  for (guint r = 0; r < n_all; r++) {
    if (!separate && r % every == fold)
      g_array_append_val(va, r);
    else
      g_array_append_val(tr, r);
  }
  guint n = tr->len;
  tr_rows = (guint *)g_array_free(tr, FALSE);
  if (separate) {
    g_array_free(va, TRUE);
    vtab = read_input(h, t, "validation_input", &vwhat, &err);
    if (!vtab) {
      g_free(yall);
      goto fail_err;
    }
  } else {
    va_rows = (guint *)g_array_free(va, FALSE);
  }
  const ml_table *vt = vtab ? vtab : tab;
  guint nv = vtab ? ml_table_n_rows(vtab) : n_all - n;
  if (n == 0) {
    h->set_reason(t, "%s: the training set is empty (%u data rows)", what,
                  n_all);
    g_free(yall);
    goto out;
  }
  if (classify && n_lab < 2) {
    h->set_reason(t,
                  "%s: target '%s' has a single class; a classifier needs "
                  "at least two",
                  what, target);
    g_free(yall);
    goto out;
  }
  X = matrix(tab, cols, d, tr_rows, n, what, &err);
  int *vcols = cols;
  int *vcols_own = NULL;
  if (X && vtab) {
    vcols_own = g_new(int, d);
    for (guint j = 0; j < d; j++) {
      vcols_own[j] = ml_table_col(vtab, ml_table_col_name(tab, cols[j]));
      if (vcols_own[j] < 0) {
        h->set_reason(t, "%s: no column '%s'", vwhat,
                      ml_table_col_name(tab, cols[j]));
        g_free(vcols_own);
        g_free(yall);
        goto out;
      }
    }
    vcols = vcols_own;
  }
  Xv = X ? matrix(vt, vcols, d, va_rows, nv, vtab ? vwhat : what, &err) : NULL;
  g_free(vcols_own);
  if (!X || !Xv) {
    g_free(yall);
    goto fail_err;
  }
  y = g_new(double, n + 1);
  yv = g_new(double, nv + 1);
  for (guint i = 0; i < n; i++)
    y[i] = yall[tr_rows[i]];
  if (classify) {
    /* the split may leave the training rows a single class (scikit-learn
     * refuses that too: "needs samples of at least 2 classes") */
    gboolean two = FALSE;
    for (guint i = 1; i < n && !two; i++)
      two = y[i] != y[0];
    if (!two) {
      h->set_reason(t,
                    "%s: the training rows hold a single class of target "
                    "'%s' (the others are only in validation rows); a "
                    "classifier needs at least two: change the data or "
                    "validation_every",
                    what, target);
      g_free(yall);
      goto out;
    }
  }
  int vt_tcol = ml_table_col(vt, target);
  for (guint i = 0; i < nv; i++) {
    if (vtab) {
      if (vt_tcol < 0 || !ml_table_cell_double(vt, i, vt_tcol, &yv[i])) {
        h->set_reason(t,
                      "%s: target '%s' missing or not a number in data "
                      "row %u",
                      vwhat, target, i + 1);
        g_free(yall);
        goto out;
      }
    } else {
      yv[i] = yall[va_rows[i]];
    }
  }
  g_free(yall);
  if (classify) {
    /* labels -> class indexes */
    for (guint i = 0; i < n + nv; i++) {
      double *v = i < n ? &y[i] : &yv[i - n];
      guint c = 0;
      while (c < n_lab && labels[c] != *v)
        c++;
      if (c == n_lab) {
        h->set_reason(t,
                      "%s: validation label %g never occurs in the "
                      "training data",
                      vwhat ? vwhat : what, *v);
        goto out;
      }
      *v = c;
    }
  }
  /* train */
  hyper = pu_param_node(h, t, "hyperparameters");
  if (hyper && !JSON_NODE_HOLDS_OBJECT(hyper)) {
    h->set_reason(t, "hyperparameters must be an object");
    goto out;
  }
  const char *bad_obj = !strcmp(algorithm, "xgboost")
                            ? ml_model_check_objective(
                                  k, hyper ? json_node_get_object(hyper) : NULL)
                            : NULL;
  if (bad_obj) {
    h->set_reason(t, "hyperparameters: %s", bad_obj);
    goto out;
  }
  libv = ml_model_lib_version(algorithm);
  h->log(t, PH_LOG_INFO, "training %s (%s) on %u rows x %u features, %s%s",
         algorithm, libv, n, d,
         classify ? "classification, classes " : "regression",
         classify ? "" : "");
  model = ml_model_train(algorithm, k, X, y, n, d,
                         hyper ? json_node_get_object(hyper) : NULL,
                         (int)num_round, &err);
  if (!model)
    goto fail_err;
  /* validate */
  pred = g_new(double, nv + 1);
  proba = classify ? g_new(double, (gsize)nv *k + 1) : NULL;
  score = k == 2 ? g_new(double, nv + 1) : NULL;
  gboolean has_proba = FALSE;
  if (nv &&
      !ml_model_predict(model, Xv, nv, pred, proba, score, &has_proba, &err))
    goto fail_err;
  if (nv == 0) {
    h->log(t, PH_LOG_WARNING, "no validation rows: no metrics");
  } else if (classify) {
    yi = g_new(int, nv);
    pi = g_new(int, nv);
    for (guint i = 0; i < nv; i++) {
      yi[i] = (int)yv[i];
      pi[i] = (int)pred[i];
    }
    ml_metrics_classification(yi, pi, nv, k, has_proba ? proba : NULL, score,
                              metrics);
  } else {
    ml_metrics_regression(yv, pred, nv, metrics);
  }
  log_metrics(h, t, metrics);
  /* save: the model file, a description, the validation predictions */
  const char *dir = h->artifact_dir(t);
  const char *mfile = NULL;
  if (!dir) {
    h->set_reason(t, "no artifact directory");
    goto out;
  }
  if (!ml_model_save(model, dir, &mfile, &err))
    goto fail_err;
  JsonBuilder *b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "format");
  json_builder_add_int_value(b, 1);
  json_builder_set_member_name(b, "algorithm");
  json_builder_add_string_value(b, algorithm);
  json_builder_set_member_name(b, "library");
  json_builder_add_string_value(b, libv);
  json_builder_set_member_name(b, "task");
  json_builder_add_string_value(b, classify ? "classification" : "regression");
  json_builder_set_member_name(b, "model_file");
  json_builder_add_string_value(b, mfile);
  json_builder_set_member_name(b, "target");
  json_builder_add_string_value(b, target);
  json_builder_set_member_name(b, "features");
  json_builder_begin_array(b);
  for (guint j = 0; j < d; j++)
    json_builder_add_string_value(b, ml_table_col_name(tab, cols[j]));
  json_builder_end_array(b);
  json_builder_set_member_name(b, "labels");
  json_builder_begin_array(b);
  for (int c = 0; c < k; c++) {
    g_autofree char *lt = label_text(labels[c]);
    json_builder_add_string_value(b, lt);
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "metrics");
  JsonNode *mn = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(mn, metrics);
  json_builder_add_value(b, mn);
  json_builder_end_object(b);
  JsonNode *side = json_builder_get_root(b);
  g_object_unref(b);
  JsonGenerator *g = json_generator_new();
  json_generator_set_pretty(g, TRUE);
  json_generator_set_root(g, side);
  side_path = g_build_filename(dir, SIDECAR, NULL);
  gboolean wrote = json_generator_to_file(g, side_path, &err);
  g_object_unref(g);
  json_node_unref(side);
  if (!wrote)
    goto fail_err;
  /* validation predictions: row, target, prediction[, probability] */
  {
    const char *vc[] = {"row", "target", "prediction", "probability"};
    guint ncol = k == 2 && has_proba ? 4 : 3;
    char **cells = g_new0(char *, (gsize)nv *ncol + 1);
    for (guint i = 0; i < nv; i++) {
      cells[i * ncol] = g_strdup_printf("%u", va_rows ? va_rows[i] : i);
      cells[i * ncol + 1] =
          classify ? label_text(labels[(int)yv[i]]) : pu_double_text(yv[i]);
      cells[i * ncol + 2] =
          classify ? label_text(labels[(int)pred[i]]) : pu_double_text(pred[i]);
      if (ncol == 4)
        cells[i * ncol + 3] = pu_double_text(proba[i * 2 + 1]);
    }
    g_autofree char *vp = g_build_filename(dir, "validation.csv", NULL);
    gboolean ok = ml_csv_write(vp, vc, ncol, cells, nv, &err);
    for (gsize i = 0; i < (gsize)nv * ncol; i++)
      g_free(cells[i]);
    g_free(cells);
    if (!ok)
      goto fail_err;
  }
  /* track */
  {
    JsonObject *p = json_object_new();
    json_object_set_string_member(p, "algorithm", algorithm);
    json_object_set_string_member(p, "library", libv);
    json_object_set_string_member(p, "target", target);
    json_object_set_string_member(p, "task",
                                  classify ? "classification" : "regression");
    json_object_set_int_member(p, "n_features", d);
    json_object_set_int_member(p, "n_train", n);
    json_object_set_int_member(p, "n_validation", nv);
    if (!separate) {
      json_object_set_int_member(p, "validation_every", every);
      json_object_set_int_member(p, "validation_fold", fold);
    }
    if (!strcmp(algorithm, "xgboost"))
      json_object_set_int_member(p, "num_round", num_round);
    /* the effective configuration: the pinned defaults and the overrides */
    JsonObject *eff = ml_model_effective_params(
        algorithm, k, hyper ? json_node_get_object(hyper) : NULL);
    GList *hk = json_object_get_members(eff);
    for (GList *l = hk; l; l = l->next)
      json_object_set_member(
          p, l->data, json_node_copy(json_object_get_member(eff, l->data)));
    g_list_free(hk);
    json_object_unref(eff);
    JsonNode *pn = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(pn, p);
    g_autofree char *pt = pu_json_text(pn);
    json_node_unref(pn);
    JsonNode *mm = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(mm, metrics);
    g_autofree char *mt = pu_json_text(mm);
    json_node_unref(mm);
    JsonObject *a = json_object_new();
    json_object_set_string_member(a, "model", dir);
    JsonNode *an = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(an, a);
    g_autofree char *at = pu_json_text(an);
    json_node_unref(an);
    if (h->track(t, "params", pt) != PH_OK ||
        h->track(t, "metrics", mt) != PH_OK ||
        h->track(t, "artifacts", at) != PH_OK) {
      h->set_reason(t, "tracking the experiment failed (see the log)");
      st = PH_ERROR;
      goto out;
    }
  }
  /* register and promote */
  gint64 version = 0;
  gboolean promoted = FALSE;
  if (reg_name) {
    const char *rj = NULL;
    if (h->model_register(t, reg_name, dir, &rj) != PH_OK) {
      h->set_reason(t, "registering model '%s' failed (see the log)", reg_name);
      goto out;
    }
    JsonNode *rn = json_from_string(rj, NULL);
    version = json_object_get_int_member(json_node_get_object(rn), "version");
    json_node_unref(rn);
    h->log(t, PH_LOG_INFO, "registered %s version %" G_GINT64_FORMAT, reg_name,
           version);
    promo = pu_param_node(h, t, "promote_if_better");
    if (promo && JSON_NODE_HOLDS_OBJECT(promo)) {
      JsonObject *po = json_node_get_object(promo);
      const char *metric = json_object_get_string_member_with_default(
          po, "metric", classify ? "f1" : "rmse");
      const char *alias =
          json_object_get_string_member_with_default(po, "alias", "production");
      gboolean higher = json_object_get_boolean_member_with_default(
          po, "higher_is_better",
          strcmp(metric, "rmse") && strcmp(metric, "mae") &&
              strcmp(metric, "log_loss"));
      if (!json_object_has_member(metrics, metric)) {
        h->set_reason(t, "promote_if_better: no metric '%s' was computed",
                      metric);
        goto out;
      }
      double cand = json_object_get_double_member(metrics, metric), oldv;
      gint64 oldver;
      char *why = NULL;
      promoted = better(h, t, reg_name, alias, metric, higher, cand, version,
                        &oldv, &oldver, &why);
      if (promoted &&
          h->model_set_alias(t, reg_name, version, alias) != PH_OK) {
        g_free(why);
        h->set_reason(t, "setting alias '%s' failed", alias);
        goto out;
      }
      h->log(t, PH_LOG_INFO, "%s: %s", promoted ? "promoted" : "not promoted",
             why);
      g_free(why);
    }
  }
  /* XComs */
  {
    JsonObject *rv = json_object_new();
    json_object_set_string_member(rv, "model_path", dir);
    json_object_set_string_member(rv, "algorithm", algorithm);
    JsonNode *mm = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(mm, metrics);
    json_object_set_member(rv, "metrics", mm);
    json_object_set_int_member(rv, "n_train", n);
    json_object_set_int_member(rv, "n_validation", nv);
    /* the configuration as given: a sweep's reduce step groups by it */
    json_object_set_member(rv, "hyperparameters",
                           hyper ? json_node_copy(hyper)
                                 : json_node_init_object(json_node_alloc(),
                                                         json_object_new()));
    if (!separate)
      json_object_set_int_member(rv, "validation_fold", fold);
    if (reg_name) {
      json_object_set_string_member(rv, "model_name", reg_name);
      json_object_set_int_member(rv, "version", version);
      json_object_set_boolean_member(rv, "promoted", promoted);
    }
    JsonNode *rn = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(rn, rv);
    g_autofree char *rt = pu_json_text(rn);
    json_node_unref(rn);
    JsonNode *m2 = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(m2, metrics);
    g_autofree char *mt = pu_json_text(m2);
    json_node_unref(m2);
    if (h->xcom_push(t, "metrics", mt) != PH_OK ||
        h->xcom_push(t, NULL, rt) != PH_OK)
      goto out;
  }
  st = PH_OK;
  goto out;
fail_err:
  h->set_reason(t, "%s", err ? err->message : "failed");
out:
  g_clear_error(&err);
  g_free(libv);
  g_free(side_path);
  g_free(what);
  g_free(vwhat);
  ml_table_free(tab);
  ml_table_free(vtab);
  g_strfreev(features);
  g_strfreev(exclude);
  g_free(cols);
  g_free(tr_rows);
  g_free(va_rows);
  g_free(X);
  g_free(Xv);
  g_free(y);
  g_free(yv);
  g_free(labels);
  g_free(pred);
  g_free(proba);
  g_free(score);
  g_free(yi);
  g_free(pi);
  ml_model_free(model);
  json_object_unref(metrics);
  if (hyper)
    json_node_unref(hyper);
  if (promo)
    json_node_unref(promo);
  return st;
}

/* ---- predict */

/* The directory of a model: a path (the directory or a file inside it) or
 * a registry reference.  Stores the registry JSON in *reg (caller frees,
 * NULL for a path). */
static char *model_dir(const ph_host *h, ph_task *t, const char *ref,
                       JsonNode **reg, GError **error) {
  *reg = NULL;
  if (g_file_test(ref, G_FILE_TEST_IS_DIR))
    return g_strdup(ref);
  if (g_file_test(ref, G_FILE_TEST_EXISTS))
    return g_path_get_dirname(ref);
  const char *mj = NULL;
  if (strchr(ref, '/') || h->model_get(t, ref, &mj) != PH_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                "model '%s' is neither a file nor a registered model "
                "(NAME@ALIAS, NAME:VERSION or NAME; see pipehost models list)",
                ref);
    return NULL;
  }
  *reg = json_from_string(mj, NULL);
  return g_strdup(
      json_object_get_string_member(json_node_get_object(*reg), "path"));
}

static ph_status predict_execute(void *state, ph_task *t) {
  ml_state *s = state;
  const ph_host *h = s->h;
  ph_status st = PH_FAIL;
  GError *err = NULL;
  const char *ref = NULL, *output = NULL;
  char *dir = NULL, *what = NULL, *out_path = NULL;
  JsonNode *reg = NULL, *side = NULL;
  ml_table *tab = NULL;
  ml_model *model = NULL;
  char **ids = NULL;
  int *cols = NULL, *idc = NULL;
  double *X = NULL, *pred = NULL, *proba = NULL;
  char **cells = NULL;
  const char **names = NULL;
  guint n = 0, ncol = 0, nid = 0;
  char *side_path = NULL, *mpath = NULL, *stext = NULL;

  h->param_string(t, "model", &ref);
  dir = model_dir(h, t, ref, &reg, &err);
  if (!dir)
    goto fail_err;
  side_path = g_build_filename(dir, SIDECAR, NULL);
  char *side_text = NULL;
  if (!g_file_get_contents(side_path, &side_text, NULL, NULL) ||
      !(side = json_from_string(side_text, NULL)) ||
      !JSON_NODE_HOLDS_OBJECT(side)) {
    g_free(side_text);
    h->set_reason(t,
                  "%s: missing or corrupt model description (train writes "
                  "it next to the model)",
                  side_path);
    goto out;
  }
  g_free(side_text);
  JsonObject *so = json_node_get_object(side);
  const char *algorithm =
      json_object_get_string_member_with_default(so, "algorithm", "");
  const char *mfile =
      json_object_get_string_member_with_default(so, "model_file", "");
  JsonArray *fa = json_object_get_array_member(so, "features");
  JsonArray *la = json_object_get_array_member(so, "labels");
  guint d = fa ? json_array_get_length(fa) : 0;
  int k = la ? (int)json_array_get_length(la) : 0;
  if (!ml_model_known(algorithm) || d == 0 || strchr(mfile, '/')) {
    h->set_reason(t, "%s: corrupt model description", side_path);
    goto out;
  }
  mpath = g_build_filename(dir, mfile, NULL);
  model = ml_model_load(algorithm, k, d, mpath, &err);
  if (!model)
    goto fail_err;
  tab = read_input(h, t, "input", &what, &err);
  if (!tab)
    goto fail_err;
  cols = g_new(int, d);
  for (guint j = 0; j < d; j++) {
    const char *f = json_array_get_string_element(fa, j);
    cols[j] = ml_table_col(tab, f);
    if (cols[j] < 0) {
      h->set_reason(t,
                    "%s: the model needs feature column '%s', which the "
                    "input lacks",
                    what, f);
      goto out;
    }
  }
  n = ml_table_n_rows(tab);
  X = matrix(tab, cols, d, NULL, n, what, &err);
  if (!X)
    goto fail_err;
  pred = g_new(double, n + 1);
  proba = k ? g_new(double, (gsize)n *k + 1) : NULL;
  gboolean has_proba = FALSE;
  if (n && !ml_model_predict(model, X, n, pred, proba, NULL, &has_proba, &err))
    goto fail_err;
  /* the id columns: given, or every input column that is not a feature */
  ids = param_strv(h, t, "id_columns");
  GArray *ic = g_array_new(FALSE, FALSE, sizeof(int));
  for (guint c = 0; c < ml_table_n_cols(tab); c++) {
    const char *name = ml_table_col_name(tab, c);
    gboolean feature = FALSE;
    for (guint j = 0; j < d; j++)
      feature |= cols[j] == (int)c;
    if (ids ? in_strv(ids, name) : !feature) {
      int ci = (int)c;
      g_array_append_val(ic, ci);
    }
  }
  nid = ic->len;
  idc = (int *)g_array_free(ic, FALSE);
  int nprob = has_proba ? (k == 2 ? 1 : k) : 0;
  ncol = nid + 1 + nprob;
  names = g_new0(const char *, ncol + 1);
  GPtrArray *own = g_ptr_array_new_with_free_func(g_free);
  for (guint j = 0; j < nid; j++)
    names[j] = ml_table_col_name(tab, idc[j]);
  names[nid] = "prediction";
  if (nprob == 1)
    names[nid + 1] = "probability";
  else
    for (int c = 0; c < nprob; c++) {
      char *nm =
          g_strdup_printf("proba_%s", json_array_get_string_element(la, c));
      g_ptr_array_add(own, nm);
      names[nid + 1 + c] = nm;
    }
  cells = g_new0(char *, (gsize)n *ncol + 1);
  GHashTable *counts = g_hash_table_new(g_str_hash, g_str_equal);
  double sum = 0;
  for (guint i = 0; i < n; i++) {
    char **row = cells + (gsize)i * ncol;
    for (guint j = 0; j < nid; j++)
      row[j] = g_strdup(ml_table_cell(tab, i, idc[j]));
    if (k) {
      const char *lab = json_array_get_string_element(la, (guint)pred[i]);
      row[nid] = g_strdup(lab);
      g_hash_table_insert(
          counts, (gpointer)lab,
          GINT_TO_POINTER(GPOINTER_TO_INT(g_hash_table_lookup(counts, lab)) +
                          1));
    } else {
      row[nid] = pu_double_text(pred[i]);
      sum += pred[i];
    }
    if (nprob == 1)
      row[nid + 1] = pu_double_text(proba[i * 2 + 1]);
    else
      for (int c = 0; c < nprob; c++)
        row[nid + 1 + c] = pu_double_text(proba[(gsize)i * k + c]);
  }
  JsonNode *outn = unwrap(pu_param_node(h, t, "output"));
  JsonObject *outo =
      outn && JSON_NODE_HOLDS_OBJECT(outn) ? json_node_get_object(outn) : NULL;
  gboolean ok;
  if (outo) {
    /* {conn_id, table}: the predictions replace that table */
    const char *oc =
        json_object_get_string_member_with_default(outo, "conn_id", "");
    const char *ot =
        json_object_get_string_member_with_default(outo, "table", NULL);
    JsonNode *cn = ot ? conn_node(h, t, oc, &err) : NULL;
    ok = cn && ml_table_write_conn(json_node_get_object(cn), ot, names, ncol,
                                   cells, n, &err);
    if (!ot && !err)
      g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "output {conn_id, table} needs a table");
    if (cn)
      json_node_unref(cn);
    out_path = g_strdup_printf("%s (%s)", ot ? ot : "?", oc);
  } else {
    h->param_string(t, "output", &output);
    if (output) {
      out_path = g_strdup(output);
    } else {
      const char *adir = h->artifact_dir(t);
      out_path = adir ? g_build_filename(adir, "predictions.csv", NULL) : NULL;
    }
    ok = out_path && ml_csv_write(out_path, names, ncol, cells, n, &err);
  }
  if (outn)
    json_node_unref(outn);
  g_ptr_array_unref(own);
  if (!ok) {
    g_hash_table_destroy(counts);
    goto fail_err;
  }
  JsonObject *sum_o = json_object_new();
  json_object_set_int_member(sum_o, "rows", n);
  json_object_set_string_member(sum_o, "output", out_path);
  json_object_set_string_member(sum_o, "model", ref);
  json_object_set_string_member(sum_o, "model_path", dir);
  json_object_set_string_member(sum_o, "algorithm", algorithm);
  if (reg)
    json_object_set_int_member(
        sum_o, "version",
        json_object_get_int_member(json_node_get_object(reg), "version"));
  if (k) {
    JsonObject *co = json_object_new();
    for (int c = 0; c < k; c++) {
      const char *lab = json_array_get_string_element(la, c);
      json_object_set_int_member(
          co, lab, GPOINTER_TO_INT(g_hash_table_lookup(counts, lab)));
    }
    json_object_set_object_member(sum_o, "class_counts", co);
  } else {
    json_object_set_double_member(sum_o, "mean", n ? sum / n : 0);
  }
  g_hash_table_destroy(counts);
  JsonNode *sn = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(sn, sum_o);
  stext = pu_json_text(sn);
  json_node_unref(sn);
  h->log(t, PH_LOG_INFO, "scored %u rows with %s (%s): %s", n, ref, algorithm,
         out_path);
  st = h->xcom_push(t, NULL, stext) == PH_OK ? PH_OK : PH_FAIL;
  goto out;
fail_err:
  h->set_reason(t, "%s", err ? err->message : "failed");
out:
  g_clear_error(&err);
  g_free(side_path);
  g_free(mpath);
  g_free(stext);
  if (cells)
    for (gsize i = 0; i < (gsize)n * ncol; i++)
      g_free(cells[i]);
  g_free(cells);
  g_free(names);
  g_free(dir);
  g_free(what);
  g_free(out_path);
  if (reg)
    json_node_unref(reg);
  if (side)
    json_node_unref(side);
  ml_table_free(tab);
  ml_model_free(model);
  g_strfreev(ids);
  g_free(cols);
  g_free(idc);
  g_free(X);
  g_free(pred);
  g_free(proba);
  return st;
}

/* ---- model_promote */

static ph_status promote_execute(void *state, ph_task *t) {
  ml_state *s = state;
  const ph_host *h = s->h;
  const char *name = NULL, *alias = "production", *metric = "f1";
  int64_t version = 0;
  int32_t higher = 1, only = 1;
  ph_status st = PH_FAIL;
  h->param_string(t, "model", &name);
  h->param_string(t, "alias", &alias);
  h->param_string(t, "metric", &metric);
  h->param_bool(t, "higher_is_better", &higher);
  h->param_bool(t, "only_if_better", &only);
  JsonNode *cand = unwrap(pu_param_node(h, t, "candidate"));
  if (cand && JSON_NODE_HOLDS_OBJECT(cand)) {
    JsonObject *co = json_node_get_object(cand);
    if (!name)
      name = g_intern_string(
          json_object_get_string_member_with_default(co, "model_name", NULL));
    /* interned: the candidate node is freed below */
    version = json_object_get_int_member_with_default(co, "version", 0);
  }
  if (cand)
    json_node_unref(cand);
  h->param_int(t, "version", &version);
  if (!name || version <= 0) {
    h->set_reason(t, "model_promote needs a model name and a version (params "
                     "model and version, or candidate: the return value of a "
                     "train task that registered its model)");
    return PH_FAIL;
  }
  g_autofree char *ref = g_strdup_printf("%s:%" G_GINT64_FORMAT, name, version);
  const char *mj = NULL;
  if (h->model_get(t, ref, &mj) != PH_OK) {
    h->set_reason(t, "model %s has no version %" G_GINT64_FORMAT, name,
                  version);
    return PH_FAIL;
  }
  JsonNode *mn = json_from_string(mj, NULL);
  JsonObject *mm =
      json_object_get_object_member(json_node_get_object(mn), "metrics");
  double cv = mm && json_object_has_member(mm, metric)
                  ? json_object_get_double_member(mm, metric)
                  : NAN;
  json_node_unref(mn);
  if (only && isnan(cv)) {
    h->set_reason(t, "%s has no metric '%s' to compare", ref, metric);
    return PH_FAIL;
  }
  double oldv = NAN;
  gint64 oldver = 0;
  char *why = NULL;
  gboolean win = better(h, t, name, alias, metric, higher, cv, version, &oldv,
                        &oldver, &why);
  if (!only && !win) {
    g_free(why);
    why = g_strdup("only_if_better is false");
    win = oldver != version;
  }
  if (win && h->model_set_alias(t, name, version, alias) != PH_OK) {
    h->set_reason(t, "setting %s@%s failed", name, alias);
    g_free(why);
    return PH_FAIL;
  }
  h->log(t, PH_LOG_INFO, "%s %s@%s: %s", win ? "promoted to" : "kept", name,
         alias, why);
  /* return_value: the model now holding the alias (stable when nothing
   * changed, so cached downstream tasks stay valid); "decision": why */
  JsonObject *r = json_object_new();
  json_object_set_string_member(r, "model", name);
  json_object_set_string_member(r, "alias", alias);
  json_object_set_int_member(r, "version", win ? version : oldver);
  JsonObject *dd = json_object_new();
  json_object_set_boolean_member(dd, "promoted", win);
  json_object_set_int_member(dd, "candidate_version", version);
  if (oldver)
    json_object_set_int_member(dd, "previous_version", oldver);
  json_object_set_string_member(dd, "metric", metric);
  if (!isnan(cv))
    json_object_set_double_member(dd, "new", cv);
  if (!isnan(oldv))
    json_object_set_double_member(dd, "old", oldv);
  json_object_set_string_member(dd, "reason", why);
  g_free(why);
  JsonNode *rn = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(rn, r);
  g_autofree char *rt = pu_json_text(rn);
  json_node_unref(rn);
  JsonNode *dn = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(dn, dd);
  g_autofree char *dt = pu_json_text(dn);
  json_node_unref(dn);
  st = h->xcom_push(t, "decision", dt) == PH_OK &&
               h->xcom_push(t, NULL, rt) == PH_OK
           ? PH_OK
           : PH_FAIL;
  return st;
}

/* ---- the implementation table (plugins/common/lazy.h) */

static const ph_operator impl_ops[] = {
    {PH_OPERATOR_INIT, .type = "train", .init = ml_init,
     .execute = train_execute, .destroy = ml_destroy},
    {PH_OPERATOR_INIT, .type = "predict", .init = ml_init,
     .execute = predict_execute, .destroy = ml_destroy},
    {PH_OPERATOR_INIT, .type = "model_promote", .init = ml_init,
     .execute = promote_execute, .destroy = ml_destroy},
};

PH_EXPORT const ph_operator *pipehost_impl_operator(const char *type) {
  for (size_t i = 0; i < sizeof impl_ops / sizeof impl_ops[0]; i++)
    if (!strcmp(impl_ops[i].type, type))
      return &impl_ops[i];
  return NULL;
}
