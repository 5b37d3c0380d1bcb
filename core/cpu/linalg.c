/* cpu/linalg.c - matmul and linear on the CPU, through OpenBLAS sgemm.
 *
 * Every matrix operand goes to cblas_sgemm (row-major) in place whenever its
 * strides allow it: a matrix whose column stride is 1 is passed as stored
 * (NoTrans, ld = row stride); one whose row stride is 1 - a transposed view -
 * is passed with CblasTrans (ld = column stride). Only other layouts
 * (every-other-element views, matrix axes with stride 0) are made dense with
 * ax_cpu_dense, and such a copy is kept in node->saved so that backward does
 * not copy again. Backward never forms a transpose either: the transpose of an
 * operand is the same memory with the opposite flag. Gradients are
 * accumulated with beta = 1 straight into the gradient buffers; when batch
 * axes broadcast, several output slices map onto one gradient slice, and the
 * repeated beta = 1 accumulation is exactly the sum that broadcasting's
 * backward needs. No temporaries. */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "../internal.h"
#include "strided.h"

/* A logical (rows x cols) matrix as sgemm sees it: `trans` says whether the
 * memory holds it as is (NoTrans, element (i, j) at data[i * ld + j]) or holds
 * its transpose (Trans, element (i, j) at data[j * ld + i]). */
struct blas_mat {
	const float *data;
	enum CBLAS_TRANSPOSE trans;
	blasint ld;
};

/* Per-node scratch: dense copies of inputs whose layout sgemm cannot take. */
struct linalg_saved {
	const float *dense[3];
};

static enum CBLAS_TRANSPOSE flip(enum CBLAS_TRANSPOSE t)
{
	return t == CblasNoTrans ? CblasTrans : CblasNoTrans;
}

/* Can the (rows x cols) matrix with element strides (srow, scol) go to sgemm
 * without a copy? The stride of a size-1 axis means nothing, so it is
 * ignored, and an ld that then does not matter is set to the smallest value
 * BLAS accepts (ld >= max(1, stored columns)). A stride-0 or overlapping
 * layout fails the ld check and is copied. */
static int blas_layout(int64_t rows, int64_t cols, int64_t srow, int64_t scol,
		       enum CBLAS_TRANSPOSE *trans, blasint *ld)
{
	int64_t min_ld, want;

	if (cols == 1 || scol == 1) {
		min_ld = cols > 1 ? cols : 1;
		want = rows == 1 ? min_ld : srow;
		if (want >= min_ld && want <= INT_MAX) {
			*trans = CblasNoTrans;
			*ld = (blasint)want;
			return 1;
		}
	}
	if (rows == 1 || srow == 1) {
		min_ld = rows > 1 ? rows : 1;
		want = cols == 1 ? min_ld : scol;
		if (want >= min_ld && want <= INT_MAX) {
			*trans = CblasTrans;
			*ld = (blasint)want;
			return 1;
		}
	}
	return 0;
}

/* The forward pass's dense copy of input k, or NULL when it used the input in place. */
static const float *saved_dense(const struct ax_node *node, int k)
{
	const struct linalg_saved *saved = node->saved;

	return saved ? saved->dense[k] : NULL;
}

/* Make (and remember in node->saved) a dense copy of input k. */
static enum ax_status save_dense(struct ax_ctx *ctx, struct ax_node *node, int k,
				 const float **dense)
{
	struct linalg_saved *saved = node->saved;

	if (!saved) {
		saved = ax_ctx_alloc(ctx, sizeof(*saved));
		if (!saved)
			return AX_ERR_NOMEM;
		memset(saved, 0, sizeof(*saved));
		node->saved = saved;
	}
	saved->dense[k] = ax_cpu_dense(ctx, node->in[k]);
	if (!saved->dense[k])
		return AX_ERR_NOMEM;
	*dense = saved->dense[k];
	return AX_OK;
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride)
{
	int64_t step = 1;

	for (int d = ndim - 1; d >= 0; d--) {
		stride[d] = step;
		step *= shape[d];
	}
}

