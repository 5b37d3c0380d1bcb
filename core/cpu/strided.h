/* cpu/strided.h - walking strided, broadcast f32 operands on the CPU.
 *
 * Most CPU kernels are "for every index of a shape, combine a few operands,
 * each with its own strides". ax_iter does the index bookkeeping once:
 * it drops size-1 axes, merges axes that are contiguous in every operand
 * (so a dense tensor becomes one long row), and calls a row function for each
 * run along the innermost remaining axis with a pointer and a stride per
 * operand. Row functions should special-case stride 1 so the compiler can
 * vectorise the common dense case. A broadcast operand has stride 0 on the
 * axes it is stretched over; an accumulating row function then adds into the
 * same element repeatedly, which is exactly the reduction that broadcasting's
 * backward needs. */
#ifndef AXON_CPU_STRIDED_H
#define AXON_CPU_STRIDED_H

#include <stdint.h>

#include "axon/tensor.h"

struct ax_ctx;

#define AX_ITER_MAX_OPS 5

struct ax_iter {
	int ndim;  /* after merging; at least 1 */
	int nops;
	int64_t shape[AX_MAX_DIMS];
	int64_t stride[AX_ITER_MAX_OPS][AX_MAX_DIMS];
	float *base[AX_ITER_MAX_OPS];
};

/* One run of n elements: operand k starts at p[k] and steps by s[k] elements. */
typedef void (*ax_row_fn)(int64_t n, float *const *p, const int64_t *s, const void *arg);

/* ax_iter_init - iterate `shape` (ndim axes) over nops operands; operand k
 * starts at base[k] with strides[k][0..ndim). */
void ax_iter_init(struct ax_iter *it, int ndim, const int64_t *shape, int nops,
		  float *const *base, int64_t strides[][AX_MAX_DIMS]);

/* ax_iter_rows - call fn for every row, in row-major order. */
void ax_iter_rows(const struct ax_iter *it, ax_row_fn fn, const void *arg);

/* ax_bcast_strides - strides of t seen through the shape (ndim, shape) it is
 * broadcast to (aligned on the right): t's own stride where its size matches,
 * 0 where t has size 1 or lacks the axis. */
void ax_bcast_strides(const struct ax_tensor *t, int ndim, const int64_t *shape,
		      int64_t *stride);

/* ax_iter_tensors - set up an iteration over `shape` with operands ts[0..nops),
 * each broadcast to `shape` (ts[k] may be any strided view). */
void ax_iter_tensors(struct ax_iter *it, int ndim, const int64_t *shape, int nops,
		     const struct ax_tensor *const *ts);

/* ax_cpu_acc - dst += src for f32 tensors; src is broadcast to dst's shape, or
 * (when dst's shape broadcasts to src's) summed down to it. Either may be strided. */
void ax_cpu_acc(struct ax_tensor *dst, const struct ax_tensor *src);

/* ax_cpu_copy - dst = src, same shape, any strides, f32. */
void ax_cpu_copy(struct ax_tensor *dst, const struct ax_tensor *src);

/* ax_cpu_dense - a contiguous view of x's data: x->data when x is contiguous,
 * otherwise a copy in the step arena. NULL (AX_ERR_NOMEM) if the copy fails.
 * Works for every dtype. */
const void *ax_cpu_dense(struct ax_ctx *ctx, const struct ax_tensor *x);

#endif
