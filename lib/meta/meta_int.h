/*
 * meta_int.h - internals of the metadata layer (include/cairn/sys/meta.h):
 * the argument checks and key ranges every backend shares (check.c), the
 * SQLite schema and its migrations (sqlite_schema.c), and a window into
 * the SQLite backend for the tests.
 */
#ifndef CAIRN_META_INT_H
#define CAIRN_META_INT_H

#include "cairn/sys/meta.h"
#include "../util/util_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "PRAGMA application_id" of a Cairn database: "CARN" in ASCII. */
#define CAIRN_META_SQLITE_APP_ID 0x4341524E

/* How long a statement waits for another connection's lock, in ms. */
#define CAIRN_META_SQLITE_BUSY_MS 10000

/*
 * Check a namespace or bucket name: 1..CAIRN_NAME_MAX bytes of
 * [a-z0-9][a-z0-9._-]*. `what` names it in the message ("namespace").
 * Returns 0 or CAIRN_EINVALID.
 */
int cairn__meta_check_name(const char *what, const char *name);

/* Check an object key: 1..CAIRN_KEY_MAX bytes, no NUL. Returns 0 or CAIRN_EINVALID. */
int cairn__meta_check_key(const char *key, size_t len);

/*
 * The keys object_list must return, as one half-open range of byte strings
 * [lo, hi) in memcmp order (a proper prefix sorts first): keys that start
 * with prefix and sort after `after` (NULL: no lower bound but the prefix).
 * The strings are written into lo and hi, CAIRN_KEY_MAX + 1 bytes each.
 * Returns 0 or CAIRN_EINVALID (prefix or after longer than CAIRN_KEY_MAX).
 *
 * Why it works: `key > after` is `key >= after || 0x00`, the next byte
 * string after `after`; the keys starting with a prefix p are those in
 * [p, succ(p)), where succ(p) drops p's trailing 0xFF bytes and adds one
 * to the last byte left. A prefix of only 0xFF bytes (or none) has no
 * successor; CAIRN_KEY_MAX + 1 bytes of 0xFF then bound every valid key.
 */
int cairn__meta_key_range(uint8_t *lo, size_t *lo_len, uint8_t *hi, size_t *hi_len,
			  const char *prefix, size_t prefix_len, const char *after,
			  size_t after_len);

/* ---- SQLite backend ------------------------------------------------------ */

struct sqlite3;

/*
 * A migration: the SQL that takes the schema from version `index` to
 * `index + 1` (entry 0 is migration 1, the initial schema).
 */
typedef struct cairn__meta_migration {
	const char *name;
	const char *sql;
} cairn__meta_migration;

extern const cairn__meta_migration cairn__meta_sqlite_migrations[];
extern const unsigned cairn__meta_sqlite_schema_version; /* number of migrations */

/*
 * Make a freshly opened connection ready (sqlite_schema.c): check that the
 * file is Cairn's (before anything is written to it), then WAL,
 * synchronous=FULL, foreign keys, and the schema migrated to the current
 * version, one transaction per migration. Returns 0; CAIRN_ECORRUPT (not
 * SQLite, not Cairn's, or a newer schema); CAIRN_EIO.
 */
int cairn__meta_sqlite_setup(struct sqlite3 *db, const char *path);

/*
 * The connection behind a handle from cairn_meta_sqlite_open, borrowed:
 * for tests that check the connection's settings (PRAGMA synchronous...).
 */
struct sqlite3 *cairn__meta_sqlite_db(cairn_meta *m);

#endif /* CAIRN_META_INT_H */
