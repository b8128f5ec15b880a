/* ml_model -- see ml_model.h. */
#include "ml_model.h"

#include <linear.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <xgboost/c_api.h>

struct ml_model {
  char *algorithm;
  int k;   /* classes, 0 = regression */
  guint d; /* features */
  BoosterHandle booster;
  struct model *linear;
  double *prior; /* baseline: class frequencies (k) or the mean (1) */
};

/* liblinear's save/load switch the process locale: serialise them */
static pthread_mutex_t g_linear_lock = PTHREAD_MUTEX_INITIALIZER;

static void quiet(const char *s) { (void)s; }

gboolean ml_model_known(const char *a) {
  return a && (!strcmp(a, "xgboost") || !strcmp(a, "logistic_regression") ||
               !strcmp(a, "linear_svm") || !strcmp(a, "baseline"));
}

static gboolean is_baseline(const char *a) { return !strcmp(a, "baseline"); }

static gboolean is_xgb(const char *a) { return !strcmp(a, "xgboost"); }

void ml_model_free(ml_model *m) {
  if (!m)
    return;
  if (m->booster)
    XGBoosterFree(m->booster);
  if (m->linear)
    free_and_destroy_model(&m->linear);
  g_free(m->prior);
  g_free(m->algorithm);
  g_free(m);
}

JsonObject *ml_model_effective_params(const char *algorithm, int k,
                                      JsonObject *hyper) {
  JsonObject *o = json_object_new();
  if (is_baseline(algorithm)) {
    json_object_set_string_member(o, "strategy", k ? "prior" : "mean");
  } else if (!strcmp(algorithm, "xgboost")) {
    json_object_set_string_member(o, "objective",
                                  k == 0   ? "reg:squarederror"
                                  : k == 2 ? "binary:logistic"
                                           : "multi:softprob");
    json_object_set_string_member(o, "tree_method", "exact");
    json_object_set_double_member(o, "base_score", 0.5);
    json_object_set_int_member(o, "nthread", 1);
    json_object_set_int_member(o, "seed", 0);
    if (k > 2)
      json_object_set_int_member(o, "num_class", k);
  } else {
    gboolean lr = !strcmp(algorithm, "logistic_regression");
    json_object_set_string_member(o, "solver",
                                  lr       ? "L2R_LR"
                                  : k == 0 ? "L2R_L2LOSS_SVR"
                                           : "L2R_L2LOSS_SVC_DUAL");
    json_object_set_double_member(o, "C", 1.0);
    json_object_set_double_member(o, "eps", 1e-4);
    if (k == 0)
      json_object_set_double_member(o, "p", 0.1);
    json_object_set_double_member(o, "bias", 1.0);
  }
  GList *keys = hyper ? json_object_get_members(hyper) : NULL;
  for (GList *l = keys; l; l = l->next) {
    const char *name = !strcmp(l->data, "tol") ? "eps" : l->data;
    json_object_set_member(
        o, name, json_node_copy(json_object_get_member(hyper, l->data)));
  }
  g_list_free(keys);
  return o;
}

const char *ml_model_check_objective(int k, JsonObject *hyper) {
  JsonNode *n = hyper ? json_object_get_member(hyper, "objective") : NULL;
  if (!n)
    return NULL;
  const char *obj =
      JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
          ? json_node_get_string(n)
          : "";
  static const char *const regression[] = {
      "reg:squarederror",     "reg:absoluteerror",
      "reg:pseudohubererror", "reg:squaredlogerror",
      "count:poisson",        "reg:gamma",
      "reg:tweedie",          NULL};
  if (k == 0) {
    for (const char *const *r = regression; *r; r++)
      if (!strcmp(obj, *r))
        return NULL;
    return "a regression takes objective reg:squarederror, "
           "reg:absoluteerror, reg:pseudohubererror, reg:squaredlogerror, "
           "count:poisson, reg:gamma or reg:tweedie (predictions on the "
           "target's scale)";
  }
  if (!strcmp(obj, k == 2 ? "binary:logistic" : "multi:softprob"))
    return NULL;
  return k == 2 ? "a binary classifier takes objective binary:logistic "
                  "only: predictions and metrics read probabilities"
                : "a multi-class classifier takes objective multi:softprob "
                  "only: predictions and metrics read one probability per "
                  "class";
}

char *ml_model_lib_version(const char *algorithm) {
  if (is_baseline(algorithm))
    return g_strdup("pipehost baseline");
  if (is_xgb(algorithm)) {
    int a, b, c;
    XGBoostVersion(&a, &b, &c);
    return g_strdup_printf("xgboost %d.%d.%d", a, b, c);
  }
  return g_strdup_printf("liblinear %d", liblinear_version);
}

