/*
 * region.c - the origin's side of regions (region.h): the pre-warm job a
 * cache node runs (which xorbs, in which order, and when each file counts
 * as staged), the signed requests to a node, and keep-warm: objects
 * committed to a bucket with regions are staged on those nodes by a
 * background thread, as unpinned jobs.
 *
 * The put hook runs inside a writing transaction, so it only queues
 * (bucket, file) in memory and wakes the thread; the thread waits a
 * moment (so a burst of commits becomes one job per region), reads the
 * buckets' regions and sends each region one job. A node that cannot be
 * reached is tried again, with a growing pause, until it answers or the
 * server stops: the queue is memory only (keep-warm is a cache, not a
 * promise; a pre-warm is the guarantee).
 */
#include "region.h"
#include "cache.h"
#include "server_int.h"

#include "cairn/errors.h"
#include "cairn/sys/meta.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define QUEUE_MAX 100000 /* pushes waiting; beyond it new ones are dropped (and counted) */
#define BATCH_WAIT_MS 300
#define RETRY_MAX_S 30

/* ---- the job -------------------------------------------------------------------------------- */

typedef struct hash_list {
	cairn_hash *h;
	size_t n, cap;
} hash_list;

static int list_add(hash_list *l, const cairn_hash *h)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		cairn_hash *nh = realloc(l->h, cap * sizeof(*nh));
		if (nh == NULL)
			return CAIRN_ENOMEM;
		l->h = nh;
		l->cap = cap;
	}
	l->h[l->n++] = *h;
	return 0;
}

typedef struct seq_hash {
	cairn_hash h;
	size_t seq;
} seq_hash;

static int cmp_seq_hash(const void *a, const void *b)
{
	const seq_hash *x = a, *y = b;
	int c = memcmp(&x->h, &y->h, sizeof(cairn_hash));

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * The job's order over terms t[0..n) (file f's terms end at ends[f]):
 * each xorb once, where it is first needed, so the node stages file after
 * file. first[i] == i marks the terms whose xorb enters the order there;
 * last[f] is the position of the last xorb file f needs (-1: none), so the
 * node counts file f staged once every xorb up to it is.
 */
static int job_order(const hash_list *t, const size_t *ends, size_t files, size_t *first,
		     long long *last)
{
	size_t *rank = NULL, unique = 0;
	seq_hash *p = NULL;

	if (t->n > 0 && ((p = malloc(t->n * sizeof(*p))) == NULL ||
			 (rank = malloc(t->n * sizeof(size_t))) == NULL)) {
		free(p);
		return CAIRN_ENOMEM;
	}
	for (size_t i = 0; i < t->n; i++) {
		p[i].h = t->h[i];
		p[i].seq = i;
	}
	if (t->n > 1)
		qsort(p, t->n, sizeof(*p), cmp_seq_hash);
	for (size_t i = 0, g = 0; i < t->n; i++) {
		if (i > 0 && !cairn_hash_equal(&p[i].h, &p[i - 1].h))
			g = i;
		first[p[i].seq] = p[g].seq; /* the group's smallest seq sorts first */
	}
	for (size_t i = 0; i < t->n; i++)
		if (first[i] == i)
			rank[i] = unique++;
	for (size_t i = 0; i < t->n; i++)
		rank[i] = rank[first[i]];
	for (size_t f = 0, b = 0; f < files; b = ends[f++]) {
		long long m = -1;
		for (size_t i = b; i < ends[f]; i++)
			if ((long long)rank[i] > m)
				m = (long long)rank[i];
		last[f] = m;
	}
	free(p);
	free(rank);
	return 0;
}

