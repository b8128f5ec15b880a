/* ph_timetable -- see ph_timetable.h. */
#include "ph_timetable.h"

#include <string.h>

#include "ph_cron.h"
#include "ph_util.h"

typedef enum { TT_MANUAL, TT_CRON, TT_EVERY, TT_ONCE } tt_kind;

struct ph_timetable {
  tt_kind kind;
  ph_cron *cron;
  gint64 every; /* seconds */
  GTimeZone *tz;
  gint64 start_date, end_date; /* G_MININT64 / G_MAXINT64 when unset */
  gboolean catchup;
};

void ph_timetable_free(ph_timetable *tt) {
  if (!tt)
    return;
  ph_cron_free(tt->cron);
  if (tt->tz)
    g_time_zone_unref(tt->tz);
  g_free(tt);
}

gboolean ph_timetable_parse_time(const char *text, GTimeZone *tz, gint64 *out) {
  GTimeZone *utc = g_time_zone_new_utc();
  GTimeZone *z = tz ? tz : utc;
  GDateTime *d = g_date_time_new_from_iso8601(text, z);
  if (!d && strlen(text) == 10) {
    g_autofree char *full = g_strconcat(text, "T00:00:00", NULL);
    d = g_date_time_new_from_iso8601(full, z);
  }
  g_time_zone_unref(utc);
  if (!d)
    return FALSE;
  *out = g_date_time_to_unix(d);
  g_date_time_unref(d);
  return TRUE;
}

static const char *str_member(JsonObject *o, const char *k) {
  JsonNode *n = json_object_get_member(o, k);
  return n && JSON_NODE_HOLDS_VALUE(n) &&
                 json_node_get_value_type(n) == G_TYPE_STRING
             ? json_node_get_string(n)
             : NULL;
}

ph_timetable *ph_timetable_new(JsonObject *args, GError **error) {
  ph_timetable *tt = g_new0(ph_timetable, 1);
  char *every_text = NULL;
  tt->start_date = G_MININT64;
  tt->end_date = G_MAXINT64;
  tt->catchup = TRUE;
  const char *zone = str_member(args, "timezone");
  tt->tz = zone ? g_time_zone_new_identifier(zone) : g_time_zone_new_utc();
  if (!tt->tz) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "timezone '%s' is not a known IANA zone (e.g. Europe/Paris)",
                zone);
    goto fail;
  }
  JsonNode *cn = json_object_get_member(args, "catchup");
  if (cn) {
    if (!JSON_NODE_HOLDS_VALUE(cn) ||
        json_node_get_value_type(cn) != G_TYPE_BOOLEAN) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "catchup must be true or false");
      goto fail;
    }
    tt->catchup = json_node_get_boolean(cn);
  }
  static const char *const dates[] = {"start_date", "end_date"};
  for (int i = 0; i < 2; i++) {
    JsonNode *dn = json_object_get_member(args, dates[i]);
    if (!dn || JSON_NODE_HOLDS_NULL(dn))
      continue;
    const char *txt = str_member(args, dates[i]);
    gint64 *slot = i == 0 ? &tt->start_date : &tt->end_date;
    if (!txt || !ph_timetable_parse_time(txt, tt->tz, slot)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "%s must be an ISO-8601 date or time, e.g. \"2024-01-01\"",
                  dates[i]);
      goto fail;
    }
  }
  JsonNode *sn = json_object_get_member(args, "schedule");
  const char *sched = str_member(args, "schedule");
  if (!sn || JSON_NODE_HOLDS_NULL(sn) ||
      (sched && (!g_ascii_strcasecmp(sched, "none") || !*sched))) {
    tt->kind = TT_MANUAL;
    return tt;
  }
  /* schedule: {datasets: [URI, ...]}: runs start when the datasets are
   * updated (the scheduler, ph_dataset), never by the clock */
  JsonNode *dsn = JSON_NODE_HOLDS_OBJECT(sn)
                      ? json_object_get_member(json_node_get_object(sn),
                                               "datasets")
                      : NULL;
  if (dsn) {
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(dsn) ? json_node_get_array(dsn) : NULL;
    gboolean ok = a && json_array_get_length(a) > 0 &&
                  json_object_get_size(json_node_get_object(sn)) == 1;
    for (guint i = 0; ok && i < json_array_get_length(a); i++) {
      JsonNode *e = json_array_get_element(a, i);
      ok = JSON_NODE_HOLDS_VALUE(e) &&
           json_node_get_value_type(e) == G_TYPE_STRING &&
           *json_node_get_string(e) && !strpbrk(json_node_get_string(e), " \t");
    }
    if (!ok) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "schedule: {datasets: [URI, ...]} needs a non-empty list of "
                  "dataset URIs (and nothing else)");
      goto fail;
    }
    tt->kind = TT_MANUAL;
    return tt;
  }
  /* every_text is only set below: nothing to free on the paths above */
  JsonNode *every = NULL;
  if (JSON_NODE_HOLDS_OBJECT(sn))
    every = json_object_get_member(json_node_get_object(sn), "every");
  if (sched && g_str_has_prefix(sched, "every ")) {
    every_text = g_strstrip(g_strdup(sched + 6));
    every = json_node_init_string(json_node_alloc(), every_text);
  } else if (every) {
    every = json_node_copy(every);
  }
  if (every) {
    double secs = 0;
    gboolean ok = ph_util_parse_duration(every, &secs) && secs >= 1;
    json_node_unref(every);
    if (!ok) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "schedule: every needs a duration of at least 1s, e.g. "
                  "\"every 30m\"");
      goto fail;
    }
    tt->kind = TT_EVERY;
    tt->every = (gint64)secs;
  } else if (sched && !strcmp(sched, "@once")) {
    tt->kind = TT_ONCE;
  } else if (sched) {
    tt->cron = ph_cron_parse(sched, error);
    if (!tt->cron) {
      g_prefix_error(error, "schedule: ");
      goto fail;
    }
    tt->kind = TT_CRON;
  } else {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "schedule must be a cron expression, a preset (@daily), "
                "\"@once\", \"every 30m\" or null");
    goto fail;
  }
  if ((tt->kind == TT_EVERY || tt->kind == TT_ONCE) &&
      tt->start_date == G_MININT64) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "schedule '%s' needs a start_date",
                tt->kind == TT_ONCE ? "@once" : "every");
    goto fail;
  }
  g_free(every_text);
  return tt;
