/* testutil.h - small helpers shared by the cmocka tests. */
#ifndef AXON_TEST_UTIL_H
#define AXON_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "axon/axon.h"

/* Fail the test, printing axon's last error, when st is not AX_OK. */
#define TU_OK(expr)                                                                 \
	do {                                                                        \
		enum ax_status tu_st_ = (expr);                                     \
		if (tu_st_ != AX_OK)                                                \
			fail_msg("%s -> %s: %s", #expr, ax_status_name(tu_st_),     \
				 ax_last_error());                                  \
	} while (0)

/* A CPU context with a fixed seed; destroyed by the caller. */
struct ax_ctx *tu_ctx(uint64_t seed);

/* An arena tensor holding a copy of `values` (row-major), or zeros when NULL. */
struct ax_tensor *tu_tensor(struct ax_ctx *ctx, enum ax_dtype dtype, int ndim,
			    const int64_t *shape, const void *values);

/* Assert that n floats agree within atol + rtol * |want|; names the first bad index. */
void tu_assert_close(const float *got, const float *want, int64_t n, double atol, double rtol,
		     const char *what);

/* Copy any f32 tensor (any strides) into out[numel] in row-major order. */
void tu_read(const struct ax_tensor *t, float *out);

#endif
