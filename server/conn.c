/*
 * conn.c - the connections of every front (the native API and pages, S3,
 * a cache node's S3 port): how each MHD daemon is started, and the limits
 * that hold before a handler sees a request (docs/limits.md lists them
 * with all the others).
 *
 *   - at most cairn__max_connections open on a front: past it, a new
 *     connection is closed as soon as it is accepted. (MHD's own limit,
 *     set a little above, would leave it unanswered in the listen queue
 *     until another closes.)
 *   - at most cairn__per_ip_connections from one address: MHD closes the
 *     rest the same way.
 *   - cairn__idle_timeout_s without a byte either way: MHD closes it.
 *   - cairn__header_timeout_s for a request's line and headers, counted
 *     from the connection's start or the end of its previous response. A
 *     client that trickles them (slowloris) resets MHD's idle timer with
 *     every byte; this deadline does not move. Once the request line is in,
 *     the client is told (408, S3: 400 RequestTimeout) before the
 *     connection closes; before that it is closed without a word (an idle
 *     keep-alive connection, which must not read an answer to a request it
 *     has not sent).
 *   - a request's target and headers: cairn__target_ok and
 *     cairn__headers_ok, which each front asks and answers in its own
 *     format. Past MHD's per-connection memory (CONN_MEMORY, for the
 *     request line, the headers and MHD's record of each) MHD answers 431
 *     or 414 itself, before any of this code runs.
 *
 * The deadline is kept by a sweeper thread: every open connection is in
 * its front's list from MHD's "started" notice to its "closed" one, and
 * MHD closes the socket only after the latter, so the sweeper may shut a
 * listed socket down (under the front's lock) and MHD, woken by the end of
 * the stream, closes the connection itself. A handler's first call takes
 * the same lock to disarm the deadline, so a request is either answered by
 * its handler or timed out, never both.
 */
#include "server_int.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

unsigned cairn__per_ip_connections = 256; /* --per-ip-connections; 0: no limit */
unsigned cairn__max_connections = 1000;   /* --max-connections, per front */
unsigned cairn__idle_timeout_s = 120;     /* --idle-timeout */
unsigned cairn__header_timeout_s = 60;    /* --header-timeout */

#define FRONTS_MAX 4
#define SWEEP_MS 200
/* what MHD may hold for a connection's request line and headers (and its bookkeeping) */
#define CONN_MEMORY (64 * 1024)

/* An open connection. */
typedef struct conn {
	struct conn *prev, *next;
	int fd;
	int64_t deadline_ms; /* its next request's headers are due; 0: they are in */
	atomic_bool armed;   /* deadline_ms != 0, for the handler's unlocked look */
	bool in_request;     /* the request line of that request is in */
	bool expired;        /* the sweeper ended it */
	bool writing;        /* its request is a write, counted in writes_now (MHD's thread) */
	size_t target_len;   /* of the request line's target (MHD's thread only) */
} conn;

/* Writes (PUT, POST) in progress on every front, and when the last one ended. */
static atomic_int writes_now;
static _Atomic int64_t writes_ended_ms;

typedef struct front {
	const char *what; /* "HTTP", "S3": for messages */
	bool xml;         /* S3's errors */
	MHD_AccessHandlerCallback on_request;
	MHD_RequestCompletedCallback on_done;
	cairn__uri_fn on_uri;
	pthread_mutex_t mu; /* the rest */
	conn *head;
	unsigned open;
	uint64_t refused, timed_out;
	time_t said; /* when "at the limit" was last logged */
} front;

static front fronts[FRONTS_MAX];
static unsigned n_fronts;
static pthread_mutex_t fronts_mu = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t sweep_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweep_cv = PTHREAD_COND_INITIALIZER;
static pthread_t sweeper;
static bool sweeping, sweep_stop;

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The end of a write: background work may go on once writes are quiet. */
static void write_ended(conn *e)
{
	if (e != NULL && e->writing) {
		e->writing = false;
		atomic_store(&writes_ended_ms, now_ms());
		atomic_fetch_sub(&writes_now, 1);
	}
}

bool cairn__writes_quiet(int64_t quiet_ms)
{
	return atomic_load(&writes_now) == 0 && now_ms() - atomic_load(&writes_ended_ms) >= quiet_ms;
}

/* Its next request's headers are due cairn__header_timeout_s from now (f->mu held). */
static void arm(conn *e)
{
	e->deadline_ms = now_ms() + (int64_t)cairn__header_timeout_s * 1000;
	e->in_request = false;
	atomic_store(&e->armed, true);
}

static conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

