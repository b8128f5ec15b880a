/* ph_exec -- the local executor: runs each task try in its own worker
 * process and reports what happened.
 *
 * A worker is this same binary started with posix_spawn (cheap even from
 * a large parent) as "pipehost __worker", in its own process group, with
 * the try's spec as one JSON line on fd 3, a socket it also answers on:
 * the worker sends JSON-line messages (xcom_push, xcom_pull, branch,
 * result, ...) and the scheduler replies to requests.  stdout and stderr
 * go to the try's log file.  Exit is watched through a pidfd, so a worker
 * that closes its socket, crashes or hangs is still seen.  A try past its
 * deadline gets SIGTERM (the worker calls the operator's on_kill), then
 * SIGKILL after a grace period; leftover processes of the try's process
 * group are killed when the worker ends.
 *
 * Single-threaded: call everything from the scheduler's thread.
 */
#ifndef PH_EXEC_H
#define PH_EXEC_H

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct ph_exec ph_exec;

/* How a try ended, as seen from outside the worker. */
typedef struct ph_exec_end {
  int pid;
  int exit_code;       /* >= 0 when it exited */
  int signal;          /* > 0 when a signal ended it */
  int timed_out;       /* the executor stopped it at its deadline */
  JsonObject *result;  /* the worker's result message, or NULL (borrowed) */
  gsize oversized;     /* > 0: the worker was stopped for sending a message
                        * of at least this many bytes (over the limit) */
  int start_errno;     /* > 0: the worker could not be started (fork's
                        * errno); nothing ran */
  const char *executor_reason; /* another executor (ph_slurm) saw the try
                                * end without its worker's end: why */
} ph_exec_end;

typedef struct ph_exec_callbacks {
  /* A message from job's worker.  For requests (xcom_pull, var_get, ...)
   * the callback must answer with ph_exec_reply() before returning. */
  void (*on_message)(void *user, guint job, JsonObject *msg);
  /* The worker of job has ended; job's id may be reused afterwards. */
  void (*on_end)(void *user, guint job, const ph_exec_end *end);
  /* Optional: the pid of job's worker, when ph_exec_start returned 0 (it
   * comes while the worker runs, before its end). */
  void (*on_pid)(void *user, guint job, int pid);
} ph_exec_callbacks;

/* A new executor that spawns worker_exe (usually /proc/self/exe).  Kill
 * grace period in seconds. */
ph_exec *ph_exec_new(const char *worker_exe, const ph_exec_callbacks *cb,
                     void *user, double kill_grace);
/* Kills every running worker (SIGKILL) and frees the executor. */
void ph_exec_free(ph_exec *ex);

/* Starts the launcher: a small process ("pipehost __launcher") that forks
 * each worker instead of exec'ing a new one, keeps the plugins it ran
 * mapped, and reports each worker's exit.  Without it (or if it dies)
 * workers are started with posix_spawn.  FALSE with error set if it could
 * not start. */
gboolean ph_exec_start_launcher(ph_exec *ex, GError **error);

/* The open-file limit allows this many tries at once (each holds a few
 * descriptors in this process): raises the soft limit to the hard one
 * first.  Call before starting tries. */
int ph_exec_max_parallel(void);

/* Secrets to mask in the tries' output (borrowed; the caller adds to it
 * as it learns them).  A try started while the list is not empty writes
 * its stdout and stderr to a pipe instead of its log: we mask each line
 * and append it to the log, so no secret reaches a log file.  With
 * filter_workers, every worker's output is filtered (a worker may learn a
 * secret, a connection's password, while it runs). */
void ph_exec_set_secrets(ph_exec *ex, const GPtrArray *secrets,
                         gboolean filter_workers);
/* For a filtered try: writes out what its pipe holds and returns the
 * log's end offset; -1 when the try is not filtered. */
gint64 ph_exec_log_end(ph_exec *ex, guint job);

/* Caps the size of one message from a worker (default 64 MiB): a worker
 * that sends a longer line is killed and its end reports `oversized`. */
void ph_exec_set_max_message(ph_exec *ex, gsize bytes);

/* The launcher's pid, or 0 when there is none (not started, or died). */
int ph_exec_get_launcher_pid(const ph_exec *ex);

