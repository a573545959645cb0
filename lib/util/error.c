/*
 * error.c - thread-local error messages (see include/cairn/errors.h).
 *
 * Each thread owns one fixed buffer; setting an error formats into it, so
 * reporting an error never allocates and never fails.
 */
#include "util_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512];

const char *cairn_version(void)
{
	return CAIRN_VERSION_STRING;
}

const char *cairn_error_last(void)
{
	return last_error;
}

void cairn_error_clear(void)
{
	last_error[0] = '\0';
}

int cairn__error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return code;
}

const char *cairn_error_name(int code)
{
	switch (code) {
	case CAIRN_OK: return "CAIRN_OK";
	case CAIRN_ERROR: return "CAIRN_ERROR";
	case CAIRN_ENOMEM: return "CAIRN_ENOMEM";
	case CAIRN_EINVALID: return "CAIRN_EINVALID";
	case CAIRN_ENOTFOUND: return "CAIRN_ENOTFOUND";
	case CAIRN_EEXISTS: return "CAIRN_EEXISTS";
	case CAIRN_ETOOBIG: return "CAIRN_ETOOBIG";
	case CAIRN_ECORRUPT: return "CAIRN_ECORRUPT";
	case CAIRN_EIO: return "CAIRN_EIO";
	case CAIRN_EAUTH: return "CAIRN_EAUTH";
	case CAIRN_EPERM: return "CAIRN_EPERM";
	case CAIRN_EUNSUPPORTED: return "CAIRN_EUNSUPPORTED";
	case CAIRN_ECANCELED: return "CAIRN_ECANCELED";
	default: return "CAIRN_E?";
	}
}
