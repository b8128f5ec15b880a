/* testops -- operators for the test suite, well-behaved and hostile:
 * crash (SIGSEGV in execute), crash_init (SIGSEGV in init), abort (abort()
 * in execute), hang (ignores cancellation and SIGTERM's on_kill), exit_now
 * (exit() with no result), status (returns a chosen status), pick (a
 * plugin-side branch), counter_sensor (done on the Nth poke, counted in a
 * file), push (pushes an XCom of any size), leak (allocates without bound),
 * fork_exit (leaves children behind), close_stdout, exit_init (exit() in
 * init), tracker (ABI 1.1: artifact_dir, track, the model registry),
 * hostile (hostile text and protocol abuse), killorder (a slow on_kill:
 * the host must not destroy the state under it). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipehost/plugin.h"

typedef struct {
  const ph_host *h;
} st_t;

static ph_status t_init(const ph_host *h, ph_task *t, void **out) {
  st_t *s = calloc(1, sizeof *s);
  s->h = h;
  *out = s;
  return PH_OK;
}
static void t_destroy(void *s) { free(s); }

static ph_status crash_exec(void *s, ph_task *t) {
  volatile int *p = NULL;
  *p = 42; /* SIGSEGV on purpose */
  return PH_OK;
}

static ph_status crash_init(const ph_host *h, ph_task *t, void **out) {
  raise(SIGSEGV);
  return PH_OK;
}

static ph_status abort_exec(void *s, ph_task *t) {
  abort();
  return PH_OK;
}

static ph_status hang_exec(void *s, ph_task *t) {
  for (;;)
    pause(); /* never looks at is_cancelled */
  return PH_OK;
}

static ph_status exit_exec(void *s, ph_task *t) {
  exit(0); /* leaves without reporting a result */
}

/* Allocates and touches 64 MiB at a time, never freeing, never checking
 * for NULL: under a memory_limit the first failed malloc crashes it. */
static ph_status leak_exec(void *s, ph_task *t) {
  for (;;) {
    char *p = malloc(64u << 20);
    memset(p, 1, 64u << 20);
  }
  return PH_OK;
}

/* Writes forward from a 16-byte buffer until it runs off mapped memory. */
static ph_status overrun_exec(void *s, ph_task *t) {
  volatile char *p = malloc(16);
  for (size_t i = 0;; i += 4096)
    p[i] = 1;
  return PH_OK;
}

/* Starts two children that would outlive the try, reports their pids. */
static ph_status fork_exec(void *sv, ph_task *t) {
  st_t *s = sv;
  char buf[64];
  pid_t a = fork();
  if (a == 0) {
    sleep(300);
    _exit(0);
  }
  pid_t b = fork();
  if (b == 0) {
    sleep(300);
    _exit(0);
  }
  snprintf(buf, sizeof buf, "[%d,%d]", (int)a, (int)b);
  s->h->xcom_push(t, NULL, buf);
  return PH_OK;
}

static ph_status close_stdout_exec(void *sv, ph_task *t) {
  st_t *s = sv;
  close(1);
  close(2);
  s->h->log(t, PH_LOG_INFO, "stdout and stderr are closed");
  return s->h->xcom_push(t, NULL, "\"still reported\"");
}

static ph_status exit_init(const ph_host *h, ph_task *t, void **out) {
  exit(3);
}

static ph_status status_exec(void *sv, ph_task *t) {
  st_t *s = sv;
  int64_t code = 0;
  s->h->param_int(t, "code", &code);
  s->h->set_reason(t, "status operator returned %d", (int)code);
  return (ph_status)code;
}

static ph_status pick_exec(void *sv, ph_task *t) {
  st_t *s = sv;
  const char *follow = NULL;
  if (s->h->param_string(t, "follow", &follow) != PH_OK)
    return PH_FAIL;
  if (s->h->branch_follow(t, follow) != PH_OK) {
    s->h->set_reason(t, "cannot follow '%s'", follow);
    return PH_FAIL;
  }
  return PH_OK;
}

