/* gradcheck.c - the finite-difference harness described in gradcheck.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"

static uint64_t next_seed = 12345;
static struct ax_device gc_device = {AX_DEVICE_CPU, 0};

void gc_set_seed(uint64_t seed)
{
	next_seed = seed;
}

struct ax_device gc_set_device(struct ax_device device)
{
	struct ax_device previous = gc_device;

	gc_device = device;
	return previous;
}

static int on_cpu(void)
{
	return gc_device.kind == AX_DEVICE_CPU;
}

struct prepared {
	struct gc_input spec;
	int64_t numel;
	int64_t stride[AX_MAX_DIMS]; /* view strides into buf */
	size_t buf_elems;
	void *buf;                    /* physical storage, view starts at buf */
	int checked;
};

static int64_t numel_of(int ndim, const int64_t *shape)
{
	int64_t n = 1;

	for (int d = 0; d < ndim; d++)
		n *= shape[d];
	return n;
}

/* Physical offset of the logical (row-major) element i. */
static int64_t offset_of(const struct prepared *p, int64_t i)
{
	int64_t off = 0;

	for (int d = p->spec.ndim - 1; d >= 0; d--) {
		off += (i % p->spec.shape[d]) * p->stride[d];
		i /= p->spec.shape[d];
	}
	return off;
}

static void layout_strides(struct prepared *p)
{
	const struct gc_input *s = &p->spec;
	int nd = s->ndim;
	int64_t phys[AX_MAX_DIMS], pstride[AX_MAX_DIMS], acc = 1;

	for (int d = 0; d < nd; d++)
		phys[d] = s->shape[d];
	if (s->layout == GC_TRANSPOSED && nd >= 2) {
		phys[nd - 2] = s->shape[nd - 1];
		phys[nd - 1] = s->shape[nd - 2];
	} else if (s->layout == GC_STRIDED && nd >= 1) {
		phys[nd - 1] = 2 * s->shape[nd - 1];
	}
	for (int d = nd - 1; d >= 0; d--) {
		pstride[d] = acc;
		acc *= phys[d];
	}
	p->buf_elems = (size_t)(acc ? acc : 1);
	for (int d = 0; d < nd; d++)
		p->stride[d] = pstride[d];
	if (s->layout == GC_TRANSPOSED && nd >= 2) {
		p->stride[nd - 2] = pstride[nd - 1];
		p->stride[nd - 1] = pstride[nd - 2];
	} else if (s->layout == GC_STRIDED && nd >= 1) {
		p->stride[nd - 1] = 2;
	}
}

static int prepare(struct prepared *p, const struct gc_input *spec, struct ax_rng *rng)
{
	size_t elem = ax_dtype_size(spec->dtype);

	memset(p, 0, sizeof(*p));
	p->spec = *spec;
	p->numel = numel_of(spec->ndim, spec->shape);
	layout_strides(p);
	p->buf = calloc(p->buf_elems, elem);
	if (!p->buf)
		return 1;
	if (spec->dtype == AX_F32) {
		float lo = spec->lo, hi = spec->hi, *buf = p->buf;

		if (lo == 0.0f && hi == 0.0f) {
			lo = -1.0f;
			hi = 1.0f;
		}
		for (size_t j = 0; j < p->buf_elems; j++)
			buf[j] = NAN; /* padding poison */
		for (int64_t i = 0; i < p->numel; i++) {
			float v;

			if (spec->values) {
				v = ((const float *)spec->values)[i];
			} else {
				do
					ax_rng_uniform(rng, &v, 1, lo, hi);
				while (fabsf(v) < spec->min_abs);
			}
			buf[offset_of(p, i)] = v;
		}
		p->checked = !spec->no_grad;
	} else {
		if (!spec->values) {
			fprintf(stderr, "gradcheck: non-f32 input needs fixed values\n");
			return 1;
		}
		for (int64_t i = 0; i < p->numel; i++)
			memcpy((char *)p->buf + (size_t)offset_of(p, i) * elem,
			       (const char *)spec->values + (size_t)i * elem, elem);
	}
	return 0;
}

/* On a device: the whole physical buffer goes up as one 1-D arena tensor,
 * whose header then becomes the view (shape and the strides set below). */
static enum ax_status upload_tensor(struct ax_ctx *ctx, struct prepared *p, struct ax_tensor **out)
{
	const int64_t elems = (int64_t)p->buf_elems;
	enum ax_status st = ax_tensor_new(ctx, p->spec.dtype, 1, &elems, 0, out);

