/*
 * core_int.h - what the storage engine's files share: the repo itself
 * and small helpers. Private to lib/core.
 */
#ifndef CAIRN_CORE_INT_H
#define CAIRN_CORE_INT_H

#include "cairn/chunk.h"
#include "cairn/repo.h"
#include "cairn/xorb.h"
#include "../util/util_int.h"

struct cairn_repo {
	cairn_meta *meta;
	cairn_store *store;
};

/* Wall-clock time in ns since the epoch (what the metadata records). */
int64_t cairn__now_ns(void);

/* A bucket's id; CAIRN_ENOTFOUND with a message naming it. */
int cairn__bucket_id(cairn_repo *r, const char *ns, const char *name, int64_t *id);

/*
 * Record a xorb durable in the store (its row and chunk index entries, one
 * transaction; stored again first if a GC removed it meanwhile). *packed
 * (may be NULL) gets its chunks' serialized bytes, footer excluded.
 */
int cairn__xorb_record(cairn_repo *r, const cairn_hash *xh, const uint8_t *bytes, size_t len,
		       uint64_t *packed);

#endif /* CAIRN_CORE_INT_H */