static ph_status counter_poke(void *sv, ph_task *t, int32_t *done) {
  st_t *s = sv;
  const char *file = NULL;
  int64_t n = 1;
  s->h->param_string(t, "file", &file);
  s->h->param_int(t, "n", &n);
  int count = 0;
  FILE *f = fopen(file, "r");
  if (f) {
    if (fscanf(f, "%d", &count) != 1)
      count = 0;
    fclose(f);
  }
  count++;
  f = fopen(file, "w");
  if (f) {
    fprintf(f, "%d\n", count);
    fclose(f);
  }
  s->h->log(t, PH_LOG_INFO, "poke %d of %d", count, (int)n);
  *done = count >= n;
  if (*done) {
    char buf[32];
    snprintf(buf, sizeof buf, "%d", count);
    s->h->xcom_push(t, NULL, buf);
  }
  return PH_OK;
}

static ph_status push_exec(void *sv, ph_task *t) {
  st_t *s = sv;
  int64_t size = 10;
  s->h->param_int(t, "size", &size);
  char *buf = malloc(size + 3);
  buf[0] = '"';
  memset(buf + 1, 'x', size);
  buf[size + 1] = '"';
  buf[size + 2] = 0;
  ph_status st = s->h->xcom_push(t, "big", buf);
  free(buf);
  return st;
}

/* hostile: hostile text and protocol abuse, chosen by `act`:
 * bad_reason (a reason that is not UTF-8, PH_FAIL), bad_json (pushes
 * invalid JSON and still returns PH_OK), bad_utf8 (pushes a JSON string
 * holding bytes that are not UTF-8), no_reason (PH_FAIL with no reason),
 * flood (writes 200 MiB with no newline to the result channel, fd 3). */
static ph_status hostile_exec(void *sv, ph_task *t) {
  st_t *s = sv;
  const char *act = "";
  s->h->param_string(t, "act", &act);
  if (!strcmp(act, "bad_reason")) {
    s->h->set_reason(t, "bad \xff\xfe bytes {{ 7 * 7 }}");
    return PH_FAIL;
  }
  if (!strcmp(act, "bad_json")) {
    s->h->xcom_push(t, "k", "{\"a\": ");
    return PH_OK;
  }
  if (!strcmp(act, "bad_utf8"))
    return s->h->xcom_push(t, "k", "\"caf\xe9\"");
  if (!strcmp(act, "no_reason"))
    return PH_FAIL;
  if (!strcmp(act, "detail")) {
    s->h->set_error(t, "cannot reach the warehouse",
                    "connect to db.internal:5432 was refused",
                    "start the database or fix conn_id");
    return PH_FAIL_NO_RETRY;
  }
  if (!strcmp(act, "many")) {
    /* 20 keys of 4000 bytes: each under a 4096-byte limit, together over
     * 16 times it */
    static char v[4003];
    v[0] = '"';
    memset(v + 1, 'y', 4000);
    v[4001] = '"';
    v[4002] = 0;
    for (int i = 0; i < 20; i++) {
      char key[16];
      snprintf(key, sizeof key, "k%d", i);
      s->h->xcom_push(t, key, v);
    }
    return PH_OK;
  }
  if (!strcmp(act, "print_secret")) {
    const char *sec = "";
    s->h->param_string(t, "secret", &sec);
    printf("secret=%s\n", sec); /* careless: the host masks it */
    fflush(stdout);
    return PH_OK;
  }
  if (!strcmp(act, "print_conn")) {
    /* a careless plugin printing a password with printf: the host masks
     * the worker's output */
    const char *json = NULL;
    if (s->h->connection_get(t, "vault", &json) != PH_OK || !json)
      return PH_FAIL;
    const char *pw = strstr(json, "\"password\":\"");
    if (pw) {
      pw += 12;
      printf("pw=%.*s\n", (int)strcspn(pw, "\""), pw);
      fflush(stdout);
    }
    return PH_OK;
  }
  if (!strcmp(act, "flood")) {
    static char chunk[1 << 16];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 200 * 16; i++)
      if (write(3, chunk, sizeof chunk) < 0)
        break;
    return PH_OK;
  }
  return PH_OK;
}

