/*
 * test_store.c - the local-directory xorb store (include/cairn/sys/store.h,
 * lib/store/store_local.c): put / read / size / remove / list round trips,
 * idempotent puts, ranges past the end and missing xorbs, junk in the
 * directory that list must ignore, the sweep of leftover temporary files
 * (alone, and beside another open store), puts and reads from many threads
 * at once (a reader sees a whole xorb or none), every write-path system
 * call failing in turn (SQLite's fault loop: ENOSPC and EIO at call N, for
 * every N), and kill -9 of a writer at random moments: every acknowledged
 * xorb must read back byte for byte, and no temporary file may survive the
 * next open.
 *
 * Linked with -Wl,--wrap=openat64,--wrap=write,--wrap=fsync,--wrap=close,
 * --wrap=renameat (see tests/CMakeLists.txt); the wrappers only act while
 * `armed` is set.
 */
#include "harness.h"

#include "cairn/errors.h"
#include "cairn/hash.h"
#include "cairn/sys/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- fault injection ------------------------------------------------------ */

static bool armed;
static long fault_at = -1, calls;
static int fault_errno = ENOSPC;
static const char *fault_fn; /* the call that failed, NULL if none did */
static bool renamed;         /* a real renameat succeeded while armed */
static bool choppy;          /* writes: short, with EINTR in between */

int __real_openat64(int at, const char *path, int flags, ...);
ssize_t __real_write(int fd, const void *p, size_t n);
int __real_fsync(int fd);
int __real_close(int fd);
int __real_renameat(int a, const char *from, int b, const char *to);
int __wrap_openat64(int at, const char *path, int flags, ...);
ssize_t __wrap_write(int fd, const void *p, size_t n);
int __wrap_fsync(int fd);
int __wrap_close(int fd);
int __wrap_renameat(int a, const char *from, int b, const char *to);

static bool fault(const char *fn)
{
	if (!armed || fault_at < 0 || calls++ != fault_at)
		return false;
	fault_fn = fn;
	errno = fault_errno;
	return true;
}

int __wrap_openat64(int at, const char *path, int flags, ...)
{
	unsigned mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, unsigned);
		va_end(ap);
	}
	if (fault("openat"))
		return -1;
	return __real_openat64(at, path, flags, mode);
}

ssize_t __wrap_write(int fd, const void *p, size_t n)
{
	static unsigned tick;

	if (fault("write"))
		return -1;
	if (armed && choppy) {
		if (++tick % 3 == 0) {
			errno = EINTR;
			return -1;
		}
		if (n > 4093)
			n = 4093;
	}
	return __real_write(fd, p, n);
}

int __wrap_fsync(int fd)
{
	return fault("fsync") ? -1 : __real_fsync(fd);
}

int __wrap_close(int fd)
{
	if (fault("close")) {
		__real_close(fd); /* Linux: the descriptor is gone even when close fails */
		errno = fault_errno;
		return -1;
	}
	return __real_close(fd);
}

int __wrap_renameat(int a, const char *from, int b, const char *to)
{
	int rc;

	if (fault("renameat"))
		return -1;
	rc = __real_renameat(a, from, b, to);
	if (armed && rc == 0)
		renamed = true;
	return rc;
}

/* ---- helpers -------------------------------------------------------------- */

static char root[256];

/* Content and name of test xorb `seed`: the name is the content's chunk hash. */
static uint8_t *make_xorb(cairn_hash *name, uint64_t seed, size_t len)
{
	uint8_t *p = test_xmalloc(len);

	splitmix64_fill(seed, p, len);
	cairn_chunk_hash(name, p, len);
	return p;
}

static size_t size_for(uint64_t seed, size_t max)
{
	uint64_t s = seed ^ 0x5eed;
	return (size_t)(splitmix64_next(&s) % max) + 1;
}

static void final_path(char *out, size_t cap, const char *dir, const cairn_hash *h)
{
	char hex[CAIRN_HASH_HEX_LEN + 1];

	cairn_hash_to_hex(hex, h);
	snprintf(out, cap, "%s/%.2s/%s", dir, hex, hex);
}

/* Entries in dir/.tmp (-1 if it cannot be read). */
static int tmp_count(const char *dir)
{
	char path[512];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/.tmp", dir);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int open_fds(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n++;
	closedir(d);
	return n;
}

