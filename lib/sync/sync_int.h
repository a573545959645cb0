/*
 * sync_int.h - what the sync files share: roots, listings of one side,
 * and the key rules. Private to lib/sync.
 */
#ifndef CAIRN_SYNC_INT_H
#define CAIRN_SYNC_INT_H

#include "cairn/errors.h"
#include "cairn/sync.h"
#include "../util/util_int.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* One side of a sync: a local directory or a bucket folder. */
typedef struct sync_root {
	bool remote;
	char *dir;                           /* local: the directory */
	char ns[CAIRN_CLIENT_NAME_MAX + 1]; /* remote */
	char name[CAIRN_CLIENT_NAME_MAX + 1];
	char *prefix;                        /* remote: folder, no trailing '/'; "" for the root */
} sync_root;

/* Parse "cairn://buckets/NS/NAME[/FOLDER]" or a local path. */
int cairn__sync_root_parse(sync_root *r, const char *s);
void cairn__sync_root_free(sync_root *r);
/* The remote key of a relative path (malloc'd). */
char *cairn__sync_key(const sync_root *r, const char *rel);
/* The local path of a relative path (malloc'd). */
char *cairn__sync_local(const sync_root *r, const char *rel);

/* A file on one side. */
typedef struct sync_entry {
	char *path; /* relative */
	uint64_t size;
	int64_t mtime_ns;
	char hash[65];
} sync_entry;

typedef struct sync_list {
	sync_entry *e;
	size_t n, cap;
} sync_list;

void cairn__sync_list_free(sync_list *l);

/*
 * One line of a text file into buf (cap bytes), end of line removed: its
 * length + 1, 0 at the end of the file, -1 if longer than cap - 2 (the
 * rest of that line is skipped). Memory never grows with the input.
 */
long cairn__sync_getline(FILE *in, char *buf, size_t cap);

/* Every selected regular file under a local root; problems go to the plan. */
int cairn__sync_walk(const sync_root *r, const cairn_filter *f, sync_list *out,
		     cairn_sync_plan *p);

/* Is s a relative path a plan may carry (and a bucket accept as a key)? */
bool cairn__sync_path_ok(const char *s);

/* Append a formatted line to a plan's errors (warning false) or warnings. */
int cairn__sync_note(cairn_sync_plan *p, bool warning, const char *fmt, ...)
	CAIRN__PRINTF(3, 4);

#endif /* CAIRN_SYNC_INT_H */