/* killorder: execute waits for cancellation and returns at once; on_kill
 * takes 300 ms, then writes to `file` whether the state was still alive
 * ("alive") or destroy had already run ("destroyed").  The host promises
 * on_kill never overlaps destroy. */
typedef struct {
  const ph_host *h;
  volatile int alive;
  char file[512];
} ko_t;
static ko_t g_ko; /* static: a destroyed state stays readable for the test */

static ph_status ko_init(const ph_host *h, ph_task *t, void **out) {
  const char *file = "";
  h->param_string(t, "file", &file);
  g_ko.h = h;
  g_ko.alive = 1;
  snprintf(g_ko.file, sizeof g_ko.file, "%s", file);
  *out = &g_ko;
  return PH_OK;
}
static ph_status ko_exec(void *sv, ph_task *t) {
  ko_t *s = sv;
  while (!s->h->is_cancelled(t))
    usleep(10000);
  usleep(100000); /* on_kill is under way by now */
  return PH_CANCELLED;
}
static void ko_on_kill(void *sv) {
  ko_t *s = sv;
  usleep(300000);
  FILE *f = fopen(s->file, "w");
  if (f) {
    fputs(s->alive ? "alive" : "destroyed", f);
    fclose(f);
  }
}
static void ko_destroy(void *sv) { ((ko_t *)sv)->alive = 0; }

/* minimal (ABI 1.4): no init, no state, no destroy; execute2 gets the
 * host table and pushes a value. */
static ph_status minimal_exec2(const ph_host *h, ph_task *t, void *state) {
  return state ? PH_FAIL : h->xcom_push(t, NULL, "\"minimal\"");
}
/* destroy2 gets the host and the task: it pushes a last XCom */
static void minimal_destroy2(const ph_host *h, ph_task *t, void *state) {
  h->xcom_push_bool(t, "destroyed", 1);
}

/* tracker: writes "<input content> <score>" as a model file into its
 * artifact dir, tracks params and metrics, registers the file as a version
 * of model `model` and moves `alias` to it when its score beats the
 * aliased version's (or no version has the alias).  Appends one line to
 * `log_file` per execution, so tests can count real runs. */