/* The launcher's main loop on control socket ctl; returns when the host
 * closes it, after stopping the host's tries: its own workers and the
 * commands listed in the shared table live_fd (-1: none).  Called by
 * "pipehost __launcher". */
int ph_exec_launcher_main(int ctl, int live_fd);

/* Starts a worker for job (a caller-chosen id, unique among running jobs)
 * with the spec (text the worker reads: for ph_worker, a JSON line and the
 * context's JSON text), writing its output to log_path (created,
 * appended).  plugin_path (may be NULL) is the plugin the worker will
 * load, which the launcher keeps mapped.  timeout > 0 sets a deadline in
 * seconds.  Returns the pid; 0 when a launcher starts the worker (its pid
 * comes through on_pid, and a failed fork through on_end's start_errno);
 * or -1 with error set (the try did not start). */
int ph_exec_start(ph_exec *ex, guint job, const char *spec_json,
                  const char *log_path, const char *plugin_path,
                  double timeout, GError **error);
/* Like ph_exec_start, for a try whose upstream still runs: a spare worker
 * is given the spec now, reads it, loads the plugin, and waits for
 * ph_exec_go before it renders the params and runs the operator (the
 * spec says "await_go").  What a try does first is then off the path
 * between the upstream's end and this try's start.  Only when a spare is
 * ready: returns its pid, 0 when there is none (nothing was done, no log
 * created), -1 with error set.  A prepared job reports nothing and has
 * no deadline; one whose worker speaks or dies first is dropped without
 * on_end (ph_exec_go then fails). */
int ph_exec_prepare(ph_exec *ex, guint job, const char *spec_text,
                    const char *log_path, const char *plugin_path,
                    GError **error);
/* Whether a spare worker for plugin_path is ready now (what
 * ph_exec_prepare needs).  The first call for a plugin with a prefork asks
 * for its zygote, as a start would. */
gboolean ph_exec_spare_ready(ph_exec *ex, const char *plugin_path);
/* Tells prepared job to run: go_line (one line of JSON, no newline) is
 * what the worker reads next; the job is a try from now, with a
 * deadline of timeout seconds (> 0).  Returns its pid, or -1 when job is
 * not prepared or its worker is gone (the job is forgotten; start the
 * try afresh). */
int ph_exec_go(ph_exec *ex, guint job, const char *go_line, double timeout);
/* Forgets prepared job (if it is one): its worker exits, having run
 * nothing. */
void ph_exec_discard(ph_exec *ex, guint job);
/* Starts a command for job with no worker (ABI 1.3 command operators):
 * the program path (NULL: argv[0] looked up in PATH) with argv and the
 * environment envp, in cwd
 * (NULL: unchanged), in its own process group, stdin /dev/null, stdout
 * and stderr appended to log_path after header (a line, may be NULL).
 * Deadlines, stops and exits work as for a worker; its end carries no
 * result.  *out_offset gets where the command's output starts in the
 * log.  Returns the pid, or -1 with error set (the message is the errno
 * text: a missing program or cwd is G_FILE_ERROR_NOENT). */
int ph_exec_start_command(ph_exec *ex, guint job, const char *path,
                          char *const *argv, char *const *envp, const char *cwd,
                          const char *log_path, const char *header,
                          gint64 *out_offset, double timeout, GError **error);
/* Answers the request job's worker is waiting on. */
void ph_exec_reply(ph_exec *ex, guint job, JsonNode *reply);
/* Asks job's worker to stop (SIGTERM now, SIGKILL after the grace
 * period); reason is reported as a timeout if timed_out is non-zero. */
void ph_exec_stop(ph_exec *ex, guint job, int timed_out);
/* Number of running workers (prepared ones not counted). */
guint ph_exec_n_running(const ph_exec *ex);
/* Stops the tries past their deadline (SIGTERM, then SIGKILL after the
 * grace period) without waiting or dispatching anything: safe to call
 * while the caller is blocked elsewhere (waiting for the store's lock). */
void ph_exec_enforce_deadlines(ph_exec *ex);

/* Waits up to max_wait seconds (< 0: forever) for events and dispatches
 * them through the callbacks.  Returns the number of events handled, or
 * -1 with errno set when waiting itself failed (not EINTR): the caller
 * must stop, as no end can be seen any more. */
int ph_exec_poll(ph_exec *ex, double max_wait);

#endif
