/* supervisor.c - `axon launch -n N [options] -- train CONFIG [train args]`:
 * run a data-parallel training job under mpirun and restart it after a
 * failure, on one workstation or inside an allocation.
 *
 * Open MPI 4.1 has no way to survive a dead rank: one rank that crashes,
 * is killed or is ended by its watchdog takes the whole job down. Recovery
 * is therefore a restart of the whole job from its newest checkpoint, and
 * this is the loop that does it: every attempt runs
 *     mpirun --oversubscribe -np N [mpirun args] <this axon> train CONFIG
 *            [train args] --resume auto
 * (the axon binary is this very program, found through /proc/self/exe, so
 * launcher and ranks never disagree on the version), and a job that fails
 * (an exit code other than 0 and 75, or a signal) is started again, up to
 * --max-restarts times; `--resume auto` makes each restart continue from the
 * newest checkpoint that verifies. Because a checkpoint carries the
 * parameters, optimizer state, data cursor and every rank's RNG, a restarted
 * job on the same number of ranks ends with the same weights, bit for bit,
 * as one that never failed.
 *
 * Stopping is not failing. SIGTERM, SIGINT and SIGUSR1 sent to the launcher
 * are passed on to mpirun as SIGUSR1: mpirun hands SIGUSR1 to the ranks and
 * waits for them (a SIGTERM would make mpirun tear the job down itself and
 * exit 1), the ranks agree to stop, save a checkpoint and exit 75, and the
 * launcher exits 75 without restarting. A second signal is passed on as
 * SIGTERM, for when the first one is not enough. mpirun runs in its own
 * process group with stdin from /dev/null, so a Ctrl-C at the terminal
 * reaches only the launcher (which decides what mpirun gets), and it is sent
 * SIGTERM if the launcher itself dies (PR_SET_PDEATHSIG).
 *
 * At the end the launcher prints every attempt: when it started, how long it
 * ran, how it ended, and the newest committed checkpoint in the run's
 * checkpoints directory afterwards (the config's [output] dir, read with the
 * same --set overrides the job gets). Exit codes: 0 the job finished, 75 it
 * was stopped by a signal after saving a checkpoint, 1 it failed more than
 * --max-restarts times (or could not be started), 2 usage. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coordinator.h"
#include "run.h"

int cmd_launch(int argc, char **argv);

#define MAX_RESTARTS 1000

static void usage(FILE *out)
{
	fprintf(out,
		"usage: axon launch -n N [--max-restarts K] [--restart-delay SECONDS]\n"
		"                   [--mpirun PATH] [--mpirun-arg ARG ...] -- train CONFIG [train args]\n"
		"\n"
		"Run `axon train CONFIG` on N ranks under mpirun and restart the job from its\n"
		"newest checkpoint when it fails (a rank crashed or was killed, the watchdog\n"
		"ended a hung rank, any other non-zero exit). Every attempt runs\n"
		"  mpirun --oversubscribe -np N [mpirun args] AXON train CONFIG [train args] --resume auto\n"
		"where AXON is this axon binary. A --resume in the train args applies to the\n"
		"first attempt only; restarts always use --resume auto.\n"
		"\n"
		"  -n, --np N              number of ranks\n"
		"  --max-restarts K        restarts after failures before giving up [3]\n"
		"  --restart-delay S       seconds to wait before a restart [1]\n"
		"  --mpirun PATH           the mpirun to use [mpirun, from PATH]\n"
		"  --mpirun-arg ARG        one more argument for mpirun (repeat for several:\n"
		"                          --mpirun-arg --hostfile --mpirun-arg hosts)\n"
		"\n"
		"SIGTERM, SIGINT or SIGUSR1 stop the job: the ranks save a checkpoint and exit,\n"
		"and axon launch exits 75 without restarting; run the same command again to\n"
		"continue. A summary of every attempt is printed at the end (on stderr).\n"
		"\n"
		"exit codes: 0 the job finished, 75 stopped by a signal after a checkpoint,\n"
		"1 the job failed more than K times or could not be started, 2 usage\n"
		"(docs/launching.md)\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "axon launch: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n(run 'axon launch --help' for the usage)\n");
	va_end(ap);
	return AX_EXIT_USAGE;
}

/* ---- signals: recorded and passed on from the handler itself ---- */

