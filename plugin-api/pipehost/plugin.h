/*
 * pipehost/plugin.h -- the public plugin ABI of pipehost, version 1.
 *
 * An operator plugin is a shared object that exports exactly one function,
 * pipehost_plugin_v1(), returning a pointer to a static const ph_plugin.
 * The host hands the plugin a const table of host services (ph_host); the
 * plugin links against no host symbol, so it builds with
 *
 *     cc -shared -fPIC $(pkg-config --cflags pipehost-plugin) myop.c -o myop.so
 *
 * and links with -Wl,-z,defs.
 *
 * ABI rules (never broken within major version 1):
 *  - Every struct crossing the boundary starts with uint32_t struct_size and
 *    only ever grows at its end.  WARNING: append new fields at the end only.
 *    Never reorder, retype or remove a field; an unused slot stays, NULL.
 *  - Only fixed-width integers, double, UTF-8 const char *, opaque pointers
 *    and function pointers cross.  No enums, no bool, no structs by value,
 *    arrays of pointers (never arrays of structs).
 *  - Structured values (params, XCom values, connections, context) cross as
 *    UTF-8 JSON text.
 *  - What the plugin passes to the host, the host copies.  What the host
 *    returns is borrowed and valid until the current callback returns.
 *  - The host loads a plugin whose abi_major equals PH_ABI_MAJOR and whose
 *    abi_minor is not higher than the host's.  A change that only appends
 *    bumps PH_ABI_MINOR; anything else bumps the major and the entry name.
 *  - Published constants never change value.
 *
 * Call contract: init, execute, poke and destroy of one task try run on one
 * thread, one at a time.  on_kill may run concurrently from another thread
 * or a signal handler's deferred context.  Host services are called only
 * from inside a callback, except log and is_cancelled, which are
 * thread-safe.  Each task try runs in its own worker process, so a plugin
 * that crashes, leaks or hangs costs one task try, never the host.
 */
#ifndef PIPEHOST_PLUGIN_H
#define PIPEHOST_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PH_ABI_MAJOR 1
#define PH_ABI_MINOR 5
/* The entry symbol; the major is part of its name. */
#define PH_PLUGIN_ENTRY "pipehost_plugin_v1"

#if defined(__GNUC__) || defined(__clang__)
#define PH_EXPORT __attribute__((visibility("default")))
#define PH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PH_EXPORT
#define PH_PRINTF(f, a)
#endif

/* True when the struct at p (whose first field is struct_size) is large
 * enough to hold field fld of type T.  Readers test before reading a field
 * added after 1.0. */
#define PH_HAS(p, T, fld)                                                      \
  ((p)->struct_size >= offsetof(T, fld) + sizeof(((T *)0)->fld))

/* ---- status codes (an int32_t, never an enum; unknown codes mean ERROR) */
typedef int32_t ph_status;
#define PH_OK 0           /* success */
#define PH_ERROR 1        /* failed; the task's retry policy applies */
#define PH_FAIL 2         /* failed; do not retry (AirflowFailException) */
#define PH_SKIP 3         /* the task is skipped (AirflowSkipException) */
#define PH_CANCELLED 4    /* stopped because the host asked (timeout, kill) */
#define PH_NOT_FOUND 5    /* a lookup found nothing (host services only) */
#define PH_UNSUPPORTED 6  /* the host or plugin lacks the feature */
#define PH_INVALID 7      /* bad argument (host services only) */
/* ABI 1.4: names that say what the two failures do.  The same values. */
#define PH_FAIL_RETRY PH_ERROR  /* failed; retried if retries are left */
#define PH_FAIL_NO_RETRY PH_FAIL /* failed for good; no retry */

/* ---- log levels */
#define PH_LOG_DEBUG 10
#define PH_LOG_INFO 20
#define PH_LOG_WARNING 30
#define PH_LOG_ERROR 40

/* One task try, as seen by a plugin.  Opaque and host-owned; valid from
 * init until destroy returns. */
typedef struct ph_task ph_task;

/* The services the host offers a plugin.  Host-owned, static, const.
 * WARNING: append only.  Test PH_HAS(host, ph_host, field) before calling a
 * field added after ABI 1.0. */
