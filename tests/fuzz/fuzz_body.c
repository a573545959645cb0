/*
 * fuzz_body.c - libFuzzer target for the native API's JSON request bodies
 * (server/body.h, compiled in: a pure module): bucket settings ("private",
 * "regions"), the batched dedup query, pre-warm requests and batch NDJSON.
 * jansson parses; this checks what our code makes of what it returns.
 * Built as a fuzzer with clang and -DCAIRN_FUZZ=ON; replay.c feeds it the
 * stored corpus as an ordinary test with any compiler.
 *
 * The input is the body, given to every reader in a buffer of exactly its
 * size (no NUL after it). Regions whose name starts with a-m exist, "io"
 * fails the lookup (CAIRN_EIO), others do not exist. Besides the
 * sanitizers (and LeakSanitizer: every result is freed), the target aborts
 * unless:
 *  - "private": one of 1, 0, -1, -2; -1 only for no body or no member,
 *    -2 for a body that is not a JSON object;
 *  - "regions": 1 gives a comma-separated list within CAIRN_REGIONS_MAX
 *    of names of 1 to CAIRN_NAME_MAX bytes, each a whole string of the
 *    body's list (no NUL cut it short), existing, none twice, and every
 *    string of the list is in it; errors are CAIRN_EINVALID with a reason
 *    or the lookup's own code;
 *  - the dedup query: each hash is a string of exactly 64 hex digits of
 *    the list, in order, at most CAIRN__QUERY_MAX; errors come with a
 *    reason;
 *  - pre-warm: the prefix and region are whole strings of the body;
 *  - batches: CAIRN_ETOOBIG exactly past CAIRN__BATCH_LINES lines; an error
 *    names a line that exists; a batch read has one op per non-blank line,
 *    each one flat JSON object whose "op" is add, copy or delete, with a
 *    path the engine takes (1 to CAIRN_KEY_MAX bytes, no NUL, no empty,
 *    "." or ".." segment) that is the line's "path" whole; a copy's source
 *    is the line's "src_bucket" (or the batch's bucket) and "src_path",
 *    whole; an add's hash is its 64 hex digits, its chunks the base64's
 *    40-byte records; cairn__batch_line_of numbers each op's line.
 *
 * To fuzz (new inputs go to the first directory, the stored corpus seeds it):
 *   CC=clang cmake -S . -B build-fuzz -DCAIRN_FUZZ=ON -DCAIRN_SANITIZE=ON
 *   cmake --build build-fuzz --target fuzz_body
 *   mkdir -p /tmp/body-corpus
 *   build-fuzz/tests/fuzz_body -dict=tests/fuzz/body.dict -max_len=4096
 *       -max_total_time=600 /tmp/body-corpus tests/fuzz/corpus/body
 */
#include "body.h"

#include "cairn/errors.h"
#include "meta/meta_int.h" /* cairn__meta_check_key, _name */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_body: %s\n", what);
		abort();
	}
}

/* A string member whole: no NUL inside (jansson keeps \u0000 out without JSON_ALLOW_NUL). */
static bool whole(json_t *s, const char *got)
{
	return json_is_string(s) && got != NULL && json_string_length(s) == strlen(got) &&
	       strcmp(json_string_value(s), got) == 0;
}

static int known(void *ctx, const char *name)
{
	(void)ctx;
	if (strcmp(name, "io") == 0)
		return CAIRN_EIO;
	return name[0] >= 'a' && name[0] <= 'm' ? 0 : CAIRN_ENOTFOUND;
}

static void settings(const char *body, size_t len)
{
	json_t *v = json_loadb(body, len, 0, NULL), *p = json_object_get(v, "private");
	json_t *arr = json_object_get(v, "regions"), *e;
	char out[CAIRN_REGIONS_MAX + 1];
	const char *why = NULL;
	int priv = cairn__body_private(body, len), rc;
	size_t i;

	check(priv >= -2 && priv <= 1, "private: out of range");
	if (len == 0)
		check(priv == -1, "private: no body is not -1");
	else if (!json_is_object(v))
		check(priv == -2, "private: not an object, not -2");
	else if (p == NULL)
		check(priv == -1, "private: absent, not -1");
	else
		check(json_is_boolean(p) ? priv == json_is_true(p) : priv == -2, "private: misread");

	rc = cairn__body_regions(body, len, out, &why, known, NULL);
	check(rc == 1 || rc == 0 || rc == CAIRN_EINVALID || rc == CAIRN_EIO, "regions: out of range");
	if (rc == 0)
		check(arr == NULL, "regions: given but taken as absent");
	if (rc == CAIRN_EINVALID)
		check(why != NULL && why[0] != '\0', "regions: refused without a reason");
	if (rc == 1) {
		check(json_is_array(arr) && strlen(out) <= CAIRN_REGIONS_MAX, "regions: the list");
		/* the listed names, each once */
		const char *names[CAIRN_REGIONS_MAX / 2 + 1];
		size_t lens[CAIRN_REGIONS_MAX / 2 + 1], k = 0;
		for (const char *q = out; *q != '\0'; k++) {
			size_t n = strcspn(q, ",");
			check(n >= 1 && n <= CAIRN_NAME_MAX && k < CAIRN_REGIONS_MAX / 2 + 1,
			      "regions: a name's length");
			names[k] = q;
			lens[k] = n;
			for (size_t j = 0; j < k; j++)
				check(lens[j] != n || memcmp(names[j], q, n) != 0, "regions: one twice");
			q += n + (q[n] == ',');
		}
		/* exactly the body's strings, whole, each known */
		for (size_t j = 0; j < k; j++) {
			bool found = false;
			json_array_foreach(arr, i, e)
				found |= json_is_string(e) && json_string_length(e) == lens[j] &&
					 memcmp(json_string_value(e), names[j], lens[j]) == 0;
			check(found, "regions: a name not in the body");
		}
		json_array_foreach(arr, i, e) {
			const char *s = json_string_value(e);
			bool found = false;
			check(s != NULL && known(NULL, s) == 0, "regions: an unknown one taken");
			for (size_t j = 0; j < k; j++)
				found |= json_string_length(e) == lens[j] && memcmp(names[j], s, lens[j]) == 0;
			check(found, "regions: one of the body's left out");
		}
	}
	json_decref(v);
}

