/*
 * store_local.c - the xorb store in a local directory (cairn_store_local_open,
 * see include/cairn/sys/store.h).
 *
 * Layout: DIR/ab/<64 hex digits> holds one xorb, named by the xet text form
 * of its hash (ab = its first two digits); DIR/.tmp/ holds writes in
 * progress; DIR/.lock tells openers whether other processes use the store.
 * Every access goes through a descriptor of DIR opened once (openat and
 * friends), so a relative DIR keeps working if the process changes its
 * working directory, and no call allocates except open.
 *
 * A put writes a unique file in .tmp (O_EXCL), fsyncs it, renames it into
 * ab/ and fsyncs ab/: a reader sees the whole xorb or nothing, and a put
 * that returned 0 survives kill -9 and power loss. The 256 subdirectories
 * are created (and DIR fsynced) by open, before any put can be
 * acknowledged, so a put never depends on another thread's pending mkdir.
 * A put of a name that exists fsyncs ab/ before returning 0, since the
 * existing entry may come from a concurrent put still before its fsync.
 *
 * Failure before the rename unlinks the temporary file: nothing appears
 * under the name. Once the rename is done the name holds the whole xorb;
 * if fsyncing ab/ then fails the put returns CAIRN_EIO but leaves the file,
 * because a concurrent put of the same xorb may already have been
 * acknowledged for it (deleting it would lose an acknowledged xorb); a
 * retry finds it and fsyncs ab/ again.
 *
 * Sweeping .tmp on open. Temporary files are never acknowledged, so any a
 * dead writer left are garbage, but a live writer in another process must
 * not lose its file. Every open store holds a shared flock on DIR/.lock
 * (the kernel drops it when a process dies, even by kill -9). An opener
 * that gets the lock exclusively knows no other process has the store
 * open and deletes everything in .tmp; otherwise it deletes only files
 * not modified for TMP_MAX_AGE (a live put rewrites its file's mtime with
 * every write and holds it for one fsync after the last). This rather
 * than "one writer process per directory": a CLI command, a server and a
 * pre-warm job can share one data directory. And deleting a live writer's
 * file by mistake cannot lose data: its rename fails and so does its put.
 * On file systems without flock the age rule alone applies.
 */
#include "cairn/sys/store.h"
#include "../util/util_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_DIR ".tmp"
#define LOCK_FILE ".lock"
#define TMP_MAX_AGE (60 * 60) /* seconds: temp files older than this are dead */
#define DIR_MODE 0755
#define FILE_MODE 0644

/* "ab/" + 64 hex digits; ".tmp/" + hex + ".pid.counter.random". */
#define NAME_SIZE (3 + CAIRN_HASH_HEX_LEN + 1)
#define TMP_NAME_SIZE (sizeof(TMP_DIR) + CAIRN_HASH_HEX_LEN + 64)

typedef struct local_store {
	cairn_store base; /* first: the table the core sees */
	int dirfd;        /* DIR, for every *at() call */
	int lockfd;       /* DIR/.lock, shared flock held while open; -1 without */
	char *dir;        /* as given to open, for messages */
} local_store;

/* Process-wide, so temp names differ between threads; see tmp_name(). */
static atomic_uint_fast64_t tmp_counter;

static const char *errno_name(int e)
{
	switch (e) {
	case ENOSPC: return "ENOSPC";
	case EIO: return "EIO";
	case EDQUOT: return "EDQUOT";
	case EROFS: return "EROFS";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EFBIG: return "EFBIG";
	case EMFILE: return "EMFILE";
	case ENFILE: return "ENFILE";
	case ENOMEM: return "ENOMEM";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ELOOP: return "ELOOP";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case EINTR: return "EINTR";
	case ESTALE: return "ESTALE";
	case EXDEV: return "EXDEV";
	default: return "errno";
	}
}

/* CAIRN_EIO naming the call, the path and the OS error, e.g.
 * "put 1f..: fsync DIR/.tmp/x: ENOSPC (No space left on device)". */
static int os_error(const local_store *s, const char *what, const char *call, const char *rel,
		    int err)
{
	return cairn__error_set(CAIRN_EIO, "%s: %s %s/%s: %s (%s)", what, call, s->dir, rel,
				errno_name(err), strerror(err));
}

/* "ab/<hex>" into name, the bare hex into hex. */
static void object_name(char name[NAME_SIZE], char hex[CAIRN_HASH_HEX_LEN + 1],
			const cairn_hash *xorb)
{
	cairn_hash_to_hex(hex, xorb);
	name[0] = hex[0];
	name[1] = hex[1];
	name[2] = '/';
	memcpy(name + 3, hex, CAIRN_HASH_HEX_LEN + 1);
}

/*
 * A name no other writer uses: the pid and a counter separate threads and
 * live processes; the random part separates a reused pid from the
 * leftovers of its dead namesake (O_EXCL catches anything left).
 */
