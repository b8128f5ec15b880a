/* ph_timetable -- when a DAG runs, with Airflow 2's data intervals.
 *
 * A DAG's `schedule` is a cron expression or preset (@hourly @daily
 * @weekly @monthly @yearly, evaluated on the wall clock of `timezone`,
 * default UTC), "@once", a fixed interval ("every 30m", or {every: "30m"}),
 * or null / "none" / absent (manual runs only).  The run for the data
 * interval [start, end) is due at `end` and its logical date (ds) is
 * `start`; the first interval starts at the first schedule point at or
 * after `start_date`.  `end_date` stops the schedule (no interval starts
 * after it).  With catchup (default true, as in Airflow 2.x) every missed
 * interval is due; without it only the latest one.
 */
#ifndef PH_TIMETABLE_H
#define PH_TIMETABLE_H

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct ph_timetable ph_timetable;

/* One data interval, UNIX seconds. */
typedef struct ph_interval {
  gint64 start, end;
} ph_interval;

/* From a DAG's arguments (schedule, timezone, start_date, end_date,
 * catchup).  NULL with error naming the bad key.  A DAG without a
 * schedule gets a manual-only timetable. */
ph_timetable *ph_timetable_new(JsonObject *dag_args, GError **error);
void ph_timetable_free(ph_timetable *tt);

/* TRUE when the DAG only runs when triggered. */
gboolean ph_timetable_is_manual(const ph_timetable *tt);
/* catchup as set (default TRUE). */
gboolean ph_timetable_catchup(const ph_timetable *tt);

/* The first interval whose start is strictly after `after` (UNIX seconds;
 * G_MININT64 for the very first one).  FALSE when there is none (manual,
 * @once done, past end_date, or a cron that never fires). */
gboolean ph_timetable_next(const ph_timetable *tt, gint64 after,
                           ph_interval *out);

/* The intervals due at `now` after the last one created (its start, or
 * G_MININT64 for none), oldest first; with catchup off at most the latest.
 * Caller frees the array. */
GArray *ph_timetable_due(const ph_timetable *tt, gint64 last_start, gint64 now);

/* The intervals whose start lies in [from, to], oldest first (backfill).
 * Caller frees the array. */
GArray *ph_timetable_between(const ph_timetable *tt, gint64 from, gint64 to);

/* Parses an ISO-8601 date or date-time; a time without a zone is read in
 * tz (NULL: UTC).  FALSE when it is not one. */
gboolean ph_timetable_parse_time(const char *text, GTimeZone *tz, gint64 *out);

#endif