static volatile sig_atomic_t child_pid;  /* the running mpirun, 0 when none */
static volatile sig_atomic_t stop_signal; /* the first signal received */
static volatile sig_atomic_t stop_count;

static void say(const char *text)
{
	ssize_t unused = write(STDERR_FILENO, text, strlen(text));

	(void)unused;
}

static void on_stop_signal(int sig)
{
	int saved_errno = errno;

	if (!stop_signal)
		stop_signal = sig;
	stop_count++;
	if (child_pid > 0) {
		/* mpirun passes SIGUSR1 on to the ranks and lets them finish; the
		 * ranks treat it like SIGTERM (checkpoint, exit 75). */
		if (stop_count == 1) {
			say("axon launch: signal received; asking the job to save a checkpoint and stop\n");
			kill((pid_t)child_pid, SIGUSR1);
		} else {
			say("axon launch: another signal; sending SIGTERM to mpirun\n");
			kill((pid_t)child_pid, SIGTERM);
		}
	}
	errno = saved_errno;
}

static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

/* ---- attempts ---- */

struct attempt {
	time_t started;          /* wall clock, for the summary */
	double seconds;
	int status;              /* from waitpid */
	long long newest_step;   /* newest committed checkpoint afterwards; -1: none */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The newest committed checkpoint (DIR/step-N, not step-N.tmp) by its
 * name; -1 when there is none. Verifying it is the job's business (resume
 * falls back to an older one and says why); this is for the summary. */
static long long newest_checkpoint(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long long newest = -1;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long long step;

		if (strncmp(e->d_name, "step-", 5) != 0 || e->d_name[5] < '0' || e->d_name[5] > '9')
			continue;
		errno = 0;
		step = strtoll(e->d_name + 5, &end, 10);
		if (*end == '\0' && errno == 0 && step > newest)
			newest = step;
	}
	closedir(d);
	return newest;
}

/* How an attempt ended, for people: "exit 3 (watchdog: a rank made no
 * progress)", "exit 137 (a rank was killed: signal 9, Killed)". */
static void describe_status(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status)) {
		snprintf(buf, len, "mpirun killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return;
	}
	int code = WEXITSTATUS(status);
	const char *why = code == AX_EXIT_OK ? "finished"
			  : code == AX_EXIT_WATCHDOG ? "watchdog: a rank made no progress"
			  : code == AX_EXIT_PREEMPTED ? "stopped by a signal after a checkpoint"
			  : code == 127 ? "mpirun or axon not found"
			  : code > 128 && code < 128 + 65 ? NULL
							   : "failed";

	if (why)
		snprintf(buf, len, "exit %d (%s)", code, why);
	else
		snprintf(buf, len, "exit %d (a rank was killed: signal %d, %s)", code, code - 128,
			 strsignal(code - 128));
}

static void print_summary(const struct attempt *a, int n)
{
	fprintf(stderr, "axon launch: %d attempt(s), %d restart(s):\n", n, n - 1);
	fprintf(stderr, "  %-8s %-20s %10s  %-18s %s\n", "attempt", "started", "ran",
		"newest checkpoint", "result");
	for (int i = 0; i < n; i++) {
		char started[32], result[160], ckpt[48];
		struct tm tm;

		localtime_r(&a[i].started, &tm);
		strftime(started, sizeof(started), "%Y-%m-%d %H:%M:%S", &tm);
		describe_status(a[i].status, result, sizeof(result));
		if (a[i].newest_step >= 0)
			snprintf(ckpt, sizeof(ckpt), "step %lld", a[i].newest_step);
		else
			snprintf(ckpt, sizeof(ckpt), "none");
		fprintf(stderr, "  %-8d %-20s %9.1fs  %-18s %s\n", i + 1, started, a[i].seconds, ckpt,
			result);
	}
}

/* Start argv (argv[0] is looked up in PATH). Returns the child's pid, or -1
 * with errno when the program could not be started at all: the child reports
 * a failed exec through a close-on-exec pipe, so "mpirun not found" is an
 * error of its own and not a job failure to retry. */
