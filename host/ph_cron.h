/* ph_cron -- standard 5-field cron expressions, evaluated on the local
 * wall clock of a time zone (croniter's and Airflow's semantics).
 *
 * Fields: minute hour day-of-month month day-of-week.  Each field is "*",
 * a value, "a-b", "a,b", "*\/n", "a-b/n" or "a/n" (a to the maximum, step
 * n); months jan..dec and weekdays sun..sat by name (any case); weekday 7
 * is Sunday, and a name range ending in sun means 7 (fri-sun).  When both
 * day-of-month and day-of-week are restricted either may match (OR), else
 * both must (croniter counts "*\/2" as restricted).  Presets: @hourly
 * @daily @midnight @weekly @monthly @quarterly @yearly @annually.
 *
 * DST policy: times are computed on the zone's wall clock; a wall-clock
 * time that does not exist (spring forward) fires at the first existing
 * minute after it; a repeated hour (fall back) fires once, at its first
 * occurrence. */
#ifndef PH_CRON_H
#define PH_CRON_H

#include <glib.h>

typedef struct ph_cron ph_cron;

/* Parses expr.  NULL with error set to a message naming the field and the
 * allowed range when it is not valid. */
ph_cron *ph_cron_parse(const char *expr, GError **error);
void ph_cron_free(ph_cron *c);

/* The first fire time strictly after `after` (seconds and below are
 * dropped), in after's time zone (caller unrefs).  NULL when the
 * expression never fires (e.g. "0 0 30 2 *"). */
GDateTime *ph_cron_next(const ph_cron *c, GDateTime *after);

#endif
