/*
 * test_repo_faults.c - a write that fails underneath (ENOSPC, EIO,
 * injected into the store's write, pwrite and fsync calls on the Nth call,
 * for every N the write reaches) must return an error and leave the
 * previous version of the object intact and readable, with fsck clean.
 * Also: a 1 GiB object streamed in keeps resident memory flat.
 *
 * Linked with -Wl,--wrap=write,--wrap=pwrite,--wrap=fsync,--wrap=fdatasync:
 * only libcairn's own calls are wrapped (SQLite is a shared library).
 */
#include "harness.h"
#include "xetgen.h"

#include "cairn/errors.h"
#include "cairn/repo.h"

#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

static bool armed;
static long fail_at = -1, calls;
static int fail_errno = ENOSPC;

ssize_t __real_write(int fd, const void *p, size_t n);
ssize_t __real_pwrite(int fd, const void *p, size_t n, off_t off);
int __real_fsync(int fd);
int __real_fdatasync(int fd);
ssize_t __wrap_write(int fd, const void *p, size_t n);
ssize_t __wrap_pwrite(int fd, const void *p, size_t n, off_t off);
int __wrap_fsync(int fd);
int __wrap_fdatasync(int fd);

static bool fails(void)
{
	if (armed && calls++ == fail_at) {
		errno = fail_errno;
		return true;
	}
	return false;
}

ssize_t __wrap_write(int fd, const void *p, size_t n)
{
	return fails() ? -1 : __real_write(fd, p, n);
}

ssize_t __wrap_pwrite(int fd, const void *p, size_t n, off_t off)
{
	return fails() ? -1 : __real_pwrite(fd, p, n, off);
}

int __wrap_fsync(int fd)
{
	return fails() ? -1 : __real_fsync(fd);
}

int __wrap_fdatasync(int fd)
{
	return fails() ? -1 : __real_fdatasync(fd);
}

static bool holds(cairn_repo *r, const uint8_t *want, size_t n)
{
	test_sink s = {0};
	int rc = cairn_object_get(r, "f", "b", "obj", 3, 0, UINT64_MAX, test_sink_write, &s);
	bool ok = rc == 0 && s.n == n && memcmp(s.p, want, n) == 0;
	free(s.p);
	return ok;
}

static void failing_writes(cairn_repo *r)
{
	size_t n1, n2;
	uint8_t *v1 = xetgen("splitmix:1:3000000", &n1);
	uint8_t *v2 = xetgen("lowent:2:2500000", &n2);
	long runs = 0, failed = 0;
	bool ok = true;

	CHECK(cairn_bucket_create(r, "f", "b", false) == 0);
	CHECK(cairn_object_put(r, "f", "b", "obj", 3, v1, n1, NULL, NULL) == 0);
	for (int e = 0; e < 2; e++) {
		fail_errno = e ? EIO : ENOSPC;
		for (fail_at = 0;; fail_at++) {
			int rc;
			uint64_t faults = 1;
			calls = 0;
			armed = true;
			rc = cairn_object_put(r, "f", "b", "obj", 3, v2, n2, NULL, NULL);
			armed = false;
			runs++;
			if (calls <= fail_at) {
				/* the fault was never reached: the write went through */
				ok &= rc == 0 && holds(r, v2, n2);
				break;
			}
			failed++;
			ok &= rc == CAIRN_EIO && holds(r, v1, n1);
			ok &= strstr(cairn_error_last(), e ? "Input/output" : "No space") != NULL ||
			      printf("# message: %s\n", cairn_error_last()) < 0;
			ok &= cairn_repo_fsck(r, NULL, NULL, &faults) == 0 && faults == 0;
			if (!ok) {
				printf("# failed at call %ld: rc=%d %s\n", fail_at, rc, cairn_error_last());
				break;
			}
		}
		/* back to v1 for the next errno */
		CHECK(cairn_object_put(r, "f", "b", "obj", 3, v1, n1, NULL, NULL) == 0);
		CHECK(cairn_repo_gc(r, 0, NULL) == 0);
	}
	CHECKF(ok && failed > 3, "%ld runs, %ld failed cleanly", runs, failed);
	printf("# %ld runs, %ld writes failed cleanly leaving the old version\n", runs, failed);
	free(v1);
	free(v2);
}

/* Resident memory stays flat however big the object. */
static void flat_memory(cairn_repo *r)
{
	cairn_upload *u;
	uint8_t *buf = test_xmalloc(1u << 20);
	uint64_t seed = 7;
	struct rusage ru;
	cairn_put_result res;

	test_section("a 1 GiB object streams through in flat memory");
	CHECK(cairn_upload_new(&u, r) == 0);
	for (int i = 0; i < 1024; i++) {
		splitmix64_fill(splitmix64_next(&seed), buf, 1u << 20);
		if (cairn_upload_write(u, buf, 1u << 20) != 0)
			break;
	}
	CHECK(cairn_upload_commit(u, "f", "b", "big", 3, NULL, &res) == 0 && res.size == 1ull << 30);
	cairn_upload_free(u);
	getrusage(RUSAGE_SELF, &ru);
	printf("# peak resident memory after a 1 GiB put: %ld MiB\n", ru.ru_maxrss / 1024);
#if defined(__SANITIZE_ADDRESS__)
	/* AddressSanitizer's quarantine and shadow memory are not ours to count */
	CHECK(ru.ru_maxrss > 0);
#else
	CHECKF(ru.ru_maxrss < 200 * 1024, "max RSS %ld KiB", ru.ru_maxrss);
#endif
	free(buf);
}

int main(void)
{
	char dir[] = "/tmp/cairn-test-faults-XXXXXX";
	cairn_repo *r;

	if (!CHECK(mkdtemp(dir) != NULL))
		return test_done();
	if (!CHECKF(cairn_repo_open(&r, dir) == 0, "%s", cairn_error_last()))
		return test_done();
	test_section("failing writes keep the previous version");
	failing_writes(r);
	flat_memory(r);
	cairn_repo_close(r);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", dir);
	}
	return test_done();
}