static pid_t start(char *const *argv)
{
	int fds[2], err = 0;
	ssize_t got;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(fds[0]);
		close(fds[1]);
		errno = err;
		return -1;
	}
	if (pid == 0) {
		pid_t parent = getppid();
		int devnull = open("/dev/null", O_RDONLY);
		struct sigaction dfl;

		/* Its own process group: terminal signals go to the launcher only. */
		setpgid(0, 0);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			close(devnull);
		}
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGTERM, &dfl, NULL);
		sigaction(SIGINT, &dfl, NULL);
		sigaction(SIGUSR1, &dfl, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent) /* the launcher died before prctl */
			_exit(1);
		execvp(argv[0], argv);
		err = errno;
		got = write(fds[1], &err, sizeof(err));
		(void)got;
		_exit(127);
	}
	close(fds[1]);
	do
		got = read(fds[0], &err, sizeof(err));
	while (got < 0 && errno == EINTR);
	close(fds[0]);
	if (got == (ssize_t)sizeof(err)) {
		waitpid(pid, NULL, 0);
		errno = err;
		return -1;
	}
	return pid;
}

/* Sleep up to `seconds`, waking early when a stop signal arrives. */
static void pause_unless_stopped(double seconds)
{
	double until = now() + seconds;

	while (!stop_signal && now() < until) {
		struct timespec tick = {0, 50000000L};

		nanosleep(&tick, NULL);
	}
}

/* ---- the command ---- */

struct job {
	int np, max_restarts;
	double restart_delay;
	const char *mpirun;
	char **mpirun_args;
	int n_mpirun_args;
	char **train_args;           /* after "train": CONFIG and its options, --resume removed */
	int n_train_args;
	const char *first_resume;    /* the user's --resume, for the first attempt */
	char ckpt_dir[AX_CONFIG_PATH_MAX + 16];
};

/* Parse "-n N" style integers strictly. */
static int parse_int(const char *text, long lo, long hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* Split the train arguments: strip --resume (kept for the first attempt),
 * collect --set overrides for reading the config the way the job will. */
static int read_train_args(struct job *job, int argc, char **argv, char ***overrides_out,
			   int *n_overrides_out)
{
	char **overrides = calloc((size_t)argc + 1, sizeof(char *));
	int n_overrides = 0;

	job->train_args = calloc((size_t)argc + 1, sizeof(char *));
	if (!overrides || !job->train_args) {
		free(overrides);
		return -1;
	}
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc) {
			job->first_resume = argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--resume=", 9) == 0) {
			job->first_resume = argv[i] + 9;
			continue;
		}
		if (strcmp(argv[i], "--set") == 0 && i + 1 < argc)
			overrides[n_overrides++] = argv[i + 1];
		else if (strncmp(argv[i], "--set=", 6) == 0)
			overrides[n_overrides++] = argv[i] + 6;
		job->train_args[job->n_train_args++] = argv[i];
	}
	*overrides_out = overrides;
	*n_overrides_out = n_overrides;
	return 0;
}

/* The first non-option train argument: the config. */
static const char *config_path(const struct job *job)
{
	for (int i = 0; i < job->n_train_args; i++) {
		const char *a = job->train_args[i];

		if (strcmp(a, "--set") == 0) {
			i++;
			continue;
		}
		if (a[0] != '-')
			return a;
	}
	return NULL;
}

/* The run's checkpoints directory, as axon train will compute it. */
static enum ax_status find_ckpt_dir(struct job *job, char **overrides, int n_overrides)
{
	struct ax_config *cfg = calloc(1, sizeof(*cfg));
	const char *config = config_path(job);
	enum ax_status st;

	if (!cfg)
		return AX_ERROR(AX_ERR_NOMEM, "out of memory");
	st = ax_config_load(cfg, config, n_overrides, overrides);
	if (!st && !cfg->dir[0]) {
		/* axon train's default: runs/<config file name without extension> */
		const char *base = strrchr(cfg->source, '/') ? strrchr(cfg->source, '/') + 1 : cfg->source;

		snprintf(cfg->dir, sizeof(cfg->dir), "runs/%.*s", (int)strcspn(base, "."), base);
	}
	if (!st)
		snprintf(job->ckpt_dir, sizeof(job->ckpt_dir), "%s/checkpoints", cfg->dir);
	free(cfg);
	return st;
}

