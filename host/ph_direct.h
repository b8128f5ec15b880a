/* ph_direct -- the command of a command operator (ABI 1.3 ph_command),
 * built in the host so the scheduler can start it with no worker process.
 *
 * The scheduler asks ph_direct_applies() once per task; when it holds, a
 * try renders the templated params in the host, asks ph_direct_argv() for
 * the command and starts it through ph_exec_start_command().  Anything
 * the host cannot do exactly as the operator's execute would (a param the
 * command does not name, a secret, a template that fails) goes through
 * the worker instead, which reports it the usual way.
 */
#ifndef PH_DIRECT_H
#define PH_DIRECT_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "pipehost/plugin.h"

/* TRUE when op declares a command and a task with params (declared
 * defaults applied, not rendered) may run it without a worker: every
 * param that differs from its declared default is named by the command,
 * and none of them is secret. */
gboolean ph_direct_applies(const ph_operator *op, JsonObject *params);

/* The command of op for params (rendered).  Returns argv as declared
 * (caller frees with g_strfreev).  *plain (may be NULL) receives, for a
 * PH_COMMAND_SHELL_LINE command whose line is plain words, those words to
 * run without the shell (caller g_strfreev; NULL otherwise).  *cwd gets
 * the working directory or NULL (caller g_free), *skip_code the exit code
 * that skips, or -1. */
char **ph_direct_argv(const ph_operator *op, JsonObject *params, char ***plain,
                      char **cwd, int *skip_code);

/* The words of a shell command line that needs no shell, or NULL: only
 * letters, digits, blanks and _ . / : , + @ % = -; the first word not an
 * assignment, an option, or a bash builtin or keyword.  Caller frees with
 * g_strfreev. */
char **ph_direct_split_plain(const char *line);

#endif
