/*
 * cache.c - a region's cache node (cache.h).
 *
 * State: DATA/cache/xorbs/KEY, one file per cached copy of a xorb, written
 * whole (temporary file, fsync, rename) only after every chunk of it
 * decoded to its hash and the chunk list hashed to its name. KEY is the
 * xorb's hex for the xorb as it came, HEX.FORMHEX for a stored form the
 * origin recompressed it into: a file's name says which bytes it holds,
 * so a range of one form is never served from another. DATA/cache.db
 * (SQLite) with the copies held (size, last use), the pre-warm jobs and
 * the xorbs each job pins. At start, a row whose file is gone is
 * forgotten, and a file without a row (or a temporary one) removed: a
 * crash between a rename and its row leaves either. A served range is
 * checked again chunk by chunk before it is sent; a cached xorb that no longer checks is dropped and fetched
 * again. One connection, one mutex: the network is never waited on while
 * it is held.
 *
 * The job worker is one thread: it takes the oldest unfinished job and
 * fetches what it pins that is not here yet (for a recompressed xorb, the
 * stored form the job names). When the origin cannot be
 * reached it says so in the job's message and tries again with a growing
 * pause; jobs and their progress are rows, so a restarted node goes on
 * where it stopped.
 */
#include "cache.h"
#include "server_int.h"

#include "cairn/blake3.h"
#include "cairn/errors.h"
#include "cairn/xorb.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FILL_TIMEOUT_S 300
#define JOB_BODY_MAX ((size_t)64 << 20)
#define RETRY_MAX_S 5
#define FILL_PARALLEL 4 /* a job's xorbs fetched at once */

static struct {
	bool on;
	char region[128];
	char origin[512];
	char dir[4000];    /* DATA/cache/xorbs */
	uint8_t key[CAIRN__REGION_KEY_LEN];
	uint64_t max_bytes;
	sqlite3 *db;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_cond_t filled;                    /* a fill ended */
	char inflight[64][CAIRN_HASH_HEX_LEN + 1]; /* xorbs being fetched now */
	size_t ninflight;
	pthread_t worker;
	bool worker_started, stop;
	int lockfd; /* DATA/cache/.lock, flocked while the node runs */
} g = {.lockfd = -1, .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
       .filled = PTHREAD_COND_INITIALIZER};

static atomic_uint_fast64_t m_hits, m_fills, m_fill_bytes, m_evictions, m_corrupt, m_fill_errors,
	m_jobs_done;

bool cairn__cache_on(void)
{
	return g.on;
}

const char *cairn__cache_region(void)
{
	return g.region;
}

void cairn__cache_sign(char out[65], const char *what, const char *subject, const char *exp)
{
	cairn__region_sign(out, g.key, what, subject, exp);
}

/* ---- MACs ------------------------------------------------------------------------------- */

static void hex_of(char *out, const uint8_t *b, size_t n)
{
	static const char hexd[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexd[b[i] >> 4];
		out[2 * i + 1] = hexd[b[i] & 15];
	}
	out[2 * n] = '\0';
}

void cairn__region_mac(char out[65], const uint8_t key[CAIRN__REGION_KEY_LEN], const char *msg,
		       size_t len)
{
	uint8_t mac[32];

	cairn_blake3_keyed_hash(mac, key, (const uint8_t *)msg, len);
	hex_of(out, mac, 32);
}

void cairn__url_mac(char out[65], const uint8_t key[32], const cairn_hash *xorb, uint64_t start,
		    uint64_t end, int64_t exp)
{
	char msg[CAIRN_HASH_HEX_LEN + 80];
	int n;

	cairn_hash_to_hex(msg, xorb);
	n = snprintf(msg + CAIRN_HASH_HEX_LEN, sizeof(msg) - CAIRN_HASH_HEX_LEN,
		     ":%" PRIu64 ":%" PRIu64 ":%" PRId64, start, end, exp);
	cairn__region_mac(out, key, msg, (size_t)CAIRN_HASH_HEX_LEN + (size_t)n);
}

void cairn__fill_subject(char out[CAIRN__FILL_SUBJECT_LEN + 1], const cairn_hash *xorb,
			 const cairn_hash *form)
{
	cairn_hash_to_hex(out, xorb);
	if (form != NULL) {
		out[CAIRN_HASH_HEX_LEN] = '.';
		cairn_hash_to_hex(out + CAIRN_HASH_HEX_LEN + 1, form);
	}
}

void cairn__form_url_id(cairn_hash *out, const cairn_hash *xorb, const cairn_hash *form)
{
	/* keyed apart from every other use of a keyed hash of two hashes (a form's name) */
	static const cairn_hash domain = {{'c', 'a', 'i', 'r', 'n', ' ', 'U', 'R', 'L', ' ', 'o',
					   'f', ' ', 'a', ' ', 's', 't', 'o', 'r', 'e', 'd', ' ',
					   'f', 'o', 'r', 'm', ' ', 'v', '1', '.', '.', '.'}};
	cairn_hash both;

	cairn_hash_keyed(&both, form, xorb);
	cairn_hash_keyed(out, &both, &domain);
}

void cairn__region_sign(char out[65], const uint8_t key[CAIRN__REGION_KEY_LEN], const char *what,
			const char *subject, const char *exp)
{
	char msg[200];
	int n = snprintf(msg, sizeof(msg), "%s:%.128s:%.31s", what, subject, exp);

	cairn__region_mac(out, key, msg, (size_t)n);
}

bool cairn__region_check(const uint8_t key[CAIRN__REGION_KEY_LEN], const char *what,
			 const char *subject, const char *exp, const char *sig)
{
	char want[65];
	char *end;
	long long e;

	if (exp == NULL || sig == NULL || strlen(sig) != 64 || strlen(exp) > 31)
		return false;
	errno = 0;
	e = strtoll(exp, &end, 10);
	if (*exp == '\0' || *end != '\0' || errno != 0 || e < (long long)time(NULL))
		return false;
	cairn__region_sign(want, key, what, subject, exp);
	return cairn__same_text(want, sig, 64);
}

void cairn__body_digest(char out[65], const void *body, size_t len)
{
	cairn_blake3_hasher h;
	uint8_t d[32];

	cairn_blake3_init(&h);
	cairn_blake3_update(&h, body, len);
	cairn_blake3_finalize(&h, d, 32);
	hex_of(out, d, 32);
}

/* ---- the index ------------------------------------------------------------------------------ */