static void chunks(const char *body, size_t len)
{
	json_t *v = json_loadb(body, len, 0, NULL), *arr = json_object_get(v, "chunks");
	cairn_hash *h = NULL;
	const char *why = NULL;
	size_t n = 0;
	int rc = cairn__body_chunks(body, len, &h, &n, &why);

	check(rc == 0 || rc == CAIRN_EINVALID || rc == CAIRN_ENOMEM, "chunks: out of range");
	if (rc == CAIRN_EINVALID)
		check(why != NULL && why[0] != '\0', "chunks: refused without a reason");
	if (rc == 0) {
		check(json_is_array(arr) && json_array_size(arr) == n && n <= CAIRN__QUERY_MAX,
		      "chunks: the count");
		for (size_t i = 0; i < n; i++) {
			json_t *s = json_array_get(arr, i);
			cairn_hash want;
			check(json_is_string(s) && json_string_length(s) == 64 &&
				      cairn_hash_from_hex(&want, json_string_value(s), 64) == 0 &&
				      memcmp(&want, &h[i], sizeof(want)) == 0,
			      "chunks: a hash that is not the body's");
		}
	}
	free(h);
	json_decref(v);
}

static void prewarm(const char *body, size_t len)
{
	json_t *v, *mine = json_loadb(body, len, 0, NULL);
	const char *prefix, *region;
	int rc = cairn__body_prewarm(body, len, &v, &prefix, &region);

	check(rc == 0 || rc == CAIRN_EINVALID, "prewarm: out of range");
	if (rc == 0) {
		json_t *p = json_object_get(mine, "prefix");
		check(v != NULL && whole(json_object_get(mine, "region"), region),
		      "prewarm: a region that is not the body's");
		check(p == NULL || json_is_null(p) ? strcmp(prefix, "") == 0 : whole(p, prefix),
		      "prewarm: a prefix that is not the body's");
	} else {
		check(v == NULL, "prewarm: a body kept on failure");
	}
	json_decref(v);
	json_decref(mine);
}

static bool key_ok(const char *k, size_t n)
{
	size_t seg = 0;

	if (cairn__meta_check_key(k, n) != 0)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && k[i] != '/')
			continue;
		if (i == seg || (i - seg == 1 && k[seg] == '.') ||
		    (i - seg == 2 && k[seg] == '.' && k[seg + 1] == '.'))
			return false;
		seg = i + 1;
	}
	return true;
}

static bool blank(const char *p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (p[k] != ' ' && p[k] != '\r' && p[k] != '\t')
			return false;
	return true;
}

/* The body's line number (from 1) line: its text. */
static bool line_at(const char *body, size_t len, size_t line, const char **text, size_t *n)
{
	size_t i = 0, at = 0;

	while (i < len) {
		const char *nl = memchr(body + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - body) - i : len - i;
		if (++at == line) {
			*text = body + i;
			*n = l;
			return true;
		}
		i += l + 1;
	}
	return false;
}

