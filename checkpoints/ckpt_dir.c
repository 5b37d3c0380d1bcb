/* ckpt_dir.c - the checkpoints of a run directory: finding the newest one
 * that verifies (for --resume auto, logging why newer ones were skipped) and
 * retention (keep the newest K and the best; remove leftovers of interrupted
 * saves). A committed checkpoint is renamed to step-N.tmp before it is
 * deleted, so a kill in the middle can never leave a half-deleted step-N that
 * would look damaged. The format and its commit protocol are in ckpt.c. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/alloc.h"
#include "axon/ckpt.h"
#include "ckpt_internal.h"

/* ---- discovery and retention ---- */

struct entry {
	char name[64];
	int64_t step;
	int tmp;
};

static int compare_desc(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return (x->step < y->step) - (x->step > y->step);
}

/* Checkpoint directories under dir, newest first. */
static int list_steps(const char *dir, struct entry **out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct entry *list = NULL;
	int n = 0, cap = 0;

	*out = NULL;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		long long step;
		int used = 0;

		if (sscanf(e->d_name, "step-%lld%n", &step, &used) != 1 || strlen(e->d_name) >= 64)
			continue;
		if (e->d_name[used] != '\0' && strcmp(e->d_name + used, ".tmp") != 0)
			continue;
		if (n == cap) {
			struct entry *bigger = ax_alloc(sizeof(*bigger) * (size_t)(cap ? 2 * cap : 32));

			if (!bigger)
				break;
			if (n)
				memcpy(bigger, list, sizeof(*list) * (size_t)n);
			ax_free(list);
			list = bigger;
			cap = cap ? 2 * cap : 32;
		}
		/* Names of 64 bytes or more were skipped above. */
		memcpy(list[n].name, e->d_name, strlen(e->d_name) + 1);
		list[n].step = step;
		list[n].tmp = e->d_name[used] != '\0';
		n++;
	}
	closedir(d);
	if (n)
		qsort(list, (size_t)n, sizeof(*list), compare_desc);
	*out = list;
	return n;
}

enum ax_status ax_ckpt_find_latest(const char *dir, char *path, size_t len, FILE *log)
{
	struct entry *list;
	int n = list_steps(dir, &list);

	for (int i = 0; i < n; i++) {
		char candidate[4096];

		if (list[i].tmp)
			continue;
		snprintf(candidate, sizeof(candidate), "%s/%s", dir, list[i].name);
		if (ax_ckpt_verify(candidate, NULL) == AX_OK) {
			snprintf(path, len, "%s", candidate);
			ax_free(list);
			return AX_OK;
		}
		if (log)
			fprintf(log, "resume: skipping %s: %s\n", candidate, ax_last_error());
	}
	ax_free(list);
	return AX_ERROR(AX_ERR_RANGE, "checkpoint: no valid checkpoint in %s", dir);
}

int ax_ckpt_cleanup(const char *dir, int keep_last, const char *keep_also, FILE *log)
{
	struct entry *list;
	int n = list_steps(dir, &list), kept = 0, removed = 0;

	for (int i = 0; i < n; i++) {
		char p[4096], doomed[4200];

		snprintf(p, sizeof(p), "%s/%s", dir, list[i].name);
		/* The newest keep_last count whether or not one is also the best;
		 * the best is kept beyond them. */
		if (!list[i].tmp && (kept < keep_last || (keep_also && strcmp(p, keep_also) == 0))) {
			kept += kept < keep_last ? 1 : 0;
			continue;
		}
		if (!list[i].tmp && keep_last <= 0)
			continue; /* keep_last 0: keep everything */
		if (log)
			fprintf(log, "checkpoint: removing %s%s\n", p,
				list[i].tmp ? " (left by an interrupted save)" : "");
		/* A committed one is renamed out of sight first: a kill while
		 * deleting must not leave a step-N without its MANIFEST or state.h5
		 * (it would look damaged); a step-N.tmp is a leftover that the next
		 * cleanup removes. */
		snprintf(doomed, sizeof(doomed), "%s.tmp", p);
		ax_ckpt_remove_tree(!list[i].tmp && rename(p, doomed) == 0 ? doomed : p);
		removed++;
	}
	ax_free(list);
	return removed;
}