void cairn__write_begins(struct MHD_Connection *c, const char *method)
{
	conn *e = conn_of(c);

	if (e != NULL && !e->writing && (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0)) {
		e->writing = true;
		atomic_fetch_add(&writes_now, 1);
	}
}

/* ---- MHD's callbacks, each passed on to the front's own ----------------------------- */

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	front *f = cls;
	time_t now = time(NULL);
	bool ok, say = false;
	uint64_t refused;

	(void)addr;
	(void)len;
	pthread_mutex_lock(&f->mu);
	ok = f->open < cairn__max_connections;
	if (!ok) {
		f->refused++;
		say = f->said != now;
		f->said = now;
	}
	refused = f->refused;
	pthread_mutex_unlock(&f->mu);
	if (say)
		fprintf(stderr, "cairn serve: %s: %u connections open (--max-connections): new ones "
				"are closed (%" PRIu64 " so far)\n",
			f->what, cairn__max_connections, refused);
	return ok ? MHD_YES : MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **ctx,
			  enum MHD_ConnectionNotificationCode what)
{
	front *f = cls;
	conn *e = *ctx;

	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		/* without memory for it a connection is counted, but has no deadline */
		e = calloc(1, sizeof(*e));
		pthread_mutex_lock(&f->mu);
		f->open++;
		if (e != NULL && ci != NULL) {
			e->fd = ci->connect_fd;
			arm(e);
			e->next = f->head;
			if (f->head)
				f->head->prev = e;
			f->head = e;
		} else {
			free(e);
			e = NULL;
		}
		pthread_mutex_unlock(&f->mu);
		*ctx = e;
		return;
	}
	write_ended(e);
	pthread_mutex_lock(&f->mu);
	f->open--;
	if (e != NULL) {
		if (e->prev)
			e->prev->next = e->next;
		else
			f->head = e->next;
		if (e->next)
			e->next->prev = e->prev;
	}
	pthread_mutex_unlock(&f->mu);
	free(e);
	*ctx = NULL;
}

/* A request line is in (MHD's URI log callback, the first word of every request). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	front *f = cls;
	conn *e = conn_of(c);

	if (e != NULL) {
		pthread_mutex_lock(&f->mu);
		e->in_request = true;
		pthread_mutex_unlock(&f->mu);
		e->target_len = strlen(uri);
	}
	return f->on_uri ? f->on_uri(NULL, uri, c) : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **con_cls)
{
	front *f = cls;
	conn *e = conn_of(c);

	/* the first call of a request: its headers are in, in time or not */
	if (e != NULL && atomic_load(&e->armed)) {
		bool late;
		pthread_mutex_lock(&f->mu);
		late = e->expired;
		e->deadline_ms = 0;
		atomic_store(&e->armed, false);
		pthread_mutex_unlock(&f->mu);
		if (late)
			return MHD_NO;
	}
	return f->on_request(NULL, c, url, method, version, data, size, con_cls);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	front *f = cls;
	conn *e = conn_of(c);

	if (e != NULL) {
		write_ended(e);
		pthread_mutex_lock(&f->mu);
		arm(e); /* the next request's headers are due from now */
		pthread_mutex_unlock(&f->mu);
	}
	if (f->on_done)
		f->on_done(NULL, c, con_cls, toe);
}

/* ---- the sweeper ------------------------------------------------------------------- */

/* The answer to a request whose headers came too slowly (f->mu held). */
static void time_out(front *f, conn *e)
{
	char body[512], msg[512];
	int bn, n;

	e->expired = true;
	f->timed_out++;
	if (e->in_request) {
		if (f->xml)
			bn = snprintf(body, sizeof(body),
				      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
				      "RequestTimeout</Code><Message>The request's headers did not "
				      "all arrive within %u s.</Message></Error>\n",
				      cairn__header_timeout_s);
		else
			bn = snprintf(body, sizeof(body),
				      "{\"error\":{\"code\":\"RequestTimeout\",\"message\":\"the "
				      "request's headers did not all arrive within %u s\"}}\n",
				      cairn__header_timeout_s);
		n = snprintf(msg, sizeof(msg),
			     "HTTP/1.1 %s\r\nConnection: close\r\nContent-Type: %s\r\n"
			     "Content-Length: %d\r\n\r\n%s",
			     f->xml ? "400 Bad Request" : "408 Request Timeout",
			     f->xml ? "application/xml" : "application/json", bn, body);
		/* the socket is MHD's, but nothing else writes to it before the headers are in */
		if (n > 0 && (size_t)n < sizeof(msg))
			(void)send(e->fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	shutdown(e->fd, SHUT_RDWR); /* MHD sees the end of the stream and closes it */
}

static void *sweep(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sweep_mu);
	while (!sweep_stop) {
		struct timespec until;
		unsigned nf;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += SWEEP_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sweep_cv, &sweep_mu, &until);
		if (sweep_stop)
			break;
		pthread_mutex_lock(&fronts_mu);
		nf = n_fronts;
		pthread_mutex_unlock(&fronts_mu);
		for (unsigned i = 0; i < nf; i++) {
			front *f = &fronts[i];
			int64_t now = now_ms();
			unsigned ended = 0;

			pthread_mutex_lock(&f->mu);
			for (conn *e = f->head; e; e = e->next)
				if (atomic_load(&e->armed) && !e->expired && now >= e->deadline_ms) {
					ended += e->in_request;
					time_out(f, e);
				}
			pthread_mutex_unlock(&f->mu);
			if (ended > 0)
				fprintf(stderr, "cairn serve: %s: %u request(s) whose headers took over "
						"%u s (--header-timeout): answered and closed\n",
					f->what, ended, cairn__header_timeout_s);
		}
	}
	pthread_mutex_unlock(&sweep_mu);
	return NULL;
}

