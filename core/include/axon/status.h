/* axon/status.h - status codes and the last-error record.
 *
 * Every library call returns an enum ax_status. AX_OK is zero, so
 * `if (st) goto fail;` reads naturally. When a call fails it also records a
 * message for the person running the job, with the source file and line that
 * raised it, in a thread-local slot that ax_last_error() reads back. */
#ifndef AXON_STATUS_H
#define AXON_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

enum ax_status {
	AX_OK = 0,
	AX_ERR_NOMEM,       /* an allocation failed (or was failed by a test hook) */
	AX_ERR_INVALID,     /* a bad argument: NULL, negative size, unknown name */
	AX_ERR_SHAPE,       /* shapes that do not fit the op */
	AX_ERR_DTYPE,       /* an element type the op does not take */
	AX_ERR_DEVICE,      /* tensors on different devices, or a device not present */
	AX_ERR_RANGE,       /* an index or label outside its range */
	AX_ERR_STATE,       /* a call out of order (e.g. backward twice per step) */
	AX_ERR_UNSUPPORTED, /* not available in this build or on this device */
	AX_ERR_IO,          /* a file or system call failed */
	AX_ERR_INTERNAL,    /* a bug in axon: please report it */
};

/* ax_status_name - the enum's name as text ("AX_ERR_SHAPE"); never NULL. */
const char *ax_status_name(enum ax_status status);

/* ax_last_error - the message of the most recent failure on this thread,
 * "" when none. The text stays valid until the next failure on this thread. */
const char *ax_last_error(void);

/* ax_last_error_status - the status of the most recent failure on this thread. */
enum ax_status ax_last_error_status(void);

/* ax_last_error_where - the source file and line that raised it
 * (file is "" and line 0 when there was none). */
void ax_last_error_where(const char **file, int *line);

/* ax_clear_error - forget the last failure on this thread. */
void ax_clear_error(void);

/* ax_error_set - record a failure and return `status`, for use by axon's own
 * modules (through AX_ERROR) and by embedding code that wants the same
 * reporting. The message is printf-formatted and truncated to 1 KiB. */
enum ax_status ax_error_set(enum ax_status status, const char *file, int line,
			    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define AX_ERROR(status, ...) ax_error_set((status), __FILE__, __LINE__, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
