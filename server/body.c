/*
 * body.c - the native API's JSON request bodies, read and checked (see
 * body.h). http.c hands each body here whole once it has arrived (capped
 * by its route) and acts only on what comes back.
 */
#include "body.h"

#include "cairn/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- bucket settings ---- */

int cairn__body_private(const char *body, size_t len)
{
	json_t *v, *p;
	int res = -1;

	if (len == 0)
		return -1;
	v = json_loadb(body, len, 0, NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		return -2;
	}
	p = json_object_get(v, "private");
	if (p != NULL)
		res = json_is_boolean(p) ? json_is_true(p) : -2;
	json_decref(v);
	return res;
}

int cairn__body_regions(const char *body, size_t len, char out[CAIRN_REGIONS_MAX + 1],
			const char **why, cairn__region_known_fn known, void *ctx)
{
	static _Thread_local char msg[CAIRN_NAME_MAX + 64];
	json_t *v = json_loadb(body ? body : "", len, 0, NULL), *arr, *e;
	size_t i, at = 0;
	int rc = 1;

	out[0] = '\0';
	arr = json_object_get(v, "regions");
	if (arr == NULL) {
		json_decref(v);
		return 0;
	}
	*why = "\"regions\" is a list of region names";
	if (!json_is_array(arr))
		rc = CAIRN_EINVALID;
	json_array_foreach(arr, i, e) {
		const char *name = json_string_value(e), *p;
		size_t n = name ? strlen(name) : 0;
		bool dup = false;

		if (rc != 1)
			break;
		if (n == 0 || n > CAIRN_NAME_MAX || strchr(name, ',') != NULL) {
			rc = CAIRN_EINVALID;
			break;
		}
		for (p = out; *p != '\0'; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
			dup |= strcspn(p, ",") == n && memcmp(p, name, n) == 0;
		if (dup)
			continue;
		if ((rc = known(ctx, name)) != 0) {
			snprintf(msg, sizeof(msg), "no region %s (cairn admin regions list)", name);
			*why = msg;
			rc = rc == CAIRN_ENOTFOUND ? CAIRN_EINVALID : rc;
			break;
		}
		rc = 1;
		if (at + n + (at > 0) > CAIRN_REGIONS_MAX) {
			*why = "too many regions";
			rc = CAIRN_EINVALID;
			break;
		}
		at += (size_t)snprintf(out + at, CAIRN_REGIONS_MAX + 1 - at, "%s%s", at ? "," : "",
				       name);
	}
	json_decref(v);
	return rc;
}

/* ---- the dedup query, pre-warming ---- */

int cairn__body_chunks(const char *body, size_t len, cairn_hash **out, size_t *n,
		       const char **why)
{
	json_t *v = json_loadb(body ? body : "", len, 0, NULL);
	json_t *arr = json_object_get(v, "chunks");
	cairn_hash *hashes;
	size_t k;

	if (!json_is_array(arr) || json_array_size(arr) > CAIRN__QUERY_MAX) {
		json_decref(v);
		*why = "body must be {\"chunks\": [hash, ...]} with at most 8192 hashes";
		return CAIRN_EINVALID;
	}
	k = json_array_size(arr);
	if ((hashes = malloc((k ? k : 1) * sizeof(*hashes))) == NULL) {
		json_decref(v);
		return CAIRN_ENOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		if (s == NULL || cairn_hash_from_hex(&hashes[i], s, strlen(s)) != 0) {
			json_decref(v);
			free(hashes);
			*why = "chunks must be 64-hex-digit hashes";
			return CAIRN_EINVALID;
		}
	}
	json_decref(v);
	*out = hashes;
	*n = k;
	return 0;
}

int cairn__body_prewarm(const char *body, size_t len, json_t **v, const char **prefix,
			const char **region)
{
	*prefix = "";
	*region = NULL;
	*v = json_loadb(body ? body : "", len, 0, NULL);
	if (*v == NULL || json_unpack(*v, "{s?s,s:s}", "prefix", prefix, "region", region) != 0) {
		json_decref(*v);
		*v = NULL;
		return CAIRN_EINVALID;
	}
	return 0;
}

/* ---- batches ---- */

static int b64v(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Standard, padded base64 into a malloc'd buffer; -1 if malformed. */
static long b64_decode(const char *s, size_t n, uint8_t **out)
{
	uint8_t *o;
	size_t k = 0;

	if (n % 4 != 0)
		return -1;
	o = malloc(n / 4 * 3 + 1);
	if (o == NULL)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			if (s[i + j] == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
			} else if ((v[j] = b64v((unsigned char)s[i + j])) < 0 || pad) {
				free(o);
				return -1;
			}
		}
		o[k++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			o[k++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		if (pad < 1)
			o[k++] = (uint8_t)(v[2] << 6 | v[3]);
	}
	*out = o;
	return (long)k;
}

static bool u64_member(json_t *o, const char *k, uint64_t *out, bool required)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL)
		return !required;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* A path member: a key the engine accepts (decoded already: JSON carries it as text). */
static bool path_member(json_t *o, const char *k, char *out, size_t *len)
{
	const char *s = json_string_value(json_object_get(o, k));
	size_t n = s ? json_string_length(json_object_get(o, k)) : 0;

	if (!cairn_key_valid(s, n))
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	*len = n;
	return true;
}

/*
 * Is text one flat JSON object (no nested object or array)? Checked before
 * parsing: a parser's tree of many small values costs many times their
 * text, and no operation needs one.
 */
static bool flat_object(const char *text, size_t len)
{
	bool in_str = false;
	int braces = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = text[i];
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '[' || (ch == '{' && ++braces > 1)) {
			return false;
		}
	}
	return true;
}