typedef struct ph_host {
  uint32_t struct_size;
  uint16_t abi_major, abi_minor;
  const char *host_version; /* pipehost release, e.g. "0.1.0" */

  /* Writes one line to the task log, prefixed by the host with time and
   * level.  Secrets registered with mask() are replaced by "***".
   * Thread-safe. */
  void (*log)(ph_task *t, int32_t level, const char *fmt, ...) PH_PRINTF(3, 4);

  /* Params, after defaults and templating.  param_json returns the value
   * as JSON text, or NULL when the param is absent.  The typed getters
   * return PH_OK and store the value, PH_NOT_FOUND when absent, or
   * PH_INVALID when the value has another JSON type (an integer is a valid
   * number).  Strings are borrowed until the callback returns. */
  const char *(*param_json)(ph_task *t, const char *name);
  ph_status (*param_string)(ph_task *t, const char *name, const char **out);
  ph_status (*param_int)(ph_task *t, const char *name, int64_t *out);
  ph_status (*param_double)(ph_task *t, const char *name, double *out);
  ph_status (*param_bool)(ph_task *t, const char *name, int32_t *out);

  /* Pushes an XCom value (JSON text) under key for this task try; replaces
   * a value with the same key.  A NULL key means "return_value".  Returns
   * PH_INVALID for text that is not JSON and PH_FAIL when the value is over
   * the host's XCom size limit (the push is refused whole, never
   * truncated). */
  ph_status (*xcom_push)(ph_task *t, const char *key, const char *json);
  /* Pulls the XCom value of task_id (in this DAG run) under key (NULL:
   * "return_value") as JSON text into *out_json, borrowed until the
   * callback returns.  PH_NOT_FOUND when there is none. */
  ph_status (*xcom_pull)(ph_task *t, const char *task_id, const char *key,
                         const char **out_json);

  /* A connection as a JSON object {"conn_id","conn_type","host","port",
   * "login","password","schema","extra":{...},"uri"}.  Its password is
   * masked in logs from then on.  PH_NOT_FOUND when unknown. */
  ph_status (*connection_get)(ph_task *t, const char *conn_id,
                              const char **out_json);
  /* A variable's value (text), PH_NOT_FOUND when unknown. */
  ph_status (*variable_get)(ph_task *t, const char *name, const char **out);
  /* From now on, the text secret is replaced by "***" wherever the host
   * writes it (logs, XComs shown, error reasons). */
  void (*mask)(ph_task *t, const char *secret);

  /* Non-zero once the host wants the try to stop (timeout, kill).  Cheap
   * and thread-safe: poll it in long loops. */
  int32_t (*is_cancelled)(const ph_task *t);
  /* The try's deadline on CLOCK_MONOTONIC in nanoseconds; 0 means none. */
  int64_t (*deadline_ns)(const ph_task *t);

  /* For a PH_KIND_BRANCH operator: follow this direct downstream task id.
   * Call once per id to follow; the other direct downstreams are skipped.
   * PH_INVALID if task_id is not a direct downstream. */
  ph_status (*branch_follow)(ph_task *t, const char *task_id);

  /* The run context as a JSON object: dag_id, task_id, run_id, try_number,
   * ds, ds_nodash, ts, logical_date, data_interval_start,
   * data_interval_end, params, conf, dag_file, lua_dir, work_dir.
   * Borrowed until the callback returns. */
  const char *(*context_json)(ph_task *t);

  /* Sets the human-readable reason recorded for a failed, skipped or
   * cancelled try.  The last call wins. */
  void (*set_reason)(ph_task *t, const char *fmt, ...) PH_PRINTF(2, 3);

  /* ---- ABI 1.1: artifacts, experiment tracking, model registry.  Test
   * PH_HAS(h, ph_host, field) before calling one of these. */

  /* A directory for the files this try produces (models, CSV files),
   * created on first call.  For a task with `cache: true` its path contains
   * the task's fingerprint, so cached results keep their files.  Borrowed,
   * valid for the whole try. */
  const char *(*artifact_dir)(ph_task *t);
  /* Records this try in the experiment tracker (`pipehost experiments`).
   * kind is "params" (a JSON object of strings/numbers/booleans), "metrics"
   * (a JSON object of numbers) or "artifacts" (a JSON object name -> file
   * path).  Members merge with earlier calls of the same try; a key set
   * twice keeps the last value.  PH_INVALID for anything else. */
  ph_status (*track)(ph_task *t, const char *kind, const char *json);
  /* Registers the file at path as a new version of model name (created on
   * first use), linked to this try and the params and metrics it tracked.
   * Stores {"name","version"} as JSON in *out_json (borrowed). */
  ph_status (*model_register)(ph_task *t, const char *name, const char *path,
                              const char **out_json);
  /* Looks a model version up by reference: "name@alias", "name:VERSION" or
   * "name" (the latest version).  Stores {"name","version","path",
   * "aliases":[...],"metrics":{...},"params":{...},"dag_id","run_id",
   * "task_id","created"} in *out_json (borrowed); PH_NOT_FOUND when the
   * reference resolves to nothing. */
  ph_status (*model_get)(ph_task *t, const char *ref, const char **out_json);
  /* Points alias (e.g. "production") of model name at version, moving it
   * from any other version.  PH_NOT_FOUND for an unknown version. */
  ph_status (*model_set_alias)(ph_task *t, const char *name, int64_t version,
                               const char *alias);

  /* ---- ABI 1.2: one process per task for operators that run a command.
   * Test PH_HAS(h, ph_host, exec_command) first. */

  /* Replaces this try's worker process with a command: argv[0] (a path,
   * or a name looked up in PATH) with argv, the environment envp (NULL:
   * the worker's), in directory cwd (NULL: unchanged); stdin is
   * /dev/null, stdout and stderr go to the task log.  The try's result is
   * then the command's: exit 0 succeeds and the last non-empty line it
   * printed (stdout and stderr together, trailing blanks dropped) becomes
   * the return_value XCom; exit skip_code (-1: none) skips; any other exit
   * or a signal fails the try (retryable), with a reason naming `what`
   * (e.g. "bash").  A timeout stops it like any try.  Saves the second
   * process (worker + command) of every task.  Only from execute of a
   * PH_KIND_TASK operator; returns only on failure (PH_ERROR, reason
   * set). */
  ph_status (*exec_command)(ph_task *t, const char *what,
                            const char *const *argv, const char *const *envp,
                            const char *cwd, int32_t skip_code);

  /* ---- ABI 1.4.  Test PH_HAS(h, ph_host, variable_set) first. */

  /* Sets variable name to value (text) in the metadata store, as
   * Airflow's Variable.set: later tries and runs read it (`{{
   * var.value.NAME }}`, variable_get).  A value whose name says it is a
   * secret (password, token, ...) is masked from then on.  Recorded with
   * the try's other writes. */
  ph_status (*variable_set)(ph_task *t, const char *name, const char *value);

  /* The reason a try fails, as PostgreSQL's ereport gives it: a one-line
   * message, and optionally a detail (what exactly happened) and a hint
   * (what to do).  `runs show` prints the message; `tasks explain` and
   * --json carry all three ("message\nDETAIL: ...\nHINT: ...").  Replaces
   * set_reason's text.  detail and hint may be NULL. */
  void (*set_error)(ph_task *t, const char *message, const char *detail,
                    const char *hint);

  /* JSON without hand-written JSON.  Push a plain value as an XCom (NULL
   * key: return_value); the host writes the JSON, so a quote or a newline
   * in text is never a problem. */
  ph_status (*xcom_push_text)(ph_task *t, const char *key, const char *text);
  ph_status (*xcom_push_number)(ph_task *t, const char *key, double value);
  ph_status (*xcom_push_bool)(ph_task *t, const char *key, int32_t value);
  /* Reads one field of a JSON text (a param's param_json, an xcom_pull
   * answer, a connection) by path: "a.b[0].c" ("" is the whole value).
   * json_get stores the field as JSON text in *out_json; json_get_text
   * the field's text when it is a string (else PH_INVALID), and
   * json_get_number its value when it is a number.  PH_NOT_FOUND when the
   * path leads nowhere, PH_INVALID when json is not JSON.  Results are
   * borrowed until the callback returns. */
  ph_status (*json_get)(ph_task *t, const char *json, const char *path,
                        const char **out_json);
  ph_status (*json_get_text)(ph_task *t, const char *json, const char *path,
                             const char **out);
  ph_status (*json_get_number)(ph_task *t, const char *json, const char *path,
                               double *out);

  /* ABI 1.4 and later: append below this line only. */
} ph_host;