static void batch_op(const cairn_batch_op *o, const char *text, size_t n)
{
	json_t *v = json_loadb(text, n, 0, NULL), *m;
	const char *key;

	check(json_is_object(v), "batch: an op from a line that is not an object");
	json_object_foreach(v, key, m)
		check(!json_is_object(m) && !json_is_array(m), "batch: an op from a nested object");
	check(key_ok(o->key, o->key_len) && o->key[o->key_len] == '\0',
	      "batch: a path the engine refuses");
	m = json_object_get(v, "path");
	check(json_is_string(m) && json_string_length(m) == o->key_len &&
		      memcmp(json_string_value(m), o->key, o->key_len) == 0,
	      "batch: a path that is not the line's");
	m = json_object_get(v, "op");
	switch (o->type) {
	case CAIRN_OP_DELETE:
		check(whole(m, "delete"), "batch: a delete that is not one");
		break;
	case CAIRN_OP_COPY: {
		json_t *sb = json_object_get(v, "src_bucket"), *sp = json_object_get(v, "src_path");
		check(whole(m, "copy"), "batch: a copy that is not one");
		check(strlen(o->src_ns) >= 1 && strlen(o->src_ns) <= CAIRN_NAME_MAX &&
			      strlen(o->src_name) >= 1 && strlen(o->src_name) <= CAIRN_NAME_MAX,
		      "batch: a copy's source bucket");
		if (sb == NULL) {
			check(strcmp(o->src_ns, "alice") == 0 && strcmp(o->src_name, "data") == 0,
			      "batch: a copy's default source is not the batch's bucket");
		} else {
			size_t nl = strlen(o->src_ns);
			check(json_is_string(sb) &&
				      json_string_length(sb) == nl + 1 + strlen(o->src_name) &&
				      memcmp(json_string_value(sb), o->src_ns, nl) == 0 &&
				      json_string_value(sb)[nl] == '/' &&
				      strcmp(json_string_value(sb) + nl + 1, o->src_name) == 0,
			      "batch: a copy's source bucket that is not the line's");
		}
		check(key_ok(o->src_key, o->src_key_len) && json_is_string(sp) &&
			      json_string_length(sp) == o->src_key_len &&
			      memcmp(json_string_value(sp), o->src_key, o->src_key_len) == 0,
		      "batch: a copy's source path that is not the line's");
		break;
	}
	case CAIRN_OP_ADD: {
		json_t *h = json_object_get(v, "hash"), *ch = json_object_get(v, "chunks");
		cairn_hash want;
		check(whole(m, "add"), "batch: an add that is not one");
		check(json_is_string(h) && json_string_length(h) == 64 &&
			      cairn_hash_from_hex(&want, json_string_value(h), 64) == 0 &&
			      memcmp(&want, &o->file, sizeof(want)) == 0,
		      "batch: an add's hash that is not the line's");
		check(json_is_integer(json_object_get(v, "size")) &&
			      json_integer_value(json_object_get(v, "size")) >= 0 &&
			      (uint64_t)json_integer_value(json_object_get(v, "size")) == o->size,
		      "batch: an add's size");
		if (ch == NULL) {
			check(o->chunks == NULL && o->nchunks == 0, "batch: chunks from nowhere");
		} else {
			size_t bl = json_string_length(ch), pad = 0;
			const char *s = json_string_value(ch);
			check(s != NULL && bl % 4 == 0, "batch: chunks that are not base64");
			pad = bl > 0 ? (s[bl - 1] == '=') + (bl > 1 && s[bl - 2] == '=') : 0;
			check((bl / 4 * 3 - pad) == 40 * o->nchunks, "batch: chunks of another length");
			check(o->nchunks == 0 || o->chunks != NULL, "batch: chunks lost");
		}
		break;
	}
	default:
		check(false, "batch: an op out of range");
	}
	json_decref(v);
}

static void batch(const char *body, size_t len)
{
	cairn__batch b;
	char msg[512];
	size_t lines = 0, nonblank = 0;
	int rc;

	for (size_t i = 0; i < len;) {
		const char *nl = memchr(body + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - body) - i : len - i;
		lines++;
		nonblank += !blank(body + i, l);
		i += l + 1;
	}
	msg[0] = '\0';
	rc = cairn__batch_read(&b, body, len, "alice", "data", msg, sizeof(msg));
	check(rc == 0 || rc == CAIRN_EINVALID || rc == CAIRN_ETOOBIG || rc == CAIRN_ENOMEM,
	      "batch: out of range");
	check((rc == CAIRN_ETOOBIG) == (lines > CAIRN__BATCH_LINES), "batch: the line ceiling");
	if (rc == CAIRN_EINVALID) {
		unsigned long at = 0;
		const char *text = "";
		size_t n = 0;
		check(sscanf(msg, "line %lu: ", &at) == 1 && at >= 1 && at <= lines &&
			      strstr(msg, ": ") != NULL && strstr(msg, ": ")[2] != '\0',
		      "batch: an error that names no line");
		check(line_at(body, len, at, &text, &n) && !blank(text, n),
		      "batch: an error on a blank line");
	}
	if (rc == 0) {
		size_t prev = 0;
		check(b.n == nonblank, "batch: not one op per line");
		for (size_t i = 0; i < b.n; i++) {
			size_t at = cairn__batch_line_of(body, len, i), n = 0;
			const char *text = "";
			check(at > prev && line_at(body, len, at, &text, &n) && !blank(text, n),
			      "batch: an op's line");
			prev = at;
			check(memcmp(&b.ops[i], &b.lines[i].op, sizeof(b.ops[i])) == 0,
			      "batch: ops and lines differ");
			batch_op(&b.ops[i], text, n);
		}
	}
	cairn__batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size ? size : 1);

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	settings(body, size);
	chunks(body, size);
	prewarm(body, size);
	batch(body, size);
	free(body);
	return 0;
}