static enum ax_status too_big(const struct ax_node *node)
{
	return AX_NODE_ERROR(node, AX_ERR_UNSUPPORTED,
			     "a matrix dimension exceeds the BLAS integer range (%d)", INT_MAX);
}

/* ---- matmul ---- */

#define MM_OPS 5 /* a, b, c (or dC), dA, dB */

/* An operand of a batched matmul: its matrix and, per batch axis of the
 * output, its element stride (0 where it broadcasts). */
struct mm_operand {
	struct blas_mat m;
	int64_t batch_stride[AX_MAX_DIMS];
};

/* Strides of `t` (its own, or contiguous ones when `dense` replaces its data)
 * over the nb batch axes of the output, aligned on the right. */
static void batch_strides(const struct ax_tensor *t, const int64_t *stride, int nb,
			  int64_t *batch_stride)
{
	int tb = t->ndim - 2;

	for (int d = 0; d < nb; d++) {
		int td = d - (nb - tb);

		batch_stride[d] = (td >= 0 && t->shape[td] != 1) ? stride[td] : 0;
	}
}

/* Describe t (or its dense copy) as a batched sgemm operand; 0 if its
 * matrix layout needs a copy. */
static int mm_operand(const struct ax_tensor *t, const float *dense, int nb,
		      struct mm_operand *op)
{
	int64_t stride[AX_MAX_DIMS];
	int nd = t->ndim;

	if (dense)
		contiguous_strides(nd, t->shape, stride);
	else
		memcpy(stride, t->stride, sizeof(int64_t) * (size_t)nd);
	op->m.data = dense ? dense : t->data;
	batch_strides(t, stride, nb, op->batch_stride);
	return blas_layout(t->shape[nd - 2], t->shape[nd - 1], stride[nd - 2], stride[nd - 1],
			   &op->m.trans, &op->m.ld);
}

/* Odometer over the output's batch axes, carrying one element offset per operand. */
struct batch_iter {
	int nb;
	const int64_t *shape;
	int64_t index[AX_MAX_DIMS];
	const int64_t *stride[MM_OPS];
	int64_t off[MM_OPS];
};

static void batch_next(struct batch_iter *it)
{
	for (int d = it->nb - 1; d >= 0; d--) {
		for (int k = 0; k < MM_OPS; k++)
			it->off[k] += it->stride[k][d];
		if (++it->index[d] < it->shape[d])
			return;
		for (int k = 0; k < MM_OPS; k++)
			it->off[k] -= it->stride[k][d] * it->shape[d];
		it->index[d] = 0;
	}
}

struct mm_dims {
	int nb;
	int64_t batches, M, K, N;
};

static struct mm_dims mm_dims_of(const struct ax_node *node)
{
	const struct ax_tensor *a = node->in[0], *b = node->in[1], *c = node->out;
	struct mm_dims dm;

	dm.nb = c->ndim - 2;
	dm.batches = 1;
	for (int d = 0; d < dm.nb; d++)
		dm.batches *= c->shape[d];
	dm.M = a->shape[a->ndim - 2];
	dm.K = a->shape[a->ndim - 1];
	dm.N = b->shape[b->ndim - 1];
	return dm;
}

static int mm_fits_blas(const struct mm_dims *dm)
{
	return dm->M <= INT_MAX && dm->K <= INT_MAX && dm->N <= INT_MAX;
}

enum ax_status ax_cpu_fwd_matmul(struct ax_ctx *ctx, struct ax_node *node)
{
	struct mm_dims dm = mm_dims_of(node);
	struct mm_operand op[2];
	int64_t c_stride[AX_MAX_DIMS], zero[AX_MAX_DIMS] = {0};
	struct batch_iter it = {0};
	float *c = node->out->data;