int cairn__region_job(cairn_repo *repo, cairn_meta *meta, const cairn_caller *who,
		      const cairn_hash *files, size_t nfiles, uint64_t logical, const char *bucket,
		      const char *prefix, bool pin, char job[33], char **body)
{
	hash_list terms = {0};
	size_t *ends = NULL, *first = NULL;
	long long *last = NULL;
	json_t *xs = NULL, *fe = NULL, *jb = NULL;
	uint8_t rnd[16];
	int rc = CAIRN_ENOMEM;

	*body = NULL;
	if (nfiles > 0 && (ends = malloc(nfiles * sizeof(size_t))) == NULL)
		goto out;
	for (size_t f = 0; f < nfiles; f++) {
		cairn_recon_term *t = NULL;
		uint64_t size;
		size_t n = 0;

		rc = cairn_file_reconstruct(repo, who, &files[f], &size, &t, &n);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = list_add(&terms, &t[i].xorb);
		free(t);
		if (rc != 0)
			goto out;
		ends[f] = terms.n;
	}
	rc = CAIRN_ENOMEM;
	if ((terms.n > 0 && (first = malloc(terms.n * sizeof(size_t))) == NULL) ||
	    (nfiles > 0 && (last = malloc(nfiles * sizeof(long long))) == NULL) ||
	    (xs = json_array()) == NULL || (fe = json_array()) == NULL)
		goto out;
	if ((rc = job_order(&terms, ends, nfiles, first, last)) != 0)
		goto out;
	for (size_t i = 0; i < terms.n; i++) {
		cairn_xorb_row row;
		char hex[CAIRN_HASH_HEX_LEN + 1];

		if (first[i] != i)
			continue;
		if ((rc = meta->xorb_get(meta, &terms.h[i], &row)) != 0)
			goto out;
		cairn_hash_to_hex(hex, &terms.h[i]);
		rc = CAIRN_ENOMEM;
		if (json_array_append_new(xs, json_pack("[s,I]", hex, (json_int_t)row.stored)) != 0)
			goto out;
	}
	rc = CAIRN_ENOMEM;
	for (size_t f = 0; f < nfiles; f++)
		if (json_array_append_new(fe, json_integer(last[f])) != 0)
			goto out;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		rc = CAIRN_EIO;
		goto out;
	}
	for (size_t i = 0; i < 16; i++)
		snprintf(job + 2 * i, 3, "%02x", rnd[i]);
	jb = json_pack("{s:s,s:s,s:s,s:I,s:I,s:b,s:O,s:O}", "job", job, "bucket", bucket, "prefix",
		       prefix, "files", (json_int_t)nfiles, "logical_bytes", (json_int_t)logical,
		       "pin", pin, "xorbs", xs, "file_ends", fe);
	*body = jb ? json_dumps(jb, JSON_COMPACT) : NULL;
	rc = *body ? 0 : CAIRN_ENOMEM;
out:
	json_decref(jb);
	json_decref(xs);
	json_decref(fe);
	free(terms.h);
	free(ends);
	free(first);
	free(last);
	return rc;
}

/* ---- requests to a node -------------------------------------------------------------------- */

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	return fwrite(p, size, n, (FILE *)ctx) * size;
}

int cairn__node_request(const char *url, const char *method, const char *body, size_t len,
			const char *exp, const char *sig, long *status, char **answer)
{
	struct curl_slist *hdr = NULL;
	char h1[64], h2[96];
	size_t alen = 0;
	FILE *f = open_memstream(answer, &alen);
	CURL *h = curl_easy_init();
	CURLcode cc = CURLE_FAILED_INIT;

	*status = 0;
	if (f == NULL || h == NULL) {
		if (f) {
			fclose(f);
			free(*answer);
		}
		*answer = NULL;
		curl_easy_cleanup(h);
		return -1;
	}
	if (exp != NULL && *exp != '\0') {
		snprintf(h1, sizeof(h1), "X-Cairn-Exp: %s", exp);
		snprintf(h2, sizeof(h2), "X-Cairn-Sig: %s", sig);
		hdr = curl_slist_append(hdr, h1);
		hdr = curl_slist_append(hdr, h2);
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdr);
	fclose(f);
	if (cc != CURLE_OK) {
		fprintf(stderr, "region node %s: %s\n", url, curl_easy_strerror(cc));
		free(*answer);
		*answer = NULL;
		return -1;
	}
	return 0;
}

/* base + path, without base's trailing slashes. */
static void node_url(char *out, size_t cap, const char *base, const char *path)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	snprintf(out, cap, "%.*s%s", (int)n, base, path);
}

int cairn__region_post_job(const char *base, const uint8_t key[32], const char *body,
			   long *status, char **answer)
{
	char url[CAIRN_REGION_URL_MAX + 32], digest[65], exp[24], mac[65];

	cairn__body_digest(digest, body, strlen(body));
	snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + 300);
	cairn__region_sign(mac, key, "job", digest, exp);
	node_url(url, sizeof(url), base, "/v1/prewarm");
	return cairn__node_request(url, "POST", body, strlen(body), exp, mac, status, answer);
}