static ph_status tracker_exec(void *sv, ph_task *t) {
  st_t *s = sv;
  const ph_host *h = s->h;
  const char *input = NULL, *model = NULL, *alias = "production",
             *log_file = NULL, *cur = NULL, *reg = NULL;
  double score = 0;
  char buf[4096] = "";
  if (!PH_HAS(h, ph_host, model_set_alias))
    return PH_FAIL;
  h->param_string(t, "input", &input);
  h->param_string(t, "model", &model);
  h->param_string(t, "alias", &alias);
  h->param_double(t, "score", &score);
  if (h->param_string(t, "log_file", &log_file) == PH_OK) {
    FILE *lf = fopen(log_file, "a");
    if (lf) {
      fprintf(lf, "ran\n");
      fclose(lf);
    }
  }
  FILE *in = fopen(input, "r");
  if (!in) {
    h->set_reason(t, "cannot read %s", input);
    return PH_FAIL;
  }
  size_t n = fread(buf, 1, sizeof buf - 1, in);
  buf[n] = 0;
  fclose(in);
  const char *dir = h->artifact_dir(t);
  if (!dir)
    return PH_FAIL;
  char path[4096];
  snprintf(path, sizeof path, "%s/model.txt", dir);
  FILE *out = fopen(path, "w");
  if (!out)
    return PH_FAIL;
  fprintf(out, "%s %.17g\n", buf, score);
  fclose(out);
  char js[8192];
  snprintf(js, sizeof js, "{\"score\": %.17g, \"model\": \"%s\"}", score,
           model);
  if (h->track(t, "params", js) != PH_OK)
    return PH_FAIL;
  snprintf(js, sizeof js, "{\"score\": %.17g}", score);
  if (h->track(t, "metrics", js) != PH_OK)
    return PH_FAIL;
  if (h->track(t, "metrics", "not json") != PH_INVALID)
    return PH_FAIL;
  if (h->model_register(t, model, path, &reg) != PH_OK)
    return PH_FAIL;
  const char *v = strstr(reg, "\"version\":");
  long long version = v ? atoll(v + 10) : 0;
  char ref[512];
  snprintf(ref, sizeof ref, "%s@%s", model, alias);
  int promote = 1;
  if (h->model_get(t, ref, &cur) == PH_OK) {
    const char *m = strstr(cur, "\"score\":");
    if (m && atof(m + 8) >= score)
      promote = 0;
  }
  if (promote && h->model_set_alias(t, model, version, alias) != PH_OK)
    return PH_FAIL;
  snprintf(js, sizeof js,
           "{\"path\": \"%s\", \"version\": %lld, \"promoted\": %s}", path,
           version, promote ? "true" : "false");
  return h->xcom_push(t, NULL, js);
}

static const ph_param p_code = {PH_PARAM_INIT, .name = "code",
                                .type = "integer", .flags = PH_PARAM_REQUIRED,
                                .doc = "status to return"};
static const ph_param p_follow = {PH_PARAM_INIT, .name = "follow",
                                  .type = "string", .flags = PH_PARAM_REQUIRED,
                                  .doc = "downstream id to follow"};
static const ph_param p_file = {PH_PARAM_INIT, .name = "file", .type = "string",
                                .flags = PH_PARAM_REQUIRED | PH_PARAM_TEMPLATED,
                                .doc = "counter file"};
static const ph_param p_n = {PH_PARAM_INIT, .name = "n", .type = "integer",
                             .default_json = "1", .doc = "pokes needed"};
static const ph_param p_size = {PH_PARAM_INIT,
                                .name = "size",
                                .type = "integer",
                                .flags = PH_PARAM_TEMPLATED | PH_PARAM_RANGE,
                                .default_json = "10",
                                .doc = "bytes to push (templated: rendered, "
                                       "then read as an integer)",
                                .minimum = 0,
                                .maximum = 100000000};
static const ph_param p_tr_input = {
    PH_PARAM_INIT, .name = "input", .type = "string",
    .flags = PH_PARAM_REQUIRED | PH_PARAM_TEMPLATED | PH_PARAM_PATH,
    .doc = "input file"};
static const ph_param p_tr_score = {
    PH_PARAM_INIT, .name = "score", .type = "number",
    .flags = PH_PARAM_REQUIRED, .doc = "the metric"};
static const ph_param p_tr_model = {PH_PARAM_INIT, .name = "model",
                                    .type = "string", .default_json = "\"m\"",
                                    .doc = "model name"};
static const ph_param p_tr_alias = {
    PH_PARAM_INIT, .name = "alias", .type = "string",
    .default_json = "\"production\"", .doc = "alias"};
static const ph_param p_tr_log = {PH_PARAM_INIT, .name = "log_file",
                                  .type = "string", .doc = "run counter"};
static const ph_param *const tracker_params[] = {
    &p_tr_input, &p_tr_score, &p_tr_model, &p_tr_alias, &p_tr_log, NULL};
static const ph_param *const none[] = {NULL};
static const ph_param *const code_params[] = {&p_code, NULL};
static const ph_param *const pick_params[] = {&p_follow, NULL};
static const ph_param *const counter_params[] = {&p_file, &p_n, NULL};
static const ph_param *const push_params[] = {&p_size, NULL};
static const char *const acts[] = {
    "bad_reason", "bad_json",     "bad_utf8",   "no_reason", "flood", "many",
    "none",       "print_secret", "print_conn", "detail",    NULL};
