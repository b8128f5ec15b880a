/* pipehost-worker -- the launcher and worker of pipehost, without the
 * rest of the host: a smaller process to fork a worker from, and to tear
 * down after each try.  pipehost starts it as its launcher when it is
 * installed next to pipehost (else "pipehost __launcher").  Any other
 * command is pipehost's: a plugin that runs /proc/self/exe to call the
 * CLI (trigger_dag) gets the pipehost next to this program. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "ph_exec.h"
#include "ph_worker.h"

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "__worker"))
    return ph_worker_main(3);
  if (argc >= 2 && !strcmp(argv[1], "__launcher"))
    return ph_exec_launcher_main(3, argc >= 3 ? atoi(argv[2]) : -1);
  g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
  g_autofree char *dir = g_path_get_dirname(self ? self : argv[0]);
  g_autofree char *host = g_build_filename(dir, "pipehost", NULL);
  argv[0] = host;
  execv(host, argv);
  fprintf(stderr, "pipehost-worker: cannot run %s: %s\n", host,
          g_strerror(errno));
  return 127;
}
