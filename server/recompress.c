/*
 * recompress.c - the origin's background recompression (repo.h,
 * cairn_repo_recompress): every interval, one pass over the xorbs no one
 * has written or used for min_age; stopped between xorbs at shutdown. Its
 * progress and savings go to /metrics.
 *
 * The thread runs at the lowest CPU priority (nice 19), so uploads and
 * reads go first; and it yields to writes: between groups of chunks (at
 * most a run's 1 MiB is compressed at a time) and before each write, it
 * waits while any write (a PUT or POST by a caller with a right to write:
 * cairn__writes_quiet) is in progress on any front, or ended less than
 * WRITES_QUIET_MS ago. It waits at most YIELD_MAX_MS per xorb, then
 * finishes that xorb without waiting: a server that takes writes without
 * such gaps (or a user who sends them to hold the pass off) gets one xorb
 * recompressed per YIELD_MAX_MS, not none. Several servers on one metadata
 * may each run it: a xorb two passes rewrite at once is recorded once, and
 * the loser's copy is dropped (lib/core/repack.c).
 */
#include "server_int.h"

#include "cairn/errors.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct recompress_state {
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	unsigned interval_s;
	int64_t min_age_s;
	int level;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

#define WRITES_QUIET_MS 2000
#define YIELD_STEP_MS 100
#define YIELD_MAX_MS (5 * 60 * 1000)

static int64_t yielded_ms; /* by the xorb in progress (the pass's thread only) */

static atomic_uint_fast64_t m_passes, m_xorbs, m_rewritten, m_before, m_after, m_errors,
	m_yield_ms;
static _Atomic int64_t m_running; /* xorbs examined by the pass in progress */

/* After each xorb: the pass's totals so far (ctx: what was counted already, this pass). */
static void progress(void *ctx, const cairn_recompress_result *so_far)
{
	cairn_recompress_result *seen = ctx;

	yielded_ms = 0; /* the next xorb gets its own budget */
	atomic_store(&m_running, (int64_t)so_far->xorbs);
	atomic_fetch_add(&m_xorbs, so_far->xorbs - seen->xorbs);
	atomic_fetch_add(&m_rewritten, so_far->rewritten - seen->rewritten);
	atomic_fetch_add(&m_before, so_far->bytes_before - seen->bytes_before);
	atomic_fetch_add(&m_after, so_far->bytes_after - seen->bytes_after);
	*seen = *so_far;
}

/* The pass's pause: wait while writes are in progress or just ended; 1 at shutdown. */
static int yield_to_writes(void *ctx)
{
	(void)ctx;
	while (yielded_ms < YIELD_MAX_MS && !cairn__writes_quiet(WRITES_QUIET_MS)) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += YIELD_STEP_MS * 1000000l;
		if (until.tv_nsec >= 1000000000l) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000l;
		}
		pthread_mutex_lock(&g.mu);
		if (!atomic_load(&g.stop))
			pthread_cond_timedwait(&g.wake, &g.mu, &until);
		pthread_mutex_unlock(&g.mu);
		if (atomic_load(&g.stop))
			return 1;
		atomic_fetch_add(&m_yield_ms, YIELD_STEP_MS);
		yielded_ms += YIELD_STEP_MS;
	}
	return atomic_load(&g.stop) ? 1 : 0;
}

