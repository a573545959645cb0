/*
 * blake3.c - the BLAKE3 tree: chunk states, the chaining-value stack, wide
 * subtree compression and extendable output. The per-block work is done by
 * whichever back end blake3_dispatch.c selected (see blake3_int.h).
 *
 * Large updates are split into the largest aligned power-of-two subtrees,
 * whose chunks and parent nodes are compressed `degree` at a time by
 * hash_many; this is what lets the SIMD tiers run at memory-bound speed on
 * the 8-128 KiB chunk sizes Cairn hashes.
 */
#include "blake3_int.h"
#include "../util/util_int.h"

#include <string.h>

#define MAX_DEGREE 16

typedef struct b3_output {
	uint32_t input_cv[8];
	uint64_t counter;
	uint8_t block[B3_BLOCK_LEN];
	uint8_t block_len;
	uint8_t flags;
} b3_output;

static void key_words(uint32_t out[8], const uint8_t key[B3_KEY_LEN])
{
	for (size_t i = 0; i < 8; i++)
		out[i] = cairn__load32_le(key + 4 * i);
}

static void cv_to_bytes(uint8_t out[B3_OUT_LEN], const uint32_t cv[8])
{
	for (size_t i = 0; i < 8; i++)
		cairn__store32_le(out + 4 * i, cv[i]);
}

static uint64_t round_down_pow2(uint64_t x)
{
	/* x > 0 */
	return 1ull << (63 - __builtin_clzll(x | 1));
}

/* --- chunk state ------------------------------------------------------- */

static void chunk_init(cairn_blake3_chunk_state *cs, const uint32_t key[8], uint64_t counter,
		       uint8_t flags)
{
	memcpy(cs->cv, key, sizeof(cs->cv));
	cs->chunk_counter = counter;
	memset(cs->buf, 0, sizeof(cs->buf));
	cs->buf_len = 0;
	cs->blocks_compressed = 0;
	cs->flags = flags;
}

static size_t chunk_len(const cairn_blake3_chunk_state *cs)
{
	return (size_t)cs->blocks_compressed * B3_BLOCK_LEN + cs->buf_len;
}

static uint8_t chunk_start_flag(const cairn_blake3_chunk_state *cs)
{
	return cs->blocks_compressed == 0 ? B3_CHUNK_START : 0;
}

static void chunk_update(cairn_blake3_chunk_state *cs, const uint8_t *in, size_t len)
{
	const b3_backend *be = cairn__b3_backend();

	if (cs->buf_len > 0) {
		size_t take = B3_BLOCK_LEN - cs->buf_len;
		if (take > len)
			take = len;
		memcpy(cs->buf + cs->buf_len, in, take);
		cs->buf_len += (uint8_t)take;
		in += take;
		len -= take;
		if (len > 0) {
			/* the buffered block is full and is not the last one */
			be->compress_in_place(cs->cv, cs->buf, B3_BLOCK_LEN, cs->chunk_counter,
					      cs->flags | chunk_start_flag(cs));
			cs->blocks_compressed++;
			cs->buf_len = 0;
			memset(cs->buf, 0, sizeof(cs->buf));
		}
	}
	while (len > B3_BLOCK_LEN) {
		be->compress_in_place(cs->cv, in, B3_BLOCK_LEN, cs->chunk_counter,
				      cs->flags | chunk_start_flag(cs));
		cs->blocks_compressed++;
		in += B3_BLOCK_LEN;
		len -= B3_BLOCK_LEN;
	}
	if (len > 0) {
		memcpy(cs->buf + cs->buf_len, in, len);
		cs->buf_len += (uint8_t)len;
	}
}

static b3_output chunk_output(const cairn_blake3_chunk_state *cs)
{
	b3_output o;

	memcpy(o.input_cv, cs->cv, sizeof(o.input_cv));
	memcpy(o.block, cs->buf, sizeof(o.block));
	o.block_len = cs->buf_len;
	o.counter = cs->chunk_counter;
	o.flags = cs->flags | chunk_start_flag(cs) | B3_CHUNK_END;
	return o;
}

static b3_output parent_output(const uint8_t block[B3_BLOCK_LEN], const uint32_t key[8],
			       uint8_t flags)
{
	b3_output o;

	memcpy(o.input_cv, key, sizeof(o.input_cv));
	memcpy(o.block, block, B3_BLOCK_LEN);
	o.block_len = B3_BLOCK_LEN;
	o.counter = 0;
	o.flags = flags | B3_PARENT;
	return o;
}

