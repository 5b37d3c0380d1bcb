/* grad_sync.c - averaging gradients over ranks in buckets, overlapped with backward.
 *
 * The flat gradient buffer is laid out in the order backward finishes the
 * parameters (see params.h), so it is cut into buckets of about
 * `bucket_bytes`, each a contiguous run of whole layers (parameters named
 * "LAYER.x" that share LAYER become final together, so a cut between them
 * would only delay the earlier bucket). The context's grad-ready hook tells us
 * when a parameter's gradient is final; when the last trainable parameter of
 * a bucket is, the bucket is scaled by 1/world (while it is still in cache;
 * not at all when the caller already divided its loss by world, see
 * ax_grad_sync_set_prescaled) and its MPI_Iallreduce starts in place - the
 * all-reduce is zero-copy - while backward goes on with earlier layers.
 * MPI only makes progress on a non-blocking collective when called, so every
 * hook call also tests the outstanding requests.
 *
 * The last bucket (the first layers) becomes final at the very end of
 * backward, when nothing is left to overlap with: finish() reduces it with the
 * blocking MPI_Allreduce, which MPI implementations tune harder than the
 * non-blocking one (Open MPI 4.1's libnbc runs a binomial reduce + broadcast
 * for in-place buffers: half the bandwidth at 2 ranks; see bench/allreduce.c),
 * while the others complete; then it waits for the rest. A bucket whose
 * parameters were not all used this step is started by finish() as well.
 *
 * With gradient accumulation, begin(communicate = 0) makes the hook count
 * nothing, so micro-batches before the last only accumulate locally.
 *
 * Parameters on a GPU use NCCL instead (cuda/nccl.c): the same buckets and
 * hook, each bucket's all-reduce queued on the comm stream behind an event of
 * the compute stream; every bucket, the last included, goes that way (no
 * blocking call is better tuned there), and NCCL's average op replaces the
 * scaling pass when the loss was not prescaled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axon/alloc.h"
#include "dist_internal.h"

struct bucket {
	int64_t start, end;  /* float offsets into the gradient buffer */
	int trainable;       /* parameters that must report before it starts */
	int ready;
	int started;
	MPI_Request request;
};

struct param_ref {
	const struct ax_tensor *param;
	int bucket;
};

struct ax_grad_sync {
	struct ax_dist *dist;
	struct ax_params *params;
	float *grad;
	struct bucket *buckets;
	int n_buckets;
	struct param_ref *refs;  /* sorted by pointer, for the hook's lookup */
	int n_refs;
	int communicate;
	int prescaled;           /* the caller divided its loss by world: only sum */
	float scale;             /* 1 / world */
	MPI_Request *pending;    /* scratch for MPI_Testsome / Waitall */
	int *indices;
	struct ax_nccl *nccl;    /* GPU parameters: the NCCL transport */
	struct ax_shm *shm;      /* CPU parameters, one node: shared memory */
	enum ax_grad_transport transport; /* what was asked for */
	char note[256];          /* why AUTO fell back to MPI */
	double timeout;          /* NCCL: seconds finish() waits before aborting */
	struct ax_grad_sync_stats stats;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_refs(const void *a, const void *b)
{
	const struct param_ref *x = a, *y = b;