/* ---- keep-warm -------------------------------------------------------------------------------- */

typedef struct push {
	int64_t bucket;
	cairn_hash file;
	unsigned tries; /* rounds it was not found in (its commit may not have landed yet) */
} push;

static struct {
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_t thread;
	bool started, stop;
	atomic_bool any; /* some bucket has regions: the hook queues */
	push *q;
	size_t n, cap;
} k = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static atomic_uint_fast64_t m_jobs, m_errors, m_dropped;

void cairn__warm_put(void *ctx, int64_t bucket, const cairn_hash *file)
{
	(void)ctx;
	if (!atomic_load(&k.any))
		return;
	pthread_mutex_lock(&k.mu);
	if (k.n == k.cap && k.cap < QUEUE_MAX) {
		size_t cap = k.cap ? 2 * k.cap : 64;
		push *nq = realloc(k.q, cap * sizeof(*nq));
		if (nq != NULL) {
			k.q = nq;
			k.cap = cap;
		}
	}
	if (k.n < k.cap) {
		k.q[k.n].bucket = bucket;
		k.q[k.n].file = *file;
		k.q[k.n].tries = 0;
		k.n++;
		pthread_cond_signal(&k.wake);
	} else {
		atomic_fetch_add(&m_dropped, 1);
	}
	pthread_mutex_unlock(&k.mu);
}

static int any_regions(void *ctx, const cairn_bucket_row *b)
{
	if (b->regions[0] != '\0')
		*(bool *)ctx = true;
	return 0;
}

void cairn__warm_settings_changed(void)
{
	cairn_repo *repo;
	cairn_meta *meta;
	bool any = false;

	if (cairn__worker(&repo, &meta) != 0 || meta->bucket_list(meta, NULL, any_regions, &any) != 0)
		any = true; /* when unsure, queue: the thread reads each bucket again */
	atomic_store(&k.any, any);
}

static int cmp_push(const void *a, const void *b)
{
	const push *x = a, *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return memcmp(&x->file, &y->file, sizeof(cairn_hash));
}

/*
 * Send one bucket's new files to each of its regions. Returns 0,
 * CAIRN_ENOTFOUND (some file is not known: a commit not landed yet, or
 * rolled back) or CAIRN_EIO (some node could not take the job).
 */
static int push_bucket(cairn_repo *repo, cairn_meta *meta, const push *p, size_t n)
{
	const cairn_caller admin = {.ns = NULL, .admin = true, .writer = true};
	char bname[2 * CAIRN_NAME_MAX + 2], url[CAIRN_REGION_URL_MAX + 1], job[33];
	cairn_hash *files = malloc(n * sizeof(cairn_hash));
	cairn_bucket_row b;
	const char *r;
	int result = 0;

	if (files == NULL)
		return CAIRN_EIO;
	if (meta->bucket_get_by_id(meta, p[0].bucket, &b) != 0 || b.regions[0] == '\0') {
		free(files); /* deleted, or no regions any more */
		return 0;
	}
	snprintf(bname, sizeof(bname), "%s/%s", b.ns, b.name);
	for (size_t i = 0; i < n; i++)
		files[i] = p[i].file;
	for (r = b.regions; *r != '\0' && result != CAIRN_ENOTFOUND;
	     r += strcspn(r, ",") + (r[strcspn(r, ",")] == ',')) {
		char name[CAIRN_NAME_MAX + 1], *body = NULL, *answer = NULL;
		size_t nl = strcspn(r, ",");
		uint8_t key[32];
		long status = 0;
		int rc;

		snprintf(name, sizeof(name), "%.*s", (int)nl, r);
		if (meta->region_get(meta, name, url, key) != 0)
			continue; /* removed since: nothing to keep warm there */
		rc = cairn__region_job(repo, meta, &admin, files, n, 0, bname, "", false, job, &body);
		if (rc == CAIRN_ENOTFOUND) {
			result = rc;
		} else if (rc == 0 && cairn__region_post_job(url, key, body, &status, &answer) == 0 &&
			   status == 202) {
			atomic_fetch_add(&m_jobs, 1);
		} else {
			atomic_fetch_add(&m_errors, 1);
			fprintf(stderr, "keep-warm: %s to region %s: %s\n", bname, name,
				rc != 0 ? cairn_error_name(rc)
				: status ? "the node refused the job" : "the node cannot be reached");
			result = CAIRN_EIO;
		}
		free(body);
		free(answer);
	}
	free(files);
	return result;
}

