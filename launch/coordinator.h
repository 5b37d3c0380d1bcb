/* coordinator.h - the training coordinator: when to checkpoint, how to
 * resume, what to do on a signal, a non-finite step or a hung rank.
 *
 *   signals    SIGTERM and SIGUSR1 (what SLURM and mpirun send before a time
 *              limit or preemption) set a flag; the ranks agree on it at the
 *              next check, save a checkpoint and exit with AX_EXIT_PREEMPTED.
 *   NaN guard  a non-finite gradient norm (the averaged gradient, so every
 *              rank sees the same) skips the update; after `nan_patience` in a
 *              row the state rolls back to the newest checkpoint and the
 *              learning rate is multiplied by `nan_lr_factor`.
 *   watchdog   a thread per rank ends the process with AX_EXIT_WATCHDOG when
 *              no heartbeat arrives for `watchdog_seconds`, naming the step
 *              and phase it hung in, so the launcher can restart the job.
 *
 * Exit codes of axon train (docs/checkpoints.md): */
#ifndef AXON_LAUNCH_COORDINATOR_H
#define AXON_LAUNCH_COORDINATOR_H

#include <stdint.h>

#include "axon/ckpt.h"
#include "axon/dist.h"

#define AX_EXIT_OK 0
#define AX_EXIT_ERROR 1
#define AX_EXIT_USAGE 2
#define AX_EXIT_WATCHDOG 3   /* no progress for watchdog_seconds; restartable */
#define AX_EXIT_PREEMPTED 75 /* stopped by SIGTERM/SIGUSR1 after a checkpoint (EX_TEMPFAIL) */

/* ax_coord_install_signals - install the SIGTERM/SIGUSR1 handlers (call
 * before MPI_Init, so MPI's own handlers come after ours). */
void ax_coord_install_signals(void);

/* Did this process receive SIGTERM or SIGUSR1 (and which)? */
int ax_coord_signal(void);

/* ---- the watchdog ---- */

/* ax_coord_watchdog_start - start the watchdog thread (seconds <= 0: none). */
void ax_coord_watchdog_start(double seconds, int rank);
void ax_coord_watchdog_stop(void);

/* ax_coord_beat - record progress: the step and a static phase name
 * ("data", "forward", "backward", "gradients", "optimizer", "eval",
 * "checkpoint"). Cheap: two stores and a clock read. */
void ax_coord_beat(int64_t step, const char *phase);

/* ---- agreement ---- */

/* ax_coord_agree_stop - every rank states its local stop request and rank 0
 * its "checkpoint due" decision; returns both agreed values (one tiny
 * all-reduce; none on one rank). */
enum ax_status ax_coord_agree(struct ax_dist *dist, int local_stop, int save_due, int *stop,
			      int *save);

/* Test hook: step attempts at which the loss is replaced by NaN, from the
 * environment variable AXON_FAULT_NAN_STEPS ("12,13,14"); only for fault
 * tests. An attempt is one pass of the step loop: it equals the step number
 * until the first skipped update, and keeps counting through skips and
 * roll-backs (a skipped step is retried with the next batch, so keying on the
 * step would poison the retry too, forever). "12,13,14" thus poisons three
 * updates in a row from step 12. */
int ax_coord_fault_nan(int64_t attempt);

#endif