static const char SCHEMA[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = FULL;"
	"CREATE TABLE IF NOT EXISTS xorbs (hash TEXT PRIMARY KEY, size INTEGER NOT NULL, "
	"  used_ns INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS xorbs_by_use ON xorbs (used_ns);"
	"CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, bucket TEXT NOT NULL, "
	"  prefix TEXT NOT NULL, files INTEGER NOT NULL, logical_bytes INTEGER NOT NULL, "
	"  state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', created_ns INTEGER NOT NULL, "
	"  started_ns INTEGER, finished_ns INTEGER) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS pins (job TEXT NOT NULL, hash TEXT NOT NULL, "
	"  size INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job, hash)) "
	"  WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS pins_by_hash ON pins (hash);";

/*
 * Since the file counts: pins.ord is a xorb's place in its job's order,
 * job_files the position of each file's last xorb (cairn__cache_job_post);
 * jobs.pin 0 for keep-warm jobs, whose pins last only while they run.
 */
static const char SCHEMA_2[] =
	"ALTER TABLE pins ADD COLUMN ord INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX pins_todo ON pins (job, done, ord);"
	"CREATE TABLE job_files (job TEXT NOT NULL, last_ord INTEGER NOT NULL);"
	"CREATE INDEX job_files_by_job ON job_files (job, last_ord);"
	"ALTER TABLE jobs ADD COLUMN pin INTEGER NOT NULL DEFAULT 1;"
	"PRAGMA user_version = 2;";

/*
 * xorbs.hash is a copy's key (HEX or HEX.FORMHEX); xorbs.form the form's
 * hex, '' for the xorb as it came, '?' for a copy an older node kept under
 * HEX without knowing which form it was (good for reads by chunk only).
 */
static const char SCHEMA_3[] = "ALTER TABLE xorbs ADD COLUMN form TEXT NOT NULL DEFAULT '?';"
			       "PRAGMA user_version = 3;";

/*
 * pins.form: the stored form a job stages (its hex), for a xorb the origin
 * recompressed; '' for one it did not (or a job from before: any copy).
 */
static const char SCHEMA_4[] = "ALTER TABLE pins ADD COLUMN form TEXT NOT NULL DEFAULT '';"
			       "PRAGMA user_version = 4;";

/* A copy's key: HEX, or HEX.FORMHEX. */
#define KEY_LEN CAIRN__FILL_SUBJECT_LEN /* the same shape as a fill's subject */

/* The key of xorb's copy in stored form `form` (NULL or the xorb's own hash: as it came). */
static void key_of(char out[KEY_LEN + 1], const cairn_hash *xorb, const cairn_hash *form)
{
	cairn__fill_subject(out, xorb, form != NULL && !cairn_hash_equal(form, xorb) ? form : NULL);
}

static bool key_ok(const char *k)
{
	size_t n = k ? strlen(k) : 0;

	return n == CAIRN_HASH_HEX_LEN || (n == KEY_LEN && k[CAIRN_HASH_HEX_LEN] == '.');
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Run one statement with text arguments (NULL-terminated list); 0 or -1 (logged). */
static int exec_args(const char *sql, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	const char *a;
	int i = 1, src;

	if (sqlite3_prepare_v2(g.db, sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "cache: %s: %s\n", sql, sqlite3_errmsg(g.db));
		return -1;
	}
	va_start(ap, sql);
	while ((a = va_arg(ap, const char *)) != NULL)
		sqlite3_bind_text(st, i++, a, -1, SQLITE_TRANSIENT);
	va_end(ap);
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	if (src != SQLITE_DONE && src != SQLITE_ROW) {
		fprintf(stderr, "cache: %s: %s\n", sql, sqlite3_errmsg(g.db));
		return -1;
	}
	return 0;
}

static void path_of(char *out, size_t cap, const char *key)
{
	snprintf(out, cap, "%s/%.129s", g.dir, key);
}

/* Evict least recently used, unpinned xorbs until `incoming` more bytes fit. Holds g.mu. */
static void evict_for(uint64_t incoming)
{
	sqlite3_stmt *st;
	uint64_t total = 0;

	if (sqlite3_prepare_v2(g.db, "SELECT coalesce(sum(size), 0) FROM xorbs", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			total = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if (total + incoming <= g.max_bytes)
		return;
	if (sqlite3_prepare_v2(g.db,
			       "SELECT hash, size FROM xorbs WHERE substr(hash, 1, 64) NOT IN "
			       "(SELECT hash FROM pins) ORDER BY used_ns",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	while (total + incoming > g.max_bytes && sqlite3_step(st) == SQLITE_ROW) {
		char key[KEY_LEN + 1], path[4200];
		const char *h = (const char *)sqlite3_column_text(st, 0);

		if (!key_ok(h))
			continue;
		snprintf(key, sizeof(key), "%s", h);
		path_of(path, sizeof(path), key);
		unlink(path);
		total -= (uint64_t)sqlite3_column_int64(st, 1);
		exec_args("DELETE FROM xorbs WHERE hash = ?1", key, (char *)NULL);
		atomic_fetch_add(&m_evictions, 1);
	}
	sqlite3_finalize(st);
}

/* ---- filling from the origin ---------------------------------------------------------------- */

typedef struct fill_buf {
	uint8_t *data;
	size_t len, cap;
	bool too_big;
	char form[CAIRN_HASH_HEX_LEN + 1]; /* X-Cairn-Form, if the origin sent one */
} fill_buf;

/* The origin's X-Cairn-Form header, into b->form. */
static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	static const char name[] = "x-cairn-form:";
	fill_buf *b = ctx;
	size_t len = size * n, k = sizeof(name) - 1;

	if (len > k && strncasecmp(p, name, k) == 0) {
		while (k < len && p[k] == ' ')
			k++;
		if (len - k >= CAIRN_HASH_HEX_LEN) {
			memcpy(b->form, p + k, CAIRN_HASH_HEX_LEN);
			b->form[CAIRN_HASH_HEX_LEN] = '\0';
		}
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	fill_buf *b = ctx;
	size_t add = size * n;

	if (add > CAIRN_XORB_MAX_BYTES + (size_t)65536 - b->len) {
		b->too_big = true;
		return 0;
	}
	if (b->len + add > b->cap) {
		size_t cap = b->cap ? b->cap : 1 << 20;
		uint8_t *nd;
		while (cap < b->len + add)
			cap *= 2;
		if ((nd = realloc(b->data, cap)) == NULL)
			return 0;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, add);
	b->len += add;
	return add;
}

/* Write data as the cached copy `key`: temporary file, fsync, rename, fsync the folder. */
static int store_file(const char *key, const uint8_t *data, size_t len)
{
	char path[4200], tmp[4300];
	int fd, dfd;
	size_t off = 0;

	path_of(path, sizeof(path), key);
	snprintf(tmp, sizeof(tmp), "%s.%ld.%lx.tmp", path, (long)getpid(),
		 (unsigned long)pthread_self());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	if ((dfd = open(g.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/*
 * GET url from the origin into b. 0 for a 200; otherwise -1 with *why
 * ("origin unreachable: ..." when no answer came; the status otherwise),
 * or -2 for an answer that trying again will not change (a 4xx).
 */
static pthread_key_t tl_curl;
static pthread_once_t tl_curl_once = PTHREAD_ONCE_INIT;

static void tl_curl_free(void *h)
{
	curl_easy_cleanup(h);
}

static void tl_curl_init(void)
{
	pthread_key_create(&tl_curl, tl_curl_free);
}

/* This thread's libcurl handle, so requests to the origin reuse their connection. */
static CURL *curl_handle(void)
{
	CURL *h;

	pthread_once(&tl_curl_once, tl_curl_init);
	if ((h = pthread_getspecific(tl_curl)) != NULL) {
		curl_easy_reset(h);
		return h;
	}
	if ((h = curl_easy_init()) != NULL)
		pthread_setspecific(tl_curl, h);
	return h;
}

static int origin_get(const char *url, fill_buf *b, char *why, size_t why_cap)
{
	CURL *h = curl_handle();
	CURLcode cc;
	long status = 0;

	if (h == NULL) {
		snprintf(why, why_cap, "out of memory");
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, b);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)FILL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		snprintf(why, why_cap, "origin unreachable: %s",
			 b->too_big ? "answer too big" : curl_easy_strerror(cc));
		return -1;
	}
	if (status != 200) {
		snprintf(why, why_cap, "origin answered %ld", status);
		return status >= 400 && status < 500 && status != 408 && status != 429 ? -2 : -1;
	}
	return 0;
}

/* fill's fetch, by one thread: 0, CAIRN_EIO (try again later), CAIRN_ENOTFOUND
 * (the origin refused: it will not change), CAIRN_ECORRUPT. */
static int fetch(const cairn_hash *xorb, const cairn_hash *form, char key[KEY_LEN + 1],
		 char *why, size_t why_cap);
static bool cached(const cairn_hash *xorb, const cairn_hash *form, char key[KEY_LEN + 1]);

/*
 * Wait while another thread fetches hex; then take it. True if this
 * thread waited (the xorb may be here now).
 */
static bool claim(const char *hex)
{
	bool waited = false;

	pthread_mutex_lock(&g.mu);
	for (;;) {
		size_t i;
		for (i = 0; i < g.ninflight && strcmp(g.inflight[i], hex) != 0; i++)
			;
		if (i == g.ninflight)
			break;
		waited = true;
		pthread_cond_wait(&g.filled, &g.mu);
	}
	if (g.ninflight < sizeof(g.inflight) / sizeof(g.inflight[0]))
		memcpy(g.inflight[g.ninflight++], hex, CAIRN_HASH_HEX_LEN + 1);
	pthread_mutex_unlock(&g.mu);
	return waited;
}

static void unclaim(const char *hex)
{
	pthread_mutex_lock(&g.mu);
	for (size_t i = 0; i < g.ninflight; i++)
		if (strcmp(g.inflight[i], hex) == 0) {
			memmove(g.inflight[i], g.inflight[i + 1],
				(g.ninflight - i - 1) * sizeof(g.inflight[0]));
			g.ninflight--;
			break;
		}
	pthread_cond_broadcast(&g.filled);
	pthread_mutex_unlock(&g.mu);
}

/*
 * Fetch xorb from the origin, check it, keep it; a fetch of the same
 * xorb another thread has begun is waited for, not repeated. form NULL:
 * any form will do (a copy held is kept; else the current one comes);
 * else that stored form (the xorb's own hash: as it came). *key gets the
 * copy's key. Returns 0; CAIRN_EIO (the origin could not be reached or
 * refused: *why says, retry later); CAIRN_ECORRUPT (what came is not that
 * xorb, or not that form).
 */
static int fill(const cairn_hash *xorb, const cairn_hash *form, char key[KEY_LEN + 1], char *why,
		size_t why_cap)
{
	char hex[CAIRN_HASH_HEX_LEN + 1];
	int rc;

	cairn_hash_to_hex(hex, xorb);
	if (claim(hex) && cached(xorb, form, key)) {
		unclaim(hex);
		return 0;
	}
	rc = fetch(xorb, form, key, why, why_cap);
	unclaim(hex);
	return rc;
}

static int fetch(const cairn_hash *xorb, const cairn_hash *form, char key[KEY_LEN + 1],
		 char *why, size_t why_cap)
{
	char hex[CAIRN_HASH_HEX_LEN + 1], subject[CAIRN__FILL_SUBJECT_LEN + 1], mac[65],
		url[1200], exp[24], held[CAIRN_HASH_HEX_LEN + 2] = "";
	fill_buf b = {0};
	cairn_xorb *x = NULL;
	cairn_hash got;
	int rc = 0;

	cairn_hash_to_hex(hex, xorb);
	cairn__fill_subject(subject, xorb, form);
	snprintf(exp, sizeof(exp), "%lld", (long long)time(NULL) + 600);
	cairn__region_sign(mac, g.key, "fill", subject, exp);
	snprintf(url, sizeof(url), "%s/v1/xorbs/default/%s?region=%s&exp=%s&sig=%s%s%s", g.origin,
		 hex, g.region, exp, mac, form ? "&form=" : "",
		 form ? subject + CAIRN_HASH_HEX_LEN + 1 : "");
	if ((rc = origin_get(url, &b, why, why_cap)) != 0) {
		atomic_fetch_add(&m_fill_errors, 1);
		rc = rc == -2 ? CAIRN_ENOTFOUND : CAIRN_EIO;
		goto done;
	}
	if (cairn_xorb_open(&x, b.data, b.len) != 0 || !cairn_hash_equal(cairn_xorb_id(x), xorb) ||
	    cairn_xorb_verify(x) != 0) {
		snprintf(why, why_cap, "the origin's xorb %.16s did not verify", hex);
		atomic_fetch_add(&m_corrupt, 1);
		rc = CAIRN_ECORRUPT;
		goto done;
	}
	/*
	 * Which form came: a recompressed form's name must be what its bytes
	 * say, and the one asked for. An origin that names none is older than
	 * stored forms: its copy is kept as of unknown form ('?').
	 */
	got = *xorb;
	if (b.form[0] == '\0')
		held[0] = '?';
	else if (cairn_hash_from_hex(&got, b.form, CAIRN_HASH_HEX_LEN) != 0)
		got = (cairn_hash){{0}};
	if (form != NULL && b.form[0] == '\0') {
		/* it will not learn to: not a failure to retry */
		snprintf(why, why_cap, "the origin does not name the form of xorb %.16s (an older "
			 "build: nodes and origins must run the same one)", hex);
		rc = CAIRN_ENOTFOUND;
		goto done;
	}
	if (!cairn_hash_equal(&got, xorb)) {
		cairn_hash want;
		cairn_xorb_form_name(&want, xorb, b.data, b.len);
		if (!cairn_hash_equal(&want, &got)) {
			snprintf(why, why_cap, "the origin's xorb %.16s is not the form it names", hex);
			atomic_fetch_add(&m_corrupt, 1);
			rc = CAIRN_ECORRUPT;
			goto done;
		}
		cairn_hash_to_hex(held, &got);
	}
	if (form != NULL && !cairn_hash_equal(&got, form)) {
		snprintf(why, why_cap, "the origin sent another form of xorb %.16s", hex);
		rc = CAIRN_ECORRUPT;
		goto done;
	}
	key_of(key, xorb, &got);
	pthread_mutex_lock(&g.mu);
	evict_for(b.len);
	pthread_mutex_unlock(&g.mu);
	if (store_file(key, b.data, b.len) != 0) {
		snprintf(why, why_cap, "cannot write the cache: %s", strerror(errno));
		rc = CAIRN_EIO;
		goto done;
	}
	{
		char size[24], used[24];
		snprintf(size, sizeof(size), "%zu", b.len);
		snprintf(used, sizeof(used), "%" PRId64, now_ns());
		pthread_mutex_lock(&g.mu);
		exec_args("INSERT INTO xorbs (hash, size, used_ns, form) VALUES (?1, ?2, ?3, ?4) "
			  "ON CONFLICT (hash) DO UPDATE SET size = excluded.size, used_ns = "
			  "excluded.used_ns, form = excluded.form",
			  key, size, used, held, (char *)NULL);
		pthread_mutex_unlock(&g.mu);
	}
	atomic_fetch_add(&m_fills, 1);
	atomic_fetch_add(&m_fill_bytes, b.len);
done:
	cairn_xorb_free(x);
	free(b.data);
	return rc;
}

/*
 * Is a copy of xorb held (a row and its file), in stored form `form` (the
 * xorb's own hash: as it came; NULL: any, the last used)? Its key into *key.
 */
static bool cached(const cairn_hash *xorb, const cairn_hash *form, char key[KEY_LEN + 1])
{
	char path[4200], lo[KEY_LEN + 1], hi[CAIRN_HASH_HEX_LEN + 2];
	sqlite3_stmt *st;
	bool row = false;

	key_of(lo, xorb, form);
	pthread_mutex_lock(&g.mu);
	if (form != NULL) {
		/* that copy, its row saying that form ('': as it came; not '?', unknown) */
		const char *f = strlen(lo) == KEY_LEN ? lo + CAIRN_HASH_HEX_LEN + 1 : "";
		if (sqlite3_prepare_v2(g.db, "SELECT hash FROM xorbs WHERE hash = ?1 AND form = ?2",
				       -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, f, -1, SQLITE_STATIC);
			row = sqlite3_step(st) == SQLITE_ROW;
			sqlite3_finalize(st);
		}
		if (row)
			memcpy(key, lo, sizeof(lo));
	} else {
		/* HEX and HEX.* sort together, before HEX/ */
		memcpy(hi, lo, CAIRN_HASH_HEX_LEN);
		hi[CAIRN_HASH_HEX_LEN] = '/';
		hi[CAIRN_HASH_HEX_LEN + 1] = '\0';
		if (sqlite3_prepare_v2(g.db,
				       "SELECT hash FROM xorbs WHERE hash >= ?1 AND hash < ?2 "
				       "ORDER BY used_ns DESC LIMIT 1",
				       -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_text(st, 1, lo, CAIRN_HASH_HEX_LEN, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_ROW) {
				const char *k = (const char *)sqlite3_column_text(st, 0);
				if (key_ok(k)) {
					snprintf(key, KEY_LEN + 1, "%s", k);
					row = true;
				}
			}
			sqlite3_finalize(st);
		}
	}
	pthread_mutex_unlock(&g.mu);
	if (!row)
		return false;
	path_of(path, sizeof(path), key);
	return access(path, R_OK) == 0;
}

static void forget(const char *key)
{
	char path[4200];

	path_of(path, sizeof(path), key);
	unlink(path);
	pthread_mutex_lock(&g.mu);
	exec_args("DELETE FROM xorbs WHERE hash = ?1", key, (char *)NULL);
	pthread_mutex_unlock(&g.mu);
}

/* ---- serving ---------------------------------------------------------------------------- */

static int discard(void *ctx, size_t index, const void *data, size_t len)
{
	(void)ctx;
	(void)index;
	(void)data;
	(void)len;
	return 0;
}

/*
 * Open the cached copy of xorb and (check) decode the chunks that bytes
 * [start, end] touch against their hashes; a copy fill() has just checked
 * whole needs no second pass. Returns an open fd, -1 (not cached), -2
 * (corrupt: dropped) or -3 (the range is past its end).
 */
static int open_checked(const char *key, const cairn_hash *xorb, uint64_t start, uint64_t end,
			bool check)
{
	char path[4200];
	struct stat sb;
	cairn_xorb *x = NULL;
	void *map;
	int fd, rc = -2;

	path_of(path, sizeof(path), key);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || sb.st_size <= 0 || (uint64_t)sb.st_size > CAIRN_XORB_MAX_BYTES) {
		close(fd);
		forget(key);
		return -2;
	}
	if (end >= (uint64_t)sb.st_size) {
		close(fd);
		return -3;
	}
	if (!check)
		return fd;
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		return -1;
	}
	if (cairn_xorb_open(&x, map, (size_t)sb.st_size) == 0 &&
	    cairn_hash_equal(cairn_xorb_id(x), xorb)) {
		size_t n = cairn_xorb_chunk_count(x), first = n, last = 0;
		for (size_t i = 0; i < n; i++) {
			cairn_xorb_span sp;
			if (cairn_xorb_span_get(x, i, i + 1, &sp) != 0)
				break;
			if (sp.offset + sp.length > start && sp.offset <= end) {
				if (first == n)
					first = i;
				last = i;
			}
		}
		if (first < n && cairn_xorb_read_each(x, first, last + 1, discard, NULL) == 0)
			rc = 0;
		else if (first == n)
			rc = 0; /* the range holds only the footer: nothing to decode */
	}
	cairn_xorb_free(x);
	munmap(map, (size_t)sb.st_size);
	if (rc != 0) {
		close(fd);
		atomic_fetch_add(&m_corrupt, 1);
		fprintf(stderr, "cache: xorb %.16s does not check: dropped, fetching it again\n", key);
		forget(key);
		return -2;
	}
	return fd;
}

unsigned cairn__cache_xorb(const cairn_hash *xorb, const cairn_hash *form, uint64_t start,
			   uint64_t end, int64_t exp, const char *sig, int *fd, const char **msg)
{
	static _Thread_local char why[256];
	char key[KEY_LEN + 1], want[65], used[24];
	cairn_hash id = *xorb;
	int f = -1;

	/* the range is of one form: the one named, or the xorb as it came */
	if (form != NULL)
		cairn__form_url_id(&id, xorb, form);
	else
		form = xorb;
	cairn__url_mac(want, g.key, &id, start, end, exp);
	if (sig == NULL || strlen(sig) != 64 || !cairn__same_text(want, sig, 64)) {
		*msg = "bad signature (not a URL the origin made for this region)";
		return 403;
	}
	if (exp < (int64_t)time(NULL)) {
		*msg = "this URL has expired; ask the origin for a new reconstruction";
		return 403;
	}
	/* a copy's key names its form: what is open is that form */
	f = cached(xorb, form, key) ? open_checked(key, xorb, start, end, true) : -1;
	if (f >= 0) {
		atomic_fetch_add(&m_hits, 1);
	} else if (f != -3) {
		/* a miss (of that form), or a copy that no longer checked: from the origin */
		for (int tries = 0; tries < 2 && f < 0 && f != -3; tries++) {
			/* (evicted by another fill between ours and the open: once more) */
			if (fill(xorb, form, key, why, sizeof(why)) != 0) {
				*msg = why;
				return 502;
			}
			f = open_checked(key, xorb, start, end, false);
		}
	}
	if (f == -3) {
		*msg = "the range is past the xorb's end";
		return 416;
	}
	if (f < 0) {
		*msg = "the xorb does not check after a fresh fetch";
		return 502;
	}
	snprintf(used, sizeof(used), "%" PRId64, now_ns());
	pthread_mutex_lock(&g.mu);
	exec_args("UPDATE xorbs SET used_ns = ?2 WHERE hash = ?1", key, used, (char *)NULL);
	pthread_mutex_unlock(&g.mu);
	*fd = f;
	return 200;
}

/* ---- whole files: resolve downloads and S3 GETs through the node ----------------------------- */

typedef struct node_term {
	cairn_hash xorb;
	uint32_t first, end;
	uint64_t at, len; /* where the term's bytes start in the file, and how many */
} node_term;

struct cairn__node_file {
	uint64_t size;
	node_term *t;
	size_t n;
	/* the xorb in use: mapped, opened, checked against its name */
	bool have;
	cairn_hash cur;
	char key[KEY_LEN + 1]; /* the copy mapped */
	void *map;
	size_t map_len;
	cairn_xorb *x;
};

int cairn__cache_file_from_json(json_t *v, cairn__node_file **out, const char **msg)
{
	json_t *terms = json_object_get(v, "terms"), *e;
	json_int_t size = json_integer_value(json_object_get(v, "size"));
	cairn__node_file *f;
	uint64_t at = 0;
	size_t i;

	*msg = "the origin sent a malformed reconstruction";
	if (!json_is_array(terms) || size < 0)
		return 502;
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (json_array_size(terms) > 0 &&
	     (f->t = calloc(json_array_size(terms), sizeof(node_term))) == NULL)) {
		free(f);
		*msg = "out of memory";
		return 500;
	}
	json_array_foreach(terms, i, e) {
		const char *hx = json_string_value(json_array_get(e, 0));
		json_int_t first = json_integer_value(json_array_get(e, 1));
		json_int_t end = json_integer_value(json_array_get(e, 2));
		json_int_t len = json_integer_value(json_array_get(e, 3));
		node_term *t = &f->t[f->n];

		if (hx == NULL || strlen(hx) != CAIRN_HASH_HEX_LEN ||
		    cairn_hash_from_hex(&t->xorb, hx, CAIRN_HASH_HEX_LEN) != 0 || first < 0 ||
		    end <= first || end > UINT32_MAX || len <= 0 ||
		    (uint64_t)len > (uint64_t)size - at) {
			cairn__cache_file_close(f);
			return 502;
		}
		t->first = (uint32_t)first;
		t->end = (uint32_t)end;
		t->at = at;
		t->len = (uint64_t)len;
		at += (uint64_t)len;
		f->n++;
	}
	if (at != (uint64_t)size) {
		cairn__cache_file_close(f);
		return 502;
	}
	f->size = (uint64_t)size;
	*out = f;
	return 200;
}

unsigned cairn__cache_file_open(const char *hex, const char *exp, const char *sig,
				cairn__node_file **out, const char **msg)
{
	static _Thread_local char why[300];
	char url[1024], mac[65], e2[24];
	fill_buf b = {0};
	json_t *v;
	unsigned st;

	if (hex == NULL || strlen(hex) != CAIRN_HASH_HEX_LEN ||
	    strspn(hex, "0123456789abcdef") != CAIRN_HASH_HEX_LEN) {
		*msg = "no such file";
		return 404;
	}
	if (!cairn__region_check(g.key, "file", hex, exp, sig)) {
		*msg = "bad or expired signature (ask the origin for a new download URL)";
		return 403;
	}
	snprintf(e2, sizeof(e2), "%lld", (long long)time(NULL) + 300);
	cairn__region_sign(mac, g.key, "recon", hex, e2);
	snprintf(url, sizeof(url), "%s/v1/region-files/%s?region=%s&exp=%s&sig=%s", g.origin, hex,
		 g.region, e2, mac);
	if (origin_get(url, &b, why, sizeof(why)) != 0) {
		free(b.data);
		*msg = why;
		return 502;
	}
	v = json_loadb((const char *)b.data, b.len, 0, NULL);
	free(b.data);
	st = v ? cairn__cache_file_from_json(v, out, msg) : 502;
	if (v == NULL)
		*msg = "the origin sent a malformed reconstruction";
	json_decref(v);
	return st;
}

uint64_t cairn__cache_file_size(const cairn__node_file *f)
{
	return f->size;
}

static void file_unmap(cairn__node_file *f)
{
	if (!f->have)
		return;
	cairn_xorb_free(f->x);
	munmap(f->map, f->map_len);
	f->x = NULL;
	f->map = NULL;
	f->have = false;
}

void cairn__cache_file_close(cairn__node_file *f)
{
	if (f == NULL)
		return;
	file_unmap(f);
	free(f->t);
	free(f);
}

/* Map the cached copy of t's xorb (fetched first if missing). 0, or a CAIRN_E* code. */
static int file_use(cairn__node_file *f, const node_term *t)
{
	char key[KEY_LEN + 1], path[4200], why[256], used[24];
	struct stat sb;
	int fd, tries;

	if (f->have && cairn_hash_equal(&f->cur, &t->xorb))
		return 0;
	file_unmap(f);
	/* chunks are read by index: any form will do */
	for (tries = 0; tries < 2; tries++) {
		bool filled = false;

		fd = -1;
		if (cached(&t->xorb, NULL, key)) {
			path_of(path, sizeof(path), key);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		if (fd < 0) {
			if (fill(&t->xorb, NULL, key, why, sizeof(why)) != 0) {
				fprintf(stderr, "cache: %s\n", why);
				return CAIRN_EIO;
			}
			filled = true;
			path_of(path, sizeof(path), key);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
				return CAIRN_EIO;
		}
		if (fstat(fd, &sb) == 0 && sb.st_size > 0 &&
		    (uint64_t)sb.st_size <= CAIRN_XORB_MAX_BYTES) {
			f->map_len = (size_t)sb.st_size;
			f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
		} else {
			f->map = MAP_FAILED;
		}
		close(fd);
		if (f->map != MAP_FAILED) {
			if (cairn_xorb_open(&f->x, f->map, f->map_len) == 0 &&
			    cairn_hash_equal(cairn_xorb_id(f->x), &t->xorb)) {
				f->have = true;
				f->cur = t->xorb;
				memcpy(f->key, key, sizeof(f->key));
				if (!filled)
					atomic_fetch_add(&m_hits, 1);
				snprintf(used, sizeof(used), "%" PRId64, now_ns());
				pthread_mutex_lock(&g.mu);
				exec_args("UPDATE xorbs SET used_ns = ?2 WHERE hash = ?1", key, used,
					  (char *)NULL);
				pthread_mutex_unlock(&g.mu);
				return 0;
			}
			cairn_xorb_free(f->x);
			f->x = NULL;
			munmap(f->map, f->map_len);
		}
		/* not the xorb it is named after: drop it, fetch it again */
		atomic_fetch_add(&m_corrupt, 1);
		fprintf(stderr, "cache: xorb %.16s does not check: dropped, fetching it again\n", key);
		forget(key);
	}
	return CAIRN_ECORRUPT;
}

typedef struct copy_ctx {
	uint64_t skip; /* bytes of the first chunk before the ones wanted */
	uint8_t *out;
	size_t want, got;
} copy_ctx;

static int copy_chunk(void *ctx, size_t index, const void *data, size_t len)
{
	copy_ctx *cc = ctx;
	size_t n;

	(void)index;
	if (cc->skip >= len) {
		cc->skip -= len;
		return 0;
	}
	n = len - (size_t)cc->skip;
	if (n > cc->want - cc->got)
		n = cc->want - cc->got;
	memcpy(cc->out + cc->got, (const uint8_t *)data + cc->skip, n);
	cc->skip = 0;
	cc->got += n;
	return cc->got == cc->want ? 1 : 0; /* 1: enough, stop the walk */
}

int cairn__cache_file_read(void *ctx, uint64_t at, size_t want, uint8_t *buf)
{
	cairn__node_file *f = ctx;
	size_t done = 0;

	while (done < want) {
		size_t lo = 0, hi = f->n, ti, i;
		uint64_t off;
		copy_ctx cc;
		int rc, tries;

		while (hi - lo > 1) { /* the last term starting at or before at */
			size_t mid = lo + (hi - lo) / 2;
			if (f->t[mid].at <= at)
				lo = mid;
			else
				hi = mid;
		}
		ti = lo;
		if (ti >= f->n || at < f->t[ti].at || at >= f->t[ti].at + f->t[ti].len)
			return CAIRN_EINVALID;
		for (tries = 0;; tries++) {
			const node_term *t = &f->t[ti];
			if ((rc = file_use(f, t)) != 0)
				return rc;
			if (t->end > cairn_xorb_chunk_count(f->x)) {
				rc = CAIRN_ECORRUPT;
			} else {
				off = at - t->at;
				for (i = t->first; i < t->end && off >= cairn_xorb_chunk_len(f->x, i); i++)
					off -= cairn_xorb_chunk_len(f->x, i);
				cc.skip = off;
				cc.out = buf + done;
				cc.want = want - done;
				if (cc.want > t->at + t->len - at)
					cc.want = (size_t)(t->at + t->len - at);
				cc.got = 0;
				rc = cairn_xorb_read_each(f->x, i, t->end, copy_chunk, &cc);
				if (rc == 1 || (rc == 0 && cc.got == cc.want))
					break;
				if (rc == 0)
					rc = CAIRN_ECORRUPT; /* the chunks hold less than the term says */
			}
			if (rc != CAIRN_ECORRUPT || tries > 0) {
				fprintf(stderr, "cache: reading a file at %" PRIu64 ": %s\n", at,
					cairn_error_name(rc));
				return rc;
			}
			/* a chunk did not check: drop the copy and fetch it again, once */
			{
				char key[KEY_LEN + 1];
				memcpy(key, f->key, sizeof(key));
				file_unmap(f);
				atomic_fetch_add(&m_corrupt, 1);
				fprintf(stderr, "cache: xorb %.16s does not check: dropped, fetching "
						"it again\n",
					key);
				forget(key);
			}
		}
		done += cc.got;
		at += cc.got;
	}
	return 0;
}

/* ---- pre-warm jobs ---------------------------------------------------------------------- */

static void job_state(const char *job, const char *state, const char *message)
{
	char t[24];

	snprintf(t, sizeof(t), "%" PRId64, now_ns());
	pthread_mutex_lock(&g.mu);
	exec_args("UPDATE jobs SET state = ?2, message = ?3, "
		  "started_ns = coalesce(started_ns, ?4), "
		  "finished_ns = CASE WHEN ?2 IN ('done', 'failed') THEN ?4 ELSE NULL END "
		  "WHERE id = ?1 AND state <> 'released'",
		  job, state, message, t, (char *)NULL);
	pthread_mutex_unlock(&g.mu);
}

/* The oldest job with work left, into job (33 bytes). */
static bool next_job(char job[33])
{
	sqlite3_stmt *st;
	bool found = false;

	pthread_mutex_lock(&g.mu);
	if (sqlite3_prepare_v2(g.db,
			       "SELECT id FROM jobs WHERE state IN ('queued', 'running', 'waiting') "
			       "ORDER BY created_ns LIMIT 1",
			       -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			const char *id = (const char *)sqlite3_column_text(st, 0);
			if (id && strlen(id) == 32) {
				memcpy(job, id, 33);
				found = true;
			}
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&g.mu);
	return found;
}

/* Up to 64 xorbs of job not staged yet, and the form of each to stage ("": any). */
static size_t pending(const char *job, char (*hex)[CAIRN_HASH_HEX_LEN + 1],
		      char (*form)[CAIRN_HASH_HEX_LEN + 1])
{
	sqlite3_stmt *st;
	size_t n = 0;

	pthread_mutex_lock(&g.mu);
	if (sqlite3_prepare_v2(g.db,
			       "SELECT hash, form FROM pins WHERE job = ?1 AND done = 0 ORDER BY ord "
			       "LIMIT 64",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
		while (n < 64 && sqlite3_step(st) == SQLITE_ROW) {
			const char *h = (const char *)sqlite3_column_text(st, 0);
			const char *f = (const char *)sqlite3_column_text(st, 1);
			if (h == NULL || strlen(h) != CAIRN_HASH_HEX_LEN)
				continue;
			memcpy(hex[n], h, CAIRN_HASH_HEX_LEN + 1);
			snprintf(form[n], sizeof(form[n]), "%s",
				 f && strlen(f) == CAIRN_HASH_HEX_LEN ? f : "");
			n++;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&g.mu);
	return n;
}

/* Sleep up to secs, or less if the node stops. */
static void pause_for(unsigned secs)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += secs;
	pthread_mutex_lock(&g.mu);
	if (!g.stop)
		pthread_cond_timedwait(&g.wake, &g.mu, &until);
	pthread_mutex_unlock(&g.mu);
}

static bool stopping(void)
{
	bool s;

	pthread_mutex_lock(&g.mu);
	s = g.stop;
	pthread_mutex_unlock(&g.mu);
	return s;
}

/* One batch of a job's xorbs, fetched by FILL_PARALLEL threads at once. */
typedef struct batch {
	char (*hex)[CAIRN_HASH_HEX_LEN + 1];
	char (*form)[CAIRN_HASH_HEX_LEN + 1]; /* "": any copy will do */
	size_t n;
	atomic_size_t next;
	int rc[64];
	char why[64][256];
} batch;

static void *batch_worker(void *arg)
{
	batch *b = arg;
	size_t i;

	while ((i = atomic_fetch_add(&b->next, 1)) < b->n && !stopping()) {
		cairn_hash x, f;
		bool any = b->form[i][0] == '\0';

		b->why[i][0] = '\0';
		if (cairn_hash_from_hex(&x, b->hex[i], CAIRN_HASH_HEX_LEN) != 0 ||
		    (!any && cairn_hash_from_hex(&f, b->form[i], CAIRN_HASH_HEX_LEN) != 0)) {
			b->rc[i] = CAIRN_ECORRUPT;
			snprintf(b->why[i], sizeof(b->why[i]), "a malformed xorb name");
		} else {
			/* a recompressed xorb: the form readers are sent to, not any copy */
			const cairn_hash *want = any ? NULL : &f;
			char key[KEY_LEN + 1];
			b->rc[i] = cached(&x, want, key)
					   ? 0
					   : fill(&x, want, key, b->why[i], sizeof(b->why[i]));
		}
	}
	return NULL;
}

static void run_job(const char *job)
{
	char hex[64][CAIRN_HASH_HEX_LEN + 1], form[64][CAIRN_HASH_HEX_LEN + 1];
	unsigned backoff = 1, corrupt = 0;
	size_t n;
	batch *b = malloc(sizeof(*b));

	if (b == NULL) {
		job_state(job, "waiting", "out of memory; retrying");
		pause_for(1);
		return;
	}
	job_state(job, "running", "");
	while (!stopping() && (n = pending(job, hex, form)) > 0) {
		pthread_t th[FILL_PARALLEL];
		size_t started = 0, bad = n;

		b->hex = hex;
		b->form = form;
		b->n = n;
		atomic_store(&b->next, 0);
		for (size_t i = 0; i < n; i++)
			b->rc[i] = CAIRN_EIO; /* what a fetch never tried (the node stopping) says */
		for (size_t t = 0; t < FILL_PARALLEL && t < n; t++)
			if (pthread_create(&th[t], NULL, batch_worker, b) == 0)
				started++;
		if (started == 0)
			batch_worker(b);
		for (size_t t = 0; t < started; t++)
			pthread_join(th[t], NULL);
		if (stopping())
			break;
		/* what came, in the job's order; the first failure decides what happens next */
		pthread_mutex_lock(&g.mu);
		exec_args("BEGIN", (char *)NULL);
		for (size_t i = 0; i < n; i++) {
			if (b->rc[i] != 0) {
				if (bad == n)
					bad = i;
				continue;
			}
			exec_args("UPDATE pins SET done = 1 WHERE job = ?1 AND hash = ?2", job, hex[i],
				  (char *)NULL);
		}
		exec_args("COMMIT", (char *)NULL);
		pthread_mutex_unlock(&g.mu);
		if (bad < n && b->rc[bad] == CAIRN_EIO) {
			char m[300];
			snprintf(m, sizeof(m), "%s; retrying in %u s", b->why[bad], backoff);
			job_state(job, "waiting", m);
			fprintf(stderr, "cache: job %s: %s\n", job, m);
			pause_for(backoff);
			backoff = backoff * 2 > RETRY_MAX_S ? RETRY_MAX_S : backoff * 2;
			continue;
		}
		if (bad < n && b->rc[bad] == CAIRN_ECORRUPT && ++corrupt < 3) {
			pause_for(1);
			continue;
		}
		if (bad < n) {
			job_state(job, "failed", b->why[bad]);
			/* a failed keep-warm job pins nothing (a pre-warm's pins wait for a release) */
			pthread_mutex_lock(&g.mu);
			exec_args("DELETE FROM pins WHERE job = ?1 AND job IN (SELECT id FROM jobs "
				  "WHERE pin = 0)",
				  job, (char *)NULL);
			pthread_mutex_unlock(&g.mu);
			free(b);
			return;
		}
		if (backoff > 1) {
			/* the origin is back */
			job_state(job, "running", "the origin is reachable again; resumed");
			backoff = 1;
		}
	}
	free(b);
	if (!stopping() && n == 0) {
		job_state(job, "done", "");
		atomic_fetch_add(&m_jobs_done, 1);
		/* a keep-warm job's xorbs are cached like any other from now on; its row is
		 * kept a day for its progress */
		pthread_mutex_lock(&g.mu);
		exec_args("DELETE FROM pins WHERE job IN (SELECT id FROM jobs WHERE pin = 0 AND "
			  "state IN ('done', 'failed'))",
			  (char *)NULL);
		{
			char old[24];
			snprintf(old, sizeof(old), "%" PRId64, now_ns() - (int64_t)86400 * 1000000000);
			exec_args("DELETE FROM job_files WHERE job IN (SELECT id FROM jobs WHERE "
				  "pin = 0 AND state IN ('done', 'failed') AND finished_ns < ?1)",
				  old, (char *)NULL);
			exec_args("DELETE FROM jobs WHERE pin = 0 AND state IN ('done', 'failed') "
				  "AND finished_ns < ?1",
				  old, (char *)NULL);
		}
		pthread_mutex_unlock(&g.mu);
	}
}

static void *worker(void *arg)
{
	char job[33];

	(void)arg;
	while (!stopping()) {
		if (next_job(job)) {
			run_job(job);
			continue;
		}
		pthread_mutex_lock(&g.mu);
		if (!g.stop) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 2;
			pthread_cond_timedwait(&g.wake, &g.mu, &until);
		}
		pthread_mutex_unlock(&g.mu);
	}
	return NULL;
}

static bool job_id_ok(const char *s)
{
	return s != NULL && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

unsigned cairn__cache_job_post(const char *body, size_t len, const char *exp, const char *sig,
			       char **json, const char **msg)
{
	char digest_hex[65];
	json_t *v = NULL, *xs, *ends;
	int pin = 1;
	json_error_t err;
	const char *job, *bucket, *prefix;
	json_int_t files, logical;
	sqlite3_stmt *ins = NULL, *fin = NULL;
	size_t i;
	unsigned status;

	if (len > JOB_BODY_MAX) {
		*msg = "job too big";
		return 413;
	}
	cairn__body_digest(digest_hex, body, len);
	if (!cairn__region_check(g.key, "job", digest_hex, exp, sig)) {
		*msg = "bad or expired signature (jobs come from the origin)";
		return 403;
	}
	v = json_loadb(body, len, 0, &err);
	if (v == NULL ||
	    json_unpack(v, "{s:s,s:s,s:s,s:I,s:I,s:o,s:o,s?b}", "job", &job, "bucket", &bucket,
			"prefix", &prefix, "files", &files, "logical_bytes", &logical, "xorbs", &xs,
			"file_ends", &ends, "pin", &pin) != 0 ||
	    !job_id_ok(job) || !json_is_array(xs) || !json_is_array(ends) ||
	    strlen(bucket) > 2 * 96 + 1 || strlen(prefix) > 1024 || files < 0 || logical < 0 ||
	    json_array_size(ends) != (size_t)files) {
		json_decref(v);
		*msg = "malformed job";
		return 400;
	}
	pthread_mutex_lock(&g.mu);
	status = 202;
	if (exec_args("BEGIN IMMEDIATE", (char *)NULL) != 0) {
		pthread_mutex_unlock(&g.mu);
		json_decref(v);
		*msg = "the cache index is busy";
		return 503;
	}
	{
		char t[24], f[24], l[24];
		snprintf(t, sizeof(t), "%" PRId64, now_ns());
		snprintf(f, sizeof(f), "%lld", (long long)files);
		snprintf(l, sizeof(l), "%lld", (long long)logical);
		if (exec_args("INSERT INTO jobs (id, bucket, prefix, files, logical_bytes, state, "
			      "created_ns, pin) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7) "
			      "ON CONFLICT (id) DO NOTHING",
			      job, bucket, prefix, f, l, t, pin ? "1" : "0", (char *)NULL) != 0)
			status = 500;
	}
	if (status == 202 && sqlite3_prepare_v2(g.db,
					       "INSERT INTO pins (job, hash, size, ord, form) "
					       "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
					       -1, &ins, NULL) != SQLITE_OK)
		status = 500;
	if (status == 202 &&
	    sqlite3_prepare_v2(g.db, "INSERT INTO job_files (job, last_ord) VALUES (?1, ?2)", -1,
			       &fin, NULL) != SQLITE_OK)
		status = 500;
	for (i = 0; status == 202 && i < json_array_size(xs); i++) {
		json_t *e = json_array_get(xs, i);
		const char *hx = json_string_value(json_array_get(e, 0));
		json_int_t sz = json_integer_value(json_array_get(e, 1));
		/* [hex, size] or, for a recompressed xorb, [hex, size, form] */
		json_t *fv = json_array_get(e, 2);
		const char *fx = fv ? json_string_value(fv) : "";
		cairn_hash tmp;

		if (hx == NULL || strlen(hx) != CAIRN_HASH_HEX_LEN ||
		    cairn_hash_from_hex(&tmp, hx, CAIRN_HASH_HEX_LEN) != 0 || sz <= 0 ||
		    sz > (json_int_t)CAIRN_XORB_MAX_BYTES || json_array_size(e) > 3 || fx == NULL ||
		    (*fx != '\0' && (strlen(fx) != CAIRN_HASH_HEX_LEN ||
				     cairn_hash_from_hex(&tmp, fx, CAIRN_HASH_HEX_LEN) != 0))) {
			status = 400;
			break;
		}
		sqlite3_bind_text(ins, 1, job, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, hx, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 3, (sqlite3_int64)sz);
		sqlite3_bind_int64(ins, 4, (sqlite3_int64)i);
		sqlite3_bind_text(ins, 5, strcmp(fx, hx) == 0 ? "" : fx, -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			status = 500;
		sqlite3_reset(ins);
	}
	for (i = 0; status == 202 && i < json_array_size(ends); i++) {
		json_t *e = json_array_get(ends, i);
		json_int_t last = json_integer_value(e);

		if (!json_is_integer(e) || last < -1 || last >= (json_int_t)json_array_size(xs)) {
			status = 400;
			break;
		}
		sqlite3_bind_text(fin, 1, job, -1, SQLITE_STATIC);
		sqlite3_bind_int64(fin, 2, (sqlite3_int64)last);
		if (sqlite3_step(fin) != SQLITE_DONE)
			status = 500;
		sqlite3_reset(fin);
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(fin);
	exec_args(status == 202 ? "COMMIT" : "ROLLBACK", (char *)NULL);
	pthread_cond_broadcast(&g.wake);
	pthread_mutex_unlock(&g.mu);
	if (status != 202) {
		*msg = status == 400 ? "malformed xorb or file entry in the job"
				     : "cannot record the job";
		json_decref(v);
		return status;
	}
	{
		char id[33];
		memcpy(id, job, 33);
		json_decref(v);
		status = cairn__cache_job_get(id, json, msg);
	}
	return status == 200 ? 202 : status;
}

unsigned cairn__cache_job_get(const char *job, char **json, const char **msg)
{
	sqlite3_stmt *st;
	json_t *v = NULL;
	unsigned status = 404;

	if (!job_id_ok(job)) {
		*msg = "no such job";
		return 404;
	}
	pthread_mutex_lock(&g.mu);
	if (sqlite3_prepare_v2(
		    g.db,
		    "SELECT j.bucket, j.prefix, j.files, j.logical_bytes, j.state, j.message, "
		    "j.created_ns, j.started_ns, j.finished_ns, "
		    "(SELECT count(*) FROM pins WHERE job = j.id), "
		    "(SELECT coalesce(sum(size), 0) FROM pins WHERE job = j.id), "
		    "(SELECT count(*) FROM pins WHERE job = j.id AND done = 1), "
		    "(SELECT coalesce(sum(size), 0) FROM pins WHERE job = j.id AND done = 1), "
		    "(SELECT count(*) FROM job_files WHERE job = j.id AND last_ord < "
		    "  (SELECT coalesce(min(ord), 1 << 62) FROM pins WHERE job = j.id AND done = 0)) "
		    "FROM jobs AS j WHERE j.id = ?1",
		    -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			int64_t started = sqlite3_column_int64(st, 7);
			int64_t finished = sqlite3_column_int64(st, 8);
			int64_t done_bytes = sqlite3_column_int64(st, 12);
			int64_t end = finished ? finished : now_ns();
			double secs = started ? (double)(end - started) / 1e9 : 0;

			bool released = strcmp((const char *)sqlite3_column_text(st, 4), "released") == 0;
			json_int_t files_done = released ? 0 : sqlite3_column_int64(st, 13);

			v = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:f}", "job",
				      job, "region", g.region, "bucket",
				      (const char *)sqlite3_column_text(st, 0), "prefix",
				      (const char *)sqlite3_column_text(st, 1), "files",
				      (json_int_t)sqlite3_column_int64(st, 2), "files_done", files_done,
				      "logical_bytes",
				      (json_int_t)sqlite3_column_int64(st, 3), "state",
				      (const char *)sqlite3_column_text(st, 4), "message",
				      (const char *)sqlite3_column_text(st, 5), "xorbs",
				      (json_int_t)sqlite3_column_int64(st, 9), "bytes",
				      (json_int_t)sqlite3_column_int64(st, 10), "xorbs_done",
				      (json_int_t)sqlite3_column_int64(st, 11), "bytes_done",
				      (json_int_t)done_bytes, "bytes_per_second",
				      secs > 0 ? (double)done_bytes / secs : 0.0);
			status = v ? 200 : 500;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&g.mu);
	if (status != 200) {
		*msg = status == 404 ? "no such job" : "out of memory";
		return status;
	}
	*json = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	if (*json == NULL) {
		*msg = "out of memory";
		return 500;
	}
	return 200;
}

unsigned cairn__cache_job_status(const char *job, const char *exp, const char *sig, char **json,
				 const char **msg)
{
	if (!job_id_ok(job)) {
		*msg = "no such job";
		return 404;
	}
	if (!cairn__region_check(g.key, "status", job, exp, sig)) {
		*msg = "bad or expired signature (ask the origin: GET /api/prewarm/JOB?region=)";
		return 403;
	}
	return cairn__cache_job_get(job, json, msg);
}

unsigned cairn__cache_job_release(const char *job, const char *exp, const char *sig,
				  char **json, const char **msg)
{
	unsigned status;

	if (!job_id_ok(job)) {
		*msg = "no such job";
		return 404;
	}
	if (!cairn__region_check(g.key, "release", job, exp, sig)) {
		*msg = "bad or expired signature (releases come from the origin)";
		return 403;
	}
	pthread_mutex_lock(&g.mu);
	exec_args("DELETE FROM pins WHERE job = ?1", job, (char *)NULL);
	exec_args("DELETE FROM job_files WHERE job = ?1", job, (char *)NULL);
	exec_args("UPDATE jobs SET state = 'released', message = 'unpinned: its xorbs may be "
		  "evicted' WHERE id = ?1",
		  job, (char *)NULL);
	pthread_mutex_unlock(&g.mu);
	status = cairn__cache_job_get(job, json, msg);
	return status;
}

void cairn__cache_metrics(FILE *f)
{
	fprintf(f, "cairn_cache_hits_total %" PRIu64 "\n", (uint64_t)atomic_load(&m_hits));
	fprintf(f, "cairn_cache_fills_total %" PRIu64 "\n", (uint64_t)atomic_load(&m_fills));
	fprintf(f, "cairn_cache_fill_bytes_total %" PRIu64 "\n",
		(uint64_t)atomic_load(&m_fill_bytes));
	fprintf(f, "cairn_cache_fill_errors_total %" PRIu64 "\n",
		(uint64_t)atomic_load(&m_fill_errors));
	fprintf(f, "cairn_cache_evictions_total %" PRIu64 "\n", (uint64_t)atomic_load(&m_evictions));
	fprintf(f, "cairn_cache_corrupt_total %" PRIu64 "\n", (uint64_t)atomic_load(&m_corrupt));
	fprintf(f, "cairn_cache_jobs_done_total %" PRIu64 "\n", (uint64_t)atomic_load(&m_jobs_done));
}

/* ---- start and stop ------------------------------------------------------------------------ */

static int read_key(const char *path)
{
	char text[80];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "cairn serve: cannot read the region key %s: %s (it is printed by "
				"`cairn admin regions add` on the origin)\n",
			path, strerror(errno));
		return -1;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		text[--n] = '\0';
	if (n != 64) {
		fprintf(stderr, "cairn serve: %s: a region key is 64 hex digits\n", path);
		return -1;
	}
	for (size_t i = 0; i < 32; i++) {
		unsigned hi, lo;
		if (sscanf(text + 2 * i, "%1x%1x", &hi, &lo) != 2) {
			fprintf(stderr, "cairn serve: %s: a region key is 64 hex digits\n", path);
			return -1;
		}
		g.key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/*
 * What a crash can leave in the folder, removed at start (before any fill
 * runs): a temporary file of store_file ("KEY.PID.TID.tmp"), and a copy
 * renamed into place whose row never came. Neither is ever served or
 * counted against the cache's size, so either would take disk for good.
 * Names of any other shape are not the node's and stay.
 */
#define LOWER_HEX "0123456789abcdef"

/* The length of the copy key name starts with (HEX or HEX.FORMHEX, lowercase), or 0. */
static size_t key_prefix(const char *name, size_t len)
{
	if (strspn(name, LOWER_HEX) != CAIRN_HASH_HEX_LEN)
		return 0;
	if (name[CAIRN_HASH_HEX_LEN] == '.' &&
	    strspn(name + CAIRN_HASH_HEX_LEN + 1, LOWER_HEX) == CAIRN_HASH_HEX_LEN &&
	    (len == KEY_LEN || name[KEY_LEN] == '.'))
		return KEY_LEN;
	return CAIRN_HASH_HEX_LEN;
}

/* Whether rest is store_file's temporary suffix: ".PID.TID.tmp" (decimal, hex). */
static bool tmp_suffix(const char *rest)
{
	size_t d, h;

	if (rest[0] != '.')
		return false;
	d = strspn(rest + 1, "0123456789");
	if (d == 0 || rest[1 + d] != '.')
		return false;
	h = strspn(rest + 2 + d, LOWER_HEX);
	return h > 0 && strcmp(rest + 2 + d + h, ".tmp") == 0;
}

static void sweep_leftovers(void)
{
	sqlite3_stmt *st = NULL;
	uint64_t n = 0, bytes = 0;
	struct dirent *e;
	DIR *d;

	if (sqlite3_prepare_v2(g.db, "SELECT 1 FROM xorbs WHERE hash = ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return;
	if ((d = opendir(g.dir)) == NULL) {
		sqlite3_finalize(st);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		size_t len = strlen(name), k = key_prefix(name, len);
		char path[4400];
		struct stat sb;
		bool stale;

		if (k == 0)
			continue;
		if (k == len) {
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
			stale = sqlite3_step(st) == SQLITE_DONE;
		} else {
			stale = tmp_suffix(name + k);
		}
		if (!stale)
			continue;
		snprintf(path, sizeof(path), "%s/%s", g.dir, name);
		if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || unlink(path) != 0)
			continue;
		n++;
		bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
	sqlite3_finalize(st);
	if (n > 0)
		fprintf(stderr, "cairn serve: cache: removed %" PRIu64 " file(s) of %" PRIu64
				" bytes left by a crash (copies without a row, temporary files)\n",
			n, bytes);
}

int cairn__cache_start(const cairn__cache_config *cfg)
{
	char path[4200], keyp[4200], lockp[4200];
	char *err = NULL;

	snprintf(g.region, sizeof(g.region), "%s", cfg->region);
	snprintf(g.origin, sizeof(g.origin), "%s", cfg->origin);
	{
		size_t n = strlen(g.origin);
		while (n > 0 && g.origin[n - 1] == '/')
			g.origin[--n] = '\0';
	}
	g.max_bytes = cfg->max_bytes;
	if (cfg->key_file)
		snprintf(keyp, sizeof(keyp), "%s", cfg->key_file);
	else
		snprintf(keyp, sizeof(keyp), "%s/region-key", cfg->data_dir);
	if (read_key(keyp) != 0)
		return CAIRN_EINVALID;
	snprintf(path, sizeof(path), "%s/cache", cfg->data_dir);
	mkdir(cfg->data_dir, 0755);
	mkdir(path, 0755);
	/* one node a folder: another would take this one's fills for a crash's leftovers */
	snprintf(lockp, sizeof(lockp), "%s/cache/.lock", cfg->data_dir);
	g.lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (g.lockfd < 0 || flock(g.lockfd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "cairn serve: %s: %s\n", lockp,
			g.lockfd < 0 ? strerror(errno)
				     : errno == EWOULDBLOCK ? "another cache node runs on this "
							      "--data"
							    : strerror(errno));
		if (g.lockfd >= 0)
			close(g.lockfd);
		g.lockfd = -1;
		return CAIRN_EIO;
	}
	snprintf(g.dir, sizeof(g.dir), "%s/cache/xorbs", cfg->data_dir);
	if (mkdir(g.dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "cairn serve: cannot make %s: %s\n", g.dir, strerror(errno));
		return CAIRN_EIO;
	}
	snprintf(path, sizeof(path), "%s/cache.db", cfg->data_dir);
	if (sqlite3_open_v2(path, &g.db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(g.db, 5000) != SQLITE_OK ||
	    sqlite3_exec(g.db, SCHEMA, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "cairn serve: cannot open the cache index %s: %s\n", path,
			err ? err : sqlite3_errmsg(g.db));
		sqlite3_free(err);
		sqlite3_close(g.db);
		g.db = NULL;
		return CAIRN_EIO;
	}
	{
		sqlite3_stmt *st;
		int version = -1;
		if (sqlite3_prepare_v2(g.db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				version = sqlite3_column_int(st, 0);
			sqlite3_finalize(st);
		}
		/* each step in its own transaction, from the version found on */
		static const char *const upgrade[] = {SCHEMA_2, SCHEMA_3, SCHEMA_4};
		bool failed = false;
		for (int to = 2; to < 2 + (int)(sizeof(upgrade) / sizeof(upgrade[0])) && !failed; to++)
			failed = version < to &&
				 (sqlite3_exec(g.db, "BEGIN", NULL, NULL, &err) != SQLITE_OK ||
				  sqlite3_exec(g.db, upgrade[to - 2], NULL, NULL, &err) != SQLITE_OK ||
				  sqlite3_exec(g.db, "COMMIT", NULL, NULL, &err) != SQLITE_OK);
		if (failed) {
			fprintf(stderr, "cairn serve: cannot upgrade the cache index %s: %s\n", path,
				err ? err : sqlite3_errmsg(g.db));
			sqlite3_free(err);
			sqlite3_close(g.db);
			g.db = NULL;
			return CAIRN_EIO;
		}
	}
	/* rows whose file went missing (a crash before its rename) are forgotten */
	{
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(g.db, "SELECT hash FROM xorbs", -1, &st, NULL) == SQLITE_OK) {
			while (sqlite3_step(st) == SQLITE_ROW) {
				const char *h = (const char *)sqlite3_column_text(st, 0);
				char p2[4200];
				if (!key_ok(h))
					continue;
				path_of(p2, sizeof(p2), h);
				if (access(p2, R_OK) != 0)
					exec_args("DELETE FROM xorbs WHERE hash = ?1", h, (char *)NULL);
			}
			sqlite3_finalize(st);
		}
	}
	sweep_leftovers();
	g.on = true;
	g.stop = false;
	if (pthread_create(&g.worker, NULL, worker, NULL) != 0) {
		fprintf(stderr, "cairn serve: cannot start the pre-warm worker\n");
		return CAIRN_EIO;
	}
	g.worker_started = true;
	return 0;
}

void cairn__cache_stop(void)
{
	if (!g.on)
		return;
	pthread_mutex_lock(&g.mu);
	g.stop = true;
	pthread_cond_broadcast(&g.wake);
	pthread_mutex_unlock(&g.mu);
	if (g.worker_started)
		pthread_join(g.worker, NULL);
	g.worker_started = false;
	sqlite3_close(g.db);
	g.db = NULL;
	if (g.lockfd >= 0)
		close(g.lockfd); /* drops the flock */
	g.lockfd = -1;
	g.on = false;
}