	if (dm.batches == 0 || dm.M == 0 || dm.N == 0)
		return AX_OK;
	if (dm.K == 0) { /* an empty sum: C = 0 */
		memset(c, 0, (size_t)(dm.batches * dm.M * dm.N) * sizeof(float));
		return AX_OK;
	}
	if (!mm_fits_blas(&dm))
		return too_big(node);
	for (int k = 0; k < 2; k++) {
		const float *dense;
		enum ax_status st;

		if (mm_operand(node->in[k], NULL, dm.nb, &op[k]))
			continue;
		st = save_dense(ctx, node, k, &dense);
		if (st)
			return st;
		if (!mm_operand(node->in[k], dense, dm.nb, &op[k]))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "dense copy has no BLAS layout");
	}
	contiguous_strides(dm.nb, node->out->shape, c_stride);
	for (int d = 0; d < dm.nb; d++)
		c_stride[d] *= dm.M * dm.N;
	it.nb = dm.nb;
	it.shape = node->out->shape;
	it.stride[0] = op[0].batch_stride;
	it.stride[1] = op[1].batch_stride;
	it.stride[2] = c_stride;
	it.stride[3] = it.stride[4] = zero;
	for (int64_t batch = 0; batch < dm.batches; batch++) {
		cblas_sgemm(CblasRowMajor, op[0].m.trans, op[1].m.trans, (blasint)dm.M,
			    (blasint)dm.N, (blasint)dm.K, 1.0f, op[0].m.data + it.off[0],
			    op[0].m.ld, op[1].m.data + it.off[1], op[1].m.ld, 0.0f,
			    c + it.off[2], (blasint)dm.N);
		batch_next(&it);
	}
	return AX_OK;
}

/*
 * dA (M, K) += dC (M, N) @ B^T (N, K)   -- B^T is B's memory with the flag flipped
 * dB (K, N) += A^T (K, M) @ dC (M, N)
 * dA and dB are contiguous with a's and b's shapes; their batch strides are 0
 * on broadcast axes, so beta = 1 sums the slices that share them.
 */
enum ax_status ax_cpu_bwd_matmul(struct ax_ctx *ctx, struct ax_node *node)
{
	struct mm_dims dm = mm_dims_of(node);
	struct ax_tensor *a = node->in[0], *b = node->in[1];
	struct ax_tensor *ga = NULL, *gb = NULL;
	struct mm_operand op[2];
	int64_t c_stride[AX_MAX_DIMS], ga_stride[AX_MAX_DIMS], gb_stride[AX_MAX_DIMS];
	int64_t contig[AX_MAX_DIMS];
	struct batch_iter it = {0};
	const float *dc = node->out->grad->data;
	enum ax_status st;

	if (dm.batches == 0 || dm.M == 0 || dm.N == 0 || dm.K == 0)
		return AX_OK; /* every gradient element is an empty sum, or there are none */
	if (!mm_fits_blas(&dm))
		return too_big(node);
	if (ax_needs_grad(a) && (st = ax_grad_of(ctx, a, &ga)) != AX_OK)
		return st;
	if (ax_needs_grad(b) && (st = ax_grad_of(ctx, b, &gb)) != AX_OK)
		return st;
	for (int k = 0; k < 2; k++) {
		if (!mm_operand(node->in[k], saved_dense(node, k), dm.nb, &op[k]))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "operand %d lost its layout", k);
	}
	contiguous_strides(dm.nb, node->out->shape, c_stride);
	for (int d = 0; d < dm.nb; d++)
		c_stride[d] *= dm.M * dm.N;
	contiguous_strides(a->ndim, a->shape, contig);
	batch_strides(a, contig, dm.nb, ga_stride);
	contiguous_strides(b->ndim, b->shape, contig);
	batch_strides(b, contig, dm.nb, gb_stride);
	it.nb = dm.nb;
	it.shape = node->out->shape;
	it.stride[0] = op[0].batch_stride;
	it.stride[1] = op[1].batch_stride;
	it.stride[2] = c_stride;
	it.stride[3] = ga_stride;
	it.stride[4] = gb_stride;
	for (int64_t batch = 0; batch < dm.batches; batch++) {
		const float *dc_slice = dc + it.off[2];

		if (ga)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, flip(op[1].m.trans), (blasint)dm.M,
				    (blasint)dm.K, (blasint)dm.N, 1.0f, dc_slice, (blasint)dm.N,
				    op[1].m.data + it.off[1], op[1].m.ld, 1.0f,
				    (float *)ga->data + it.off[3], (blasint)dm.K);
		if (gb)
			cblas_sgemm(CblasRowMajor, flip(op[0].m.trans), CblasNoTrans, (blasint)dm.K,
				    (blasint)dm.N, (blasint)dm.M, 1.0f, op[0].m.data + it.off[0],
				    op[0].m.ld, dc_slice, (blasint)dm.N, 1.0f,
				    (float *)gb->data + it.off[4], (blasint)dm.N);
		batch_next(&it);
	}
	return AX_OK;
}

