/*
 * errors.h - the one error vocabulary of libcairn.
 *
 * Every fallible function returns int: 0 on success or one of the negative
 * codes below. The failing function also leaves a human-readable message in
 * a thread-local slot, read with cairn_error_last(). Front ends map codes to
 * their own world in one table each (HTTP status, exit code, exception).
 */
#ifndef CAIRN_ERRORS_H
#define CAIRN_ERRORS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cairn_error_code {
	CAIRN_OK = 0,
	CAIRN_ERROR = -1,     /* generic failure: the message says more */
	CAIRN_ENOMEM = -2,    /* an allocation failed */
	CAIRN_EINVALID = -3,  /* an argument or an input is malformed */
	CAIRN_ENOTFOUND = -4, /* the named thing does not exist */
	CAIRN_EEXISTS = -5,   /* the named thing already exists */
	CAIRN_ETOOBIG = -6,   /* a size exceeds its ceiling */
	CAIRN_ECORRUPT = -7,  /* stored or received data fails verification */
	CAIRN_EIO = -8,       /* the operating system refused an I/O call */
	CAIRN_EAUTH = -9,     /* missing or bad credentials */
	CAIRN_EPERM = -10,    /* authenticated, but not allowed */
	CAIRN_EUNSUPPORTED = -11, /* not available on this build or machine */
	CAIRN_ECANCELED = -12,    /* stopped on request (cairn_client_cancel) */
} cairn_error_code;

/*
 * The message of the last error set on this thread, or "" if none.
 * Borrowed: valid until the next libcairn call on the same thread.
 */
CAIRN_API const char *cairn_error_last(void);

/* A short fixed name for a code ("CAIRN_ECORRUPT"). Static storage. */
CAIRN_API const char *cairn_error_name(int code);

/* Clear this thread's message. */
CAIRN_API void cairn_error_clear(void);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_ERRORS_H */
