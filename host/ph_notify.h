/* ph_notify -- email_on_failure and email_on_retry, as in Airflow.
 *
 * The scheduler never waits for a mail server: ph_notify_send starts
 * `pipehost __notify` detached, with the request on its stdin, and goes on.
 * That process runs the `email` operator in an ordinary worker (so the
 * message is built and sent by the plugin, never by the host), answering
 * the worker's connection and variable lookups itself, and appends what
 * happened to the notification's log file.  A missing email plugin or
 * connection costs a line in that log, never a task state.
 */
#ifndef PH_NOTIFY_H
#define PH_NOTIFY_H

#include <glib.h>
#include <json-glib/json-glib.h>

/* Starts `exe __notify` detached with request (a JSON object: "params" for
 * the email operator, "log" (a file path), "home" (PIPEHOST_HOME), "dag_id",
 * "run_id", "task_id").  Returns FALSE with error when it cannot start. */
gboolean ph_notify_send(const char *exe, JsonObject *request, GError **error);

/* The body of `pipehost __notify`: reads the request on stdin and sends
 * the message through the email operator found in the plugin dirs
 * (builtin_dir first, then PIPEHOST_PLUGIN_PATH).  Returns the exit
 * status: 0 when the operator succeeded. */
int ph_notify_main(const char *exe, const char *builtin_dir);

/* The last n lines of the file at path (caller frees), or "" when it
 * cannot be read. */
char *ph_notify_log_tail(const char *path, int n);

#endif