/* ---- linear ---- */

/* Row stride of x (..., cols) read as a (rows, cols) matrix: possible when
 * its leading axes (size-1 ones aside) nest like a contiguous block. */
static int flat_row_stride(const struct ax_tensor *x, int64_t *row_stride)
{
	int64_t span = 0;
	int have = 0;

	*row_stride = 0; /* rows <= 1: any value, blas_layout ignores it */
	for (int d = x->ndim - 2; d >= 0; d--) {
		if (x->shape[d] == 1)
			continue;
		if (!have) {
			*row_stride = x->stride[d];
			have = 1;
		} else if (x->stride[d] != span) {
			return 0;
		}
		span = x->stride[d] * x->shape[d];
	}
	return 1;
}

struct lin_dims {
	int64_t rows, in, out;
};

static struct lin_dims lin_dims_of(const struct ax_node *node)
{
	const struct ax_tensor *x = node->in[0], *w = node->in[1];
	struct lin_dims dm = {1, w->shape[1], w->shape[0]};

	for (int d = 0; d < x->ndim - 1; d++)
		dm.rows *= x->shape[d];
	return dm;
}

/* x as a (rows, in) sgemm operand, from the forward pass's copy when there was one. */
static int lin_x_operand(const struct ax_node *node, const struct lin_dims *dm,
			 const float *dense, struct blas_mat *m)
{
	const struct ax_tensor *x = node->in[0];
	int64_t row_stride;

	if (dense) {
		m->data = dense;
		return blas_layout(dm->rows, dm->in, dm->in, 1, &m->trans, &m->ld);
	}
	m->data = x->data;
	return flat_row_stride(x, &row_stride) &&
	       blas_layout(dm->rows, dm->in, row_stride, x->stride[x->ndim - 1], &m->trans,
			   &m->ld);
}

/* weight (out, in) as an sgemm operand. */
static int lin_w_operand(const struct ax_node *node, const float *dense, struct blas_mat *m)
{
	const struct ax_tensor *w = node->in[1];

	m->data = dense ? dense : w->data;
	return blas_layout(w->shape[0], w->shape[1], dense ? w->shape[1] : w->stride[0],
			   dense ? 1 : w->stride[1], &m->trans, &m->ld);
}

static int lin_fits_blas(const struct lin_dims *dm)
{
	return dm->rows <= INT_MAX && dm->in <= INT_MAX && dm->out <= INT_MAX;
}

/* y = x @ W^T + b: b is written into every row, then one sgemm over all rows
 * accumulates onto it (beta = 1); without a bias, beta = 0 and no fill. */
enum ax_status ax_cpu_fwd_linear(struct ax_ctx *ctx, struct ax_node *node)
{
	struct lin_dims dm = lin_dims_of(node);
	const struct ax_tensor *bias = node->in[2];
	struct blas_mat xm, wm;
	float *y = node->out->data;
	float beta = 0.0f;
	enum ax_status st;

