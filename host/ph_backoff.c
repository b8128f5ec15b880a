/* ph_backoff -- see ph_backoff.h. */
#include "ph_backoff.h"

#include <glib.h>
#include <math.h>
#include <string.h>

/* int(sha1(key).hexdigest(), 16) % m, without big integers. */
static guint64 sha1_mod(const char *key, guint64 m) {
  g_autofree char *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA1, key, -1);
  guint64 r = 0;
  for (const char *p = hex; *p; p++)
    r = (r * 16 + (guint64)g_ascii_xdigit_value(*p)) % m;
  return r;
}

/* Python's str(datetime): "YYYY-MM-DD HH:MM:SS+00:00". */
static char *py_datetime(const char *iso) {
  char *s = g_strdup(iso ? iso : "");
  if (strlen(s) > 10 && s[10] == 'T')
    s[10] = ' ';
  return s;
}

double ph_backoff_retry(double retry_delay, double multiplier,
                        double max_retry_delay, const char *dag_id,
                        const char *task_id, const char *logical_date,
                        int try_number) {
  if (multiplier <= 0)
    return retry_delay;
  double mb = ceil(retry_delay * pow(multiplier, try_number - 1));
  if (!(mb >= 1))
    mb = 1;
  if (mb > 1e15)
    mb = 1e15;
  g_autofree char *ld = py_datetime(logical_date);
  g_autofree char *key =
      g_strdup_printf("%s#%s#%s#%d", dag_id, task_id, ld, try_number);
  guint64 m = (guint64)mb;
  double delay = MIN((double)(m + sha1_mod(key, m)), 86400.0);
  if (max_retry_delay > 0)
    delay = MIN(delay, max_retry_delay);
  return delay;
}

double ph_backoff_poke(double poke_interval, int poke_count,
                       const char *dag_id, const char *task_id,
                       const char *started_at, double timeout,
                       double run_duration, double max_wait) {
  double mb = floor(poke_interval * pow(2, poke_count - 2));
  if (!(mb >= 1))
    mb = 1;
  if (mb > 1e15)
    mb = 1e15;
  g_autofree char *st = py_datetime(started_at);
  g_autofree char *key =
      g_strdup_printf("%s#%s#%s#%d", dag_id, task_id, st, poke_count);
  guint64 m = (guint64)mb;
  double interval = (double)(m + sha1_mod(key, m));
  interval = MIN(interval, MAX(0.0, timeout - floor(run_duration)));
  if (max_wait > 0)
    interval = MIN(interval, max_wait);
  return interval;
}
