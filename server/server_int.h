/*
 * server_int.h - what the server's files share: the configuration, the
 * HTTP handlers' entry points, and the per-thread engine handles.
 */
#ifndef CAIRN_SERVER_INT_H
#define CAIRN_SERVER_INT_H

#include "cairn/repo.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct cairn_server_config {
	const char *data_dir;
	const char *host;
	const char *port;      /* service, "0" for any free port */
	unsigned threads;
	const char *port_file; /* NULL: none */
	unsigned upload_memory_mib; /* what uploads in flight may hold together */
} cairn_server_config;

/*
 * Serve until SIGTERM or SIGINT (which the caller has blocked in every
 * thread), then finish requests in flight and stop. Returns 0 or a
 * negative CAIRN_E* code (message set).
 */
int cairn__server_run(const cairn_server_config *cfg);

#endif /* CAIRN_SERVER_INT_H */