	if (!st)
		st = ax_tensor_upload(*out, p->buf, p->buf_elems * ax_dtype_size(p->spec.dtype));
	if (!st)
		st = ax_tensor_set_shape(*out, p->spec.ndim, p->spec.shape);
	return st;
}

static enum ax_status make_tensor(struct ax_ctx *ctx, struct prepared *p, struct ax_tensor **out)
{
	enum ax_status st;

	if (on_cpu())
		st = ax_tensor_wrap(ctx, p->spec.dtype, p->spec.ndim, p->spec.shape, p->buf, out);
	else
		st = upload_tensor(ctx, p, out);
	if (st)
		return st;
	for (int d = 0; d < p->spec.ndim; d++)
		(*out)->stride[d] = p->stride[d];
	if (p->checked)
		st = ax_tensor_set_requires_grad(*out, 1);
	return st;
}

/* L = sum(y * R) in double, reading y through its strides. */
static double loss_of(const struct ax_tensor *y, const float *cot)
{
	int64_t n = ax_tensor_numel(y);
	const float *data = y->data;
	double total = 0.0;

	for (int64_t i = 0; i < n; i++) {
		int64_t off = 0, rest = i;

		for (int d = y->ndim - 1; d >= 0; d--) {
			off += (rest % y->shape[d]) * y->stride[d];
			rest /= y->shape[d];
		}
		total += (double)data[off] * (double)cot[i];
	}
	return total;
}

/* The loss of an output on a device: the span of memory y's view covers is
 * downloaded (a 1-D header over the same first element, so no kernel takes
 * part), then read through y's strides on the host. */
static enum ax_status device_loss(const struct ax_tensor *y, const float *cot, double *loss)
{
	struct ax_tensor span = *y, host = *y;
	int64_t extent = 1;
	enum ax_status st;
	float *buf;

	*loss = 0.0;
	if (ax_tensor_numel(y) == 0)
		return AX_OK;
	for (int d = 0; d < y->ndim; d++)
		extent += (y->shape[d] - 1) * y->stride[d];
	buf = malloc((size_t)extent * sizeof(float));
	if (!buf)
		return AX_ERR_NOMEM;
	span.ndim = 1;
	span.shape[0] = extent;
	span.stride[0] = 1;
	st = ax_tensor_download(&span, buf, (size_t)extent * sizeof(float));
	if (!st) {
		host.data = buf;
		*loss = loss_of(&host, cot);
	}
	free(buf);
	return st;
}

static enum ax_status output_loss(const struct ax_tensor *y, const float *cot, double *loss)
{
	if (on_cpu()) {
		*loss = loss_of(y, cot);
		return AX_OK;
	}
	return device_loss(y, cot, loss);
}

static enum ax_status forward(struct ax_ctx *ctx, struct prepared *ps, int n,
			      struct ax_tensor **tensors, gc_build_fn build, void *arg,
			      const struct ax_rng *rng_start, struct ax_tensor **y)
{
	enum ax_status st = ax_ctx_reset(ctx);

	*ax_ctx_rng(ctx) = *rng_start;
	for (int k = 0; !st && k < n; k++)
		st = make_tensor(ctx, &ps[k], &tensors[k]);
	if (!st)
		st = build(ctx, tensors, arg, y);
	return st;
}

