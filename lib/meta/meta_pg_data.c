/*
 * meta_pg_data.c - the PostgreSQL backend's objects, files and their
 * terms, xorbs and their chunks, chunk grants, GC and the bucket
 * statistics (meta_pg_int.h; meta_sqlite.c is the reference).
 */
#include "meta_pg_int.h"

void cairn__pg_data_init(cairn_meta *m)
{
	(void)m;
}