void cairn__conns_stop(void)
{
	pthread_mutex_lock(&sweep_mu);
	sweep_stop = true;
	pthread_cond_signal(&sweep_cv);
	pthread_mutex_unlock(&sweep_mu);
	if (sweeping)
		pthread_join(sweeper, NULL);
	sweeping = false;
}

void cairn__conn_metrics(FILE *out)
{
	unsigned nf;

	pthread_mutex_lock(&fronts_mu);
	nf = n_fronts;
	pthread_mutex_unlock(&fronts_mu);
	fprintf(out, "# HELP cairn_connections_open Connections open, by front.\n"
		     "# TYPE cairn_connections_open gauge\n");
	for (unsigned i = 0; i < nf; i++) {
		pthread_mutex_lock(&fronts[i].mu);
		fprintf(out, "cairn_connections_open{front=\"%s\"} %u\n", fronts[i].what,
			fronts[i].open);
		pthread_mutex_unlock(&fronts[i].mu);
	}
	fprintf(out, "# HELP cairn_connections_refused_total Connections closed at once: the front "
		     "held --max-connections.\n# TYPE cairn_connections_refused_total counter\n");
	for (unsigned i = 0; i < nf; i++) {
		pthread_mutex_lock(&fronts[i].mu);
		fprintf(out, "cairn_connections_refused_total{front=\"%s\"} %" PRIu64 "\n",
			fronts[i].what, fronts[i].refused);
		pthread_mutex_unlock(&fronts[i].mu);
	}
	fprintf(out, "# HELP cairn_header_timeouts_total Connections closed because a request's "
		     "headers took over --header-timeout.\n"
		     "# TYPE cairn_header_timeouts_total counter\n");
	for (unsigned i = 0; i < nf; i++) {
		pthread_mutex_lock(&fronts[i].mu);
		fprintf(out, "cairn_header_timeouts_total{front=\"%s\"} %" PRIu64 "\n",
			fronts[i].what, fronts[i].timed_out);
		pthread_mutex_unlock(&fronts[i].mu);
	}
}

/* ---- the headers of a request ----------------------------------------------------------- */

typedef struct header_sum {
	size_t bytes, fields;
	bool from_node;
} header_sum;

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	header_sum *s = cls;

	(void)kind;
	s->bytes += strlen(key) + (value ? strlen(value) : 0);
	s->fields++;
	s->from_node |= strcasecmp(key, "X-Cairn-Region-Sig") == 0;
	return MHD_YES;
}

/*
 * What a cache node adds to a reader's S3 request it passes on (its region,
 * the expiry and MAC, and libcurl's Accept): room for it at the origin, so
 * that a request within the node's limits is within the origin's.
 */
#define NODE_FIELDS 4
#define NODE_BYTES 256

bool cairn__target_ok(struct MHD_Connection *c, char *msg, size_t cap)
{
	conn *e = conn_of(c);

	if (e != NULL && e->target_len > CAIRN__TARGET_MAX) {
		snprintf(msg, cap, "the request target (path and query) is %zu bytes; at most %d "
				   "are taken", e->target_len, CAIRN__TARGET_MAX);
		return false;
	}
	return true;
}