/* The xorb is stored with exactly these bytes. */
static bool holds(cairn_store *s, const cairn_hash *h, const uint8_t *p, size_t len)
{
	uint8_t *got = test_xmalloc(len);
	uint64_t size = 0;
	bool ok = s->size(s, h, &size) == 0 && size == len && s->read(s, h, 0, len, got) == 0 &&
		  memcmp(got, p, len) == 0;

	free(got);
	return ok;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	CHECKF(f != NULL, "cannot create %s", path);
}

static void make_dir(const char *path)
{
	CHECKF(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
}

/* ---- list collection ------------------------------------------------------ */

#define SEEN_MAX 1024
typedef struct seen {
	cairn_hash h[SEEN_MAX];
	uint64_t size[SEEN_MAX];
	int n;
	int stop_after; /* return 42 after this many; 0 = never */
} seen;

static int collect(void *ctx, const cairn_hash *xorb, uint64_t size, int64_t mtime_ns)
{
	seen *sn = ctx;

	if (sn->n < SEEN_MAX) {
		sn->h[sn->n] = *xorb;
		sn->size[sn->n] = size;
	}
	sn->n++;
	return sn->stop_after && sn->n >= sn->stop_after ? 42 : 0;
}

static int seen_find(const seen *sn, const cairn_hash *h)
{
	for (int i = 0; i < sn->n && i < SEEN_MAX; i++)
		if (cairn_hash_equal(&sn->h[i], h))
			return i;
	return -1;
}

/* ---- round trips ---------------------------------------------------------- */

static void round_trips(void)
{
	char dir[512], path[1024];
	cairn_store *s = NULL;
	cairn_hash a, b, e, missing;
	size_t alen = 100000;
	uint8_t *pa = make_xorb(&a, 1, alen), *pb, *pe, buf[64];
	uint64_t size;
	seen sn;
	struct stat st;

	test_section("open makes the directory and its layout");
	snprintf(dir, sizeof(dir), "%s/nested/deeper/xorbs", root);
	CHECK(cairn_store_local_open(&s, dir) == 0);
	if (s == NULL)
		return;
	CHECK(s->version == CAIRN_STORE_VERSION);
	snprintf(path, sizeof(path), "%s/.tmp", dir);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	snprintf(path, sizeof(path), "%s/00", dir);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	snprintf(path, sizeof(path), "%s/ff", dir);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));

	test_section("put, size, read");
	CHECK(s->put(s, &a, pa, alen) == 0);
	final_path(path, sizeof(path), dir, &a);
	CHECKF(stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == alen,
	       "%s", path);
	CHECK((st.st_mode & 0777) == 0644 || (st.st_mode & 0777) == (0644 & ~(mode_t)022));
	CHECK(s->size(s, &a, &size) == 0 && size == alen);
	CHECK(holds(s, &a, pa, alen));
	CHECK(tmp_count(dir) == 0);

	test_section("ranges");
	CHECK(s->read(s, &a, 0, 1, buf) == 0 && buf[0] == pa[0]);
	CHECK(s->read(s, &a, 777, 64, buf) == 0 && memcmp(buf, pa + 777, 64) == 0);
	CHECK(s->read(s, &a, alen - 64, 64, buf) == 0 && memcmp(buf, pa + alen - 64, 64) == 0);
	CHECK(s->read(s, &a, alen, 0, buf) == 0);
	CHECK(s->read(s, &a, alen - 63, 64, buf) == CAIRN_ECORRUPT);
	CHECK(strstr(cairn_error_last(), "shorter") != NULL);
	CHECK(s->read(s, &a, alen + 1, 0, buf) == CAIRN_ECORRUPT);
	CHECK(s->read(s, &a, UINT64_MAX, 1, buf) == CAIRN_ECORRUPT);
	CHECK(s->read(s, &a, UINT64_MAX - 10, 64, buf) == CAIRN_ECORRUPT);

	test_section("missing xorbs");
	memset(&missing, 0xab, sizeof(missing));
	CHECK(s->read(s, &missing, 0, 1, buf) == CAIRN_ENOTFOUND);
	CHECK(strstr(cairn_error_last(), "not in the store") != NULL);
	CHECK(s->size(s, &missing, &size) == CAIRN_ENOTFOUND);
	CHECK(s->remove(s, &missing) == 0);

	test_section("an empty xorb");
	pe = make_xorb(&e, 2, 1);
	CHECK(s->put(s, &e, pe, 0) == 0);
	CHECK(s->size(s, &e, &size) == 0 && size == 0);
	CHECK(s->read(s, &e, 0, 0, buf) == 0);
	CHECK(s->read(s, &e, 0, 1, buf) == CAIRN_ECORRUPT);

	test_section("put is idempotent and never rewrites");
	pb = make_xorb(&b, 3, alen);
	CHECK(s->put(s, &a, pa, alen) == 0);
	CHECK(s->put(s, &a, pb, alen / 2) == 0); /* same name, other bytes: kept as it was */
	CHECK(holds(s, &a, pa, alen));
	CHECK(tmp_count(dir) == 0);

	test_section("list");
	CHECK(s->put(s, &b, pb, alen) == 0);
	memset(&sn, 0, sizeof(sn));
	CHECK(s->list(s, collect, &sn) == 0);
	CHECK(sn.n == 3);
	CHECK(seen_find(&sn, &a) >= 0 && sn.size[seen_find(&sn, &a)] == alen);
	CHECK(seen_find(&sn, &b) >= 0 && sn.size[seen_find(&sn, &b)] == alen);
	CHECK(seen_find(&sn, &e) >= 0 && sn.size[seen_find(&sn, &e)] == 0);
	memset(&sn, 0, sizeof(sn));
	sn.stop_after = 2;
	CHECK(s->list(s, collect, &sn) == 42 && sn.n == 2);

	test_section("remove");
	CHECK(s->remove(s, &b) == 0);
	CHECK(s->size(s, &b, &size) == CAIRN_ENOTFOUND);
	CHECK(s->read(s, &b, 0, 1, buf) == CAIRN_ENOTFOUND);
	CHECK(s->remove(s, &b) == 0);
	CHECK(holds(s, &a, pa, alen));
	memset(&sn, 0, sizeof(sn));
	CHECK(s->list(s, collect, &sn) == 0 && sn.n == 2 && seen_find(&sn, &b) < 0);
	CHECK(s->put(s, &b, pb, alen) == 0 && holds(s, &b, pb, alen)); /* back again */

	test_section("reopen keeps everything");
	s->close(s);
	s = NULL;
	CHECK(cairn_store_local_open(&s, dir) == 0);
	if (s != NULL) {
		CHECK(holds(s, &a, pa, alen) && holds(s, &b, pb, alen));
		s->close(s);
	}

	test_section("open refuses a file");
	snprintf(path, sizeof(path), "%s/plainfile", root);
	write_file(path, "x");
	s = NULL;
	CHECK(cairn_store_local_open(&s, path) == CAIRN_EIO && s == NULL);
	CHECK(strstr(cairn_error_last(), "ENOTDIR") != NULL);
	snprintf(path, sizeof(path), "%s/plainfile/below", root);
	CHECK(cairn_store_local_open(&s, path) == CAIRN_EIO && s == NULL);
	free(pa);
	free(pb);
	free(pe);
}

