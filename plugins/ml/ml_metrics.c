/* ml_metrics -- see ml_metrics.h. */
#include "ml_metrics.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

typedef struct {
  double s;
  int pos;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
  double x = ((const ranked *)a)->s, y = ((const ranked *)b)->s;
  return x < y ? -1 : x > y;
}

/* Mann-Whitney form of the ROC AUC with average ranks for ties. */
static double roc_auc(const int *y, const double *s, guint n) {
  ranked *r = g_new(ranked, n);
  double npos = 0, nneg = 0, rank_sum = 0;
  for (guint i = 0; i < n; i++) {
    r[i].s = s[i];
    r[i].pos = y[i] == 1;
    npos += r[i].pos;
  }
  nneg = n - npos;
  qsort(r, n, sizeof *r, cmp_ranked);
  for (guint i = 0; i < n;) {
    guint j = i;
    while (j + 1 < n && r[j + 1].s == r[i].s)
      j++;
    double avg = (i + j) / 2.0 + 1; /* ranks are 1-based */
    for (guint k = i; k <= j; k++)
      if (r[k].pos)
        rank_sum += avg;
    i = j + 1;
  }
  g_free(r);
  if (npos == 0 || nneg == 0)
    return NAN;
  return (rank_sum - npos * (npos + 1) / 2) / (npos * nneg);
}

void ml_metrics_classification(const int *y_true, const int *y_pred, guint n,
                               int k, const double *proba, const double *score,
                               JsonObject *out) {
  guint correct = 0;
  double *tp = g_new0(double, k), *fp = g_new0(double, k),
         *fn = g_new0(double, k);
  for (guint i = 0; i < n; i++) {
    if (y_true[i] == y_pred[i]) {
      correct++;
      tp[y_true[i]]++;
    } else {
      fp[y_pred[i]]++;
      fn[y_true[i]]++;
    }
  }
  json_object_set_double_member(out, "accuracy", n ? (double)correct / n : 0);
  double P = 0, R = 0, F = 0;
  int first = k == 2 ? 1 : 0; /* binary: the positive class only */
  int m = 0;
  for (int c = first; c < k; c++) {
    /* sklearn's macro average runs over the labels present in y_true or
     * y_pred (unique_labels): a class absent from both does not count */
    if (k > 2 && tp[c] + fp[c] + fn[c] == 0)
      continue;
    double p = tp[c] + fp[c] > 0 ? tp[c] / (tp[c] + fp[c]) : 0;
    double r = tp[c] + fn[c] > 0 ? tp[c] / (tp[c] + fn[c]) : 0;
    double f = p + r > 0 ? 2 * p * r / (p + r) : 0;
    P += p;
    R += r;
    F += f;
    m++;
  }
  m = MAX(m, 1);
  json_object_set_double_member(out, "precision", P / m);
  json_object_set_double_member(out, "recall", R / m);
  json_object_set_double_member(out, "f1", F / m);
  if (k == 2 && (proba || score)) {
    double *s = g_new(double, n);
    for (guint i = 0; i < n; i++)
      s[i] = score ? score[i] : proba[i * 2 + 1];
    double auc = roc_auc(y_true, s, n);
    if (isfinite(auc))
      json_object_set_double_member(out, "roc_auc", auc);
    g_free(s);
  }
  if (proba && n) {
    double loss = 0;
    for (guint i = 0; i < n; i++) {
      double sum = 0, pt = 0;
      for (int c = 0; c < k; c++) {
        double p = CLAMP(proba[i * k + c], DBL_EPSILON, 1 - DBL_EPSILON);
        sum += p;
        if (c == y_true[i])
          pt = p;
      }
      loss -= log(pt / sum);
    }
    json_object_set_double_member(out, "log_loss", loss / n);
  }
  g_free(tp);
  g_free(fp);
  g_free(fn);
}

void ml_metrics_regression(const double *y_true, const double *y_pred, guint n,
                           JsonObject *out) {
  double ae = 0, se = 0, mean = 0, tot = 0;
  for (guint i = 0; i < n; i++) {
    ae += fabs(y_true[i] - y_pred[i]);
    se += (y_true[i] - y_pred[i]) * (y_true[i] - y_pred[i]);
    mean += y_true[i];
  }
  mean = n ? mean / n : 0;
  for (guint i = 0; i < n; i++)
    tot += (y_true[i] - mean) * (y_true[i] - mean);
  json_object_set_double_member(out, "mae", n ? ae / n : 0);
  json_object_set_double_member(out, "rmse", n ? sqrt(se / n) : 0);
  json_object_set_double_member(out, "r2", tot > 0 ? 1 - se / tot : 0);
}
