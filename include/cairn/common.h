/*
 * common.h - the export macro and version shared by every public Cairn header.
 *
 * libcairn is built with -fvisibility=hidden; only declarations marked
 * CAIRN_API are visible to programs that link it (the CLI, the server, the
 * Python package), so the public surface is exactly what include/cairn/ says.
 */
#ifndef CAIRN_COMMON_H
#define CAIRN_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define CAIRN_API __attribute__((visibility("default")))
#else
#define CAIRN_API
#endif

#define CAIRN_VERSION_MAJOR 0
#define CAIRN_VERSION_MINOR 1
#define CAIRN_VERSION_PATCH 0
#define CAIRN_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version string, e.g. "0.1.0". Borrowed: static storage. */
CAIRN_API const char *cairn_version(void);

/* The longest object key, in bytes. */
#define CAIRN_OBJECT_KEY_MAX 1024

/*
 * Whether key[0..len) is an object key as every front takes one (decoded
 * already): 1 to CAIRN_OBJECT_KEY_MAX bytes, no NUL, '/'-separated
 * segments that are neither empty nor "." nor "..". Thread-safe.
 */
CAIRN_API bool cairn_key_valid(const char *key, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_COMMON_H */
