/*
 * put_change.c ENDPOINT TOKEN NS/NAME FILE1 FILE2 - upload two files as one
 * set (cairn_client_put_files) and, as the set starts sending, rewrite
 * FILE1 in place (same size, new bytes). Prints one line per file: its key,
 * rc, and message. What tests/sync/run.sh checks: FILE1 is refused as
 * changed (never committed half old, half new), FILE2 is committed.
 */
#include "cairn/client.h"
#include "cairn/errors.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *victim;
static int changed;

static void on_progress(void *ctx, const cairn_client_progress *p)
{
	(void)ctx;
	if (p->phase == CAIRN_CLIENT_UPLOADING && !changed) {
		int fd = open(victim, O_WRONLY);
		char junk[4096];
		memset(junk, 'z', sizeof(junk));
		changed = fd >= 0 && pwrite(fd, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk);
		if (fd >= 0)
			close(fd);
	}
}

int main(int argc, char **argv)
{
	cairn_client *c = NULL;
	cairn_client_put_item items[2];
	cairn_client_xfer_options xo = CAIRN_CLIENT_XFER_OPTIONS_INIT;
	char ns[128], *name;
	int rc;

	if (argc != 6 || strchr(argv[3], '/') == NULL) {
		fprintf(stderr, "usage: put_change ENDPOINT TOKEN NS/NAME FILE1 FILE2\n");
		return 2;
	}
	snprintf(ns, sizeof(ns), "%s", argv[3]);
	name = strchr(ns, '/');
	*name++ = '\0';
	victim = argv[4];
	if (cairn_client_new(&c, argv[1], argv[2]) != 0)
		return 1;
	memset(items, 0, sizeof(items));
	items[0].key = "changing.bin";
	items[0].path = argv[4];
	items[1].key = "steady.bin";
	items[1].path = argv[5];
	xo.progress = on_progress;
	rc = cairn_client_put_files(c, ns, name, items, 2, &xo, NULL);
	printf("set %d changed %d\n", rc, changed);
	for (int i = 0; i < 2; i++)
		printf("%s %d %s\n", items[i].key, items[i].rc, items[i].msg);
	cairn_client_free(c);
	return rc == 0 ? 0 : 1;
}