/* ---- junk in the directory ------------------------------------------------ */

static void junk(void)
{
	char dir[512], path[1024], hex[CAIRN_HASH_HEX_LEN + 1], up[CAIRN_HASH_HEX_LEN + 1];
	cairn_store *s = NULL;
	cairn_hash a, other;
	uint8_t *pa = make_xorb(&a, 10, 5000);
	seen sn;

	test_section("list ignores what is not a xorb");
	snprintf(dir, sizeof(dir), "%s/junk", root);
	CHECK(cairn_store_local_open(&s, dir) == 0);
	if (s == NULL)
		return;
	CHECK(s->put(s, &a, pa, 5000) == 0);
	cairn_hash_to_hex(hex, &a);

	snprintf(path, sizeof(path), "%s/%.2s/zz", dir, hex); /* short junk */
	write_file(path, "junk");
	snprintf(path, sizeof(path), "%s/%.2s/%s.bak", dir, hex, hex); /* a suffix */
	write_file(path, "junk");
	snprintf(path, sizeof(path), "%s/%.2s/%.63sg", dir, hex, hex); /* not hex */
	write_file(path, "junk");
	for (int i = 0; i < CAIRN_HASH_HEX_LEN; i++)
		up[i] = (char)(hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i]);
	up[CAIRN_HASH_HEX_LEN] = '\0';
	if (strcmp(up, hex) != 0) {
		snprintf(path, sizeof(path), "%s/%.2s/%s", dir, hex, up); /* not canonical */
		write_file(path, "junk");
	}
	memset(&other, 0, sizeof(other));
	other.bytes[7] = (uint8_t)(hex[0] == '0' ? 0x10 : 0x00); /* first digit differs */
	cairn_hash_to_hex(up, &other);
	snprintf(path, sizeof(path), "%s/%.2s/%s", dir, hex, up); /* in the wrong subdir */
	write_file(path, "junk");
	memset(&other, 0x11, sizeof(other));
	cairn_hash_to_hex(up, &other);
	snprintf(path, sizeof(path), "%s/%.2s/%s", dir, up, up); /* a directory, not a file */
	make_dir(path);
	snprintf(path, sizeof(path), "%s/README", dir);
	write_file(path, "junk");
	snprintf(path, sizeof(path), "%s/zz", dir);
	make_dir(path);
	snprintf(path, sizeof(path), "%s/zz/%s", dir, hex);
	write_file(path, "junk");

	memset(&sn, 0, sizeof(sn));
	CHECK(s->list(s, collect, &sn) == 0);
	CHECKF(sn.n == 1 && cairn_hash_equal(&sn.h[0], &a) && sn.size[0] == 5000, "%d listed",
	       sn.n);
	CHECK(holds(s, &a, pa, 5000));
	s->close(s);
	free(pa);
}

