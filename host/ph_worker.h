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

/* Does the part of a worker's start that does not depend on its try: the
 * cancellation pipe and its signal handlers, and the first use of the
 * libraries every try uses (GLib's types, json-glib).  A spare worker
 * forked ahead of demand calls it while it waits for a try, so that none
 * of it is on the try's path.  Idempotent; ph_worker_main() calls it. */
void ph_worker_warm(void);

/* In a spare worker, ahead of its try: loads the plugin at plugin_path
 * (as the try would, in this process) so that a try of one of its
 * operators finds it loaded.  A plugin that fails to load is left for
 * the try to load again and report. */
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