static const ph_param p_act = {PH_PARAM_INIT,
                               .name = "act",
                               .type = "string",
                               .flags = PH_PARAM_REQUIRED,
                               .doc = "what to do (see hostile_exec)",
                               .choices = acts};
static const ph_param p_secret = {PH_PARAM_INIT, .name = "secret",
                                  .type = "string", .flags = PH_PARAM_SECRET,
                                  .doc = "a secret, unused"};
static const ph_param *const hostile_params[] = {&p_act, &p_secret, NULL};

#define OP(name, kind_, init_, exec_, poke_, params_)                          \
  static const ph_operator op_##name = {                                       \
      PH_OPERATOR_INIT, .type = #name,     .doc = "test operator " #name,      \
      .kind = kind_,    .params = params_, .init = init_,                      \
      .execute = exec_, .poke = poke_,     .destroy = t_destroy}

OP(crash, PH_KIND_TASK, t_init, crash_exec, NULL, none);
OP(crash_init, PH_KIND_TASK, crash_init, crash_exec, NULL, none);
OP(abort, PH_KIND_TASK, t_init, abort_exec, NULL, none);
OP(hang, PH_KIND_TASK, t_init, hang_exec, NULL, none);
OP(exit_now, PH_KIND_TASK, t_init, exit_exec, NULL, none);
OP(status, PH_KIND_TASK, t_init, status_exec, NULL, code_params);
OP(pick, PH_KIND_BRANCH, t_init, pick_exec, NULL, pick_params);
OP(counter_sensor, PH_KIND_SENSOR, t_init, NULL, counter_poke, counter_params);
OP(push, PH_KIND_TASK, t_init, push_exec, NULL, push_params);
OP(leak, PH_KIND_TASK, t_init, leak_exec, NULL, none);
OP(overrun, PH_KIND_TASK, t_init, overrun_exec, NULL, none);
OP(fork_exit, PH_KIND_TASK, t_init, fork_exec, NULL, none);
OP(close_stdout, PH_KIND_TASK, t_init, close_stdout_exec, NULL, none);
OP(exit_init, PH_KIND_TASK, exit_init, crash_exec, NULL, none);
OP(tracker, PH_KIND_TASK, t_init, tracker_exec, NULL, tracker_params);
OP(hostile, PH_KIND_TASK, t_init, hostile_exec, NULL, hostile_params);
static const ph_param *const ko_params[] = {&p_file, NULL};
static const ph_operator op_minimal = {PH_OPERATOR_INIT,
                                       .type = "minimal",
                                       .doc = "test operator minimal",
                                       .kind = PH_KIND_TASK,
                                       .params = none,
                                       .execute2 = minimal_exec2,
                                       .destroy2 = minimal_destroy2};
static const ph_operator op_killorder = {PH_OPERATOR_INIT,
                                         .type = "killorder",
                                         .doc = "test operator killorder",
                                         .kind = PH_KIND_TASK,
                                         .params = ko_params,
                                         .init = ko_init,
                                         .execute = ko_exec,
                                         .on_kill = ko_on_kill,
                                         .destroy = ko_destroy};

static const ph_operator *const ops[] = {
    &op_crash,        &op_crash_init, &op_abort,   &op_hang,
    &op_exit_now,     &op_status,     &op_pick,    &op_counter_sensor,
    &op_push,         &op_leak,       &op_overrun, &op_fork_exit,
    &op_close_stdout, &op_exit_init,  &op_tracker, &op_hostile,
    &op_killorder,    &op_minimal,    NULL};

static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "testops",
                                 .version = "0.0.1",
                                 .license = "MIT",
                                 .description = "test operators",
                                 .operators = ops};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
