/* train_ranks.c - what the ranks of a training run settle together before
 * the first step: that set-up went well everywhere, that every rank built
 * the same model on the same kind of device, rank 0's initial weights on
 * every rank, and the transport of the gradient all-reduce (NCCL on GPUs;
 * on CPUs shared memory when every rank is on one node, else MPI). Every
 * call here is collective. */
#include <string.h>

#include "trainer.h"

/* A fingerprint of the model: parameter names and shapes. */
static uint64_t model_hash(const struct ax_params *params)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < ax_params_count(params); i++) {
		const struct ax_tensor *p = ax_params_get(params, i);

		for (const char *c = p->name; *c; c++)
			h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
		for (int d = 0; d < p->ndim; d++)
			h = (h ^ (uint64_t)p->shape[d]) * 0x100000001b3ULL;
	}
	return h;
}

/* Rank 0's initial weights everywhere (on GPUs through the host copies). */
static enum ax_status broadcast_weights(struct trainer *t)
{
	size_t bytes = (size_t)ax_params_size(t->params) * sizeof(float);
	enum ax_status st;

	if (t->device.kind == AX_DEVICE_CPU)
		return ax_dist_broadcast(t->dist, ax_params_data(t->params), bytes, 0);
	st = ax_train_pull_state(t);
	if (!st)
		st = ax_dist_broadcast(t->dist, t->host_params, bytes, 0);
	if (!st)
		st = ax_train_push_state(t);
	return st;
}

/* Set-up is over when every rank says it went well; a rank that failed
 * prints why, the others say which rank stopped them. */
enum ax_status ax_train_agree(struct trainer *t, enum ax_status st, const char *phase)
{
	int all_ok, first_bad;
	enum ax_status ast = ax_dist_agree(t->dist, st == AX_OK, &all_ok, &first_bad);

	if (ast)
		return ast;
	if (all_ok)
		return AX_OK;
	if (st)
		return st;
	return AX_ERROR(AX_ERR_STATE, "stopping: rank %d failed during %s (its message says why)",
			first_bad, phase);
}

enum ax_status ax_train_join(struct trainer *t)
{
	const char *want = t->cfg.grad_transport;
	enum ax_status st;

	st = ax_dist_check_same(t->dist, model_hash(t->params), "model");
	/* Rank 0's initial weights everywhere (they agree already when every rank
	 * used the same seed; this makes it so whatever the initialisation). Only
	 * now: every rank has a model, of the same shapes. */
	if (!st)
		st = ax_dist_check_same(t->dist, (uint64_t)t->device.kind, "device kind (cpu or cuda)");
	if (!st)
		st = broadcast_weights(t);
	if (st)
		return st;
	ax_grad_sync_set_transport(t->sync, strcmp(want, "shm") == 0 ? AX_GRAD_SHM :
				   strcmp(want, "mpi") == 0 ? AX_GRAD_MPI : AX_GRAD_AUTO);
	st = ax_train_agree(t, ax_grad_sync_connect(t->sync),
			    "connecting the ranks' gradient all-reduce");
	if (st)
		return st;
	/* NCCL must abort its communicator itself, at the watchdog's limit. The
	 * shared-memory wait gives the watchdog (exit 3: a restartable hang) the
	 * first word and only then fails naming the missing rank. */
	ax_grad_sync_set_timeout(t->sync, strcmp(ax_grad_sync_transport_name(t->sync), "shm") == 0
				 ? 2.0 * t->cfg.watchdog_seconds : t->cfg.watchdog_seconds);
	return AX_OK;
}