/* ---- the temp sweep ------------------------------------------------------- */

static void leftover(const char *dir, const char *name, time_t age)
{
	char path[1024];
	struct timespec ts[2];

	snprintf(path, sizeof(path), "%s/.tmp/%s", dir, name);
	write_file(path, "a partial xorb nobody acknowledged");
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
}

static bool tmp_has(const char *dir, const char *name)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/.tmp/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void sweep(void)
{
	char dir[512];
	cairn_store *s = NULL, *t = NULL;
	cairn_hash a;
	uint8_t *pa = make_xorb(&a, 20, 3000);

	test_section("reopen sweeps leftover temp files");
	snprintf(dir, sizeof(dir), "%s/sweep", root);
	CHECK(cairn_store_local_open(&s, dir) == 0);
	if (s == NULL)
		return;
	CHECK(s->put(s, &a, pa, 3000) == 0);
	s->close(s);
	leftover(dir, "fresh.1.2.3", 0);
	leftover(dir, "old.1.2.3", 3 * 3600);
	CHECK(tmp_count(dir) == 2);
	CHECK(cairn_store_local_open(&s, dir) == 0);
	if (s == NULL)
		return;
	CHECK(tmp_count(dir) == 0);
	CHECK(holds(s, &a, pa, 3000));

	test_section("beside an open store, only old temp files go");
	leftover(dir, "fresh.4.5.6", 0);
	leftover(dir, "old.4.5.6", 3 * 3600);
	CHECK(cairn_store_local_open(&t, dir) == 0);
	CHECK(tmp_has(dir, "fresh.4.5.6"));
	CHECK(!tmp_has(dir, "old.4.5.6"));
	if (t != NULL) {
		CHECK(holds(t, &a, pa, 3000));
		t->close(t);
	}
	s->close(s);
	CHECK(cairn_store_local_open(&s, dir) == 0); /* alone again: all of them */
	CHECK(tmp_count(dir) == 0);
	if (s != NULL)
		s->close(s);
	free(pa);
}

/* ---- threads -------------------------------------------------------------- */

#define THREADS 8
#define SHARED 16
#define OWN 16
#define READERS 3

typedef struct thread_arg {
	cairn_store *s;
	int id;
	int failures;
	long whole, absent; /* reader: whole xorbs seen, not-yet-there answers */
} thread_arg;

static atomic_int writers_left;

static uint64_t shared_seed(int i)
{
	return 1000 + (uint64_t)i;
}

static uint64_t own_seed(int t, int i)
{
	return 2000 + (uint64_t)t * 100 + (uint64_t)i;
}

