/*
 * meta_pg_int.h - internals of the PostgreSQL metadata backend
 * (meta_pg.c: connection, schema, transactions, buckets; meta_pg_data.c:
 * objects, files, xorbs, chunks, grants, GC; meta_pg_auth.c: users,
 * tokens, sessions, S3 keys, regions, multipart uploads).
 *
 * Same behaviour as the SQLite backend (meta_sqlite.c is the reference
 * for every function): the same argument checks (check.c), the same
 * error codes and messages where they matter, the same refusal of
 * mutations outside a write transaction, the same savepoint around a
 * mutation that runs several statements, and byte-order listings (bytea
 * compares like memcmp, a proper prefix first).
 *
 * Transactions: begin(true) is BEGIN plus a transaction-level advisory
 * lock every writer takes, so writers run one at a time across every
 * server on the database, exactly as SQLite's BEGIN IMMEDIATE makes them;
 * begin(false) is a REPEATABLE READ snapshot. Values reach PostgreSQL as
 * parameters, never in the SQL text: text as text, bytea in binary,
 * integers as decimal text. Results come back as text (bytea as \x hex).
 */
#ifndef CAIRN_META_PG_INT_H
#define CAIRN_META_PG_INT_H

#include "meta_int.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

/* The advisory lock every writer takes ("CARNWRIT"): one writer at a time. */
#define CAIRN__PG_WRITE_LOCK 0x4341524E57524954LL

/* object_get's and mpu_get's strings: valid until the next call of the same function. */
typedef struct object_store {
	char key[CAIRN_KEY_MAX];
	char content_type[CAIRN_CTYPE_MAX + 1];
	char user_meta[CAIRN_USER_META_TEXT_MAX + 1];
	uint8_t part_sizes[8 * CAIRN_META_PARTS_MAX];
} object_store;

typedef struct mpu_strings {
	char key[CAIRN_KEY_MAX];
	char content_type[CAIRN_CTYPE_MAX + 1];
	char user_meta[CAIRN_USER_META_TEXT_MAX + 1];
} mpu_strings;

typedef struct meta_pg {
	cairn_meta base;
	PGconn *conn;
	enum { PG_TX_NONE, PG_TX_READ, PG_TX_WRITE } tx;
	bool failed;  /* a statement failed inside the transaction: it must roll back */
	int listing;  /* > 0 while a listing's callback runs */
	bool gc_locked; /* holds the collector's lock (gc_lock) */
	object_store obj; /* object_get's strings */
	mpu_strings mpu;  /* mpu_get's */
} meta_pg;

/* One parameter: a NUL-terminated text (len < 0), or len bytes of bytea. NULL v: SQL NULL. */
typedef struct pg_arg {
	const void *v;
	int len;
} pg_arg;

#define PG_TEXT(s) ((pg_arg){(s), -1})
#define PG_BYTES(p, n) ((pg_arg){(p), (int)(n)})
#define PG_NULL ((pg_arg){NULL, -1})

/* A decimal text of an integer, for PG_TEXT: PG_I64(buf, v) with char buf[24]. */
const char *cairn__pg_i64(char buf[24], int64_t v);

static inline meta_pg *cairn__pg(cairn_meta *m)
{
	return (meta_pg *)m;
}

/*
 * Run sql with args. Returns the result (PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK; the caller's to PQclear) or NULL with *rc set:
 * CAIRN_EEXISTS for a unique violation, CAIRN_EINVALID for a check or
 * foreign-key violation, CAIRN_EIO otherwise (message names `what`). A
 * failure inside a transaction marks it failed (pg->failed).
 */
PGresult *cairn__pg_exec(meta_pg *pg, const char *what, const char *sql, int n,
			 const pg_arg *args, int *rc);
/* cairn__pg_exec for a statement whose result is not needed: 0 or the code. */
int cairn__pg_run(meta_pg *pg, const char *what, const char *sql, int n, const pg_arg *args);

/* Rows an INSERT, UPDATE or DELETE touched. */
uint64_t cairn__pg_changes(const PGresult *r);
/* An UPDATE or DELETE that must touch a row, as a mutation (in a savepoint):
 * 0, or CAIRN_ENOTFOUND with `missing`, or the statement's code. */
int cairn__pg_change_one(meta_pg *pg, const char *what, const char *sql, int n,
			 const pg_arg *a, const char *missing);

/* Column values of a text result. */
int64_t cairn__pg_get_i64(const PGresult *r, int row, int col);
/* A bytea column into out (exactly n bytes: else CAIRN_ECORRUPT). */
int cairn__pg_get_fixed(const PGresult *r, int row, int col, void *out, size_t n);
/* A bytea column into a malloc'd buffer (*out, *len; NULL and 0 for SQL NULL). */
int cairn__pg_get_bytes(const PGresult *r, int row, int col, uint8_t **out, size_t *len);

/* Refuse a mutation outside a write transaction (or after a failed statement in it). */
int cairn__pg_need_write(meta_pg *pg, const char *what);
/* A mutation of several statements: a savepoint, then op_end keeps or undoes it. */
int cairn__pg_op_begin(meta_pg *pg, const char *what);
int cairn__pg_op_end(meta_pg *pg, int rc, const char *what);

/* Set the function table's entries each file implements. */
void cairn__pg_data_init(cairn_meta *m);
void cairn__pg_auth_init(cairn_meta *m);

#endif
