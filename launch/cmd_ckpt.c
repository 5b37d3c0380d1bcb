/* cmd_ckpt.c - `axon ckpt`: inspect and verify checkpoints.
 *
 * A thin layer over axon/ckpt.h. `inspect` prints what ax_ckpt_inspect
 * reads (step, data cursor, early-stopping state, the tensor list);
 * `verify` prints ax_ckpt_verify's report (manifest, size, CRC-32, every
 * tensor's checksum). PATH is one checkpoint (a step-N directory) or a
 * directory of them, as a run writes: then verify checks every step-N in
 * step order, one line each, and names the newest sound one - the one a
 * resume would take; a run's output directory stands for its checkpoints/
 * subdirectory. Leftovers of interrupted saves (step-N.tmp) are listed
 * but are not failures: a run's cleanup removes them. Exit codes: 0 sound,
 * 1 damaged or unreadable (the message says what and where), 2 usage. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "axon/axon.h"
#include "axon/ckpt.h"

int cmd_ckpt(int argc, char **argv);

static void usage_ckpt(FILE *out)
{
	fprintf(out,
		"usage: axon ckpt inspect PATH\n"
		"       axon ckpt verify PATH\n"
		"\n"
		"PATH is a checkpoint (a step-N directory holding state.h5 and MANIFEST.json)\n"
		"or, for verify, a directory of checkpoints as a run writes them (a run's\n"
		"output directory stands for its checkpoints/ directory).\n"
		"\n"
		"inspect  print the checkpoint's step, epoch, data cursor, early-stopping state,\n"
		"         learning-rate scale and its tensors with their shapes\n"
		"verify   check the manifest, the size and CRC-32 of state.h5 and every tensor's\n"
		"         checksum; for a directory, every step-N in it (one line each) and the\n"
		"         newest sound one, which a resumed run would load\n"
		"\n"
		"exit status: 0 sound, 1 damaged or unreadable, 2 usage error\n");
}

static int usage_error(const char *what)
{
	fprintf(stderr, "axon ckpt: %s\n(run 'axon ckpt --help' for the usage)\n", what);
	return 2;
}

static int is_file(const char *dir, const char *name)
{
	char path[4400];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* "step-N" (tmp = 0) or "step-N.tmp" (tmp = 1); 0 for anything else. */
static int parse_step_name(const char *name, long long *step, int *tmp)
{
	int used = 0;

	if (strncmp(name, "step-", 5) != 0 || name[5] < '0' || name[5] > '9' ||
	    sscanf(name, "step-%lld%n", step, &used) != 1)
		return 0;
	if (name[used] == '\0')
		*tmp = 0;
	else if (strcmp(name + used, ".tmp") == 0)
		*tmp = 1;
	else
		return 0;
	return 1;
}

/* A checkpoint itself (as opposed to a directory of them)? */
static int looks_like_checkpoint(const char *path)
{
	char copy[4096];
	const char *base;
	size_t len;
	long long step;
	int tmp;

	snprintf(copy, sizeof(copy), "%s", path);
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/') /* trailing slashes */
		copy[--len] = '\0';
	base = strrchr(copy, '/');
	return is_file(path, "MANIFEST.json") || is_file(path, "state.h5") ||
	       parse_step_name(base ? base + 1 : copy, &step, &tmp);
}

struct step_entry {
	char name[256];
	long long step;
	int tmp;
};

static int compare_steps(const void *a, const void *b)
{
	const struct step_entry *x = a, *y = b;

	if (x->step != y->step)
		return (x->step > y->step) - (x->step < y->step);
	return x->tmp - y->tmp;
}

/* The step-* entries of dir in step order, ax_alloc'd; -1 if dir cannot be read. */
static int list_steps(const char *dir, struct step_entry **out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct step_entry *list = NULL;
	int n = 0, cap = 0;

	*out = NULL;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		struct step_entry entry;

		if (strlen(e->d_name) >= sizeof(entry.name) ||
		    !parse_step_name(e->d_name, &entry.step, &entry.tmp))
			continue;
		snprintf(entry.name, sizeof(entry.name), "%s", e->d_name);
		if (n == cap) {
			struct step_entry *bigger = realloc(list, sizeof(*list) * (size_t)(cap ? 2 * cap : 16));

			if (!bigger)
				break;
			list = bigger;
			cap = cap ? 2 * cap : 16;
		}
		list[n++] = entry;
	}
	closedir(d);
	if (n)
		qsort(list, (size_t)n, sizeof(*list), compare_steps);
	*out = list;
	return n;
}