/* Parse line text into l. NULL, or what is wrong with it. */
static const char *parse_line(cairn__batch_line *l, const char *text, size_t len, const char *ns,
			      const char *name)
{
	json_t *v;
	const char *op, *s;
	cairn_batch_op *o = &l->op;

	if (!flat_object(text, len))
		return "each line is one flat JSON object (no nested objects or arrays)";
	v = json_loadb(text, len, 0, NULL);
	l->json = v;
	if (!json_is_object(v))
		return "not a JSON object";
	op = json_string_value(json_object_get(v, "op"));
	if (op == NULL)
		return "no \"op\"";
	if (!path_member(v, "path", l->key, &o->key_len))
		return "\"path\" must be a key of 1 to 1024 bytes, without empty, \".\" or \"..\" "
		       "segments";
	o->key = l->key;
	if (strcmp(op, "delete") == 0) {
		o->type = CAIRN_OP_DELETE;
		return NULL;
	}
	if (strcmp(op, "copy") == 0) {
		const char *sb = json_string_value(json_object_get(v, "src_bucket"));
		const char *slash;
		o->type = CAIRN_OP_COPY;
		if (sb == NULL) {
			snprintf(l->src_ns, sizeof(l->src_ns), "%s", ns);
			snprintf(l->src_name, sizeof(l->src_name), "%s", name);
		} else if ((slash = strchr(sb, '/')) == NULL ||
			   (size_t)(slash - sb) > CAIRN_NAME_MAX || strlen(slash + 1) > CAIRN_NAME_MAX ||
			   slash == sb || slash[1] == '\0') {
			return "\"src_bucket\" must be NS/NAME";
		} else {
			memcpy(l->src_ns, sb, (size_t)(slash - sb));
			l->src_ns[slash - sb] = '\0';
			snprintf(l->src_name, sizeof(l->src_name), "%s", slash + 1);
		}
		o->src_ns = l->src_ns;
		o->src_name = l->src_name;
		s = json_string_value(json_object_get(v, "src_path"));
		if (!cairn_key_valid(s, s ? json_string_length(json_object_get(v, "src_path")) : 0))
			return "\"src_path\" must be a key (as \"path\")";
		o->src_key = s;
		o->src_key_len = json_string_length(json_object_get(v, "src_path"));
		return NULL;
	}
	if (strcmp(op, "add") == 0) {
		json_t *ch = json_object_get(v, "chunks");
		uint64_t mt = 0;
		o->type = CAIRN_OP_ADD;
		s = json_string_value(json_object_get(v, "hash"));
		if (s == NULL || cairn_hash_from_hex(&o->file, s, strlen(s)) != 0)
			return "\"hash\" must be a 64-hex-digit file hash";
		if (!u64_member(v, "size", &o->size, true))
			return "\"size\" must be a byte count";
		if (json_is_integer(json_object_get(v, "mtime_ns")))
			o->mtime_ns = (int64_t)json_integer_value(json_object_get(v, "mtime_ns"));
		else if (!u64_member(v, "mtime_ns", &mt, false))
			return "\"mtime_ns\" must be an integer";
		if (ch != NULL) {
			uint8_t *raw = NULL;
			long k;
			if (!json_is_string(ch))
				return "\"chunks\" must be base64 text";
			k = b64_decode(json_string_value(ch), json_string_length(ch), &raw);
			if (k < 0 || k % 40 != 0) {
				free(raw);
				return "\"chunks\" must be base64 of 40 bytes per chunk";
			}
			o->nchunks = (size_t)k / 40;
			l->chunks = malloc((o->nchunks ? o->nchunks : 1) * sizeof(*l->chunks));
			if (l->chunks == NULL) {
				free(raw);
				return "out of memory";
			}
			for (size_t i = 0; i < o->nchunks; i++) {
				uint64_t n = 0;
				memcpy(l->chunks[i].hash.bytes, raw + 40 * i, 32);
				for (int b = 7; b >= 0; b--)
					n = n << 8 | raw[40 * i + 32 + b];
				l->chunks[i].len = n;
			}
			free(raw);
			o->chunks = l->chunks;
		}
		return NULL;
	}
	return "\"op\" must be add, copy or delete";
}