static char **build_argv(const struct job *job, const char *self, const char *resume)
{
	/* mpirun --oversubscribe -np N ARGS... SELF train TRAIN_ARGS... --resume R NULL */
	size_t n = 4 + (size_t)job->n_mpirun_args + 2 + (size_t)job->n_train_args + 2 + 1;
	char **argv = calloc(n, sizeof(char *));
	static char np_text[16];
	size_t k = 0;

	if (!argv)
		return NULL;
	snprintf(np_text, sizeof(np_text), "%d", job->np);
	argv[k++] = (char *)job->mpirun;
	argv[k++] = "--oversubscribe";
	argv[k++] = "-np";
	argv[k++] = np_text;
	for (int i = 0; i < job->n_mpirun_args; i++)
		argv[k++] = job->mpirun_args[i];
	argv[k++] = (char *)self;
	argv[k++] = "train";
	for (int i = 0; i < job->n_train_args; i++)
		argv[k++] = job->train_args[i];
	argv[k++] = "--resume";
	argv[k++] = (char *)resume;
	argv[k] = NULL;
	return argv;
}

static void print_command(char *const *argv)
{
	fprintf(stderr, "axon launch: running");
	for (int i = 0; argv[i]; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n");
}

static int supervise(struct job *job, const char *self)
{
	struct attempt *attempts = calloc((size_t)job->max_restarts + 1, sizeof(*attempts));
	int n = 0, code = AX_EXIT_ERROR;

	if (!attempts) {
		fprintf(stderr, "axon launch: out of memory\n");
		return AX_EXIT_ERROR;
	}
	install_handlers();
	for (;;) {
		const char *resume = n == 0 && job->first_resume ? job->first_resume : "auto";
		char **argv = build_argv(job, self, resume);
		struct attempt *a = &attempts[n];
		char result[160];
		double t0;
		pid_t pid;

		if (!argv) {
			fprintf(stderr, "axon launch: out of memory\n");
			break;
		}
		if (stop_signal) { /* a signal while waiting to restart: do not */
			fprintf(stderr, "axon launch: signal %d (%s) before restart %d; not restarting "
				"(a rerun resumes from the newest checkpoint)\n", (int)stop_signal,
				strsignal(stop_signal), n);
			free(argv);
			code = AX_EXIT_PREEMPTED;
			break;
		}
		fprintf(stderr, "axon launch: attempt %d of at most %d\n", n + 1, job->max_restarts + 1);
		print_command(argv);
		fflush(NULL);
		a->started = time(NULL);
		t0 = now();
		pid = start(argv);
		free(argv);
		if (pid < 0) {
			fprintf(stderr, "axon launch: cannot run %s: %s; install Open MPI (openmpi-bin) "
				"or name it with --mpirun PATH\n", job->mpirun, strerror(errno));
			break;
		}
		child_pid = pid;
		/* A signal that came between fork and the line above was not passed on. */
		if (stop_signal)
			kill(pid, SIGUSR1);
		while (waitpid(pid, &a->status, 0) < 0 && errno == EINTR)
			;
		child_pid = 0;
		a->seconds = now() - t0;
		a->newest_step = newest_checkpoint(job->ckpt_dir);
		n++;
		describe_status(a->status, result, sizeof(result));
		if (WIFEXITED(a->status) && WEXITSTATUS(a->status) == AX_EXIT_OK) {
			fprintf(stderr, "axon launch: the job finished (attempt %d, %.1f s)\n", n, a->seconds);
			code = AX_EXIT_OK;
			break;
		}
		if (WIFEXITED(a->status) && WEXITSTATUS(a->status) == AX_EXIT_PREEMPTED) {
			fprintf(stderr, "axon launch: the job saved a checkpoint and stopped (exit %d); "
				"not restarting; run the same command again to continue\n",
				AX_EXIT_PREEMPTED);
			code = AX_EXIT_PREEMPTED;
			break;
		}
		if (stop_signal) {
			fprintf(stderr, "axon launch: stopped by signal %d (%s), but the job ended with %s "
				"instead of saving a checkpoint; not restarting (a rerun resumes from the newest "
				"checkpoint)\n", (int)stop_signal, strsignal(stop_signal), result);
			code = AX_EXIT_ERROR;
			break;
		}
		if (n > job->max_restarts) {
			fprintf(stderr, "axon launch: giving up: attempt %d failed with %s, and %d restart(s) "
				"were allowed (--max-restarts)\n", n, result, job->max_restarts);
			code = AX_EXIT_ERROR;
			break;
		}
		if (a->newest_step >= 0)
			fprintf(stderr, "axon launch: attempt %d failed after %.1f s with %s; restarting "
				"from the newest checkpoint, step %lld (restart %d of %d)\n", n, a->seconds,
				result, a->newest_step, n, job->max_restarts);
		else
			fprintf(stderr, "axon launch: attempt %d failed after %.1f s with %s; no checkpoint "
				"in %s yet, restarting from the beginning (restart %d of %d)\n", n,
				a->seconds, result, job->ckpt_dir, n, job->max_restarts);
		fflush(stderr);
		pause_unless_stopped(job->restart_delay);
	}
	if (n > 0)
		print_summary(attempts, n);
	free(attempts);
	return code;
}

int cmd_launch(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"np", required_argument, NULL, 'n'},
		{"max-restarts", required_argument, NULL, 'k'},
		{"restart-delay", required_argument, NULL, 'd'},
		{"mpirun", required_argument, NULL, 'm'},
		{"mpirun-arg", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct job job;
	char self[PATH_MAX], **overrides = NULL, *end;
	int opt, n_overrides = 0, code;
	ssize_t len;
	enum ax_status st;

	memset(&job, 0, sizeof(job));
	job.max_restarts = 3;
	job.restart_delay = 1.0;
	job.mpirun = "mpirun";
	job.mpirun_args = calloc((size_t)argc + 1, sizeof(char *));
	if (!job.mpirun_args) {
		fprintf(stderr, "axon launch: out of memory\n");
		return AX_EXIT_ERROR;
	}
	optind = 1;
	/* "+": stop at the first non-option (and at "--"): the rest is the job. */
	while ((opt = getopt_long(argc, argv, "+n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_int(optarg, 1, 1 << 20, &job.np) != 0)
				return usage_error("-n wants a number of ranks (1 or more), not '%s'", optarg);
			break;
		case 'k':
			if (parse_int(optarg, 0, MAX_RESTARTS, &job.max_restarts) != 0)
				return usage_error("--max-restarts wants a number from 0 to 1000, not '%s'",
						   optarg);
			break;
		case 'd':
			errno = 0;
			job.restart_delay = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(job.restart_delay >= 0) ||
			    job.restart_delay > 3600)
				return usage_error("--restart-delay wants seconds from 0 to 3600, not '%s'",
						   optarg);
			break;
		case 'm':
			job.mpirun = optarg;
			break;
		case 'a':
			job.mpirun_args[job.n_mpirun_args++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return AX_EXIT_OK;
		default:
			usage(stderr);
			return AX_EXIT_USAGE;
		}
	}
	if (job.np == 0)
		return usage_error("say how many ranks with -n N");
	if (optind >= argc || strcmp(argv[optind], "train") != 0)
		return usage_error("the job goes after the options: -- train CONFIG [train args]");
	optind++;
	if (read_train_args(&job, argc - optind, argv + optind, &overrides, &n_overrides) != 0) {
		fprintf(stderr, "axon launch: out of memory\n");
		return AX_EXIT_ERROR;
	}
	if (!config_path(&job)) {
		code = usage_error("train needs a CONFIG: -- train CONFIG [train args]");
		goto out;
	}
	/* The config is read here too, with the job's --set overrides, to know
	 * where its checkpoints go; a config that does not load would fail every
	 * attempt the same way, so it ends the launch before the first. */
	st = find_ckpt_dir(&job, overrides, n_overrides);
	if (st) {
		ax_run_report("launch", st);
		code = AX_EXIT_ERROR;
		goto out;
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0) {
		fprintf(stderr, "axon launch: cannot find this program's path (/proc/self/exe): %s\n",
			strerror(errno));
		code = AX_EXIT_ERROR;
		goto out;
	}
	self[len] = '\0';
	code = supervise(&job, self);
out:
	free(overrides);
	free(job.train_args);
	free(job.mpirun_args);
	return code;
}
