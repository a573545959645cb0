/*
 * copy.c - every xorb of one store into another (cairn_store_copy, for
 * `cairn admin migrate`): each is read whole, checked (the footer, every
 * chunk against its hash, the xorb against its name) before it is
 * written, and its size read back after; one already at the destination
 * with the same size is skipped, so a copy that stopped goes on where it
 * was when run again.
 */
#include "cairn/sys/store.h"
#include "cairn/errors.h"
#include "cairn/xorb.h"

#include "../util/util_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct names {
	cairn_hash *h;
	uint64_t *size;
	size_t n, cap;
} names;

static int collect(void *ctx, const cairn_hash *xorb, uint64_t size, int64_t mtime_ns)
{
	names *l = ctx;

	(void)mtime_ns;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		cairn_hash *nh = realloc(l->h, cap * sizeof(*nh));
		uint64_t *ns;
		if (nh == NULL)
			return CAIRN_ENOMEM;
		l->h = nh;
		if ((ns = realloc(l->size, cap * sizeof(*ns))) == NULL)
			return CAIRN_ENOMEM;
		l->size = ns;
		l->cap = cap;
	}
	l->h[l->n] = *xorb;
	l->size[l->n++] = size;
	return 0;
}

int cairn_store_copy(cairn_store *from, cairn_store *to, cairn_store_copy_fn progress, void *ctx,
		     cairn_store_copy_result *out)
{
	names l = {0};
	uint8_t *buf = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = from->list(from, collect, &l);
	if (rc > 0)
		rc = cairn__error_set(CAIRN_ENOMEM, "out of memory listing the source store");
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		char hex[CAIRN_HASH_HEX_LEN + 1];
		uint64_t have = 0, len = l.size[i];
		cairn_xorb *x = NULL;

		cairn_hash_to_hex(hex, &l.h[i]);
		if (to->size(to, &l.h[i], &have) == 0 && have == len) {
			out->skipped++;
			if (progress)
				progress(ctx, out, l.n);
			continue;
		}
		if (len == 0 || len > CAIRN_XORB_MAX_BYTES) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "xorb %s: %llu bytes", hex,
					      (unsigned long long)len);
			break;
		}
		if ((buf = realloc(buf, (size_t)len)) == NULL) {
			rc = cairn__error_set(CAIRN_ENOMEM, "out of memory");
			break;
		}
		if ((rc = from->read(from, &l.h[i], 0, (size_t)len, buf)) != 0)
			break;
		if (cairn_xorb_open(&x, buf, (size_t)len) != 0 ||
		    !cairn_hash_equal(cairn_xorb_id(x), &l.h[i]) || cairn_xorb_verify(x) != 0) {
			cairn_xorb_free(x);
			rc = cairn__error_set(CAIRN_ECORRUPT, "xorb %s in the source store does not "
							      "check: not copied (run fsck)",
					      hex);
			break;
		}
		cairn_xorb_free(x);
		if ((rc = to->put(to, &l.h[i], buf, (size_t)len)) != 0)
			break;
		if ((rc = to->size(to, &l.h[i], &have)) != 0 || have != len) {
			rc = rc ? rc
				: cairn__error_set(CAIRN_EIO, "xorb %s: %llu bytes written, %llu there",
						   hex, (unsigned long long)len,
						   (unsigned long long)have);
			break;
		}
		out->copied++;
		out->bytes += len;
		if (progress)
			progress(ctx, out, l.n);
	}
	out->total = l.n;
	free(buf);
	free(l.h);
	free(l.size);
	return rc;
}