/* ---- parameter specs */
#define PH_PARAM_REQUIRED (1u << 0)  /* the DAG must set it */
#define PH_PARAM_TEMPLATED (1u << 1) /* rendered ({{ expr }}) before init */
#define PH_PARAM_SECRET (1u << 2)    /* masked in logs, never printed */
/* ABI 1.1: the value is an input file or directory path (or a list of
 * them); for a task with `cache: true` the host hashes the content into the
 * task's fingerprint, so a changed input invalidates the cache. */
#define PH_PARAM_PATH (1u << 3)

/* One declared parameter of an operator.  type is one of "string",
 * "integer", "number", "boolean", "object", "array", "any", or "callable"
 * (a Lua function in a Lua DAG, a Lua expression string in YAML).
 * default_json is the default as JSON text, or NULL.
 * WARNING: append only. */
typedef struct ph_param {
  uint32_t struct_size;
  const char *name;
  const char *type;
  uint32_t flags;
  const char *default_json;
  const char *doc;

  /* ---- ABI 1.4 (the host tests struct_size before reading these) */

  /* Allowed values of a string param, NULL-terminated (NULL: any).  A DAG
   * setting another value is a validation error listing them. */
  const char *const *choices;
  /* With PH_PARAM_RANGE: the inclusive bounds of an integer or number
   * param, checked at validation (and after rendering a template). */
  double minimum, maximum;
} ph_param;