	return (x->param > y->param) - (x->param < y->param);
}

static int compare_offsets(const void *a, const void *b, void *params)
{
	int64_t x = ax_params_offset(params, *(const int *)a);
	int64_t y = ax_params_offset(params, *(const int *)b);

	return (x > y) - (x < y);
}

/* Insertion sort by offset (qsort_r is a GNU extension; counts are small). */
static void sort_by_offset(int *order, int n, struct ax_params *params)
{
	for (int i = 1; i < n; i++) {
		int v = order[i], j = i - 1;

		while (j >= 0 && compare_offsets(&order[j], &v, params) > 0) {
			order[j + 1] = order[j];
			j--;
		}
		order[j + 1] = v;
	}
}

/* The layer of a parameter: its name up to the last '.' ("fc1" of
 * "fc1.weight"); 0 when it has none. */
static size_t layer_len(const struct ax_tensor *t)
{
	const char *dot = t->name ? strrchr(t->name, '.') : NULL;

	return dot ? (size_t)(dot - t->name) : 0;
}

static int same_layer(const struct ax_tensor *a, const struct ax_tensor *b)
{
	size_t n = layer_len(a);

	return n > 0 && n == layer_len(b) && strncmp(a->name, b->name, n) == 0;
}

/* Whether parameter order[k] starts a new bucket (there is a current one): a
 * layer is never split, and a new bucket starts where the next layer would
 * take the current one past the limit (a layer larger than the limit gets a
 * bucket of its own). */
static int starts_bucket(const struct ax_grad_sync *s, struct ax_params *params, const int *order,
			 int k, int n, size_t limit)
{
	const struct bucket *b = &s->buckets[s->n_buckets - 1];
	const struct ax_tensor *t = ax_params_get(params, order[k]);
	size_t have = (size_t)(b->end - b->start) * sizeof(float), layer = 0;

	if (same_layer(ax_params_get(params, order[k - 1]), t))
		return 0;
	for (int j = k; j < n && (j == k || same_layer(t, ax_params_get(params, order[j]))); j++)
		layer += (size_t)ax_tensor_numel(ax_params_get(params, order[j])) * sizeof(float);
	return have + layer > limit;
}

enum ax_status ax_grad_sync_create(struct ax_dist *dist, struct ax_params *params,
				   size_t bucket_bytes, struct ax_grad_sync **out)
{
	struct ax_grad_sync *s;
	int n = params ? ax_params_count(params) : 0;
	int *order = NULL;
	size_t limit = bucket_bytes ? bucket_bytes : AX_GRAD_SYNC_DEFAULT_BUCKET_BYTES;

	if (!params || !out || !ax_params_grad(params))
		return AX_ERROR(AX_ERR_INVALID, "dist: grad sync needs finalized parameters");
	s = ax_calloc(1, sizeof(*s));
	if (!s)
		return AX_ERR_NOMEM;
	s->dist = dist;
	s->params = params;
	s->grad = ax_params_grad(params);
	s->scale = 1.0f / (float)ax_dist_world(dist);
	s->communicate = 1;
	s->buckets = ax_calloc((size_t)(n ? n : 1), sizeof(*s->buckets));
	s->refs = ax_calloc((size_t)(n ? n : 1), sizeof(*s->refs));
	s->pending = ax_calloc((size_t)(n ? n : 1), sizeof(*s->pending));
	s->indices = ax_calloc((size_t)(n ? n : 1), sizeof(*s->indices));
	order = ax_calloc((size_t)(n ? n : 1), sizeof(*order));
	if (!s->buckets || !s->refs || !s->pending || !s->indices || !order) {
		ax_free(order);
		ax_grad_sync_destroy(s);
		return AX_ERR_NOMEM;
	}
	for (int i = 0; i < n; i++)
		order[i] = i;
	sort_by_offset(order, n, params);
	/* Cut the layout into buckets of whole parameters. */
	for (int k = 0; k < n; k++) {
		int i = order[k];
		const struct ax_tensor *t = ax_params_get(params, i);
		int64_t off = ax_params_offset(params, i), end = off + ax_tensor_numel(t);
		struct bucket *b;

		if (s->n_buckets == 0 || starts_bucket(s, params, order, k, n, limit)) {
			s->buckets[s->n_buckets].start = off;
			s->n_buckets++;
		}
		b = &s->buckets[s->n_buckets - 1];
		b->end = end;
		if (!(ax_params_flags(params, i) & AX_PARAM_FROZEN))
			b->trainable++;
		s->refs[k].param = t;
		s->refs[k].bucket = s->n_buckets - 1;
	}
	s->n_refs = n;
	qsort(s->refs, (size_t)n, sizeof(*s->refs), compare_refs);
	for (int b = 0; b < s->n_buckets; b++) {
		s->buckets[b].request = MPI_REQUEST_NULL;
		s->stats.bytes += (s->buckets[b].end - s->buckets[b].start) * (int64_t)sizeof(float);
	}
	s->stats.buckets = s->n_buckets;
	ax_free(order);
	s->timeout = 600.0;
	*out = s;
	return AX_OK;
}

void ax_grad_sync_destroy(struct ax_grad_sync *s)
{
	if (!s)
		return;
	for (int b = 0; b < s->n_buckets; b++)
		if (s->buckets && s->buckets[b].request != MPI_REQUEST_NULL)
			MPI_Wait(&s->buckets[b].request, MPI_STATUS_IGNORE);
	ax_nccl_destroy(s->nccl);
	ax_shm_destroy(s->shm);
	ax_free(s->buckets);
	ax_free(s->refs);
	ax_free(s->pending);
	ax_free(s->indices);
	ax_free(s);
}

void ax_grad_sync_begin(struct ax_grad_sync *s, int communicate)
{
	s->communicate = communicate && ax_dist_world(s->dist) > 1;
	if (s->shm && s->communicate)
		ax_shm_begin(s->shm, s->prescaled ? 1.0f : s->scale);
	for (int b = 0; b < s->n_buckets; b++) {
		s->buckets[b].ready = 0;
		s->buckets[b].started = 0;
	}
}

/* Scale (unless prescaled) and start the all-reduce of bucket b: the last
 * bucket's blocking, to completion; any other's non-blocking. */
static int start_bucket(struct ax_grad_sync *s, struct bucket *b)
{
	float *g = s->grad + b->start;
	int64_t n = b->end - b->start;

	if (s->shm) {
		b->started = 1;
		ax_shm_ready(s->shm, (int)(b - s->buckets));
		return MPI_SUCCESS;
	}
	if (s->nccl) {
		b->started = 1;
		/* Reported as an MPI-style code for the callers; the message is set. */
		return ax_nccl_start(s->nccl, g, n, !s->prescaled) ? MPI_ERR_OTHER : MPI_SUCCESS;
	}
	if (!s->prescaled)
		for (int64_t i = 0; i < n; i++)
			g[i] *= s->scale;
	b->started = 1;
	if (b == &s->buckets[s->n_buckets - 1])
		return MPI_Allreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
	return MPI_Iallreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
			      &b->request);
}

