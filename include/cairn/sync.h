/*
 * sync.h - `cairn buckets sync`: make a bucket folder look like a local
 * folder, or the other way round, moving only what differs.
 *
 * A sync is two steps, which the CLI and the Python package expose alike:
 * make a plan (list both sides, compare, decide per file: upload,
 * download, delete or skip, with the reason), then apply it. A plan can be
 * written as JSON Lines and applied later; applying checks that every
 * source is still as planned and refuses otherwise.
 *
 * Roots: a local directory, or "cairn://buckets/NS/NAME[/FOLDER]". One
 * side must be local and the other remote. Paths in a plan are relative
 * to both roots, '/'-separated.
 *
 * Local trees: symbolic links are followed (to files and to folders; a
 * folder reached twice on one path, a loop, is reported and not entered).
 * Files that are not regular (sockets, devices) are skipped with a
 * warning; files that cannot be read, or whose names are not UTF-8, are
 * reported as errors and the rest goes on. Empty folders have nothing to
 * sync (buckets hold objects, not folders).
 */
#ifndef CAIRN_SYNC_H
#define CAIRN_SYNC_H

#include "client.h"
#include "common.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- filters -------------------------------------------------------------------------- */

/*
 * Include and exclude rules, rclone style: tried in order, the first whose
 * pattern matches decides; no match means selected, unless there is an
 * include rule (then not). Patterns: '*' (not '/'), '**' (anything), '?',
 * '[set]', '\c'; a leading '/' anchors at the root, else a pattern matches
 * at any depth; a trailing '/' means "everything below this folder".
 */
typedef struct cairn_filter cairn_filter;

CAIRN_API int cairn_filter_new(cairn_filter **out);
/* Accepts NULL. */
CAIRN_API void cairn_filter_free(cairn_filter *f);
/* Append a rule. CAIRN_EINVALID for an empty pattern or an unclosed '['. */
CAIRN_API int cairn_filter_add(cairn_filter *f, bool include, const char *pattern);
/*
 * Append the rules of a file: "+ PATTERN" or "- PATTERN" per line; blank
 * lines and lines starting with '#' or ';' are skipped. CAIRN_EINVALID
 * names the bad line; CAIRN_EIO if the file cannot be read.
 */
CAIRN_API int cairn_filter_load(cairn_filter *f, const char *path);
/* Is this relative path selected? (A NULL filter selects everything.) */
CAIRN_API bool cairn_filter_selects(const cairn_filter *f, const char *path);
/* The rules, for showing them. */
CAIRN_API size_t cairn_filter_count(const cairn_filter *f);
CAIRN_API int cairn_filter_rule(const cairn_filter *f, size_t i, bool *include,
				const char **pattern);

/* ---- plans ------------------------------------------------------------------------------ */

typedef enum cairn_sync_kind {
	CAIRN_SYNC_UPLOAD,
	CAIRN_SYNC_DOWNLOAD,
	CAIRN_SYNC_DELETE,
	CAIRN_SYNC_SKIP,
} cairn_sync_kind;

/* One decision. */
typedef struct cairn_sync_item {
	cairn_sync_kind kind;
	char *path;       /* relative to both roots */
	uint64_t size;    /* the source file's (delete: the destination file's) */
	int64_t mtime_ns; /* likewise */
	char hash[65];    /* its xet file hash if known (remote files; local ones
			   * with --checksum), else "" */
	char *reason;     /* why, in a few words */
} cairn_sync_item;

typedef struct cairn_sync_options {
	unsigned version;     /* CAIRN_SYNC_OPTIONS_VERSION */
	bool checksum;        /* compare xet file hashes, not size and mtime */
	bool ignore_times;    /* transfer even when size and mtime agree */
	bool ignore_sizes;    /* compare mtime only */
	bool existing;        /* only update files the destination has */
	bool ignore_existing; /* only add files the destination lacks */
	bool delete_extra;    /* delete destination files the source lacks */
	const cairn_filter *filter; /* NULL: every file */
	unsigned threads;     /* for hashing; 0: one per CPU */
} cairn_sync_options;

#define CAIRN_SYNC_OPTIONS_VERSION 1
#define CAIRN_SYNC_OPTIONS_INIT                                                                \
	{CAIRN_SYNC_OPTIONS_VERSION, false, false, false, false, false, false, NULL, 0}