static void tmp_name(char out[TMP_NAME_SIZE], const char *hex)
{
	uint64_t r = 0;
	uint64_t n = atomic_fetch_add(&tmp_counter, 1);

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		r = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&r;
	}
	snprintf(out, TMP_NAME_SIZE, TMP_DIR "/%s.%ld.%llu.%016llx", hex, (long)getpid(),
		 (unsigned long long)n, (unsigned long long)r);
}

/* Open (or create) a directory for fsync or reading; retries EINTR. */
static int open_dir_at(int at, const char *rel)
{
	int fd;

	do
		fd = openat(at, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	return fd;
}

/* fsync a directory relative to `at`; 0 or -1 with errno set. */
static int sync_dir_at(int at, const char *rel)
{
	int fd = open_dir_at(at, rel), err;

	if (fd < 0)
		return -1;
	if (fsync(fd) != 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	close(fd); /* a directory descriptor has nothing left to report */
	return 0;
}

/* The "ab" part of "ab/<hex>", NUL-terminated. */
static void subdir_of(char sub[3], const char *name)
{
	sub[0] = name[0];
	sub[1] = name[1];
	sub[2] = '\0';
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO; /* a regular file never takes nothing */
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int local_put(cairn_store *st, const cairn_hash *xorb, const void *data, size_t len)
{
	local_store *s = (local_store *)st;
	char hex[CAIRN_HASH_HEX_LEN + 1], name[NAME_SIZE], tmp[TMP_NAME_SIZE], sub[3];
	char what[8 + CAIRN_HASH_HEX_LEN];
	struct stat sb;
	int fd = -1, rc = 0, tries = 0;
	bool tmp_exists = false;

	object_name(name, hex, xorb);
	subdir_of(sub, name);
	snprintf(what, sizeof(what), "put %s", hex);

	if (fstatat(s->dirfd, name, &sb, 0) == 0) {
		/* Immutable: keep it, but make sure its entry is durable. */
		if (sync_dir_at(s->dirfd, sub) != 0)
			return os_error(s, what, "fsync", sub, errno);
		return 0;
	}
	if (errno != ENOENT && errno != ENOTDIR)
		return os_error(s, what, "stat", name, errno);

	do {
		tmp_name(tmp, hex);
		fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
	} while (fd < 0 && (errno == EEXIST || errno == EINTR) && ++tries < 8);
	if (fd < 0) {
		rc = os_error(s, what, "create", tmp, errno);
		goto done;
	}
	tmp_exists = true;
	if (write_all(fd, data, len) != 0) {
		rc = os_error(s, what, "write", tmp, errno);
		goto done;
	}
	if (fsync(fd) != 0) {
		rc = os_error(s, what, "fsync", tmp, errno);
		goto done;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = os_error(s, what, "close", tmp, errno);
		goto done;
	}

	if (renameat(s->dirfd, tmp, s->dirfd, name) != 0) {
		/* ab/ was deleted behind our back: make it again, durably. */
		if (errno != ENOENT ||
		    (mkdirat(s->dirfd, sub, DIR_MODE) != 0 && errno != EEXIST) ||
		    fsync(s->dirfd) != 0 || renameat(s->dirfd, tmp, s->dirfd, name) != 0) {
			rc = os_error(s, what, "rename", tmp, errno);
			goto done;
		}
	}
	tmp_exists = false;
	/* From here on the name holds the whole xorb (see the file's header). */
	if (sync_dir_at(s->dirfd, sub) != 0)
		rc = os_error(s, what, "fsync", sub, errno);
done:
	if (fd >= 0)
		close(fd);
	if (tmp_exists)
		unlinkat(s->dirfd, tmp, 0);
	return rc;
}

static int local_read(cairn_store *st, const cairn_hash *xorb, uint64_t off, size_t len,
		      void *out)
{
	local_store *s = (local_store *)st;
	char hex[CAIRN_HASH_HEX_LEN + 1], name[NAME_SIZE], what[8 + CAIRN_HASH_HEX_LEN];
	uint8_t *p = out;
	struct stat sb;
	uint64_t size;
	int fd, rc = 0;

	object_name(name, hex, xorb);
	snprintf(what, sizeof(what), "read %s", hex);
	do
		fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return cairn__error_set(CAIRN_ENOTFOUND, "xorb %s: not in the store %s", hex,
						s->dir);
		return os_error(s, what, "open", name, errno);
	}
	if (fstat(fd, &sb) != 0) {
		rc = os_error(s, what, "fstat", name, errno);
		goto done;
	}
	size = (uint64_t)sb.st_size;
	if (off > size || len > size - off) {
		rc = cairn__error_set(CAIRN_ECORRUPT,
				      "xorb %s is %llu bytes, shorter than %llu + %zu asked for", hex,
				      (unsigned long long)size, (unsigned long long)off, len);
		goto done;
	}
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = os_error(s, what, "pread", name, errno);
			goto done;
		}
		if (n == 0) { /* shrank since fstat: not the xorb we stored */
			rc = cairn__error_set(CAIRN_ECORRUPT, "xorb %s ends early at %llu bytes",
					      hex, (unsigned long long)off);
			goto done;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
done:
	close(fd);
	return rc;
}

static int local_size(cairn_store *st, const cairn_hash *xorb, uint64_t *out)
{
	local_store *s = (local_store *)st;
	char hex[CAIRN_HASH_HEX_LEN + 1], name[NAME_SIZE], what[8 + CAIRN_HASH_HEX_LEN];
	struct stat sb;

	object_name(name, hex, xorb);
	if (fstatat(s->dirfd, name, &sb, 0) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return cairn__error_set(CAIRN_ENOTFOUND, "xorb %s: not in the store %s", hex,
						s->dir);
		snprintf(what, sizeof(what), "size %s", hex);
		return os_error(s, what, "stat", name, errno);
	}
	*out = (uint64_t)sb.st_size;
	return 0;
}

static int local_remove(cairn_store *st, const cairn_hash *xorb)
{
	local_store *s = (local_store *)st;
	char hex[CAIRN_HASH_HEX_LEN + 1], name[NAME_SIZE], what[8 + CAIRN_HASH_HEX_LEN], sub[3];

	object_name(name, hex, xorb);
	subdir_of(sub, name);
	snprintf(what, sizeof(what), "remove %s", hex);
	if (unlinkat(s->dirfd, name, 0) != 0) {
		if (errno == ENOTDIR || (errno == ENOENT && faccessat(s->dirfd, sub, F_OK, 0) != 0))
			return 0; /* no ab/ at all: nothing to remove, nothing to sync */
		if (errno != ENOENT)
			return os_error(s, what, "unlink", name, errno);
	}
	/* Absent too: a concurrent remove may not have synced its unlink yet. */
	if (sync_dir_at(s->dirfd, sub) != 0)
		return os_error(s, what, "fsync", sub, errno);
	return 0;
}

/* True when d_name is exactly the canonical name of a xorb in subdir sub. */
static bool parse_entry(cairn_hash *out, const char *d_name, const char *sub)
{
	char again[CAIRN_HASH_HEX_LEN + 1];
	size_t n = strlen(d_name);

	if (n != CAIRN_HASH_HEX_LEN || d_name[0] != sub[0] || d_name[1] != sub[1])
		return false;
	if (cairn_hash_from_hex(out, d_name, n) != 0)
		return false;
	cairn_hash_to_hex(again, out);
	return memcmp(again, d_name, CAIRN_HASH_HEX_LEN) == 0; /* lowercase only */
}

static int list_subdir(local_store *s, const char *sub, cairn_store_list_fn fn, void *ctx)
{
	struct dirent *e;
	DIR *d;
	int fd, rc = 0;

	fd = open_dir_at(s->dirfd, sub);
	if (fd < 0)
		return errno == ENOENT ? 0 : os_error(s, "list", "open", sub, errno);
	d = fdopendir(fd);
	if (d == NULL) {
		rc = os_error(s, "list", "fdopendir", sub, errno);
		close(fd);
		return rc;
	}
	for (;;) {
		struct stat sb;
		cairn_hash h;

		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			if (errno != 0)
				rc = os_error(s, "list", "readdir", sub, errno);
			break;
		}
		if (!parse_entry(&h, e->d_name, sub))
			continue;
		if (fstatat(fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue; /* removed while we walk */
			rc = os_error(s, "list", "stat", e->d_name, errno);
			break;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		rc = fn(ctx, &h, (uint64_t)sb.st_size,
			(int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

static int local_list(cairn_store *st, cairn_store_list_fn fn, void *ctx)
{
	local_store *s = (local_store *)st;
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 256; i++) {
		char sub[3] = {digits[i >> 4], digits[i & 15], '\0'};
		int rc = list_subdir(s, sub, fn, ctx);

		if (rc != 0)
			return rc;
	}
	return 0;
}

static void local_close(cairn_store *st)
{
	local_store *s = (local_store *)st;

	if (s == NULL)
		return;
	if (s->lockfd >= 0)
		close(s->lockfd); /* drops the shared flock */
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->dir);
	free(s);
}

/* fsync the directory holding `path` (cut at its last slash). */
static int sync_parent(char *path)
{
	char *slash = strrchr(path, '/');
	int rc;

	if (slash == NULL)
		return sync_dir_at(AT_FDCWD, ".");
	if (slash == path)
		return sync_dir_at(AT_FDCWD, "/");
	*slash = '\0';
	rc = sync_dir_at(AT_FDCWD, path);
	*slash = '/';
	return rc;
}

/* mkdir -p, fsyncing the parent of each directory it makes; 0 or an errno. */
static int make_dirs(const char *dir)
{
	char *p = strdup(dir);
	int err = 0;

	if (p == NULL)
		return ENOMEM;
	for (char *c = p + 1;; c++) {
		char save = *c;

		if (save != '/' && save != '\0')
			continue;
		*c = '\0';
		if (mkdir(p, DIR_MODE) == 0) {
			if (sync_parent(p) != 0)
				err = errno;
		} else if (errno != EEXIST) {
			err = errno;
		}
		*c = save;
		if (err != 0 || save == '\0')
			break;
	}
	free(p);
	return err;
}

/* Delete leftovers in .tmp: all of them, or only those older than TMP_MAX_AGE. */
static int sweep_tmp(local_store *s, bool everything)
{
	time_t now = time(NULL);
	struct dirent *e;
	DIR *d;
	int fd = open_dir_at(s->dirfd, TMP_DIR);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return os_error(s, "open store", "open", TMP_DIR, err);
	}
	while ((e = readdir(d)) != NULL) {
		struct stat sb;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (!everything && (fstatat(fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
				    now - sb.st_mtime < TMP_MAX_AGE))
			continue;
		/* Best effort: a leftover costs only space, and must not stop a start. */
		unlinkat(fd, e->d_name, 0);
	}
	closedir(d);
	return 0;
}

static int make_subdir(local_store *s, const char *rel, bool *made)
{
	if (mkdirat(s->dirfd, rel, DIR_MODE) == 0)
		*made = true;
	else if (errno != EEXIST)
		return os_error(s, "open store", "mkdir", rel, errno);
	return 0;
}

/* Take the shared lock; true when we were alone (exclusive first). */
static bool lock_store(local_store *s)
{
	int rc;

	do
		s->lockfd = openat(s->dirfd, LOCK_FILE, O_RDONLY | O_CREAT | O_CLOEXEC, FILE_MODE);
	while (s->lockfd < 0 && errno == EINTR);
	if (s->lockfd < 0)
		return false; /* read-only or odd file system: age rule only */
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) == 0)
		return true; /* caller sweeps, then unlock_alone() */
	do
		rc = flock(s->lockfd, LOCK_SH);
	while (rc != 0 && errno == EINTR);
	if (rc != 0) {
		close(s->lockfd);
		s->lockfd = -1;
	}
	return false;
}

int cairn_store_local_open(cairn_store **out, const char *dir)
{
	static const char digits[] = "0123456789abcdef";
	local_store *s = NULL;
	bool made = false, alone;
	int err, rc;

	if (dir == NULL || *dir == '\0')
		return cairn__error_set(CAIRN_EIO, "open store: no directory given");
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->dir = strdup(dir)) == NULL) {
		free(s);
		return cairn__error_set(CAIRN_ENOMEM, "open store %s: out of memory", dir);
	}
	s->dirfd = s->lockfd = -1;
	s->base.version = CAIRN_STORE_VERSION;
	s->base.put = local_put;
	s->base.read = local_read;
	s->base.size = local_size;
	s->base.remove = local_remove;
	s->base.list = local_list;
	s->base.close = local_close;

	err = make_dirs(dir);
	if (err == ENOMEM) {
		rc = cairn__error_set(CAIRN_ENOMEM, "open store %s: out of memory", dir);
		goto fail;
	}
	if (err != 0) {
		rc = cairn__error_set(CAIRN_EIO, "open store: mkdir %s: %s (%s)", dir,
				      errno_name(err), strerror(err));
		goto fail;
	}
	s->dirfd = open_dir_at(AT_FDCWD, dir);
	if (s->dirfd < 0) {
		err = errno;
		rc = cairn__error_set(CAIRN_EIO, "open store: open %s: %s (%s)", dir,
				      errno_name(err), strerror(err));
		goto fail;
	}
	/* .tmp and all 256 subdirectories, durable before the first put. */
	rc = make_subdir(s, TMP_DIR, &made);
	for (int i = 0; i < 256 && rc == 0; i++) {
		char sub[3] = {digits[i >> 4], digits[i & 15], '\0'};
		rc = make_subdir(s, sub, &made);
	}
	if (rc != 0)
		goto fail;
	if (made && fsync(s->dirfd) != 0) {
		rc = os_error(s, "open store", "fsync", ".", errno);
		goto fail;
	}

	alone = lock_store(s);
	rc = sweep_tmp(s, alone);
	if (alone && flock(s->lockfd, LOCK_SH) != 0) {
		close(s->lockfd); /* cannot happen on Linux; without a lock, like no flock */
		s->lockfd = -1;
	}
	if (rc != 0)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	local_close(&s->base);
	return rc;
}