static void output_cv(const b3_output *o, uint8_t out[B3_OUT_LEN])
{
	uint32_t cv[8];

	memcpy(cv, o->input_cv, sizeof(cv));
	cairn__b3_backend()->compress_in_place(cv, o->block, o->block_len, o->counter, o->flags);
	cv_to_bytes(out, cv);
}

static void output_root_bytes(const b3_output *o, uint64_t seek, uint8_t *out, size_t out_len)
{
	const b3_backend *be = cairn__b3_backend();
	uint64_t block_counter = seek / 64;
	size_t skip = (size_t)(seek % 64);
	uint8_t wide[64];

	while (out_len > 0) {
		size_t n = 64 - skip;
		be->compress_xof(o->input_cv, o->block, o->block_len, block_counter,
				 o->flags | B3_ROOT, wide);
		if (n > out_len)
			n = out_len;
		memcpy(out, wide + skip, n);
		out += n;
		out_len -= n;
		block_counter++;
		skip = 0;
	}
}

/* --- wide subtree compression ------------------------------------------ */

/* Hash every chunk of `in` (len <= degree chunks), the last possibly
 * partial; write one CV per chunk to out and return the count. */
static size_t compress_chunks(const b3_backend *be, const uint8_t *in, size_t len,
			      const uint32_t key[8], uint64_t counter, uint8_t flags,
			      uint8_t *out)
{
	const uint8_t *ptrs[MAX_DEGREE];
	size_t n = 0;

	while (len - n * B3_CHUNK_LEN >= B3_CHUNK_LEN) {
		ptrs[n] = in + n * B3_CHUNK_LEN;
		n++;
		if (n * B3_CHUNK_LEN == len)
			break;
	}
	be->hash_many(ptrs, n, B3_CHUNK_LEN / B3_BLOCK_LEN, key, counter, true, flags,
		      B3_CHUNK_START, B3_CHUNK_END, out);
	if (len > n * B3_CHUNK_LEN) {
		cairn_blake3_chunk_state cs;
		b3_output o;

		chunk_init(&cs, key, counter + n, flags);
		chunk_update(&cs, in + n * B3_CHUNK_LEN, len - n * B3_CHUNK_LEN);
		o = chunk_output(&cs);
		output_cv(&o, out + n * B3_OUT_LEN);
		n++;
	}
	return n;
}

/* Combine pairs of CVs into parent CVs; an odd last CV passes through. */
static size_t compress_parents(const b3_backend *be, const uint8_t *cvs, size_t n,
			       const uint32_t key[8], uint8_t flags, uint8_t *out)
{
	const uint8_t *ptrs[MAX_DEGREE];
	size_t pairs = n / 2;

	for (size_t i = 0; i < pairs; i++)
		ptrs[i] = cvs + 2 * i * B3_OUT_LEN;
	be->hash_many(ptrs, pairs, 1, key, 0, false, flags | B3_PARENT, 0, 0, out);
	if (n % 2) {
		memcpy(out + pairs * B3_OUT_LEN, cvs + (n - 1) * B3_OUT_LEN, B3_OUT_LEN);
		return pairs + 1;
	}
	return pairs;
}

/* Split point of a subtree: the largest power-of-two number of chunks
 * strictly less than the whole. */
static size_t left_len(size_t len)
{
	size_t full_chunks = (len - 1) / B3_CHUNK_LEN;
	return (size_t)round_down_pow2(full_chunks) * B3_CHUNK_LEN;
}

/*
 * Compress a subtree of len bytes (a power-of-two number of chunks unless it
 * is the end of the input) down to at most `degree` CVs, but at least two
 * when it has more than one chunk. Returns the number written to out.
 */