static void *writer(void *p)
{
	thread_arg *a = p;

	for (int i = 0; i < SHARED + OWN; i++) {
		/* interleave: shared names in a per-thread order, own names between */
		uint64_t seed = i % 2 ? own_seed(a->id, i / 2)
				      : shared_seed((i / 2 + a->id * 5) % SHARED);
		size_t len = size_for(seed, 300000);
		cairn_hash h;
		uint8_t *d = make_xorb(&h, seed, len);

		if (a->s->put(a->s, &h, d, len) != 0)
			a->failures++;
		free(d);
	}
	atomic_fetch_sub(&writers_left, 1);
	return NULL;
}

static void *reader(void *p)
{
	thread_arg *a = p;
	uint8_t *want[SHARED], *got = test_xmalloc(300000);
	cairn_hash h[SHARED];
	size_t len[SHARED];

	for (int i = 0; i < SHARED; i++) {
		len[i] = size_for(shared_seed(i), 300000);
		want[i] = make_xorb(&h[i], shared_seed(i), len[i]);
	}
	while (atomic_load(&writers_left) > 0) {
		for (int i = 0; i < SHARED; i++) {
			uint64_t size;
			int rc = a->s->read(a->s, &h[i], 0, len[i], got);

			if (rc == CAIRN_ENOTFOUND) {
				a->absent++;
			} else if (rc == 0 && memcmp(got, want[i], len[i]) == 0) {
				a->whole++;
			} else {
				a->failures++;
			}
			rc = a->s->size(a->s, &h[i], &size);
			if (rc != CAIRN_ENOTFOUND && !(rc == 0 && size == len[i]))
				a->failures++;
		}
	}
	for (int i = 0; i < SHARED; i++)
		free(want[i]);
	free(got);
	return NULL;
}

