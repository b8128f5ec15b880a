/* The price of a hand-off between two processes on this machine: a
 * socket round trip with the other side answering at once, and with it
 * working ~50 us before it answers (long enough for an idle vCPU to halt).
 * Build and run: cc -O1 bench/wakeup.c -o /tmp/wakeup && /tmp/wakeup */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void work(int n) {
  volatile double x = 0;
  for (int k = 0; k < n; k++)
    x += k;
}

/* The mean of n round trips with `spin` iterations of work on the
 * answering side. */
static double round_trip(int sv[2], int n, int spin) {
  if (fork() == 0) {
    char c;
    for (int i = 0; i < n; i++) {
      if (read(sv[1], &c, 1) != 1)
        break;
      work(spin);
      if (write(sv[1], &c, 1) != 1)
        break;
    }
    _exit(0);
  }
  char c = 'x';
  double t0 = now();
  for (int i = 0; i < n; i++)
    if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1)
      break;
  double t = (now() - t0) / n;
  wait(NULL);
  return t;
}

int main(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    return 1;
  double t0 = now();
  work(20000);
  double w = now() - t0;
  printf("work alone: %.1f us\n", w * 1e6);
  printf("round trip, answered at once: %.1f us\n",
         round_trip(sv, 2000, 0) * 1e6);
  printf("round trip, answered after the work: %.1f us\n",
         round_trip(sv, 2000, 20000) * 1e6);
  return 0;
}