bool cairn__headers_ok(struct MHD_Connection *c, char *msg, size_t cap)
{
	header_sum s = {0, 0, false};
	size_t fields = CAIRN__HEADER_FIELDS_MAX, bytes = CAIRN__HEADER_BYTES_MAX;

	MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &s);
	if (s.from_node) {
		fields += NODE_FIELDS;
		bytes += NODE_BYTES;
	}
	if (s.fields > fields) {
		snprintf(msg, cap, "%zu header fields; at most %zu are taken", s.fields, fields);
		return false;
	}
	if (s.bytes > bytes) {
		snprintf(msg, cap, "%zu bytes of header names and values; at most %zu are taken",
			 s.bytes, bytes);
		return false;
	}
	return true;
}

/* ---- the daemon ------------------------------------------------------------------------- */

static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

struct MHD_Daemon *cairn__daemon_start(const char *what, const char *host, const char *port,
				       unsigned threads, MHD_AccessHandlerCallback on_req,
				       MHD_RequestCompletedCallback on_end, const char *port_file,
				       unsigned *bound)
{
	return cairn__daemon_start_raw(what, host, port, threads, on_req, on_end, NULL,
				       port_file, bound);
}

struct MHD_Daemon *cairn__daemon_start_raw(const char *what, const char *host, const char *port,
					    unsigned threads, MHD_AccessHandlerCallback on_req,
					    MHD_RequestCompletedCallback on_end,
					    cairn__uri_fn uri_fn, const char *port_file,
					    unsigned *bound)
{
	struct addrinfo hints, *ai = NULL;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	/*
	 * poll(), not epoll: with epoll (edge-triggered), MHD 0.9.75 can miss
	 * the end of a connection whose client hung up in the middle of a
	 * request body, and holds it (and the upload memory it reserved) until
	 * the idle timeout. Measured with a canceled 4-way upload: 1 in 1 runs
	 * held with epoll, 0 in 15 with poll.
	 */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
			 MHD_USE_POLL;
	front *f;
	int gai;

	pthread_mutex_lock(&fronts_mu);
	if (n_fronts == FRONTS_MAX) {
		pthread_mutex_unlock(&fronts_mu);
		fprintf(stderr, "cairn serve: too many fronts\n");
		return NULL;
	}
	f = &fronts[n_fronts];
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	f->what = what;
	f->xml = strcmp(what, "S3") == 0;
	f->on_request = on_req;
	f->on_done = on_end;
	f->on_uri = uri_fn;
	n_fronts++;
	pthread_mutex_unlock(&fronts_mu);

	pthread_mutex_lock(&sweep_mu);
	if (!sweeping && !sweep_stop) {
		if (pthread_create(&sweeper, NULL, sweep, NULL) != 0) {
			pthread_mutex_unlock(&sweep_mu);
			fprintf(stderr, "cairn serve: cannot start a thread: %s\n", strerror(errno));
			return NULL;
		}
		sweeping = true;
	}
	pthread_mutex_unlock(&sweep_mu);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	gai = getaddrinfo(host, port, &hints, &ai);
	if (gai != 0) {
		fprintf(stderr, "cairn serve: cannot use %s address %s:%s: %s\n", what, host, port,
			gai_strerror(gai));
		return NULL;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/*
	 * MHD's own connection limit sits above ours by a connection per
	 * thread (accepts racing on the threads), so ours always speaks
	 * first; MHD splits it between its threads. Its memory per connection
	 * holds the longest target and headers we take with room to spare, so
	 * that ours are the limits a client meets.
	 */
	d = MHD_start_daemon(flags, 0, on_accept, f, on_request, f, MHD_OPTION_SOCK_ADDR,
			     ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
			     MHD_OPTION_NOTIFY_COMPLETED, on_done, f,
			     MHD_OPTION_NOTIFY_CONNECTION, on_connection, f,
			     MHD_OPTION_URI_LOG_CALLBACK, on_uri, f,
			     MHD_OPTION_UNESCAPE_CALLBACK, cairn__keep_url, NULL,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
			     MHD_OPTION_CONNECTION_TIMEOUT, cairn__idle_timeout_s,
			     MHD_OPTION_CONNECTION_LIMIT, cairn__max_connections + threads + 1,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, cairn__per_ip_connections,
			     MHD_OPTION_END);
	freeaddrinfo(ai);
	if (d == NULL) {
		fprintf(stderr, "cairn serve: cannot listen for %s on %s:%s (in use, or not allowed)\n",
			what, host, port);
		return NULL;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	*bound = info ? info->port : 0;
	if (port_file && write_port_file(port_file, *bound) != 0) {
		fprintf(stderr, "cairn serve: cannot write %s: %s\n", port_file, strerror(errno));
		MHD_stop_daemon(d);
		return NULL;
	}
	return d;
}
