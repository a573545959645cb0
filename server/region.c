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
#include <errno.h>
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
#define ANY_REFRESH_MS 5000 /* how soon a server sees regions another server set */
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

		rc = cairn_file_reconstruct_as(repo, who, &files[f], 0, &size, &t, &n);
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
		json_t *e;

		if (first[i] != i)
			continue;
		if ((rc = meta->xorb_get(meta, &terms.h[i], &row)) != 0)
			goto out;
		cairn_hash_to_hex(hex, &terms.h[i]);
		rc = CAIRN_ENOMEM;
		e = json_pack("[s,I]", hex, (json_int_t)row.stored);
		if (e != NULL && row.gen > 0) {
			/* recompressed: the node stages the form readers are sent to */
			cairn_hash_to_hex(hex, &row.name);
			if (json_array_append_new(e, json_string(hex)) != 0) {
				json_decref(e);
				goto out;
			}
		}
		if (json_array_append_new(xs, e) != 0)
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

typedef struct collected {
	FILE *f;
	size_t n;
} collected;

#define NODE_ANSWER_MAX ((size_t)1 << 20) /* a job's report; nothing a node says is bigger */

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	collected *c = ctx;

	if (size * n > NODE_ANSWER_MAX - c->n)
		return 0; /* too much: the transfer fails */
	c->n += size * n;
	return fwrite(p, size, n, c->f) * size;
}

int cairn__node_request(const char *url, const char *method, const char *body, size_t len,
			const char *exp, const char *sig, long *status, char **answer)
{
	struct curl_slist *hdr = NULL;
	char h1[64], h2[96];
	size_t alen = 0;
	FILE *f = open_memstream(answer, &alen);
	collected col = {f, 0};
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
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &col);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L); /* a job of many xorbs takes the node a while */
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

/*
 * One file to stage: for every region of its bucket (region[0] == '\0'),
 * or, after a failure, for the one region that did not take it.
 */