typedef struct cairn_sync_plan {
	char *source, *destination;
	int64_t created_ns;
	cairn_sync_options opts; /* the flags it was made with (filter: NULL) */
	char *filters;           /* the rules, as text ("+ a\n- b\n"), or NULL */
	cairn_sync_item *items;
	size_t n;
	/* what could not be listed: "PATH: why", one per problem */
	char **errors;
	size_t nerrors;
	char **warnings;
	size_t nwarnings;
} cairn_sync_plan;

/*
 * List both sides and decide. Problems with single files (unreadable, not
 * UTF-8) land in plan->errors and the plan goes on without them; a failure
 * to list a side at all is returned (CAIRN_EINVALID for bad roots,
 * CAIRN_ENOTFOUND, CAIRN_EIO, the client's codes).
 */
CAIRN_API int cairn_sync_plan_make(cairn_client *c, const char *source, const char *destination,
				   const cairn_sync_options *opts, cairn_sync_plan **out);

/*
 * Write a plan as JSON Lines: a header object, then one object per item
 * ({"op", "path", "size", "mtime_ns", "hash", "reason"}). Returns 0 or
 * CAIRN_EIO.
 */
CAIRN_API int cairn_sync_plan_write(const cairn_sync_plan *p, FILE *out);

/* Read a plan written by cairn_sync_plan_write. CAIRN_EINVALID names the bad line. */
CAIRN_API int cairn_sync_plan_read(cairn_sync_plan **out, FILE *in);

/* Accepts NULL. */
CAIRN_API void cairn_sync_plan_free(cairn_sync_plan *p);

/* Counts per kind of item. */
CAIRN_API void cairn_sync_plan_counts(const cairn_sync_plan *p, size_t counts[4],
				      uint64_t bytes[4]);

/* ---- applying ----------------------------------------------------------------------------- */

/* Where an apply stands. Borrowed: valid during the callback only. */
typedef struct cairn_sync_progress {
	const char *phase;      /* "hashing", "uploading", "downloading", "deleting" */
	uint64_t files_done, files_total; /* transfers and deletes */
	uint64_t bytes_done, bytes_total; /* of the files transferred */
	uint64_t bytes_saved;   /* uploads: bytes the server had already */
	uint64_t wire;          /* bytes sent or received so far */
} cairn_sync_progress;

typedef struct cairn_sync_apply_options {
	unsigned version;     /* CAIRN_SYNC_APPLY_OPTIONS_VERSION */
	unsigned jobs;        /* downloads at once; 0: 4 (uploads go in sets) */
	bool verify_sources;  /* first check every source is as planned (a plan from a file) */
	/* called from any thread, one call at a time; must not call into libcairn */
	void (*progress)(void *ctx, const cairn_sync_progress *p);
	void *progress_ctx;
} cairn_sync_apply_options;

#define CAIRN_SYNC_APPLY_OPTIONS_VERSION 1
#define CAIRN_SYNC_APPLY_OPTIONS_INIT {CAIRN_SYNC_APPLY_OPTIONS_VERSION, 0, false, NULL, NULL}

/* What an apply did. */
typedef struct cairn_sync_summary {
	uint64_t uploaded, downloaded, deleted, skipped, failed; /* files */
	uint64_t bytes;          /* of the files uploaded or downloaded */
	uint64_t bytes_sent;     /* request bodies: dedup queries, xorbs, commits */
	uint64_t bytes_received; /* object and xorb bytes fetched */
	uint64_t bytes_saved;    /* uploads: bytes not sent, the server had them */
	char **failures;         /* "PATH: why", one per failed file */
	size_t nfailures;
} cairn_sync_summary;

/*
 * Carry out a plan. Files fail alone (named in out->failures, counted in
 * out->failed; the plan's listing errors are counted there too); the
 * return value is 0 when the apply ran to its end, or what stopped it
 * (the network, a permission). With verify_sources, every upload's local
 * file and every download's object is first checked against the plan:
 * if any changed, nothing is done, each is named in out->failures and
 * CAIRN_EEXISTS is returned. Free out with cairn_sync_summary_free.
 */
CAIRN_API int cairn_sync_apply(cairn_client *c, const cairn_sync_plan *p,
			       const cairn_sync_apply_options *opts, cairn_sync_summary *out);

/* Accepts NULL. */
CAIRN_API void cairn_sync_summary_free(cairn_sync_summary *s);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_SYNC_H */