/* ABI 1.4: minimum and maximum of the param are set. */
#define PH_PARAM_RANGE (1u << 4)

/* ---- operators */
#define PH_KIND_TASK 1   /* execute() runs the work */
#define PH_KIND_SENSOR 2 /* poke() checks once; the host owns the loop */
#define PH_KIND_BRANCH 3 /* execute() calls branch_follow() */

/* The host completes the task itself, without a worker process or any
 * callback (the empty operator). */
#define PH_OP_NO_WORKER (1u << 0)
/* A falsy return_value skips downstream tasks (short_circuit). */
#define PH_OP_SHORT_CIRCUIT (1u << 1)

/* ---- ABI 1.3: command operators.
 *
 * An operator whose whole work is running one command built from its
 * params can say so in data.  The host then starts the command itself,
 * with no worker process and no plugin code, which makes a task cost
 * little more than the command's own fork and exec.  The result rules are
 * exec_command's: exit 0 succeeds and the last non-empty output line is
 * the return_value XCom, exit skip_code skips, anything else fails.
 *
 * The host takes this path only when it can do exactly what execute would
 * do: every param the task sets is named below (an argv placeholder, the
 * cwd or the skip-code param), the templates render in the host, and the
 * task has no memory_limit.  Otherwise the try runs through init/execute
 * as usual, so execute must implement the same behaviour (exec_command
 * makes that one call). */

/* The last argv element is a shell command line.  When it holds only
 * plain words (letters, digits, _ . / : , + @ % = - and blanks) whose
 * first is not a shell builtin or keyword, the host runs the words
 * directly, without the shell, as make does. */
#define PH_COMMAND_SHELL_LINE (1u << 0)

/* WARNING: append only. */
typedef struct ph_command {
  uint32_t struct_size;
  uint32_t flags;
  /* Names the command in reasons ("bash exited with code 3"). */
  const char *what;
  /* NULL-terminated.  Each element is literal text, or "{name}" for the
   * rendered value of string param name (an unset param is an empty
   * string).  argv[0] is looked up in PATH. */
  const char *const *argv;
  /* A string param naming the working directory, or NULL. */
  const char *cwd_param;
  /* An integer param holding the exit code that skips the task, or NULL
   * (no such code). */
  const char *skip_code_param;
} ph_command;
#define PH_COMMAND_INIT .struct_size = sizeof(ph_command)

/* An operator type.  DAGs name it by type ("bash") or "<plugin>.<type>".
 * WARNING: append only. */
