/* coordinator.c - signals, the watchdog, stop/save agreement, fault hooks
 * (see coordinator.h).
 *
 * The signal handler only sets a flag (async-signal-safe); the training loop
 * reads it at step boundaries. The watchdog is a thread that wakes every
 * quarter second and compares the time of the last heartbeat with the limit;
 * when a rank is stuck (a peer stopped, a collective that never completes),
 * it prints what it was doing and _exits, which makes mpirun end the job. It
 * must not call MPI (only the main thread may, MPI_THREAD_FUNNELED). */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coordinator.h"

static volatile sig_atomic_t signal_seen;

static void on_signal(int sig)
{
	signal_seen = sig;
}

void ax_coord_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

int ax_coord_signal(void)
{
	return signal_seen;
}

/* ---- watchdog ---- */

static struct {
	pthread_t thread;
	int running;
	atomic_int stop;
	double limit;
	int rank;
	_Atomic int64_t step;
	_Atomic(const char *) phase;
	_Atomic double last;
} dog;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ax_coord_beat(int64_t step, const char *phase)
{
	atomic_store_explicit(&dog.step, step, memory_order_relaxed);
	atomic_store_explicit(&dog.phase, phase, memory_order_relaxed);
	atomic_store_explicit(&dog.last, now(), memory_order_release);
}

static void *watch(void *arg)
{
	struct timespec quarter = {0, 250000000L};

	(void)arg;
	while (!atomic_load(&dog.stop)) {
		double idle = now() - atomic_load_explicit(&dog.last, memory_order_acquire);

		if (idle > dog.limit) {
			const char *phase = atomic_load(&dog.phase);

			fprintf(stderr, "axon train (rank %d): watchdog: no progress for %.0f s at step "
				"%lld in phase '%s' (a stopped or dead peer, or a hung collective); "
				"ending this rank with exit code %d so the job can be restarted\n",
				dog.rank, idle, (long long)atomic_load(&dog.step), phase ? phase : "?",
				AX_EXIT_WATCHDOG);
			fflush(stderr);
			_exit(AX_EXIT_WATCHDOG);
		}
		nanosleep(&quarter, NULL);
	}
	return NULL;
}

void ax_coord_watchdog_start(double seconds, int rank)
{
	if (seconds <= 0 || dog.running)
		return;
	dog.limit = seconds;
	dog.rank = rank;
	atomic_store(&dog.stop, 0);
	ax_coord_beat(0, "start-up");
	if (pthread_create(&dog.thread, NULL, watch, NULL) == 0)
		dog.running = 1;
}

void ax_coord_watchdog_stop(void)
{
	if (!dog.running)
		return;
	atomic_store(&dog.stop, 1);
	pthread_join(dog.thread, NULL);
	dog.running = 0;
}

/* ---- agreement ---- */

enum ax_status ax_coord_agree(struct ax_dist *dist, int local_stop, int save_due, int *stop,
			      int *save)
{
	int64_t v[2] = {local_stop ? 1 : 0, ax_dist_rank(dist) == 0 && save_due ? 1 : 0};
	enum ax_status st = ax_dist_sum_i64(dist, v, 2);

	*stop = v[0] > 0;
	*save = v[1] > 0;
	return st;
}

int ax_coord_fault_nan(int64_t attempt)
{
	const char *list = getenv("AXON_FAULT_NAN_STEPS");
	char *end;

	while (list && *list) {
		long long s = strtoll(list, &end, 10);

		if (end == list)
			return 0;
		if (s == attempt)
			return 1;
		list = *end == ',' ? end + 1 : end;
	}
	return 0;
}