/* Let MPI move the outstanding all-reduces along. */
static void progress(struct ax_grad_sync *s)
{
	int count = 0, done = 0;

	for (int b = 0; b < s->n_buckets; b++)
		if (s->buckets[b].request != MPI_REQUEST_NULL)
			s->pending[count++] = s->buckets[b].request;
	if (count)
		MPI_Testsome(count, s->pending, &done, s->indices, MPI_STATUSES_IGNORE);
	/* Write back completed (now MPI_REQUEST_NULL) handles. */
	for (int b = 0, k = 0; b < s->n_buckets; b++)
		if (s->buckets[b].request != MPI_REQUEST_NULL)
			s->buckets[b].request = s->pending[k++];
}

void ax_grad_sync_set_prescaled(struct ax_grad_sync *s, int prescaled)
{
	s->prescaled = prescaled != 0;
}

float ax_grad_sync_loss_scale(const struct ax_grad_sync *s)
{
	return s->scale;
}

void ax_grad_sync_ready(void *user, struct ax_tensor *param)
{
	struct ax_grad_sync *s = user;
	struct param_ref key = {param, 0}, *ref;
	struct bucket *b;

	if (!s->communicate)
		return;
	ref = bsearch(&key, s->refs, (size_t)s->n_refs, sizeof(key), compare_refs);
	if (!ref)
		return;
	b = &s->buckets[ref->bucket];
	/* Over MPI the last bucket waits for finish() (see the top of this file);
	 * shared memory has no blocking call to save it for. */
	if (++b->ready == b->trainable && !b->started &&
	    (s->shm || ref->bucket < s->n_buckets - 1)) {
		start_bucket(s, b); /* a failure shows up as an error at finish() */
		s->stats.early_starts++;
	}
	if (!s->nccl && !s->shm)
		progress(s);
}

/* NCCL and shared memory: start what the hook did not, then the
 * transport's own wait. */
static enum ax_status finish_transport(struct ax_grad_sync *s, double t0)
{
	enum ax_status st;

	for (int b = 0; b < s->n_buckets; b++) {
		struct bucket *k = &s->buckets[b];

		if (k->started)
			continue;
		if (b < s->n_buckets - 1)
			s->stats.late_starts++;
		if (start_bucket(s, k) != MPI_SUCCESS)
			return ax_last_error_status();
	}
	st = s->nccl ? ax_nccl_finish(s->nccl, s->timeout) : ax_shm_finish(s->shm, s->timeout);
	s->stats.wait_seconds += now() - t0;
	return st;
}