static void *pass_thread(void *arg)
{
	(void)arg;
	/* the lowest priority, this thread only (Linux): requests come first */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	while (!atomic_load(&g.stop)) {
		cairn_recompress_result res, seen = {0, 0, 0, 0, 0, 0};
		cairn_recompress_options o = {CAIRN_RECOMPRESS_OPTIONS_VERSION, 0, 0, 0, NULL,
					      progress, &seen, NULL, NULL};
		struct timespec until;
		cairn_repo *repo;
		cairn_meta *meta;
		int rc = cairn__worker(&repo, &meta);

		if (rc == 0) {
			o.min_age_ns = g.min_age_s * 1000000000ll;
			o.level = g.level;
			o.cancel = &g.stop;
			o.pause = yield_to_writes;
			yielded_ms = 0;
			rc = cairn_repo_recompress(repo, &o, &res);
			atomic_fetch_add(&m_passes, 1); /* the rest was counted xorb by xorb */
			atomic_store(&m_running, 0);
			if (res.rewritten > 0)
				fprintf(stderr,
					"cairn serve: recompressed %" PRIu64 " xorbs: %" PRIu64
					" -> %" PRIu64 " bytes\n",
					res.rewritten, res.bytes_before, res.bytes_after);
		}
		if (rc != 0 && rc != CAIRN_ECANCELED) {
			atomic_fetch_add(&m_errors, 1);
			fprintf(stderr, "cairn serve: recompression: %s\n", cairn_error_last());
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += g.interval_s;
		pthread_mutex_lock(&g.mu);
		while (!atomic_load(&g.stop) &&
		       pthread_cond_timedwait(&g.wake, &g.mu, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&g.mu);
	}
	return NULL;
}

int cairn__recompress_start(unsigned interval_s, int64_t min_age_s, int level)
{
	if (interval_s == 0)
		return 0; /* off */
	g.interval_s = interval_s;
	g.min_age_s = min_age_s;
	g.level = level;
	atomic_store(&g.stop, false);
	if (pthread_create(&g.thread, NULL, pass_thread, NULL) != 0) {
		fprintf(stderr, "cairn serve: cannot start recompression: xorbs stay as they came\n");
		return CAIRN_EIO;
	}
	g.started = true;
	return 0;
}

void cairn__recompress_stop(void)
{
	if (!g.started)
		return;
	pthread_mutex_lock(&g.mu);
	atomic_store(&g.stop, true);
	pthread_cond_broadcast(&g.wake);
	pthread_mutex_unlock(&g.mu);
	pthread_join(g.thread, NULL);
	g.started = false;
}

void cairn__recompress_metrics(FILE *f)
{
	fprintf(f,
		"# HELP cairn_recompress_passes_total Background recompression passes finished.\n"
		"# TYPE cairn_recompress_passes_total counter\ncairn_recompress_passes_total %" PRIu64
		"\n# HELP cairn_recompress_xorbs_total Cold xorbs the passes examined.\n"
		"# TYPE cairn_recompress_xorbs_total counter\ncairn_recompress_xorbs_total %" PRIu64
		"\n# TYPE cairn_recompress_rewritten_total counter\n"
		"cairn_recompress_rewritten_total %" PRIu64 "\n"
		"# HELP cairn_recompress_bytes_before_total Stored bytes of examined xorbs, before.\n"
		"# TYPE cairn_recompress_bytes_before_total counter\n"
		"cairn_recompress_bytes_before_total %" PRIu64 "\n"
		"# TYPE cairn_recompress_bytes_after_total counter\n"
		"cairn_recompress_bytes_after_total %" PRIu64 "\n"
		"# TYPE cairn_recompress_errors_total counter\ncairn_recompress_errors_total %" PRIu64
		"\n# HELP cairn_recompress_yielded_seconds_total Time the passes waited for writes.\n"
		"# TYPE cairn_recompress_yielded_seconds_total counter\n"
		"cairn_recompress_yielded_seconds_total %.1f"
		"\n# HELP cairn_recompress_in_progress_xorbs Xorbs the running pass has examined.\n"
		"# TYPE cairn_recompress_in_progress_xorbs gauge\n"
		"cairn_recompress_in_progress_xorbs %" PRId64 "\n",
		(uint64_t)atomic_load(&m_passes), (uint64_t)atomic_load(&m_xorbs),
		(uint64_t)atomic_load(&m_rewritten), (uint64_t)atomic_load(&m_before),
		(uint64_t)atomic_load(&m_after), (uint64_t)atomic_load(&m_errors),
		(double)atomic_load(&m_yield_ms) / 1000.0, (int64_t)atomic_load(&m_running));
}
