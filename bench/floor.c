/* floor -- what starting processes costs with no scheduler at all: runs
 * PROG N times with posix_spawn (as pipehost and ninja start a command),
 * at most J at once, and prints the wall seconds.  The bench compares each
 * tool with this floor: J=1 for a chain, J=2 for -j2.
 *
 * Usage: floor N J PROG [ARG...]        Build: cc -O2 -o floor floor.c */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: floor N J PROG [ARG...]\n");
    return 2;
  }
  long n = atol(argv[1]), j = atol(argv[2]), running = 0, started = 0;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  while (started < n || running > 0) {
    while (started < n && running < j) {
      pid_t pid;
      if (posix_spawnp(&pid, argv[3], NULL, NULL, argv + 3, environ) != 0) {
        perror(argv[3]);
        return 1;
      }
      started++;
      running++;
    }
    int st;
    if (wait(&st) > 0)
      running--;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.3f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
  return 0;
}