fail:
  g_free(every_text);
  ph_timetable_free(tt);
  return NULL;
}

gboolean ph_timetable_is_manual(const ph_timetable *tt) {
  return tt->kind == TT_MANUAL;
}

gboolean ph_timetable_catchup(const ph_timetable *tt) { return tt->catchup; }

/* The first cron point at or after t (UNIX seconds), or -1. */
static gint64 cron_at_or_after(const ph_timetable *tt, gint64 t) {
  GDateTime *d = g_date_time_new_from_unix_utc(t - 60);
  GDateTime *local = g_date_time_to_timezone(d, tt->tz);
  g_date_time_unref(d);
  /* ph_cron_next is strictly after and drops seconds: step back a minute,
   * then skip points before t */
  gint64 found = -1;
  for (int guard = 0; guard < 4 && local; guard++) {
    GDateTime *n = ph_cron_next(tt->cron, local);
    g_date_time_unref(local);
    local = n;
    if (!n)
      break;
    if (g_date_time_to_unix(n) >= t) {
      found = g_date_time_to_unix(n);
      break;
    }
  }
  if (local)
    g_date_time_unref(local);
  return found;
}

gboolean ph_timetable_next(const ph_timetable *tt, gint64 after,
                           ph_interval *out) {
  gint64 start;
  switch (tt->kind) {
  case TT_MANUAL:
    return FALSE;
  case TT_ONCE:
    if (after >= tt->start_date)
      return FALSE;
    out->start = out->end = tt->start_date;
    return TRUE;
  case TT_EVERY:
    if (after < tt->start_date)
      start = tt->start_date;
    else
      start = tt->start_date +
              ((after - tt->start_date) / tt->every + 1) * tt->every;
    out->start = start;
    out->end = start + tt->every;
    break;
  case TT_CRON: {
    gint64 from = after == G_MININT64 ? tt->start_date : after + 1;
    if (from == G_MININT64)
      return FALSE; /* a cron schedule without start_date: nothing due */
    if (from < tt->start_date)
      from = tt->start_date;
    start = cron_at_or_after(tt, from);
    if (start < 0)
      return FALSE;
    gint64 end = cron_at_or_after(tt, start + 1);
    if (end < 0)
      return FALSE;
    out->start = start;
    out->end = end;
    break;
  }
  }
  return out->start <= tt->end_date;
}

GArray *ph_timetable_due(const ph_timetable *tt, gint64 last_start,
                         gint64 now) {
  GArray *a = g_array_new(FALSE, FALSE, sizeof(ph_interval));
  ph_interval iv;
  gint64 after = last_start;
  if (!tt->catchup) {
    /* only the latest interval that has ended, if newer than the last */
    gboolean have = FALSE;
    ph_interval latest = {0, 0};
    if (tt->kind == TT_EVERY && now > tt->start_date) {
      gint64 k = (now - tt->start_date) / tt->every;
      if (k >= 1) {
        latest.start = tt->start_date + (k - 1) * tt->every;
        latest.end = latest.start + tt->every;
        have = latest.start <= tt->end_date;
      }
    } else {
      gint64 cursor = after;
      int guard = 0;
      /* walk forward, but never more than a few thousand steps */
      while (guard++ < 100000 && ph_timetable_next(tt, cursor, &iv) &&
             iv.end <= now) {
        latest = iv;
        have = TRUE;
        cursor = iv.start;
      }
    }
    if (have && (last_start == G_MININT64 || latest.start > last_start))
      g_array_append_val(a, latest);
    return a;
  }
  int guard = 0;
  while (guard++ < 100000 && ph_timetable_next(tt, after, &iv) &&
         iv.end <= now) {
    g_array_append_val(a, iv);
    after = iv.start;
  }
  return a;
}

GArray *ph_timetable_between(const ph_timetable *tt, gint64 from, gint64 to) {
  GArray *a = g_array_new(FALSE, FALSE, sizeof(ph_interval));
  ph_interval iv;
  gint64 after = from - 1;
  int guard = 0;
  while (guard++ < 100000 && ph_timetable_next(tt, after, &iv) &&
         iv.start <= to) {
    if (iv.start >= from)
      g_array_append_val(a, iv);
    after = iv.start;
  }
  return a;
}
