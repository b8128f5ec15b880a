/* The CPU a process costs on this machine when each try has one: a fork
 * and the child's immediate exit, from a process with a worker's libraries
 * mapped (GLib, json-glib, Lua), before and after their first use and the
 * load of the plugin given as the first argument (e.g. core.so).  Run it
 * with LD_PRELOAD=libpq.so.5 for the sql plugin's zygote.  Nothing else happens in the child,
 * so this is the floor under any try of a worker, whatever its work.
 * Build and run:
 *   cc -O2 bench/forkfloor.c -o /tmp/forkfloor \
 *      $(pkg-config --cflags --libs json-glib-1.0 lua5.4) -ldl
 *   /tmp/forkfloor build/lib/pipehost/plugins/core.so */
#include <dlfcn.h>
#include <json-glib/json-glib.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static double cpu(int who) {
  struct rusage r;
  getrusage(who, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
         r.ru_stime.tv_usec / 1e6;
}

static int mappings(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  int c, n = 0;
  while (f && (c = fgetc(f)) != EOF)
    n += c == '\n';
  if (f)
    fclose(f);
  return n;
}

/* forks n children that exit at once; prints the CPU per child */
static void measure(const char *what, int n) {
  double s0 = cpu(RUSAGE_SELF), c0 = cpu(RUSAGE_CHILDREN);
  for (int i = 0; i < n; i++) {
    pid_t p = fork();
    if (p == 0)
      _exit(0);
    waitpid(p, NULL, 0);
  }
  double parent = (cpu(RUSAGE_SELF) - s0) / n * 1e6;
  double child = (cpu(RUSAGE_CHILDREN) - c0) / n * 1e6;
  printf("%-34s %4d mappings: fork %5.0f us + exit %5.0f us = %5.0f us\n",
         what, mappings(), parent, child, parent + child);
}

int main(int argc, char **argv) {
  const int n = 5000;
  measure("libraries mapped, not yet used", n);
  JsonNode *j = json_from_string("{\"a\":[1,2,3]}", NULL);
  json_node_unref(j);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  if (argc > 1 && !dlopen(argv[1], RTLD_NOW)) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  measure("used, and the plugin loaded", n);
  lua_close(L);
  return 0;
}