static int verify_one(const char *path)
{
	enum ax_status st;

	printf("checkpoint %s\n", path);
	st = ax_ckpt_verify(path, stdout);
	fflush(stdout);
	if (st) {
		fprintf(stderr, "axon ckpt verify: %s is damaged or unreadable: %s\n", path,
			ax_last_error());
		return 1;
	}
	printf("sound\n");
	return 0;
}

static int verify_directory(const char *dir)
{
	struct step_entry *list;
	int n = list_steps(dir, &list), sound = 0, damaged = 0, leftovers = 0;
	const char *newest = NULL;

	if (n < 0) {
		fprintf(stderr, "axon ckpt verify: cannot read %s: %s\n", dir, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char path[4400];

		snprintf(path, sizeof(path), "%.4000s/%.255s", dir, list[i].name);
		if (list[i].tmp) {
			printf("tmp  %s: left by an interrupted save, not a checkpoint (a run's "
			       "cleanup removes it)\n", list[i].name);
			leftovers++;
		} else if (ax_ckpt_verify(path, NULL) == AX_OK) {
			printf("ok   %s\n", list[i].name);
			sound++;
			newest = list[i].name;
		} else {
			printf("FAIL %s: %s\n", list[i].name, ax_last_error());
			damaged++;
		}
	}
	printf("%s: %d sound, %d damaged, %d interrupted save%s", dir, sound, damaged, leftovers,
	       leftovers == 1 ? "" : "s");
	if (newest)
		printf("; a resume would load %s\n", newest);
	else
		printf("; nothing to resume from\n");
	fflush(stdout);
	if (damaged)
		fprintf(stderr, "axon ckpt verify: %d of the %d checkpoints in %s %s damaged (the "
			"FAIL lines say how)\n", damaged, sound + damaged, dir,
			damaged == 1 ? "is" : "are");
	else if (!sound)
		fprintf(stderr, "axon ckpt verify: %s holds no checkpoint (no step-N directory)\n",
			dir);
	free(list);
	return damaged || !sound ? 1 : 0;
}

static int require_directory(const char *command, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "axon ckpt %s: %s: %s\n", command, path, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "axon ckpt %s: %s is not a directory; a checkpoint is a step-N "
			"directory holding state.h5 and MANIFEST.json\n", command, path);
		return 1;
	}
	return 0;
}

int cmd_ckpt(int argc, char **argv)
{
	const char *command, *path;
	char run_checkpoints[4200];

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "help") == 0)) {
		usage_ckpt(stdout);
		return 0;
	}
	if (argc < 2)
		return usage_error("missing the subcommand: inspect or verify");
	command = argv[1];
	if (strcmp(command, "inspect") != 0 && strcmp(command, "verify") != 0) {
		char what[300];

		snprintf(what, sizeof(what), "unknown subcommand '%.200s' (inspect or verify)",
			 command);
		return usage_error(what);
	}
	if (argc == 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
		usage_ckpt(stdout);
		return 0;
	}
	if (argc != 3) {
		char what[300];

		snprintf(what, sizeof(what), "%s takes one PATH, got %d arguments", command,
			 argc - 2);
		return usage_error(what);
	}
	path = argv[2];
	if (require_directory(command, path))
		return 1;
	/* A run's output directory: its checkpoints are in checkpoints/. */
	if (!looks_like_checkpoint(path)) {
		struct step_entry *list;
		int n = list_steps(path, &list);
		struct stat st;

		free(list);
		snprintf(run_checkpoints, sizeof(run_checkpoints), "%s/checkpoints", path);
		if (n == 0 && stat(run_checkpoints, &st) == 0 && S_ISDIR(st.st_mode))
			path = run_checkpoints;
	}
	if (strcmp(command, "verify") == 0)
		return looks_like_checkpoint(path) ? verify_one(path) : verify_directory(path);

	if (!looks_like_checkpoint(path)) {
		struct step_entry *list;
		int n = list_steps(path, &list);

		if (n > 0)
			fprintf(stderr, "axon ckpt inspect: %s is a directory of checkpoints, not one; "
				"inspect one of them, e.g. %s/%s\n", path, path, list[n - 1].name);
		else
			fprintf(stderr, "axon ckpt inspect: %s is not a checkpoint (no MANIFEST.json "
				"or state.h5 in it)\n", path);
		free(list);
		return 1;
	}
	if (ax_ckpt_inspect(path, stdout) != AX_OK) {
		fflush(stdout);
		fprintf(stderr, "axon ckpt inspect: %s\n", ax_last_error());
		return 1;
	}
	return 0;
}