typedef struct push {
	int64_t bucket;
	cairn_hash file;
	int64_t since_ns; /* when it was queued: a file never found for a while is dropped */
	char region[CAIRN_NAME_MAX + 1];
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

#define NOT_FOUND_FOR_NS ((int64_t)30 * 1000000000) /* a commit that never landed */

static int64_t wall_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Append to the queue (k.mu held). False when it is full. */
static bool enqueue(const push *p)
{
	if (k.n == k.cap && k.cap < QUEUE_MAX) {
		size_t cap = k.cap ? 2 * k.cap : 64;
		push *nq;
		if (cap > QUEUE_MAX)
			cap = QUEUE_MAX;
		if ((nq = realloc(k.q, cap * sizeof(*nq))) != NULL) {
			k.q = nq;
			k.cap = cap;
		}
	}
	if (k.n == k.cap) {
		atomic_fetch_add(&m_dropped, 1);
		return false;
	}
	k.q[k.n++] = *p;
	return true;
}

void cairn__warm_put(void *ctx, int64_t bucket, const cairn_hash *file)
{
	push p = {bucket, *file, 0, ""};

	(void)ctx;
	if (!atomic_load(&k.any))
		return;
	p.since_ns = wall_ns();
	pthread_mutex_lock(&k.mu);
	if (enqueue(&p))
		pthread_cond_signal(&k.wake);
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
	int c;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	if ((c = strcmp(x->region, y->region)) != 0)
		return c;
	return memcmp(&x->file, &y->file, sizeof(cairn_hash));
}

/* What is to be tried again. */
typedef struct retry {
	push *p;
	size_t n, cap;
} retry;

static void retry_add(retry *rt, const push *p, const char *region)
{
	if (rt->n == rt->cap) {
		size_t cap = rt->cap ? 2 * rt->cap : 64;
		push *np = realloc(rt->p, cap * sizeof(*np));
		if (np == NULL) {
			atomic_fetch_add(&m_dropped, 1);
			return;
		}
		rt->p = np;
		rt->cap = cap;
	}
	rt->p[rt->n] = *p;
	if (region)
		snprintf(rt->p[rt->n].region, sizeof(rt->p[rt->n].region), "%s", region);
	rt->n++;
}

/*
 * Send p[0..n) (one bucket's files, all for the same region or all for
 * every region) as one job per region. What must be tried again goes to
 * rt, for the region that did not take it; a file not known after
 * NOT_FOUND_FOR_NS (its commit rolled back, or it was deleted since) is
 * dropped and counted.
 */
static void push_group(cairn_repo *repo, cairn_meta *meta, const push *p, size_t n, retry *rt)
{
	const cairn_caller admin = {.ns = NULL, .admin = true, .writer = true};
	char bname[2 * CAIRN_NAME_MAX + 2], url[CAIRN_REGION_URL_MAX + 1], job[33];
	cairn_hash *files;
	cairn_bucket_row b;
	const char *r;

	if (meta->bucket_get_by_id(meta, p[0].bucket, &b) != 0)
		return; /* deleted since */
	if ((files = malloc(n * sizeof(cairn_hash))) == NULL) {
		for (size_t i = 0; i < n; i++)
			retry_add(rt, &p[i], NULL);
		return;
	}
	snprintf(bname, sizeof(bname), "%s/%s", b.ns, b.name);
	for (size_t i = 0; i < n; i++)
		files[i] = p[i].file;
	for (r = b.regions; *r != '\0'; r += strcspn(r, ",") + (r[strcspn(r, ",")] == ',')) {
		char name[CAIRN_NAME_MAX + 1], *body = NULL, *answer = NULL;
		size_t nl = strcspn(r, ",");
		uint8_t key[32];
		long status = 0;
		int rc;

		snprintf(name, sizeof(name), "%.*s", (int)nl, r);
		if (p[0].region[0] != '\0' && strcmp(p[0].region, name) != 0)
			continue; /* a retry for another region */
		if (meta->region_get(meta, name, url, key) != 0)
			continue; /* removed since: nothing to keep warm there */
		rc = cairn__region_job(repo, meta, &admin, files, n, 0, bname, "", false, job, &body);
		if (rc == CAIRN_ENOTFOUND && n > 1) {
			/* some file is not there (yet): one job per file for this region */
			for (size_t i = 0; i < n; i++) {
				push one = p[i];
				snprintf(one.region, sizeof(one.region), "%s", name);
				push_group(repo, meta, &one, 1, rt);
			}
		} else if (rc == CAIRN_ENOTFOUND) {
			if (wall_ns() - p[0].since_ns < NOT_FOUND_FOR_NS) {
				retry_add(rt, &p[0], name);
			} else {
				atomic_fetch_add(&m_dropped, 1);
			}
		} else if (rc == 0 && cairn__region_post_job(url, key, body, &status, &answer) == 0 &&
			   status == 202) {
			atomic_fetch_add(&m_jobs, 1);
		} else {
			atomic_fetch_add(&m_errors, 1);
			fprintf(stderr, "keep-warm: %s to region %s: %s\n", bname, name,
				rc != 0 ? cairn_error_name(rc)
				: status ? "the node refused the job" : "the node cannot be reached");
			for (size_t i = 0; i < n; i++) /* this region again, later */
				retry_add(rt, &p[i], name);
		}
		free(body);
		free(answer);
	}
	free(files);
}

/* Wait (k.mu held) until deadline or a stop; puts meanwhile do not cut it short. */
static void wait_until(const struct timespec *deadline)
{
	while (!k.stop && pthread_cond_timedwait(&k.wake, &k.mu, deadline) != ETIMEDOUT)
		;
}

static struct timespec after_ms(unsigned ms)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static void *warm_thread(void *arg)
{
	unsigned backoff = 1;
	cairn_repo *repo;
	cairn_meta *meta;

	(void)arg;
	pthread_mutex_lock(&k.mu);
	while (!k.stop) {
		struct timespec until;
		retry rt = {NULL, 0, 0};
		push *batch;
		size_t n;

		if (k.n == 0) {
			/* idle: every few seconds, read again whether any bucket has regions
			 * (another server on the same metadata may have set some) */
			until = after_ms(ANY_REFRESH_MS);
			if (pthread_cond_timedwait(&k.wake, &k.mu, &until) == ETIMEDOUT && !k.stop) {
				pthread_mutex_unlock(&k.mu);
				cairn__warm_settings_changed();
				pthread_mutex_lock(&k.mu);
			}
			continue;
		}
		until = after_ms(BATCH_WAIT_MS);
		wait_until(&until); /* let a burst of commits gather (and commit) */
		if (k.stop)
			break;
		batch = k.q;
		n = k.n;
		k.q = NULL;
		k.n = k.cap = 0;
		pthread_mutex_unlock(&k.mu);

		if (cairn__worker(&repo, &meta) != 0) {
			for (size_t i = 0; i < n; i++)
				retry_add(&rt, &batch[i], NULL);
		} else {
			qsort(batch, n, sizeof(*batch), cmp_push);
			for (size_t i = 0, j; i < n; i = j) {
				size_t u = i;
				for (j = i + 1; j < n && batch[j].bucket == batch[i].bucket &&
						strcmp(batch[j].region, batch[i].region) == 0;
				     j++)
					if (memcmp(&batch[j].file, &batch[u].file, sizeof(cairn_hash)))
						batch[++u] = batch[j]; /* drop repeats */
				push_group(repo, meta, &batch[i], u - i + 1, &rt);
			}
		}
		free(batch);

		pthread_mutex_lock(&k.mu);
		for (size_t i = 0; i < rt.n; i++)
			enqueue(&rt.p[i]);
		free(rt.p);
		if (rt.n > 0) {
			until = after_ms(backoff * 1000);
			wait_until(&until);
			backoff = backoff * 2 > RETRY_MAX_S ? RETRY_MAX_S : backoff * 2;
		} else {
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