static void threads(void)
{
	char dir[512];
	cairn_store *s = NULL;
	pthread_t w[THREADS], r[READERS];
	thread_arg wa[THREADS], ra[READERS];
	int failures = 0, wrong = 0;
	long whole = 0, absent = 0;
	seen *sn = test_xmalloc(sizeof(*sn));

	test_section("concurrent puts of the same and different names, with readers");
	snprintf(dir, sizeof(dir), "%s/threads", root);
	CHECK(cairn_store_local_open(&s, dir) == 0);
	if (s == NULL)
		return;
	atomic_store(&writers_left, THREADS);
	for (int i = 0; i < READERS; i++) {
		ra[i] = (thread_arg){.s = s, .id = i};
		CHECK(pthread_create(&r[i], NULL, reader, &ra[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++) {
		wa[i] = (thread_arg){.s = s, .id = i};
		CHECK(pthread_create(&w[i], NULL, writer, &wa[i]) == 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(w[i], NULL);
		failures += wa[i].failures;
	}
	for (int i = 0; i < READERS; i++) {
		pthread_join(r[i], NULL);
		failures += ra[i].failures;
		whole += ra[i].whole;
		absent += ra[i].absent;
	}
	CHECKF(failures == 0, "%d failed operations", failures);
	printf("# readers saw %ld whole xorbs, %ld not there yet, never a partial one\n", whole,
	       absent);

	for (int i = 0; i < SHARED + THREADS * OWN; i++) {
		uint64_t seed = i < SHARED ? shared_seed(i) : own_seed((i - SHARED) / OWN, (i - SHARED) % OWN);
		size_t len = size_for(seed, 300000);
		cairn_hash h;
		uint8_t *d = make_xorb(&h, seed, len);

		if (!holds(s, &h, d, len))
			wrong++;
		free(d);
	}
	CHECKF(wrong == 0, "%d xorbs wrong", wrong);
	memset(sn, 0, sizeof(*sn));
	CHECK(s->list(s, collect, sn) == 0 && sn->n == SHARED + THREADS * OWN);
	CHECK(tmp_count(dir) == 0);
	s->close(s);
	free(sn);
}

/* ---- fault injection -------------------------------------------------------- */

static const char *errno_text(int e)
{
	return e == ENOSPC ? "ENOSPC" : "EIO";
}

static void put_faults(void)
{
	char dir[512];
	cairn_store *s = NULL;
	cairn_hash prev;
	size_t plen = 70000;
	uint8_t *pp = make_xorb(&prev, 30, plen);
	uint64_t seed = 40000;
	long runs = 0, failed = 0, after_rename = 0;
	int bad = 0;

	test_section("put: every system call failing in turn (ENOSPC, EIO)");
	snprintf(dir, sizeof(dir), "%s/faults", root);
	CHECK(cairn_store_local_open(&s, dir) == 0);
	if (s == NULL)
		return;
	CHECK(s->put(s, &prev, pp, plen) == 0);
	for (fault_at = 0;; fault_at++) {
		bool reached = false;

		for (int k = 0; k < 2; k++) {
			size_t len = size_for(seed, 200000);
			cairn_hash h;
			uint8_t *d = make_xorb(&h, seed++, len);
			uint64_t size;
			int rc;

			fault_errno = k ? EIO : ENOSPC;
			calls = 0;
			fault_fn = NULL;
			renamed = false;
			armed = true;
			rc = s->put(s, &h, d, len);
			armed = false;
			runs++;
			if (fault_fn == NULL) { /* got past every call: the put is complete */
				if (!CHECKF(rc == 0 && holds(s, &h, d, len), "no fault, rc %d", rc))
					bad++;
				free(d);
				continue;
			}
			reached = true;
			if (rc == CAIRN_EIO) {
				failed++;
				if (!CHECKF(strstr(cairn_error_last(), errno_text(fault_errno)) &&
						    strstr(cairn_error_last(), dir),
					    "message \"%s\"", cairn_error_last()))
					bad++;
			} else if (!CHECKF(rc == 0 && renamed && strcmp(fault_fn, "close") == 0,
					   "%s failing at call %ld: rc %d", fault_fn, fault_at, rc)) {
				bad++; /* only closing ab/ after its fsync may fail unnoticed */
			}
			if (renamed) {
				/* the rename was done: the whole xorb, never part of it */
				after_rename++;
				if (!CHECK(holds(s, &h, d, len)))
					bad++;
			} else if (!CHECKF(s->size(s, &h, &size) == CAIRN_ENOTFOUND,
					   "%s failing at call %ld left the name", fault_fn, fault_at)) {
				bad++;
			}
			if (!CHECKF(tmp_count(dir) == 0, "%s at call %ld left a temp file", fault_fn,
				    fault_at))
				bad++;
			if (!CHECK(holds(s, &prev, pp, plen)))
				bad++;
			free(d);
		}
		if (!reached)
			break;
	}
	printf("# %ld runs: %ld failed with CAIRN_EIO, %ld after the rename (whole xorb kept)\n",
	       runs, failed, after_rename);
	CHECK(failed >= 8 && bad == 0);

	test_section("put of an existing name: its fsync failing in turn");
	for (fault_at = 0;; fault_at++) {
		int rc;

		calls = 0;
		fault_fn = NULL;
		armed = true;
		rc = s->put(s, &prev, pp, plen);
		armed = false;
		CHECKF(rc == 0 || (rc == CAIRN_EIO && fault_fn != NULL), "rc %d", rc);
		CHECK(holds(s, &prev, pp, plen));
		if (fault_fn == NULL)
			break;
	}

	test_section("short writes and EINTR");
	{
		size_t len = 1000003;
		cairn_hash h;
		uint8_t *d = make_xorb(&h, 50, len);

		choppy = true;
		armed = true;
		fault_at = -1;
		CHECK(s->put(s, &h, d, len) == 0);
		armed = false;
		choppy = false;
		CHECK(holds(s, &h, d, len));
		free(d);
	}
	fault_at = -1;
	s->close(s);
	free(pp);
}

static void open_faults(void)
{
	char dir[600];
	int fds = open_fds(), bad = 0;
	long runs = 0, failed = 0;

	test_section("open: every system call failing in turn");
	for (fault_at = 0;; fault_at++) {
		cairn_store *s = NULL;
		int rc;

		snprintf(dir, sizeof(dir), "%s/openfaults/%ld", root, fault_at);
		fault_errno = fault_at % 2 ? EIO : ENOSPC;
		calls = 0;
		fault_fn = NULL;
		armed = true;
		rc = cairn_store_local_open(&s, dir);
		armed = false;
		runs++;
		if (rc == 0) {
			cairn_hash h;
			uint8_t *d = make_xorb(&h, 60, 100);
			if (!CHECK(s->put(s, &h, d, 100) == 0 && holds(s, &h, d, 100)))
				bad++;
			s->close(s);
			free(d);
		} else if (!CHECKF(rc == CAIRN_EIO && s == NULL, "rc %d", rc)) {
			bad++;
		} else {
			failed++;
		}
		if (!CHECKF(open_fds() == fds, "%s failing at call %ld leaks a descriptor",
			    fault_fn ? fault_fn : "-", fault_at))
			bad++;
		if (fault_fn == NULL)
			break;
	}
	fault_at = -1;
	printf("# %ld runs, %ld failed with CAIRN_EIO\n", runs, failed);
	CHECK(failed > 0 && bad == 0);
}

/* ---- kill -9 ---------------------------------------------------------------- */

#define ROUNDS 20

typedef struct acked {
	uint64_t *seeds;
	size_t n, cap;
} acked;

static uint64_t kill_seed(int round, uint32_t i)
{
	return 1000000 * (uint64_t)(round + 1) + i;
}

static void child_writes(const char *dir, int round, int fd)
{
	cairn_store *s = NULL;

	if (cairn_store_local_open(&s, dir) != 0)
		_exit(3);
	for (uint32_t i = 0;; i++) {
		uint64_t seed = kill_seed(round, i);
		size_t len = size_for(seed, 400000);
		cairn_hash h;
		uint8_t *d = make_xorb(&h, seed, len);

		if (s->put(s, &h, d, len) != 0)
			_exit(4);
		if (write(fd, &i, sizeof(i)) != (ssize_t)sizeof(i))
			_exit(5);
		free(d);
	}
}

static void kill9(void)
{
	char dir[512];
	acked ack = {0};
	uint64_t rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	int wrong = 0, leftovers = 0, temps_after = 0, odd_exits = 0;

	test_section("kill -9 at random moments: acknowledged means durable");
	snprintf(dir, sizeof(dir), "%s/kill", root);
	fflush(stdout);
	for (int round = 0; round < ROUNDS; round++) {
		cairn_store *s = NULL;
		int p[2], status = 0, n;
		uint32_t i;
		pid_t pid;

		if (!CHECK(pipe(p) == 0))
			return;
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			child_writes(dir, round, p[1]);
		}
		close(p[1]);
		if (!CHECK(pid > 0))
			return;
		usleep((useconds_t)(splitmix64_next(&rnd) % 60000)); /* 0 to 60 ms */
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (!WIFSIGNALED(status))
			odd_exits++;
		while ((n = (int)read(p[0], &i, sizeof(i))) == (int)sizeof(i)) {
			if (ack.n == ack.cap) {
				ack.cap = ack.cap ? ack.cap * 2 : 256;
				ack.seeds = realloc(ack.seeds, ack.cap * sizeof(*ack.seeds));
				if (ack.seeds == NULL)
					exit(2);
			}
			ack.seeds[ack.n++] = kill_seed(round, i);
		}
		close(p[0]);
		if (tmp_count(dir) > 0)
			leftovers += tmp_count(dir);

		/* reopen: everything acknowledged so far, byte for byte */
		if (!CHECK(cairn_store_local_open(&s, dir) == 0))
			break;
		temps_after += tmp_count(dir);
		for (size_t k = 0; k < ack.n; k++) {
			size_t len = size_for(ack.seeds[k], 400000);
			cairn_hash h;
			uint8_t *d = make_xorb(&h, ack.seeds[k], len);

			if (!holds(s, &h, d, len))
				wrong++;
			free(d);
		}
		s->close(s);
	}
	CHECKF(odd_exits == 0, "%d children ended on their own", odd_exits);
	CHECKF(wrong == 0, "%d acknowledged xorbs lost or damaged", wrong);
	CHECKF(temps_after == 0, "%d temp files survived a reopen", temps_after);
	CHECK(ack.n > 0);
	printf("# %d rounds, %zu acknowledged xorbs all intact; %d temp files left by kills, "
	       "all swept\n",
	       ROUNDS, ack.n, leftovers);
	free(ack.seeds);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	char cmd[300];

	snprintf(root, sizeof(root), "%s/cairn-test-store-XXXXXX", base && *base ? base : "/tmp");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	round_trips();
	junk();
	sweep();
	threads();
	put_faults();
	open_faults();
	kill9();
	if (test_failed_ == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", root);
	} else {
		printf("# left %s for inspection\n", root);
	}
	return test_done();
}
