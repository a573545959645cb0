/*
 * region.h - the origin's side of regions (region.c): the jobs it sends a
 * region's cache node (pre-warm and keep-warm), the signed requests it
 * makes of nodes, and the keep-warm thread. The node's side is cache.h.
 */
#ifndef CAIRN_SERVER_REGION_H
#define CAIRN_SERVER_REGION_H

#include "cairn/repo.h"
#include "cairn/sys/meta.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The body of a job staging every xorb of files[0..nfiles) (which who
 * may read) on a node: each xorb once, in the order the files need them,
 * with where each file's last xorb is (the node's files_done); pin: keep
 * them until released (a pre-warm) or only stage them (keep-warm). job
 * gets a new random id; *body is malloc'd JSON. Returns 0 or a CAIRN_E*
 * code (ENOTFOUND: a file who cannot see or that is gone).
 */
int cairn__region_job(cairn_repo *repo, cairn_meta *meta, const cairn_caller *who,
		      const cairn_hash *files, size_t nfiles, uint64_t logical, const char *bucket,
		      const char *prefix, bool pin, char job[33], char **body);

/* POST a job body to the node at base, signed with the region's key. As cairn__node_request. */
int cairn__region_post_job(const char *base, const uint8_t key[32], const char *body,
			   long *status, char **answer);

/*
 * One request to a node: X-Cairn-Exp / X-Cairn-Sig headers when exp is
 * not empty. 0 with *status and *answer (malloc'd, may be empty), or -1
 * when the node could not be reached (said on stderr).
 */
int cairn__node_request(const char *url, const char *method, const char *body, size_t len,
			const char *exp, const char *sig, long *status, char **answer);

/* Keep-warm: the put hook (cairn_repo_on_put) of the origin's repos. */
void cairn__warm_put(void *ctx, int64_t bucket, const cairn_hash *file);
/* A bucket's regions changed: read again whether any bucket has some. */
void cairn__warm_settings_changed(void);
int cairn__warm_start(void);
void cairn__warm_stop(void);
void cairn__warm_metrics(FILE *f);

#endif
