/* ph_cron -- see ph_cron.h. */
#include "ph_cron.h"

#include <stdlib.h>
#include <string.h>

struct ph_cron {
  guint64 minute, hour, dom, month, dow; /* bit i set: value i allowed */
  gboolean dom_star, dow_star;
};

static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const days[] = {"sun", "mon", "tue", "wed",
                                   "thu", "fri", "sat"};

typedef struct {
  const char *name;
  int lo, hi;
  const char *const *names; /* name i means lo + i */
  int n_names;
} field_t;

static const field_t fields[] = {{"minute", 0, 59, NULL, 0},
                                 {"hour", 0, 23, NULL, 0},
                                 {"day of month", 1, 31, NULL, 0},
                                 {"month", 1, 12, months, 12},
                                 {"day of week", 0, 7, days, 7}};

/* A number or a name of field f; -1 when neither. *named tells which. */
static int value_of(const field_t *f, const char *s, size_t len,
                    gboolean *named) {
  *named = FALSE;
  if (!len)
    return -1;
  if (g_ascii_isdigit(s[0])) {
    int v = 0;
    for (size_t i = 0; i < len; i++) {
      if (!g_ascii_isdigit(s[i]) || v > 1000)
        return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  }
  for (int i = 0; i < f->n_names; i++)
    if (len == 3 && !g_ascii_strncasecmp(s, f->names[i], 3)) {
      *named = TRUE;
      return f->lo + i;
    }
  return -1;
}

static gboolean parse_field(const field_t *f, const char *text, guint64 *bits,
                            gboolean *star, GError **error) {
  *bits = 0;
  *star = !strcmp(text, "*");
  g_auto(GStrv) parts = g_strsplit(text, ",", -1);
  for (char **p = parts; *p; p++) {
    const char *item = *p;
    const char *slash = strchr(item, '/');
    size_t rlen = slash ? (size_t)(slash - item) : strlen(item);
    int step = 1, lo, hi;
    if (slash) {
      gboolean nm;
      step = value_of(f, slash + 1, strlen(slash + 1), &nm);
      if (step <= 0 || nm)
        goto bad;
    }
    if (rlen == 1 && item[0] == '*') {
      lo = f->lo;
      hi = f->hi == 7 ? 6 : f->hi;
    } else {
      const char *dash = memchr(item, '-', rlen);
      gboolean n1 = FALSE, n2 = FALSE;
      lo = value_of(f, item, dash ? (size_t)(dash - item) : rlen, &n1);
      if (dash) {
        hi = value_of(f, dash + 1, rlen - (dash - item) - 1, &n2);
        if (n2 && f->names == days && hi == 0)
          hi = 7; /* "fri-sun": sun at a range's end is 7 */
      } else {
        hi = slash ? (f->hi == 7 ? 6 : f->hi) : lo; /* "a/n": a to max */
      }
      if (lo < f->lo || hi > f->hi || lo > hi || lo < 0)
        goto bad;
    }
    for (int v = lo; v <= hi; v += step)
      *bits |= 1ull << (f->names == days && v == 7 ? 0 : v);
  }
  return TRUE;
bad:
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
              "cron %s field '%s' is not valid: use *, N, A-B, A,B, */N or "
              "A-B/N with values %d-%d%s",
              f->name, text, f->lo, f->hi,
              f->names == months ? " or jan-dec"
              : f->names == days ? " (0 and 7 are Sunday) or sun-sat"
                                 : "");
  return FALSE;
}

ph_cron *ph_cron_parse(const char *expr, GError **error) {
  static const struct {
    const char *name, *expr;
  } presets[] = {{"@hourly", "0 * * * *"},    {"@daily", "0 0 * * *"},
                 {"@midnight", "0 0 * * *"},  {"@weekly", "0 0 * * 0"},
                 {"@monthly", "0 0 1 * *"},   {"@quarterly", "0 0 1 */3 *"},
                 {"@yearly", "0 0 1 1 *"},    {"@annually", "0 0 1 1 *"}};
  g_autofree char *trimmed = g_strstrip(g_strdup(expr ? expr : ""));
  const char *text = trimmed;
  for (gsize i = 0; i < G_N_ELEMENTS(presets); i++)
    if (!g_ascii_strcasecmp(text, presets[i].name))
      text = presets[i].expr;
  g_auto(GStrv) f = g_regex_split_simple("\\s+", text, 0, 0);
  if (g_strv_length(f) != 5) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "cron expression '%s' has %u fields; it needs 5: minute hour "
                "day-of-month month day-of-week (or a preset such as @daily)",
                expr, g_strv_length(f));
    return NULL;
  }
  ph_cron *c = g_new0(ph_cron, 1);
  gboolean s0, s1, s3;
  if (!parse_field(&fields[0], f[0], &c->minute, &s0, error) ||
      !parse_field(&fields[1], f[1], &c->hour, &s1, error) ||
      !parse_field(&fields[2], f[2], &c->dom, &c->dom_star, error) ||
      !parse_field(&fields[3], f[3], &c->month, &s3, error) ||
      !parse_field(&fields[4], f[4], &c->dow, &c->dow_star, error)) {
    g_free(c);
    return NULL;
  }
  return c;
}

void ph_cron_free(ph_cron *c) { g_free(c); }

static gboolean day_ok(const ph_cron *c, int dom, int dow) {
  gboolean d = c->dom >> dom & 1, w = c->dow >> dow & 1;
  return c->dom_star || c->dow_star ? d && w : d || w;
}

GDateTime *ph_cron_next(const ph_cron *c, GDateTime *after) {
  GTimeZone *tz = g_time_zone_ref((GTimeZone *)g_date_time_get_timezone(after));
  /* walk the wall clock: a day at a time until the date matches, then
   * the hours and minutes of that day */
  int y = g_date_time_get_year(after), mo = g_date_time_get_month(after),
      d = g_date_time_get_day_of_month(after);
  int h = g_date_time_get_hour(after), mi = g_date_time_get_minute(after) + 1;
  gint64 after_unix = g_date_time_to_unix(after);
  GDateTime *out = NULL;
  for (int guard = 0; guard < 366 * 30 && !out; guard++) {
    GDate *date = g_date_new_dmy(d, mo, y);
    gboolean match = (c->month >> mo & 1) &&
                     day_ok(c, d, g_date_get_weekday(date) % 7);
    if (match) {
      for (; h < 24 && !out; h++, mi = 0) {
        if (!(c->hour >> h & 1))
          continue;
        for (; mi < 60; mi++) {
          if (!(c->minute >> mi & 1))
            continue;
          GDateTime *t = g_date_time_new(tz, y, mo, d, h, mi, 0);
          /* a skipped wall-clock time moves forward; keep it only if it is
           * after the start (the fold hour fires once: first occurrence) */
          if (t && g_date_time_to_unix(t) > after_unix) {
            out = t;
            break;
          }
          if (t)
            g_date_time_unref(t);
        }
      }
    }
    g_date_add_days(date, 1);
    y = g_date_get_year(date);
    mo = g_date_get_month(date);
    d = g_date_get_day(date);
    h = 0;
    mi = 0;
    g_date_free(date);
  }
  g_time_zone_unref(tz);
  return out;
}
