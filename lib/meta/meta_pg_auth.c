/*
 * meta_pg_auth.c - the PostgreSQL backend's users, tokens, web sessions,
 * S3 keys, regions and multipart uploads (meta_pg_int.h; meta_sqlite.c
 * is the reference).
 */
#include "meta_pg_int.h"

void cairn__pg_auth_init(cairn_meta *m)
{
	(void)m;
}