/*
 * The line of body at *i (its text and length, without the newline); *i
 * moves past it. Returns whether it is blank (spaces, tabs, CR only).
 */
static bool next_line(const char *body, size_t body_len, size_t *i, const char **text,
		      size_t *len)
{
	const char *p = body + *i, *nl = memchr(p, '\n', body_len - *i);
	size_t n = nl ? (size_t)(nl - p) : body_len - *i;
	bool blank = true;

	for (size_t k = 0; k < n && blank; k++)
		blank = p[k] == ' ' || p[k] == '\r' || p[k] == '\t';
	*text = p;
	*len = n;
	*i += n + 1;
	return blank;
}

int cairn__batch_read(cairn__batch *b, const char *body, size_t len, const char *ns,
		      const char *name, char *msg, size_t msgcap)
{
	const char *why = NULL;
	size_t n = 0, at = 0;

	memset(b, 0, sizeof(*b));
	/* count the lines first: one allocation, and the ceiling before any work */
	for (size_t i = 0; i < len; i++)
		if (body[i] == '\n' || i + 1 == len)
			n++;
	if (n > CAIRN__BATCH_LINES)
		return CAIRN_ETOOBIG;
	b->lines = calloc(n ? n : 1, sizeof(*b->lines));
	b->ops = calloc(n ? n : 1, sizeof(*b->ops));
	if (b->lines == NULL || b->ops == NULL)
		return CAIRN_ENOMEM;
	for (size_t i = 0; i < len && why == NULL;) {
		const char *text;
		size_t tl;
		at++;
		if (!next_line(body, len, &i, &text, &tl)) {
			why = parse_line(&b->lines[b->n], text, tl, ns, name);
			b->ops[b->n] = b->lines[b->n].op;
			b->n++;
		}
	}
	if (why != NULL) {
		snprintf(msg, msgcap, "line %zu: %s", at, why);
		return CAIRN_EINVALID;
	}
	return 0;
}

void cairn__batch_free(cairn__batch *b)
{
	for (size_t i = 0; b->lines && i < b->n; i++) {
		json_decref(b->lines[i].json);
		free(b->lines[i].chunks);
	}
	free(b->lines);
	free(b->ops);
	memset(b, 0, sizeof(*b));
}

size_t cairn__batch_line_of(const char *body, size_t len, size_t op)
{
	size_t line = 0, seen = 0;

	for (size_t i = 0; i < len && seen <= op;) {
		const char *text;
		size_t tl;
		line++;
		seen += !next_line(body, len, &i, &text, &tl);
	}
	return line;
}
