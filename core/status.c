/* status.c - status names and the thread-local last-error record.
 *
 * Failures are values: a function returns its status and leaves a message in
 * a per-thread slot. The slot is fixed-size and static, so reporting an
 * out-of-memory error never needs memory. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "axon/status.h"

static _Thread_local struct {
	enum ax_status status;
	const char *file;
	int line;
	char message[1024];
} last_error;

const char *ax_status_name(enum ax_status status)
{
	switch (status) {
	case AX_OK: return "AX_OK";
	case AX_ERR_NOMEM: return "AX_ERR_NOMEM";
	case AX_ERR_INVALID: return "AX_ERR_INVALID";
	case AX_ERR_SHAPE: return "AX_ERR_SHAPE";
	case AX_ERR_DTYPE: return "AX_ERR_DTYPE";
	case AX_ERR_DEVICE: return "AX_ERR_DEVICE";
	case AX_ERR_RANGE: return "AX_ERR_RANGE";
	case AX_ERR_STATE: return "AX_ERR_STATE";
	case AX_ERR_UNSUPPORTED: return "AX_ERR_UNSUPPORTED";
	case AX_ERR_IO: return "AX_ERR_IO";
	case AX_ERR_INTERNAL: return "AX_ERR_INTERNAL";
	}
	return "AX_ERR_UNKNOWN";
}

enum ax_status ax_error_set(enum ax_status status, const char *file, int line,
			    const char *fmt, ...)
{
	va_list args;

	last_error.status = status;
	last_error.file = file ? file : "";
	last_error.line = line;
	va_start(args, fmt);
	vsnprintf(last_error.message, sizeof(last_error.message), fmt, args);
	va_end(args);
	return status;
}

const char *ax_last_error(void)
{
	return last_error.message;
}

enum ax_status ax_last_error_status(void)
{
	return last_error.status;
}

void ax_last_error_where(const char **file, int *line)
{
	if (file)
		*file = last_error.file ? last_error.file : "";
	if (line)
		*line = last_error.line;
}

void ax_clear_error(void)
{
	last_error.status = AX_OK;
	last_error.file = "";
	last_error.line = 0;
	last_error.message[0] = '\0';
}