/* The first line of XGBoost's last error (the rest is a C++ trace). */
static void xgb_error(GError **error, const char *what) {
  const char *e = XGBGetLastError();
  const char *nl = e ? strchr(e, '\n') : NULL;
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "xgboost %s: %.*s",
              what, nl ? (int)(nl - e) : (int)strlen(e ? e : ""), e ? e : "");
}

static char *hyper_text(JsonNode *v) {
  if (JSON_NODE_HOLDS_VALUE(v)) {
    GType t = json_node_get_value_type(v);
    if (t == G_TYPE_STRING)
      return g_strdup(json_node_get_string(v));
    if (t == G_TYPE_INT64)
      return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(v));
    if (t == G_TYPE_BOOLEAN)
      return g_strdup(json_node_get_boolean(v) ? "1" : "0");
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    return g_strdup(g_ascii_dtostr(buf, sizeof buf, json_node_get_double(v)));
  }
  return NULL;
}

static DMatrixHandle xgb_matrix(const double *X, guint n, guint d,
                                GError **error) {
  float *f = g_new(float, (gsize)n *d + 1);
  for (gsize i = 0; i < (gsize)n * d; i++)
    f[i] = (float)X[i];
  DMatrixHandle h = NULL;
  if (XGDMatrixCreateFromMat(f, n, d, NAN, &h) != 0) {
    xgb_error(error, "matrix");
    h = NULL;
  }
  g_free(f);
  return h;
}

static ml_model *train_xgb(ml_model *m, const double *X, const double *y,
                           guint n, JsonObject *hyper, int num_round,
                           GError **error) {
  DMatrixHandle dm = xgb_matrix(X, n, m->d, error);
  if (!dm)
    return NULL;
  float *lab = g_new(float, n + 1);
  for (guint i = 0; i < n; i++)
    lab[i] = (float)y[i];
  gboolean ok = XGDMatrixSetFloatInfo(dm, "label", lab, n) == 0 &&
                XGBoosterCreate(&dm, 1, &m->booster) == 0;
  g_free(lab);
  if (!ok) {
    xgb_error(error, "setup");
    goto fail;
  }
  /* pinned defaults: exact trees, fixed base score, one thread, seed 0, so
   * that the same data and params give a byte-identical model file */
  char nc[32];
  g_snprintf(nc, sizeof nc, "%d", m->k);
  const char *defaults[][2] = {{"objective", m->k == 0   ? "reg:squarederror"
                                             : m->k == 2 ? "binary:logistic"
                                                         : "multi:softprob"},
                               {"tree_method", "exact"},
                               {"base_score", "0.5"},
                               {"nthread", "1"},
                               {"seed", "0"},
                               {"verbosity", "0"},
                               {m->k > 2 ? "num_class" : NULL, nc}};
  for (gsize i = 0; i < G_N_ELEMENTS(defaults); i++)
    if (defaults[i][0] &&
        XGBoosterSetParam(m->booster, defaults[i][0], defaults[i][1]) != 0) {
      xgb_error(error, "param");
      goto fail;
    }
  GList *keys = hyper ? json_object_get_members(hyper) : NULL;
  for (GList *l = keys; l; l = l->next) {
    g_autofree char *v = hyper_text(json_object_get_member(hyper, l->data));
    if (!v || XGBoosterSetParam(m->booster, l->data, v) != 0) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "xgboost: hyperparameter '%s' is not valid", (char *)l->data);
      g_list_free(keys);
      goto fail;
    }
  }
  g_list_free(keys);
  for (int i = 0; i < num_round; i++)
    if (XGBoosterUpdateOneIter(m->booster, i, dm) != 0) {
      xgb_error(error, "training");
      goto fail;
    }
  XGDMatrixFree(dm);
  return m;
fail:
  XGDMatrixFree(dm);
  ml_model_free(m);
  return NULL;
}

/* One row as liblinear's sparse vector: 1-based indexes, the bias feature
 * d+1 = 1, -1 terminated.  Missing values are left out (0). */
static struct feature_node *linear_row(const double *x, guint d,
                                       struct feature_node *buf) {
  guint j = 0;
  for (guint f = 0; f < d; f++)
    if (!isnan(x[f]) && x[f] != 0) {
      buf[j].index = (int)f + 1;
      buf[j].value = x[f];
      j++;
    }
  buf[j].index = (int)d + 1;
  buf[j].value = 1.0;
  buf[j + 1].index = -1;
  return buf;
}