/* Shared memory for CPU gradients, when asked for (or AUTO) and every rank
 * is on this node; every rank reaches the same decision. */
static enum ax_status connect_shm(struct ax_grad_sync *s)
{
	int want = s->transport != AX_GRAD_MPI, one_node = ax_dist_local_world(s->dist) ==
		ax_dist_world(s->dist), all = 0;
	int64_t (*bounds)[2];
	enum ax_status st;

	s->note[0] = '\0';
	if (!want)
		return AX_OK;
	MPI_Allreduce(&one_node, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	if (!all) {
		if (s->transport == AX_GRAD_SHM)
			return AX_ERROR(AX_ERR_UNSUPPORTED, "dist: the shared-memory gradient "
					"transport needs every rank on one node, but the %d ranks span "
					"several; use the MPI transport", ax_dist_world(s->dist));
		snprintf(s->note, sizeof(s->note), "the ranks span several nodes");
		return AX_OK;
	}
	bounds = ax_calloc((size_t)s->n_buckets, sizeof(*bounds));
	if (!bounds)
		return AX_ERR_NOMEM;
	for (int b = 0; b < s->n_buckets; b++) {
		bounds[b][0] = s->buckets[b].start;
		bounds[b][1] = s->buckets[b].end;
	}
	st = ax_shm_create(s->dist, s->params, (const int64_t(*)[2])bounds, s->n_buckets, &s->shm);
	ax_free(bounds);
	s->grad = ax_params_grad(s->params); /* moved into the shared mapping */
	if (st == AX_ERR_IO && s->transport == AX_GRAD_AUTO) {
		snprintf(s->note, sizeof(s->note), "%s", ax_last_error());
		ax_clear_error();
		return AX_OK;
	}
	return st;
}

enum ax_status ax_grad_sync_connect(struct ax_grad_sync *s)
{
	if (s->nccl || s->shm || ax_dist_world(s->dist) == 1)
		return AX_OK;
	if (ax_params_device(s->params).kind != AX_DEVICE_CUDA)
		return connect_shm(s);
	return ax_nccl_create(s->dist, ax_params_device(s->params).index, &s->nccl);
}

void ax_grad_sync_set_transport(struct ax_grad_sync *s, enum ax_grad_transport transport)
{
	s->transport = transport;
}

const char *ax_grad_sync_transport_name(const struct ax_grad_sync *s)
{
	if (ax_dist_world(s->dist) == 1)
		return "none";
	return s->nccl ? "nccl" : s->shm ? "shm" : "mpi";
}

const char *ax_grad_sync_transport_note(const struct ax_grad_sync *s)
{
	return s->note;
}

void ax_grad_sync_set_timeout(struct ax_grad_sync *s, double seconds)
{
	s->timeout = seconds;
}

enum ax_status ax_grad_sync_finish(struct ax_grad_sync *s)
{
	double t0 = now();
	int count = 0, rc;

	if (!s->communicate)
		return AX_OK;
	if (s->nccl || s->shm)
		return finish_transport(s, t0);
	for (int b = 0; b < s->n_buckets; b++) {
		struct bucket *k = &s->buckets[b];

		if (!k->started) {
			if (b < s->n_buckets - 1)
				s->stats.late_starts++;
			rc = start_bucket(s, k);
			if (rc != MPI_SUCCESS)
				return ax_dist_mpi_status(rc, b < s->n_buckets - 1 ?
							  "MPI_Iallreduce (gradients)" :
							  "MPI_Allreduce (gradients)");
		}
		if (k->request != MPI_REQUEST_NULL)
			s->pending[count++] = k->request;
	}
	rc = count ? MPI_Waitall(count, s->pending, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
	for (int b = 0; b < s->n_buckets; b++)
		s->buckets[b].request = MPI_REQUEST_NULL;
	s->stats.wait_seconds += now() - t0;
	return ax_dist_mpi_status(rc, "MPI_Waitall (gradients)");
}

void ax_grad_sync_stats(const struct ax_grad_sync *s, struct ax_grad_sync_stats *stats)
{
	*stats = s->stats;
}