/* Push p[0..n) (one bucket's); what must be tried again is moved to keep[*kept...]. */
static void push_group(cairn_repo *repo, cairn_meta *meta, push *p, size_t n, push *keep,
		       size_t *kept)
{
	int rc = push_bucket(repo, meta, p, n);

	if (rc == CAIRN_ENOTFOUND && n > 1) {
		for (size_t i = 0; i < n; i++)
			push_group(repo, meta, &p[i], 1, keep, kept);
		return;
	}
	if (rc == 0 || (rc == CAIRN_ENOTFOUND && ++p[0].tries >= 5))
		return; /* sent, or never landed */
	memmove(&keep[*kept], p, n * sizeof(*p));
	*kept += n;
}

static void wait_ms(unsigned ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&k.wake, &k.mu, &until);
}

static void *warm_thread(void *arg)
{
	unsigned backoff = 1;
	cairn_repo *repo;
	cairn_meta *meta;

	(void)arg;
	pthread_mutex_lock(&k.mu);
	while (!k.stop) {
		push *batch;
		size_t n, kept = 0;

		if (k.n == 0) {
			wait_ms(2000);
			continue;
		}
		wait_ms(BATCH_WAIT_MS); /* let a burst of commits gather (and commit) */
		if (k.stop)
			break;
		batch = k.q;
		n = k.n;
		k.q = NULL;
		k.n = k.cap = 0;
		pthread_mutex_unlock(&k.mu);

		if (cairn__worker(&repo, &meta) != 0) {
			kept = n;
		} else {
			qsort(batch, n, sizeof(*batch), cmp_push);
			for (size_t i = 0, j; i < n; i = j) {
				size_t u = i;
				for (j = i + 1; j < n && batch[j].bucket == batch[i].bucket; j++)
					if (memcmp(&batch[j].file, &batch[u].file, sizeof(cairn_hash)))
						batch[++u] = batch[j]; /* drop repeats */
				push_group(repo, meta, &batch[i], u - i + 1, batch, &kept);
			}
		}

		pthread_mutex_lock(&k.mu);
		if (kept > 0) {
			/* put them back in front of what came meanwhile, and pause */
			push *nq = realloc(batch, (kept + k.n) * sizeof(*nq));
			if (nq != NULL) {
				memcpy(nq + kept, k.q, k.n * sizeof(*nq));
				free(k.q);
				k.q = nq;
				k.n += kept;
				k.cap = k.n;
				batch = NULL;
			}
			free(batch);
			wait_ms(backoff * 1000);
			backoff = backoff * 2 > RETRY_MAX_S ? RETRY_MAX_S : backoff * 2;
		} else {
			free(batch);
			backoff = 1;
		}
	}
	pthread_mutex_unlock(&k.mu);
	return NULL;
}

int cairn__warm_start(void)
{
	k.stop = false;
	cairn__warm_settings_changed();
	if (pthread_create(&k.thread, NULL, warm_thread, NULL) != 0) {
		fprintf(stderr, "cairn serve: cannot start the keep-warm thread: regions will not "
				"be kept warm\n");
		return CAIRN_EIO;
	}
	k.started = true;
	return 0;
}

void cairn__warm_stop(void)
{
	if (!k.started)
		return;
	pthread_mutex_lock(&k.mu);
	k.stop = true;
	pthread_cond_broadcast(&k.wake);
	pthread_mutex_unlock(&k.mu);
	pthread_join(k.thread, NULL);
	k.started = false;
	free(k.q);
	k.q = NULL;
	k.n = k.cap = 0;
}

void cairn__warm_metrics(FILE *f)
{
	fprintf(f,
		"# HELP cairn_keepwarm_jobs_total Keep-warm jobs sent to regions' cache nodes.\n"
		"# TYPE cairn_keepwarm_jobs_total counter\ncairn_keepwarm_jobs_total %" PRIu64 "\n"
		"# TYPE cairn_keepwarm_errors_total counter\ncairn_keepwarm_errors_total %" PRIu64
		"\n# TYPE cairn_keepwarm_dropped_total counter\ncairn_keepwarm_dropped_total %" PRIu64
		"\n",
		(uint64_t)atomic_load(&m_jobs), (uint64_t)atomic_load(&m_errors),
		(uint64_t)atomic_load(&m_dropped));
}