static ml_model *train_linear(ml_model *m, const double *X, const double *y,
                              guint n, JsonObject *hyper, GError **error) {
  struct parameter p = {0};
  gboolean lr = !strcmp(m->algorithm, "logistic_regression");
  if (m->k == 0 && lr) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "logistic_regression is a classifier: use task: classification "
                "or algorithm linear_svm / xgboost for regression");
    ml_model_free(m);
    return NULL;
  }
  p.solver_type = lr          ? L2R_LR
                  : m->k == 0 ? L2R_L2LOSS_SVR
                              : L2R_L2LOSS_SVC_DUAL;
  p.C = 1.0;
  p.eps = 1e-4;
  p.p = 0.1;
  GList *keys = hyper ? json_object_get_members(hyper) : NULL;
  for (GList *l = keys; l; l = l->next) {
    JsonNode *v = json_object_get_member(hyper, l->data);
    double dv =
        JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) != G_TYPE_STRING
            ? json_node_get_double(v)
            : NAN;
    if (!strcmp(l->data, "C") && dv > 0)
      p.C = dv;
    else if ((!strcmp(l->data, "eps") || !strcmp(l->data, "tol")) && dv > 0)
      p.eps = dv;
    else if (!strcmp(l->data, "p") && dv >= 0)
      p.p = dv;
    else {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "%s: hyperparameter '%s' is not valid (C, eps or tol, p: "
                  "positive numbers)",
                  m->algorithm, (char *)l->data);
      g_list_free(keys);
      ml_model_free(m);
      return NULL;
    }
  }
  g_list_free(keys);
  struct problem prob = {0};
  prob.l = (int)n;
  prob.n = (int)m->d + 1;
  prob.bias = 1.0;
  prob.y = g_new(double, n + 1);
  prob.x = g_new(struct feature_node *, n + 1);
  struct feature_node *nodes =
      g_new(struct feature_node, (gsize)n * (m->d + 2));
  for (guint i = 0; i < n; i++) {
    prob.y[i] = y[i];
    prob.x[i] =
        linear_row(X + (gsize)i * m->d, m->d, nodes + (gsize)i * (m->d + 2));
  }
  set_print_string_function(quiet);
  const char *bad = check_parameter(&prob, &p);
  if (bad) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "liblinear: %s", bad);
    ml_model_free(m);
    m = NULL;
  } else {
    m->linear = train(&prob, &p);
  }
  g_free(nodes);
  g_free(prob.x);
  g_free(prob.y);
  return m;
}

ml_model *ml_model_train(const char *algorithm, int k, const double *X,
                         const double *y, guint n, guint d, JsonObject *hyper,
                         int num_round, GError **error) {
  ml_model *m = g_new0(ml_model, 1);
  m->algorithm = g_strdup(algorithm);
  m->k = k;
  m->d = d;
  if (is_baseline(algorithm)) {
    /* scikit-learn's DummyClassifier(strategy="prior") / DummyRegressor:
     * the class frequencies (predicting the most frequent class) or the
     * mean, a reference row for every experiment */
    (void)X;
    m->prior = g_new0(double, k ? k : 1);
    for (guint i = 0; i < n; i++)
      m->prior[k ? (int)y[i] : 0] += k ? 1.0 / n : y[i] / n;
    return m;
  }
  return is_xgb(algorithm) ? train_xgb(m, X, y, n, hyper, num_round, error)
                           : train_linear(m, X, y, n, hyper, error);
}

gboolean ml_model_predict(ml_model *m, const double *X, guint n, double *pred,
                          double *proba, double *score, gboolean *has_proba,
                          GError **error) {
  *has_proba = FALSE;
  if (m->prior) {
    int best = 0;
    for (int c = 1; c < m->k; c++)
      if (m->prior[c] > m->prior[best])
        best = c;
    for (guint i = 0; i < n; i++) {
      pred[i] = m->k ? best : m->prior[0];
      for (int c = 0; proba && c < m->k; c++)
        proba[(gsize)i * m->k + c] = m->prior[c];
      if (score && m->k == 2)
        score[i] = m->prior[1];
    }
    *has_proba = m->k >= 2;
    return TRUE;
  }
  if (m->booster) {
    DMatrixHandle dm = xgb_matrix(X, n, m->d, error);
    if (!dm)
      return FALSE;
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *out = NULL;
    int rc = XGBoosterPredictFromDMatrix(
        m->booster, dm,
        "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
        "\"iteration_end\": 0, \"strict_shape\": false}",
        &shape, &dim, &out);
    if (rc != 0) {
      xgb_error(error, "predict");
      XGDMatrixFree(dm);
      return FALSE;
    }
    for (guint i = 0; i < n; i++) {
      if (m->k == 0) {
        pred[i] = out[i];
      } else if (m->k == 2) {
        double p1 = out[i];
        if (proba) {
          proba[i * 2] = 1 - p1;
          proba[i * 2 + 1] = p1;
        }
        if (score)
          score[i] = p1;
        pred[i] = p1 > 0.5 ? 1 : 0;
      } else {
        int best = 0;
        for (int c = 0; c < m->k; c++) {
          if (proba)
            proba[(gsize)i * m->k + c] = out[(gsize)i * m->k + c];
          if (out[(gsize)i * m->k + c] > out[(gsize)i * m->k + best])
            best = c;
        }
        pred[i] = best;
      }
    }
    *has_proba = m->k >= 2;
    XGDMatrixFree(dm);
    return TRUE;
  }
  struct feature_node *buf = g_new(struct feature_node, m->d + 2);
  int nc = get_nr_class(m->linear);
  int *labels = g_new(int, nc > 0 ? nc : 1);
  get_labels(m->linear, labels);
  double *tmp = g_new0(double, nc > 0 ? nc : 1);
  gboolean probs = m->k >= 2 && check_probability_model(m->linear);
  for (guint i = 0; i < n; i++) {
    struct feature_node *x = linear_row(X + (gsize)i * m->d, m->d, buf);
    if (probs) {
      pred[i] = predict_probability(m->linear, x, tmp);
      /* a class the model never saw in training has probability 0 (its
       * slot would otherwise be left unwritten) */
      if (proba)
        memset(proba + (gsize)i * m->k, 0, sizeof(double) * (gsize)m->k);
      for (int c = 0; c < nc && proba; c++)
        proba[(gsize)i * m->k + labels[c]] = tmp[c];
      if (score && m->k == 2)
        score[i] = nc < 2 ? (labels[0] == 1) : tmp[labels[0] == 1 ? 0 : 1];
    } else {
      pred[i] = predict_values(m->linear, x, tmp);
      /* binary: one decision value, positive for label[0] */
      if (score && m->k == 2)
        score[i] = labels[0] == 1 ? tmp[0] : -tmp[0];
    }
  }
  *has_proba = probs;
  g_free(tmp);
  g_free(labels);
  g_free(buf);
  return TRUE;
}

