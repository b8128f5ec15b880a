/* ph_backoff -- Airflow's exponential backoff with deterministic sha1
 * jitter, for task retries (taskinstance.py next_retry_datetime) and for
 * sensor pokes (sensor.py _get_next_poke_interval). */
#ifndef PH_BACKOFF_H
#define PH_BACKOFF_H

/* Seconds to wait before retrying after try try_number (1-based) failed.
 * multiplier 0: no backoff, retry_delay as is.  Otherwise
 * m = max(1, ceil(retry_delay * multiplier^(try-1))), delay in [m, 2m) from
 * sha1("dag#task#logical_date#try"), capped at 24 h and max_retry_delay
 * (0 = no cap).  logical_date is ISO-8601 as the host prints it. */
double ph_backoff_retry(double retry_delay, double multiplier,
                        double max_retry_delay, const char *dag_id,
                        const char *task_id, const char *logical_date,
                        int try_number);

/* Seconds before the next poke of a sensor with exponential_backoff after
 * poke number poke_count (1-based): m = max(1, int(poke_interval *
 * 2^(poke_count-2))), interval in [m, 2m) from
 * sha1("dag#task#started_at#poke_count"), at most the time left before
 * timeout and at most max_wait (0 = none). */
double ph_backoff_poke(double poke_interval, int poke_count,
                       const char *dag_id, const char *task_id,
                       const char *started_at, double timeout,
                       double run_duration, double max_wait);

#endif