static size_t compress_subtree_wide(const b3_backend *be, const uint8_t *in, size_t len,
				    const uint32_t key[8], uint64_t counter, uint8_t flags,
				    uint8_t *out)
{
	size_t degree = be->degree;
	uint8_t cvs[2 * MAX_DEGREE * B3_OUT_LEN];
	size_t ll, rl, nl, nr;

	if (len <= degree * B3_CHUNK_LEN)
		return compress_chunks(be, in, len, key, counter, flags, out);

	ll = left_len(len);
	rl = len - ll;
	if (degree < 2)
		degree = 2;
	nl = compress_subtree_wide(be, in, ll, key, counter, flags, cvs);
	nr = compress_subtree_wide(be, in + ll, rl, key, counter + ll / B3_CHUNK_LEN, flags,
				   cvs + degree * B3_OUT_LEN);
	if (nl == 1) {
		/* only with degree 1: the two CVs are the answer */
		memcpy(out, cvs, B3_OUT_LEN);
		memcpy(out + B3_OUT_LEN, cvs + degree * B3_OUT_LEN, B3_OUT_LEN);
		return 2;
	}
	if (nl < degree)
		memmove(cvs + nl * B3_OUT_LEN, cvs + degree * B3_OUT_LEN, nr * B3_OUT_LEN);
	return compress_parents(be, cvs, nl + nr, key, flags, out);
}

/* Reduce a subtree of more than one chunk to exactly two CVs (a parent
 * block) without finalizing it: its root may not be the hash root. */
static void compress_subtree_to_parent(const b3_backend *be, const uint8_t *in, size_t len,
				       const uint32_t key[8], uint64_t counter, uint8_t flags,
				       uint8_t out[2 * B3_OUT_LEN])
{
	uint8_t cvs[MAX_DEGREE * B3_OUT_LEN * 2];
	uint8_t tmp[MAX_DEGREE * B3_OUT_LEN];
	size_t n = compress_subtree_wide(be, in, len, key, counter, flags, cvs);

	while (n > 2) {
		n = compress_parents(be, cvs, n, key, flags, tmp);
		memcpy(cvs, tmp, n * B3_OUT_LEN);
	}
	memcpy(out, cvs, 2 * B3_OUT_LEN);
}

/* --- hasher ------------------------------------------------------------- */

static void hasher_init(cairn_blake3_hasher *self, const uint32_t key[8], uint8_t flags)
{
	memcpy(self->key, key, sizeof(self->key));
	chunk_init(&self->chunk, key, 0, flags);
	self->cv_stack_len = 0;
}

void cairn_blake3_init(cairn_blake3_hasher *self)
{
	hasher_init(self, cairn__b3_iv, 0);
}

void cairn_blake3_init_keyed(cairn_blake3_hasher *self, const uint8_t key[CAIRN_BLAKE3_KEY_LEN])
{
	uint32_t kw[8];

	key_words(kw, key);
	hasher_init(self, kw, B3_KEYED_HASH);
}

void cairn_blake3_init_derive_key_raw(cairn_blake3_hasher *self, const void *context,
				      size_t context_len)
{
	cairn_blake3_hasher ctx;
	uint8_t ctx_key[B3_KEY_LEN];
	uint32_t kw[8];

	hasher_init(&ctx, cairn__b3_iv, B3_DERIVE_KEY_CONTEXT);
	cairn_blake3_update(&ctx, context, context_len);
	cairn_blake3_finalize(&ctx, ctx_key, sizeof(ctx_key));
	key_words(kw, ctx_key);
	hasher_init(self, kw, B3_DERIVE_KEY_MATERIAL);
}

void cairn_blake3_init_derive_key(cairn_blake3_hasher *self, const char *context)
{
	cairn_blake3_init_derive_key_raw(self, context, strlen(context));
}

void cairn_blake3_reset(cairn_blake3_hasher *self)
{
	chunk_init(&self->chunk, self->key, 0, self->chunk.flags);
	self->cv_stack_len = 0;
}

/*
 * Lazy merging: the stack holds one CV per set bit of the number of chunks
 * completed so far, except that merging is deferred until more input shows
 * the newest CV is not the root. Merge until the stack matches popcount.
 */
static void merge_cv_stack(cairn_blake3_hasher *self, uint64_t total_chunks)
{
	size_t target = (size_t)__builtin_popcountll(total_chunks);

	while (self->cv_stack_len > target) {
		uint8_t *pair = self->cv_stack + (self->cv_stack_len - 2) * B3_OUT_LEN;
		b3_output o = parent_output(pair, self->key, self->chunk.flags);
		output_cv(&o, pair);
		self->cv_stack_len--;
	}
}

static void push_cv(cairn_blake3_hasher *self, const uint8_t cv[B3_OUT_LEN], uint64_t counter)
{
	merge_cv_stack(self, counter);
	memcpy(self->cv_stack + self->cv_stack_len * B3_OUT_LEN, cv, B3_OUT_LEN);
	self->cv_stack_len++;
}