gboolean ml_model_save(ml_model *m, const char *dir, const char **file,
                       GError **error) {
  *file = m->booster || m->prior ? "model.json" : "model.txt";
  g_autofree char *path = g_build_filename(dir, *file, NULL);
  int rc;
  if (m->prior) {
    GString *g = g_string_new("{\"baseline\": [");
    for (int c = 0; c < (m->k ? m->k : 1); c++)
      g_string_append_printf(g, "%s%.17g", c ? ", " : "", m->prior[c]);
    g_string_append(g, "]}\n");
    gboolean ok = g_file_set_contents(path, g->str, g->len, error);
    g_string_free(g, TRUE);
    return ok;
  }
  if (m->booster) {
    rc = XGBoosterSaveModel(m->booster, path);
    if (rc != 0)
      xgb_error(error, "save");
    return rc == 0;
  }
  pthread_mutex_lock(&g_linear_lock);
  rc = save_model(path, m->linear);
  pthread_mutex_unlock(&g_linear_lock);
  if (rc != 0)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "liblinear: cannot save %s", path);
  return rc == 0;
}

ml_model *ml_model_load(const char *algorithm, int k, guint d, const char *path,
                        GError **error) {
  ml_model *m = g_new0(ml_model, 1);
  m->algorithm = g_strdup(algorithm);
  m->k = k;
  m->d = d;
  if (is_baseline(algorithm)) {
    g_autofree char *text = NULL;
    JsonNode *n = g_file_get_contents(path, &text, NULL, NULL)
                      ? json_from_string(text, NULL)
                      : NULL;
    JsonArray *a =
        n && JSON_NODE_HOLDS_OBJECT(n) &&
                json_object_has_member(json_node_get_object(n), "baseline")
            ? json_object_get_array_member(json_node_get_object(n), "baseline")
            : NULL;
    if (!a || json_array_get_length(a) != (guint)(k ? k : 1)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "%s: not a valid baseline model", path);
      if (n)
        json_node_unref(n);
      ml_model_free(m);
      return NULL;
    }
    m->prior = g_new0(double, k ? k : 1);
    for (guint c = 0; c < json_array_get_length(a); c++)
      m->prior[c] = json_array_get_double_element(a, c);
    json_node_unref(n);
    return m;
  }
  if (is_xgb(algorithm)) {
    if (XGBoosterCreate(NULL, 0, &m->booster) != 0 ||
        XGBoosterLoadModel(m->booster, path) != 0) {
      xgb_error(error, "load");
      g_prefix_error(error, "%s: not a valid XGBoost model: ", path);
      ml_model_free(m);
      return NULL;
    }
    return m;
  }
  pthread_mutex_lock(&g_linear_lock);
  m->linear = load_model(path);
  pthread_mutex_unlock(&g_linear_lock);
  if (!m->linear || get_nr_feature(m->linear) != (int)d ||
      (k >= 2 && get_nr_class(m->linear) > k)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: not a valid liblinear model for %u features", path, d);
    ml_model_free(m);
    return NULL;
  }
  return m;
}
