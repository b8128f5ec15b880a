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

/* Runs the try described on fd; returns the process exit status (0 when
 * a result was reported, whatever the task's outcome). */
int ph_worker_main(int fd);

#endif
