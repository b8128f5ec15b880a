/* ph_worker -- runs one task try inside a worker process.
 *
 * The worker reads the try's spec (one JSON line) from fd, loads only the
 * plugin it needs, renders templated params, calls the operator (init,
 * execute or poke, destroy) and reports XComs, branch choices and the
 * result as JSON lines on the same fd, asking the scheduler for XComs,
 * variables and connections.  It implements the ph_host services table of
 * the public ABI.  SIGTERM sets the cancellation flag and calls the
 * operator's on_kill from a dedicated thread.
 */
#ifndef PH_WORKER_H
#define PH_WORKER_H

/* The first use of the libraries every try uses (GLib's types,
 * json-glib), which keeps no state of a process's own: the launcher calls
 * it once before it forks workers, so that each worker inherits it done.
 * Idempotent. */
void ph_worker_warm_libraries(void);

/* Does the part of a worker's start that does not depend on its try: the
 * cancellation pipe and its signal handlers (this process's own), and
 * ph_worker_warm_libraries() if it was not done before the fork.  When
 * plugin_path (or NULL) names a plugin preloaded here that has an
 * operator with an on_kill, also starts the thread that calls it.  A
 * spare worker forked ahead of demand calls it while it waits for a try,
 * so that none of it is on the try's path.  Idempotent; ph_worker_main()
 * calls it. */
void ph_worker_warm(const char *plugin_path);

/* Loads the plugin at plugin_path (as a try would) and keeps it, so that
 * a try of one of its operators in this process, or in a child forked
 * after this call, finds it loaded: the launcher calls it for the plugins
 * tries have used.  A plugin that fails to load is left for the try to
 * load again and report. */
void ph_worker_preload(const char *plugin_path);

/* The text a worker reads on its fd, without the final newline: the
 * spec (a JSON object on one line) and, on the next line, the try's
 * template context (JSON object text, NULL for {}), which the worker
 * keeps as text and never parses itself.  Caller frees. */
char *ph_worker_spec_text(const char *spec_json, const char *context_json);

/* Runs the try described on fd; returns the process exit status (0 when
 * a result was reported, whatever the task's outcome). */
int ph_worker_main(int fd);

#endif