void cairn_blake3_update(cairn_blake3_hasher *self, const void *input, size_t len)
{
	const b3_backend *be = cairn__b3_backend();
	const uint8_t *in = input;

	if (len == 0)
		return;

	if (chunk_len(&self->chunk) > 0) {
		size_t take = B3_CHUNK_LEN - chunk_len(&self->chunk);
		if (take > len)
			take = len;
		chunk_update(&self->chunk, in, take);
		in += take;
		len -= take;
		if (len == 0)
			return;
		/* the chunk is complete and more input follows: not the root */
		{
			uint8_t cv[B3_OUT_LEN];
			b3_output o = chunk_output(&self->chunk);
			output_cv(&o, cv);
			push_cv(self, cv, self->chunk.chunk_counter);
			chunk_init(&self->chunk, self->key, self->chunk.chunk_counter + 1,
				   self->chunk.flags);
		}
	}

	/* whole subtrees, always keeping at least one byte for the last chunk */
	while (len > B3_CHUNK_LEN) {
		uint64_t sub = round_down_pow2(len);
		uint64_t done = self->chunk.chunk_counter * B3_CHUNK_LEN;
		uint64_t chunks;

		while (((sub - 1) & done) != 0)
			sub /= 2;
		chunks = sub / B3_CHUNK_LEN;
		if (sub <= B3_CHUNK_LEN) {
			cairn_blake3_chunk_state cs;
			uint8_t cv[B3_OUT_LEN];
			b3_output o;

			chunk_init(&cs, self->key, self->chunk.chunk_counter, self->chunk.flags);
			chunk_update(&cs, in, (size_t)sub);
			o = chunk_output(&cs);
			output_cv(&o, cv);
			push_cv(self, cv, cs.chunk_counter);
		} else {
			uint8_t pair[2 * B3_OUT_LEN];

			compress_subtree_to_parent(be, in, (size_t)sub, self->key,
						   self->chunk.chunk_counter, self->chunk.flags,
						   pair);
			push_cv(self, pair, self->chunk.chunk_counter);
			push_cv(self, pair + B3_OUT_LEN, self->chunk.chunk_counter + chunks / 2);
		}
		self->chunk.chunk_counter += chunks;
		in += sub;
		len -= (size_t)sub;
	}

	if (len > 0) {
		chunk_update(&self->chunk, in, len);
		merge_cv_stack(self, self->chunk.chunk_counter);
	}
}

void cairn_blake3_finalize_seek(const cairn_blake3_hasher *self, uint64_t seek, uint8_t *out,
				size_t out_len)
{
	b3_output o;
	size_t remaining;

	if (out_len == 0)
		return;
	if (self->cv_stack_len == 0) {
		o = chunk_output(&self->chunk);
		output_root_bytes(&o, seek, out, out_len);
		return;
	}
	if (chunk_len(&self->chunk) > 0) {
		o = chunk_output(&self->chunk);
		remaining = self->cv_stack_len;
	} else {
		/* input ended on a subtree boundary: the top two CVs pair up */
		remaining = self->cv_stack_len - 2u;
		o = parent_output(self->cv_stack + remaining * B3_OUT_LEN, self->key,
				  self->chunk.flags);
	}
	while (remaining > 0) {
		uint8_t block[B3_BLOCK_LEN];

		remaining--;
		memcpy(block, self->cv_stack + remaining * B3_OUT_LEN, B3_OUT_LEN);
		output_cv(&o, block + B3_OUT_LEN);
		o = parent_output(block, self->key, self->chunk.flags);
	}
	output_root_bytes(&o, seek, out, out_len);
}

void cairn_blake3_finalize(const cairn_blake3_hasher *self, uint8_t *out, size_t out_len)
{
	cairn_blake3_finalize_seek(self, 0, out, out_len);
}

void cairn_blake3_keyed_hash(uint8_t out[CAIRN_BLAKE3_OUT_LEN],
			     const uint8_t key[CAIRN_BLAKE3_KEY_LEN], const void *input, size_t len)
{
	cairn_blake3_hasher h;

	cairn_blake3_init_keyed(&h, key);
	cairn_blake3_update(&h, input, len);
	cairn_blake3_finalize(&h, out, CAIRN_BLAKE3_OUT_LEN);
}