	if (dm.rows == 0 || dm.out == 0)
		return AX_OK;
	if (!lin_fits_blas(&dm))
		return too_big(node);
	if (bias) {
		const float *b = bias->data;
		int64_t sb = bias->stride[0];

		for (int64_t r = 0; r < dm.rows; r++) {
			float *row = y + r * dm.out;

			if (sb == 1 || dm.out == 1) {
				memcpy(row, b, (size_t)dm.out * sizeof(float));
			} else {
				for (int64_t j = 0; j < dm.out; j++)
					row[j] = b[j * sb];
			}
		}
		beta = 1.0f;
	}
	if (dm.in == 0) { /* an empty sum: y is the bias, or 0 */
		if (!bias)
			memset(y, 0, (size_t)(dm.rows * dm.out) * sizeof(float));
		return AX_OK;
	}
	if (!lin_x_operand(node, &dm, NULL, &xm)) {
		const float *dense;

		if ((st = save_dense(ctx, node, 0, &dense)) != AX_OK)
			return st;
		if (!lin_x_operand(node, &dm, dense, &xm))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "dense x has no BLAS layout");
	}
	if (!lin_w_operand(node, NULL, &wm)) {
		const float *dense;

		if ((st = save_dense(ctx, node, 1, &dense)) != AX_OK)
			return st;
		if (!lin_w_operand(node, dense, &wm))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "dense weight has no BLAS layout");
	}
	cblas_sgemm(CblasRowMajor, xm.trans, flip(wm.trans), (blasint)dm.rows, (blasint)dm.out,
		    (blasint)dm.in, 1.0f, xm.data, xm.ld, wm.data, wm.ld, beta, y,
		    (blasint)dm.out);
	return AX_OK;
}

/*
 * dx (rows, in)  += dy (rows, out) @ W (out, in)
 * dW (out, in)   += dy^T (out, rows) @ x (rows, in)
 * db (out)       += column sums of dy
 */
enum ax_status ax_cpu_bwd_linear(struct ax_ctx *ctx, struct ax_node *node)
{
	struct lin_dims dm = lin_dims_of(node);
	struct ax_tensor *x = node->in[0], *w = node->in[1], *bias = node->in[2];
	const float *dy = node->out->grad->data;
	struct ax_tensor *g;
	struct blas_mat m;
	enum ax_status st;

	if (dm.rows == 0 || dm.out == 0)
		return AX_OK;
	if (!lin_fits_blas(&dm))
		return too_big(node);
	if (dm.in > 0 && ax_needs_grad(x)) {
		if ((st = ax_grad_of(ctx, x, &g)) != AX_OK)
			return st;
		if (!lin_w_operand(node, saved_dense(node, 1), &m))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "weight lost its layout");
		cblas_sgemm(CblasRowMajor, CblasNoTrans, m.trans, (blasint)dm.rows, (blasint)dm.in,
			    (blasint)dm.out, 1.0f, dy, (blasint)dm.out, m.data, m.ld, 1.0f,
			    g->data, (blasint)dm.in);
	}
	if (dm.in > 0 && ax_needs_grad(w)) {
		if ((st = ax_grad_of(ctx, w, &g)) != AX_OK)
			return st;
		if (!lin_x_operand(node, &dm, saved_dense(node, 0), &m))
			return AX_NODE_ERROR(node, AX_ERR_INTERNAL, "x lost its layout");
		cblas_sgemm(CblasRowMajor, CblasTrans, m.trans, (blasint)dm.out, (blasint)dm.in,
			    (blasint)dm.rows, 1.0f, dy, (blasint)dm.out, m.data, m.ld, 1.0f,
			    g->data, (blasint)dm.in);
	}
	if (bias && ax_needs_grad(bias)) {
		float *restrict db;

		if ((st = ax_grad_of(ctx, bias, &g)) != AX_OK)
			return st;
		db = g->data;
		/* Row by row, so the inner loop is a unit-stride vector add. */
		for (int64_t r = 0; r < dm.rows; r++) {
			const float *restrict row = dy + r * dm.out;

			for (int64_t j = 0; j < dm.out; j++)
				db[j] += row[j];
		}
	}
	return AX_OK;
}