int gc_check(const char *label, int n, const struct gc_input *inputs, gc_build_fn build,
	     void *arg, const struct gc_tol *tol_in)
{
	struct gc_tol tol = tol_in ? *tol_in : GC_TOL_DEFAULT;
	struct ax_ctx_options opt = {.device = gc_device};
	struct prepared ps[8];
	struct ax_tensor *tensors[8], *y = NULL;
	struct ax_ctx *ctx = NULL;
	struct ax_rng rng, rng_start;
	float *cot = NULL, **analytic = NULL;
	int64_t ny = 0;
	uint64_t seed = next_seed++;
	int failed = 1, prepared = 0;
	double worst = 0.0;
	enum ax_status st;

	if (n < 1 || n > 8) {
		fprintf(stderr, "gradcheck %s: between 1 and 8 inputs\n", label);
		return 1;
	}
	ax_rng_init(&rng, seed);
	for (; prepared < n; prepared++) {
		if (prepare(&ps[prepared], &inputs[prepared], &rng))
			goto done;
	}
	opt.seed = seed ^ 0x5eedULL;
	st = ax_ctx_create(&opt, &ctx);
	if (st)
		goto error;
	rng_start = *ax_ctx_rng(ctx);

	/* Analytic pass. */
	st = forward(ctx, ps, n, tensors, build, arg, &rng_start, &y);
	if (st)
		goto error;
	if (y->dtype != AX_F32) {
		fprintf(stderr, "gradcheck %s: output is not f32\n", label);
		goto done;
	}
	ny = ax_tensor_numel(y);
	cot = malloc((size_t)(ny ? ny : 1) * sizeof(float));
	analytic = calloc((size_t)n, sizeof(*analytic));
	if (!cot || !analytic)
		goto done;
	ax_rng_uniform(&rng, cot, ny, -1.0f, 1.0f);
	{
		struct ax_tensor *seed_t;

		if (on_cpu()) {
			st = ax_tensor_wrap(ctx, AX_F32, y->ndim, y->shape, cot, &seed_t);
		} else {
			st = ax_tensor_new(ctx, AX_F32, y->ndim, y->shape, 0, &seed_t);
			if (!st)
				st = ax_tensor_upload(seed_t, cot, (size_t)ny * sizeof(float));
		}
		if (!st)
			st = ax_backward_with(ctx, y, seed_t);
		if (st)
			goto error;
	}
	for (int k = 0; k < n; k++) {
		if (!ps[k].checked)
			continue;
		analytic[k] = calloc((size_t)(ps[k].numel ? ps[k].numel : 1), sizeof(float));
		if (!analytic[k])
			goto done;
		/* A checked input that got no gradient has a zero one. Gradients
		 * are contiguous, so on a device they come down in one copy. */
		if (!tensors[k]->grad || ps[k].numel == 0) {
			continue;
		} else if (!on_cpu()) {
			st = ax_tensor_download(tensors[k]->grad, analytic[k],
						(size_t)ps[k].numel * sizeof(float));
			if (st)
				goto error;
		} else {
			struct ax_tensor *g = tensors[k]->grad;

			for (int64_t i = 0; i < ps[k].numel; i++) {
				int64_t off = 0, rest = i;

				for (int d = g->ndim - 1; d >= 0; d--) {
					off += (rest % g->shape[d]) * g->stride[d];
					rest /= g->shape[d];
				}
				analytic[k][i] = ((const float *)g->data)[off];
			}
		}
	}

	/* Numeric pass: central differences, recording off. */
	ax_ctx_set_grad_enabled(ctx, 0);
	failed = 0;
	for (int k = 0; k < n; k++) {
		float *buf = ps[k].buf;

		if (!ps[k].checked)
			continue;
		for (int64_t i = 0; i < ps[k].numel; i++) {
			int64_t off = offset_of(&ps[k], i);
			float x0 = buf[off];
			float xp = (float)(x0 + tol.h), xm = (float)(x0 - tol.h);
			double lp, lm, num, ana, err, allowed;

			buf[off] = xp;
			st = forward(ctx, ps, n, tensors, build, arg, &rng_start, &y);
			if (st)
				goto error;
			st = output_loss(y, cot, &lp);
			if (st)
				goto error;
			buf[off] = xm;
			st = forward(ctx, ps, n, tensors, build, arg, &rng_start, &y);
			if (st)
				goto error;
			st = output_loss(y, cot, &lm);
			if (st)
				goto error;
			buf[off] = x0;
			num = (lp - lm) / ((double)xp - (double)xm);
			ana = analytic[k][i];
			err = fabs(ana - num);
			allowed = tol.atol + tol.rtol * fmax(fabs(ana), fabs(num));
			if (!(err <= allowed)) {
				if (!failed || err / allowed > worst)
					fprintf(stderr, "gradcheck %s: input %d element %lld: analytic "
						"%.6g numeric %.6g (|diff| %.3g > allowed %.3g, seed %llu)\n",
						label, k, (long long)i, ana, num, err, allowed,
						(unsigned long long)seed);
				failed = 1;
			}
			if (err / allowed > worst)
				worst = err / allowed;
		}
	}
	goto done;
error:
	fprintf(stderr, "gradcheck %s: %s: %s\n", label, ax_status_name(st), ax_last_error());
	failed = 1;
done:
	for (int k = 0; k < prepared; k++)
		free(ps[k].buf);
	if (analytic) {
		for (int k = 0; k < n; k++)
			free(analytic[k]);
		free(analytic);
	}
	free(cot);
	ax_ctx_destroy(ctx);
	return failed;
}