typedef struct ph_operator {
  uint32_t struct_size;
  const char *type;
  const char *doc;
  int32_t kind;
  uint32_t flags;
  const ph_param *const *params; /* NULL-terminated array of pointers */

  /* Where each callback runs: every try has a worker process of its own
   * (forked by the host's launcher, or started by the host); init,
   * execute, poke and destroy run on that process's main thread, in that
   * order, one at a time; on_kill runs on the worker's signal thread.
   * Nothing of the plugin runs in the pipehost process itself (which only
   * reads the descriptor, after a forked child vetted the file). */

  /* Called once per try after params are validated, defaulted and
   * rendered.  No long I/O.  On PH_OK stores the operator's state (may be
   * NULL) in *out_state; any other status ends the try with that status.
   * Optional (ABI 1.4) for an operator with execute2 / poke2: its state is
   * then NULL. */
  ph_status (*init)(const ph_host *h, ph_task *t, void **out_state);
  /* PH_KIND_TASK and PH_KIND_BRANCH: does the work. */
  ph_status (*execute)(void *state, ph_task *t);
  /* PH_KIND_SENSOR: one check, no sleeping.  Stores non-zero in *out_done
   * when the condition holds (an XCom pushed before returning becomes the
   * sensor's value). */
  ph_status (*poke)(void *state, ph_task *t, int32_t *out_done);
  /* Asks a running execute/poke to stop.  May run on another thread,
   * concurrently with execute; idempotent; must not block.  The host
   * guarantees the order: on_kill runs only after init returned PH_OK and
   * never once destroy has begun (destroy waits for a running on_kill). */
  void (*on_kill)(void *state);
  /* Frees the state; called exactly once iff init returned PH_OK.
   * Optional (ABI 1.4 hosts; an older host requires it). */
  void (*destroy)(void *state);

  /* ---- ABI 1.3.  Test PH_HAS(op, ph_operator, command). */
  /* Optional: the operator runs this command (see ph_command), so the
   * host may start it without a worker.  PH_KIND_TASK only. */
  const ph_command *command;

  /* ---- ABI 1.4.  Test PH_HAS(op, ph_operator, execute2). */
  /* execute and poke with the host table passed in, so an operator needs
   * no state (and no init or destroy) just to carry it.  When set, the
   * host calls these instead of execute / poke; state is init's, or NULL
   * without init. */
  ph_status (*execute2)(const ph_host *h, ph_task *t, void *state);
  ph_status (*poke2)(const ph_host *h, ph_task *t, void *state,
                     int32_t *out_done);
  /* destroy with the host and the task (to log, or to push a last XCom):
   * called instead of destroy, under the same rules. */
  void (*destroy2)(const ph_host *h, ph_task *t, void *state);
} ph_operator;

/* ---- the plugin descriptor */
/* WARNING: append only. */
typedef struct ph_plugin {
  uint32_t struct_size;
  uint16_t abi_major, abi_minor; /* PH_ABI_MAJOR/MINOR at build time */
  const char *name;              /* unique among loaded plugins */
  const char *version;
  const char *license;
  const char *description;
  const char *origin; /* URL or vendor; may be NULL */
  const ph_operator *const *operators; /* NULL-terminated */
  /* Optional; called once in each worker process that runs one of the
   * plugin's operators, before init (never in the pipehost process).  On
   * failure, write a message into errbuf (errcap bytes) and return
   * non-PH_OK. */
  ph_status (*load)(const ph_host *h, char *errbuf, size_t errcap);

  /* ---- ABI 1.4 */
  /* The oldest host minor ABI this plugin works with (0: its own
   * abi_minor).  A plugin built against a newer header that only uses
   * what an older host has (it tests PH_HAS before calling newer host
   * services) sets it, and loads on those hosts: they ignore the struct
   * members they do not know, which must then be zero. */
  uint16_t min_host_minor;

  /* ---- ABI 1.5 */
  /* Optional; called once per run, with no task, in a process of this
   * plugin's own that forks its workers (never in the pipehost process,
   * nor where another plugin's workers come from): do here what every
   * try would otherwise repeat -- load an implementation library, build
   * a pristine interpreter -- and each later worker inherits it.  The
   * first tries may start before it has run: a worker must work the same
   * without it.  Start no thread, open no connection or file, change
   * nothing a try could observe.  A prefork that crashes or hangs costs
   * no try: the plugin's workers are then forked without it. */
  void (*prefork)(void);
} ph_plugin;

/* The only symbol a plugin exports.  Returns static const data; no side
 * effects. */
PH_EXPORT const ph_plugin *pipehost_plugin_v1(void);

/* Convenience initialisers for plugin authors. */
#define PH_PLUGIN_INIT                                                         \
  .struct_size = sizeof(ph_plugin), .abi_major = PH_ABI_MAJOR,                 \
  .abi_minor = PH_ABI_MINOR
#define PH_OPERATOR_INIT .struct_size = sizeof(ph_operator)
#define PH_PARAM_INIT .struct_size = sizeof(ph_param)

#ifdef __cplusplus
}
#endif
#endif /* PIPEHOST_PLUGIN_H */
