/*
 * meta_pg_auth.c - the PostgreSQL backend's users, tokens, web sessions,
 * S3 keys, regions and multipart uploads (meta_pg_int.h; meta_sqlite.c
 * is the reference).
 *
 * Each function is its SQLite twin's port: the same argument checks in
 * the same order, the same codes and messages. What differs is
 * PostgreSQL's: a failed statement aborts the whole transaction, so every
 * mutation, even of one statement, runs between cairn__pg_op_begin and
 * cairn__pg_op_end (a duplicate then leaves the caller's transaction
 * usable, as SQLite's statement rollback does); an insert that needs a
 * parent row (a token's user, an upload's bucket) selects it, so a
 * missing parent is "no row inserted" rather than a foreign-key error;
 * text is ordered with COLLATE "C" (bytes, as SQLite) whatever the
 * database's locale. Rows handed to callbacks point into the PGresult,
 * which lives until the listing returns.
 */
#include "meta_pg_int.h"

#include <libpq-events.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------------- */

/* Zero memory that held a secret (a store the compiler may not drop). */
static void wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n--)
		*v++ = 0;
}

/* A stored user name into out (1..CAIRN_NAME_MAX bytes, else damage). */
static int copy_name(char out[CAIRN_NAME_MAX + 1], const PGresult *r, int row, int col)
{
	const char *t = PQgetvalue(r, row, col);
	size_t len = PQgetisnull(r, row, col) ? 0 : strlen(t);

	if (len < 1 || len > CAIRN_NAME_MAX)
		return cairn__error_set(CAIRN_ECORRUPT,
					"metadata: a stored bucket name is malformed");
	memcpy(out, t, len + 1);
	return 0;
}


/* memcmp that takes the same time wherever the first difference is. */
static bool same_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

/*
 * Could a user or region be stored under this name? Every stored name
 * passed cairn__meta_check_name, so one that fails it is simply unknown,
 * as SQLite answers; asking PostgreSQL could fail instead (bytes that are
 * not UTF-8 in a UTF-8 database: an error, not "no row").
 */
static bool storable_name(const char *name)
{
	return cairn__meta_check_name("name", name) == 0;
}

/* ---- users and tokens ------------------------------------------------------------------------------ */

static int pg_user_create(cairn_meta *m, const char *name, int64_t now_ns, int64_t *id)
{
	meta_pg *pg = cairn__pg(m);
	char t[24];
	pg_arg a[2] = {PG_TEXT(name), PG_TEXT(cairn__pg_i64(t, now_ns))};
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_need_write(pg, "user_create")) != 0 ||
	    (rc = cairn__meta_check_name("user name", name)) != 0 ||
	    (rc = cairn__pg_op_begin(pg, "user_create")) != 0)
		return rc;
	r = cairn__pg_exec(pg, "user_create",
			   "INSERT INTO users (name, created_ns) VALUES ($1::text, $2::bigint) "
			   "RETURNING id",
			   2, a, &rc);
	if (r != NULL && id)
		*id = cairn__pg_get_i64(r, 0, 0);
	PQclear(r);
	if (rc == CAIRN_EEXISTS)
		rc = cairn__error_set(CAIRN_EEXISTS, "user %s exists already", name);
	return cairn__pg_op_end(pg, rc, "user_create");
}

static int pg_user_get(cairn_meta *m, const char *name, int64_t *id)
{
	pg_arg a[1] = {PG_TEXT(name)};
	PGresult *r;
	int rc;

	if (name == NULL)
		return cairn__error_set(CAIRN_EINVALID, "user_get: NULL name");
	if (!storable_name(name))
		return cairn__error_set(CAIRN_ENOTFOUND, "no user %s", name);
	r = cairn__pg_exec(cairn__pg(m), "user_get", "SELECT id FROM users WHERE name = $1::text", 1,
			   a, &rc);
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no user %s", name);
	else if (id)
		*id = cairn__pg_get_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

static int pg_user_count(cairn_meta *m, uint64_t *n)
{
	PGresult *r;
	int rc;

	if (n == NULL)
		return cairn__error_set(CAIRN_EINVALID, "user_count: NULL argument");
	r = cairn__pg_exec(cairn__pg(m), "user_count", "SELECT count(*) FROM users", 0, NULL, &rc);
	if (r == NULL)
		return rc;
	*n = (uint64_t)cairn__pg_get_i64(r, 0, 0);
	PQclear(r);
	return 0;
}

static bool scope_ok(const char *scope)
{
	return scope != NULL && (strcmp(scope, "read") == 0 || strcmp(scope, "write") == 0 ||
				 strcmp(scope, "admin") == 0);
}

static int pg_token_create(cairn_meta *m, const char *user, const char *scope,
			   const uint8_t hash[32], int64_t now_ns)
{
	meta_pg *pg = cairn__pg(m);
	char t[24];
	pg_arg a[4] = {PG_TEXT(user), PG_TEXT(scope), PG_BYTES(hash, 32),
		       PG_TEXT(cairn__pg_i64(t, now_ns))};
	PGresult *r;
	int rc;

	if (user == NULL || hash == NULL)
		return cairn__error_set(CAIRN_EINVALID, "token_create: NULL argument");
	if (!scope_ok(scope))
		return cairn__error_set(CAIRN_EINVALID,
					"token scope must be read, write or admin, not '%s'",
					scope ? scope : "(null)");
	if ((rc = cairn__pg_need_write(pg, "token_create")) != 0)
		return rc;
	if (!storable_name(user))
		return cairn__error_set(CAIRN_ENOTFOUND, "no user %s", user);
	if ((rc = cairn__pg_op_begin(pg, "token_create")) != 0)
		return rc;
	/* inserts nothing when the user does not exist */
	r = cairn__pg_exec(pg, "token_create",
			   "INSERT INTO tokens (user_id, scope, hash, created_ns) "
			   "SELECT id, $2::text, $3::bytea, $4::bigint FROM users WHERE name = $1::text",
			   4, a, &rc);
	if (r != NULL && cairn__pg_changes(r) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no user %s", user);
	PQclear(r);
	if (rc == CAIRN_EEXISTS)
		rc = cairn__error_set(CAIRN_EEXISTS, "that token is recorded already");
	return cairn__pg_op_end(pg, rc, "token_create");
}

/*
 * A lookup of a token or session hash (columns: user name, scope, the
 * stored hash, and whether it was revoked) into user and scope. Returns 0,
 * CAIRN_EAUTH (unknown: says `unknown`), CAIRN_ECORRUPT or the query's
 * error.
 */
static int read_credential(meta_pg *pg, const char *sql, int n, const pg_arg *a,
			   const uint8_t hash[32], const char *unknown, const char *what,
			   char user[CAIRN_NAME_MAX + 1], char scope[CAIRN_SCOPE_MAX + 1])
{
	uint8_t stored[32];
	PGresult *r;
	int rc;

	if ((r = cairn__pg_exec(pg, what, sql, n, a, &rc)) == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		rc = cairn__error_set(CAIRN_EAUTH, "%s", unknown);
	} else if ((rc = cairn__pg_get_fixed(r, 0, 2, stored, sizeof(stored))) != 0) {
		/* a stored hash of the wrong length: damage (ECORRUPT, said) */
	} else if (!same_bytes(stored, hash, 32) || PQgetvalue(r, 0, 3)[0] == 't') {
		rc = cairn__error_set(CAIRN_EAUTH, "%s", unknown);
	} else {
		const char *sc = PQgetvalue(r, 0, 1);
		size_t sc_len = PQgetisnull(r, 0, 1) ? 0 : strlen(sc);

		if (sc_len < 1 || sc_len > CAIRN_SCOPE_MAX)
			rc = cairn__error_set(CAIRN_ECORRUPT,
					      "metadata: a stored scope is malformed");
		else if ((rc = copy_name(user, r, 0, 0)) == 0)
			memcpy(scope, sc, sc_len + 1);
	}
	PQclear(r);
	wipe(stored, sizeof(stored));
	return rc;
}

static int pg_token_lookup(cairn_meta *m, const uint8_t hash[32], char user[CAIRN_NAME_MAX + 1],
			   char scope[CAIRN_SCOPE_MAX + 1])
{
	pg_arg a[1] = {PG_BYTES(hash, 32)};

	if (hash == NULL || user == NULL || scope == NULL)
		return cairn__error_set(CAIRN_EINVALID, "token_lookup: NULL argument");
	/* a revoked token's row stays (column 3 true): it answers as unknown */
	return read_credential(cairn__pg(m),
			       "SELECT u.name, t.scope, t.hash, t.revoked_ns IS NOT NULL "
			       "FROM tokens AS t JOIN users AS u ON u.id = t.user_id "
			       "WHERE t.hash = $1::bytea",
			       1, a, hash, "unknown or revoked token", "token_lookup", user, scope);
}


static int pg_token_revoke(cairn_meta *m, const uint8_t hash[32], int64_t now_ns)
{
	char t[24];
	pg_arg a[2] = {PG_BYTES(hash, 32), PG_TEXT(cairn__pg_i64(t, now_ns))};

	if (hash == NULL)
		return cairn__error_set(CAIRN_EINVALID, "token_revoke: NULL argument");
	return cairn__pg_change_one(cairn__pg(m), "token_revoke",
			  "UPDATE tokens SET revoked_ns = $2::bigint WHERE hash = $1::bytea "
			  "AND revoked_ns IS NULL",
			  2, a, "no such token (or revoked already)");
}

/* ---- web sessions ----------------------------------------------------------------------------------- */

static int pg_session_create(cairn_meta *m, const uint8_t hash[32], const uint8_t token_hash[32],
			     int64_t now_ns, int64_t expires_ns)
{
	meta_pg *pg = cairn__pg(m);
	char t[24], e[24];
	pg_arg a[4] = {PG_BYTES(hash, 32), PG_BYTES(token_hash, 32),
		       PG_TEXT(cairn__pg_i64(t, now_ns)), PG_TEXT(cairn__pg_i64(e, expires_ns))};
	int rc;

	if (hash == NULL || token_hash == NULL)
		return cairn__error_set(CAIRN_EINVALID, "session_create: NULL argument");
	if ((rc = cairn__pg_op_begin(pg, "session_create")) != 0)
		return rc;
	/* expired sessions go whenever a new one starts: the table stays small */
	rc = cairn__pg_run(pg, "session_create: expire",
			   "DELETE FROM web_sessions WHERE expires_ns <= $1::bigint", 1, a + 2);
	if (rc == 0) {
		rc = cairn__pg_run(pg, "session_create",
				   "INSERT INTO web_sessions (hash, token_hash, created_ns, expires_ns) "
				   "VALUES ($1::bytea, $2::bytea, $3::bigint, $4::bigint)",
				   4, a);
		if (rc == CAIRN_EEXISTS)
			rc = cairn__error_set(CAIRN_EEXISTS, "that session is recorded already");
	}
	return cairn__pg_op_end(pg, rc, "session_create");
}

static int pg_session_lookup(cairn_meta *m, const uint8_t hash[32], int64_t now_ns,
			     char user[CAIRN_NAME_MAX + 1], char scope[CAIRN_SCOPE_MAX + 1])
{
	char t[24];
	pg_arg a[2] = {PG_BYTES(hash, 32), PG_TEXT(cairn__pg_i64(t, now_ns))};

	if (hash == NULL || user == NULL || scope == NULL)
		return cairn__error_set(CAIRN_EINVALID, "session_lookup: NULL argument");
	/* a session lives only as long as its token */
	return read_credential(cairn__pg(m),
			       "SELECT u.name, t.scope, s.hash, false FROM web_sessions AS s "
			       "JOIN tokens AS t ON t.hash = s.token_hash "
			       "JOIN users AS u ON u.id = t.user_id "
			       "WHERE s.hash = $1::bytea AND s.expires_ns > $2::bigint "
			       "AND t.revoked_ns IS NULL",
			       2, a, hash, "unknown or ended session", "session_lookup", user, scope);
}

static int pg_session_delete(cairn_meta *m, const uint8_t hash[32])
{
	pg_arg a[1] = {PG_BYTES(hash, 32)};

	if (hash == NULL)
		return cairn__error_set(CAIRN_EINVALID, "session_delete: NULL argument");
	return cairn__pg_change_one(cairn__pg(m), "session_delete",
			  "DELETE FROM web_sessions WHERE hash = $1::bytea", 1, a,
			  "no such session");
}

/* ---- regions --------------------------------------------------------------------------------------- */

static int pg_region_create(cairn_meta *m, const char *name, const char *url,
			    const uint8_t secret[32], int64_t now_ns)
{
	meta_pg *pg = cairn__pg(m);
	char t[24];
	pg_arg a[4] = {PG_TEXT(name), PG_TEXT(url), PG_BYTES(secret, 32),
		       PG_TEXT(cairn__pg_i64(t, now_ns))};
	size_t ulen;
	int rc;

	if ((rc = cairn__meta_check_name("region name", name)) != 0)
		return rc;
	if (url == NULL || secret == NULL)
		return cairn__error_set(CAIRN_EINVALID, "region_create: NULL argument");
	ulen = strnlen(url, CAIRN_REGION_URL_MAX + 1);
	if (ulen > CAIRN_REGION_URL_MAX ||
	    (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
	    ulen <= 8)
		return cairn__error_set(CAIRN_EINVALID,
					"a region's URL is http:// or https:// and a host, at most "
					"%d bytes",
					CAIRN_REGION_URL_MAX);
	for (size_t i = 0; i < ulen; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f || url[i] == '"' ||
		    url[i] == '\\')
			return cairn__error_set(CAIRN_EINVALID, "a region's URL holds no spaces, "
								"controls, quotes or backslashes");
	if ((rc = cairn__pg_op_begin(pg, "region_create")) != 0)
		return rc;
	rc = cairn__pg_run(pg, "region_create",
			   "INSERT INTO regions (name, url, secret, created_ns) "
			   "VALUES ($1::text, $2::text, $3::bytea, $4::bigint)",
			   4, a);
	if (rc == CAIRN_EEXISTS)
		rc = cairn__error_set(CAIRN_EEXISTS, "region %s exists already", name);
	return cairn__pg_op_end(pg, rc, "region_create");
}

static int pg_region_get(cairn_meta *m, const char *name, char *url, uint8_t secret[32])
{
	pg_arg a[1] = {PG_TEXT(name)};
	uint8_t sec[32];
	PGresult *r;
	int rc;

	if (name == NULL || url == NULL)
		return cairn__error_set(CAIRN_EINVALID, "region_get: NULL argument");
	if (!storable_name(name))
		return cairn__error_set(CAIRN_ENOTFOUND, "no region %s", name);
	r = cairn__pg_exec(cairn__pg(m), "region_get",
			   "SELECT url, secret FROM regions WHERE name = $1::text", 1, a, &rc);
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no region %s", name);
	} else {
		const char *u = PQgetvalue(r, 0, 0);
		size_t ul = PQgetisnull(r, 0, 0) ? 0 : strlen(u);

		if (ul < 1 || ul > CAIRN_REGION_URL_MAX ||
		    cairn__pg_get_fixed(r, 0, 1, sec, sizeof(sec)) != 0) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: region %s is malformed",
					      name);
		} else {
			memcpy(url, u, ul + 1);
			if (secret)
				memcpy(secret, sec, 32);
		}
		/* the secret's hex text in the result goes too */
		if (!PQgetisnull(r, 0, 1))
			wipe(PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1));
	}
	PQclear(r);
	wipe(sec, sizeof(sec));
	return rc;
}

static int pg_region_list(cairn_meta *m,
			  int (*fn)(void *ctx, const char *name, const char *url, int64_t created_ns),
			  void *ctx)
{
	meta_pg *pg = cairn__pg(m);
	PGresult *r;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "region_list: NULL callback");
	r = cairn__pg_exec(pg, "region_list",
			   "SELECT name, url, created_ns FROM regions ORDER BY name COLLATE \"C\"", 0,
			   NULL, &rc);
	if (r == NULL)
		return rc;
	pg->listing++;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		if (PQgetisnull(r, i, 0) || PQgetisnull(r, i, 1))
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: a region row is malformed");
		else
			rc = fn(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
				cairn__pg_get_i64(r, i, 2));
	}
	pg->listing--;
	PQclear(r);
	return rc;
}

static int pg_region_delete(cairn_meta *m, const char *name)
{
	pg_arg a[1] = {PG_TEXT(name)};
	int rc;

	if (name == NULL)
		return cairn__error_set(CAIRN_EINVALID, "region_delete: NULL argument");
	if ((rc = cairn__pg_need_write(cairn__pg(m), "region_delete")) != 0)
		return rc;
	if (!storable_name(name))
		return cairn__error_set(CAIRN_ENOTFOUND, "no such region");
	return cairn__pg_change_one(cairn__pg(m), "region_delete",
			  "DELETE FROM regions WHERE name = $1::text", 1, a, "no such region");
}

/* ---- S3 access keys ------------------------------------------------------------------------------- */

/* An access key id: 1..CAIRN_S3_KEY_MAX of [A-Za-z0-9._-] (never '/': SigV4's separator). */
static int check_access_key(const char *key)
{
	size_t n = key ? strnlen(key, CAIRN_S3_KEY_MAX + 1) : 0;

	if (n == 0 || n > CAIRN_S3_KEY_MAX)
		return cairn__error_set(CAIRN_EINVALID, "an S3 access key has 1 to %d characters",
					CAIRN_S3_KEY_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = key[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return cairn__error_set(CAIRN_EINVALID,
						"an S3 access key is made of A-Z a-z 0-9 . _ -");
	}
	return 0;
}

static int pg_s3key_create(cairn_meta *m, const char *user, const char *access_key,
			   const char *secret, int64_t now_ns)
{
	meta_pg *pg = cairn__pg(m);
	size_t slen = secret ? strnlen(secret, CAIRN_S3_SECRET_MAX + 1) : 0;
	char t[24];
	pg_arg a[4] = {PG_TEXT(user), PG_TEXT(access_key), PG_TEXT(secret),
		       PG_TEXT(cairn__pg_i64(t, now_ns))};
	PGresult *r;
	int rc;

	if (user == NULL)
		return cairn__error_set(CAIRN_EINVALID, "s3key_create: no user");
	if ((rc = check_access_key(access_key)) != 0)
		return rc;
	if (slen == 0 || slen > CAIRN_S3_SECRET_MAX)
		return cairn__error_set(CAIRN_EINVALID, "an S3 secret has 1 to %d characters",
					CAIRN_S3_SECRET_MAX);
	for (size_t i = 0; i < slen; i++)
		if (secret[i] <= ' ' || secret[i] > '~')
			return cairn__error_set(CAIRN_EINVALID,
						"an S3 secret is printable ASCII without spaces");
	if ((rc = cairn__pg_need_write(pg, "s3key_create")) != 0)
		return rc;
	if (!storable_name(user))
		return cairn__error_set(CAIRN_ENOTFOUND, "no user %s", user);
	if ((rc = cairn__pg_op_begin(pg, "s3key_create")) != 0)
		return rc;
	/* inserts nothing when the user does not exist */
	r = cairn__pg_exec(pg, "s3key_create",
			   "INSERT INTO s3_keys (access_key, user_id, secret, created_ns) "
			   "SELECT $2::text, id, $3::text, $4::bigint FROM users WHERE name = $1::text",
			   4, a, &rc);
	if (r != NULL && cairn__pg_changes(r) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no user %s", user);
	PQclear(r);
	if (rc == CAIRN_EEXISTS)
		rc = cairn__error_set(CAIRN_EEXISTS, "S3 access key %s exists already", access_key);
	return cairn__pg_op_end(pg, rc, "s3key_create");
}

static int pg_s3key_lookup(cairn_meta *m, const char *access_key, char user[CAIRN_NAME_MAX + 1],
			   char *secret, size_t secret_cap)
{
	pg_arg a[1] = {PG_TEXT(access_key)};
	PGresult *r;
	int rc;

	if (access_key == NULL || user == NULL || secret == NULL)
		return cairn__error_set(CAIRN_EINVALID, "s3key_lookup: NULL argument");
	if (check_access_key(access_key) != 0) /* cannot be stored: unknown */
		return cairn__error_set(CAIRN_EAUTH, "unknown or revoked S3 access key");
	r = cairn__pg_exec(cairn__pg(m), "s3key_lookup",
			   "SELECT u.name, k.secret, k.revoked_ns IS NOT NULL FROM s3_keys AS k "
			   "JOIN users AS u ON u.id = k.user_id WHERE k.access_key = $1::text",
			   1, a, &rc);
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		rc = cairn__error_set(CAIRN_EAUTH, "unknown or revoked S3 access key");
	} else {
		char *sec = PQgetvalue(r, 0, 1);
		size_t sec_len = PQgetisnull(r, 0, 1) ? 0 : strlen(sec);

		if (PQgetvalue(r, 0, 2)[0] == 't') {
			rc = cairn__error_set(CAIRN_EAUTH, "unknown or revoked S3 access key");
		} else if (sec_len < 1 || sec_len > CAIRN_S3_SECRET_MAX) {
			rc = cairn__error_set(CAIRN_ECORRUPT,
					      "metadata: a stored S3 secret is malformed");
		} else if (sec_len >= secret_cap) {
			rc = cairn__error_set(CAIRN_EINVALID,
					      "s3key_lookup: the secret needs %d bytes",
					      (int)sec_len + 1);
		} else if ((rc = copy_name(user, r, 0, 0)) == 0) {
			memcpy(secret, sec, sec_len + 1);
		}
		wipe(sec, sec_len); /* not left in freed memory */
	}
	PQclear(r);
	return rc;
}

static int pg_s3key_revoke(cairn_meta *m, const char *access_key, int64_t now_ns)
{
	char t[24];
	pg_arg a[2] = {PG_TEXT(access_key), PG_TEXT(cairn__pg_i64(t, now_ns))};

	if (access_key == NULL)
		return cairn__error_set(CAIRN_EINVALID, "s3key_revoke: NULL argument");
	return cairn__pg_change_one(cairn__pg(m), "s3key_revoke",
			  "UPDATE s3_keys SET revoked_ns = $2::bigint WHERE access_key = $1::text "
			  "AND revoked_ns IS NULL",
			  2, a, "no such S3 access key (or revoked already)");
}

/* ---- multipart uploads ---------------------------------------------------------------------------- */

#define MPU_ID_LEN 32 /* CAIRN_MPU_ID_LEN of repo.h */
#define MPU_PARTS_MAX 10000

/* An upload id: exactly 32 lower-case hex digits. */
static bool mpu_id_ok(const char *id)
{
	size_t n = id ? strnlen(id, MPU_ID_LEN + 1) : 0;

	if (n != MPU_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* An upload's content type and user metadata: NULL or within their ceilings. */
static int check_strings(const char *content_type, const char *user_meta)
{
	if (content_type && strnlen(content_type, CAIRN_CTYPE_MAX + 1) > CAIRN_CTYPE_MAX)
		return cairn__error_set(CAIRN_EINVALID, "a content type has at most %d bytes",
					CAIRN_CTYPE_MAX);
	if (user_meta &&
	    strnlen(user_meta, CAIRN_USER_META_TEXT_MAX + 1) > CAIRN_USER_META_TEXT_MAX)
		return cairn__error_set(CAIRN_EINVALID, "user metadata has at most %d bytes of text",
					CAIRN_USER_META_TEXT_MAX);
	return 0;
}

static int check_u64(uint64_t v, const char *what)
{
	if (v > (uint64_t)INT64_MAX)
		return cairn__error_set(CAIRN_EINVALID, "metadata: %s %llu is too large", what,
					(unsigned long long)v);
	return 0;
}

static int pg_mpu_create(cairn_meta *m, int64_t bucket, const char *id, const char *key,
			 size_t key_len, const char *content_type, const char *user_meta,
			 int64_t now_ns)
{
	meta_pg *pg = cairn__pg(m);
	char b[24], t[24];
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_need_write(pg, "mpu_create")) != 0)
		return rc;
	if (!mpu_id_ok(id))
		return cairn__error_set(CAIRN_EINVALID, "an upload id is 32 lower-case hex digits");
	if ((rc = cairn__meta_check_key(key, key_len)) != 0 ||
	    (rc = check_strings(content_type, user_meta)) != 0 ||
	    (rc = cairn__pg_op_begin(pg, "mpu_create")) != 0)
		return rc;
	{
		pg_arg a[6] = {PG_TEXT(id),
			       PG_TEXT(cairn__pg_i64(b, bucket)),
			       PG_BYTES(key, key_len),
			       PG_TEXT(content_type),
			       PG_TEXT(user_meta),
			       PG_TEXT(cairn__pg_i64(t, now_ns))};

		/* inserts nothing when the bucket does not exist */
		r = cairn__pg_exec(pg, "mpu_create",
				   "INSERT INTO multipart_uploads (id, bucket_id, key, content_type, "
				   "user_meta, created_ns) SELECT $1::text, id, $3::bytea, $4::text, "
				   "$5::text, $6::bigint FROM buckets WHERE id = $2::bigint",
				   6, a, &rc);
	}
	if (r != NULL && cairn__pg_changes(r) == 0)
		rc = cairn__error_set(CAIRN_ENOTFOUND, "mpu_create: no bucket with id %lld",
				      (long long)bucket);
	PQclear(r);
	if (rc == CAIRN_EEXISTS)
		rc = cairn__error_set(CAIRN_EEXISTS, "upload %s exists already", id);
	return cairn__pg_op_end(pg, rc, "mpu_create");
}

/* mpu_get's strings live in the handle (meta_pg_int.h): until its next call. */
static mpu_strings *mpu_strings_of(meta_pg *pg)
{
	return &pg->mpu;
}

/*
 * A stored text column into buf (cap bytes, NUL included), or NULL for SQL
 * NULL; one too long is damage.
 */
static int copy_text(const char **out, char *buf, size_t cap, const PGresult *r, int col,
		     const char *what)
{
	const char *t = PQgetvalue(r, 0, col);
	size_t n;

	*out = NULL;
	if (PQgetisnull(r, 0, col))
		return 0;
	if ((n = strlen(t)) >= cap)
		return cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored %s is too long", what);
	memcpy(buf, t, n + 1);
	*out = buf;
	return 0;
}

static int pg_mpu_get(cairn_meta *m, int64_t bucket, const char *id, const char **key,
		      size_t *key_len, const char **content_type, const char **user_meta)
{
	meta_pg *pg = cairn__pg(m);
	const char *ct = NULL, *um = NULL;
	char b[24];
	pg_arg a[2] = {PG_TEXT(id), PG_TEXT(cairn__pg_i64(b, bucket))};
	mpu_strings *s;
	uint8_t *k = NULL;
	size_t klen = 0;
	PGresult *r;
	int rc;

	if (!mpu_id_ok(id))
		return cairn__error_set(CAIRN_ENOTFOUND, "no such upload");
	s = mpu_strings_of(pg);
	r = cairn__pg_exec(pg, "mpu_get",
			   "SELECT key, content_type, user_meta FROM multipart_uploads "
			   "WHERE id = $1::text AND bucket_id = $2::bigint",
			   2, a, &rc);
	if (r == NULL)
		return rc;
	if (PQntuples(r) == 0) {
		rc = cairn__error_set(CAIRN_ENOTFOUND, "no upload %.32s in bucket %lld", id,
				      (long long)bucket);
	} else if ((rc = cairn__pg_get_bytes(r, 0, 0, &k, &klen)) == 0) {
		if (k == NULL || klen == 0 || klen > CAIRN_KEY_MAX)
			rc = cairn__error_set(CAIRN_ECORRUPT,
					      "metadata: a stored upload key is malformed");
		else
			memcpy(s->key, k, klen);
		if (rc == 0)
			rc = copy_text(&ct, s->content_type, sizeof(s->content_type), r, 1,
				       "content type");
		if (rc == 0)
			rc = copy_text(&um, s->user_meta, sizeof(s->user_meta), r, 2,
				       "user metadata");
	}
	free(k);
	PQclear(r);
	if (rc != 0)
		return rc;
	if (key)
		*key = s->key;
	if (key_len)
		*key_len = klen;
	if (content_type)
		*content_type = ct;
	if (user_meta)
		*user_meta = um;
	return 0;
}

static int pg_mpu_part_put(cairn_meta *m, const char *id, unsigned number, const cairn_hash *file,
			   uint64_t size, const uint8_t md5[16], int64_t now_ns)
{
	meta_pg *pg = cairn__pg(m);
	char h[CAIRN_HASH_HEX_LEN + 1], nb[24], sb[24], t[24];
	PGresult *r;
	int rc;

	if ((rc = cairn__pg_need_write(pg, "mpu_part_put")) != 0)
		return rc;
	if (file == NULL || md5 == NULL)
		return cairn__error_set(CAIRN_EINVALID, "mpu_part_put: NULL argument");
	if (number < 1 || number > MPU_PARTS_MAX)
		return cairn__error_set(CAIRN_EINVALID, "part numbers are 1 to %d, not %u",
					MPU_PARTS_MAX, number);
	if (!mpu_id_ok(id))
		return cairn__error_set(CAIRN_ENOTFOUND, "no such upload");
	if ((rc = check_u64(size, "part size")) != 0)
		return rc;
	if ((rc = cairn__pg_op_begin(pg, "mpu_part_put")) != 0)
		return rc;
	{
		pg_arg a[6] = {PG_TEXT(id),
			       PG_TEXT(cairn__pg_i64(nb, number)),
			       PG_BYTES(file->bytes, sizeof(file->bytes)),
			       PG_TEXT(cairn__pg_i64(sb, (int64_t)size)),
			       PG_BYTES(md5, 16),
			       PG_TEXT(cairn__pg_i64(t, now_ns))};

		/* the file must be recorded, and the part is all of it (as object_put) */
		r = cairn__pg_exec(pg, "mpu_part_put: file",
				   "SELECT size FROM files WHERE hash = $1::bytea", 1, a + 2, &rc);
		if (r != NULL && PQntuples(r) == 0) {
			cairn_hash_to_hex(h, file);
			rc = cairn__error_set(CAIRN_ENOTFOUND,
					      "mpu_part_put: file %s is not recorded (file_put first)",
					      h);
		} else if (r != NULL && (uint64_t)cairn__pg_get_i64(r, 0, 0) != size) {
			cairn_hash_to_hex(h, file);
			rc = cairn__error_set(CAIRN_EINVALID,
					      "mpu_part_put: size %llu, but file %s holds %llu bytes",
					      (unsigned long long)size, h,
					      (unsigned long long)cairn__pg_get_i64(r, 0, 0));
		}
		PQclear(r);
		/* inserts nothing when the upload does not exist */
		if (rc == 0) {
			r = cairn__pg_exec(
				pg, "mpu_part_put",
				"INSERT INTO multipart_parts (upload_id, number, file_hash, size, md5, "
				"created_ns) SELECT id, $2::integer, $3::bytea, $4::bigint, $5::bytea, "
				"$6::bigint FROM multipart_uploads WHERE id = $1::text "
				"ON CONFLICT (upload_id, number) DO UPDATE SET "
				"file_hash = excluded.file_hash, size = excluded.size, "
				"md5 = excluded.md5, created_ns = excluded.created_ns",
				6, a, &rc);
			if (r != NULL && cairn__pg_changes(r) == 0)
				rc = cairn__error_set(CAIRN_ENOTFOUND, "no upload %.32s", id);
			PQclear(r);
		}
	}
	return cairn__pg_op_end(pg, rc, "mpu_part_put");
}

static int pg_mpu_parts(cairn_meta *m, const char *id, unsigned after, size_t max,
			int (*fn)(void *ctx, unsigned number, const cairn_hash *file, uint64_t size,
				  const uint8_t md5[16], int64_t created_ns),
			void *ctx)
{
	meta_pg *pg = cairn__pg(m);
	char ab[24], mb[24];
	pg_arg a[3] = {PG_TEXT(id), PG_TEXT(cairn__pg_i64(ab, after)),
		       max == 0 || max > INT64_MAX ? PG_NULL
						   : PG_TEXT(cairn__pg_i64(mb, (int64_t)max))};
	PGresult *r;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "mpu_parts: no callback");
	if (!mpu_id_ok(id))
		return 0; /* no such upload: no parts */
	/* LIMIT NULL: no limit */
	r = cairn__pg_exec(pg, "mpu_parts",
			   "SELECT number, file_hash, size, md5, created_ns FROM multipart_parts "
			   "WHERE upload_id = $1::text AND number > $2::bigint ORDER BY number "
			   "LIMIT $3::bigint",
			   3, a, &rc);
	if (r == NULL)
		return rc;
	pg->listing++;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		cairn_hash file;
		uint8_t md5[16];

		if ((rc = cairn__pg_get_fixed(r, i, 1, file.bytes, sizeof(file.bytes))) != 0)
			break;
		if (cairn__pg_get_fixed(r, i, 3, md5, sizeof(md5)) != 0) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored MD5 is not 16 bytes");
			break;
		}
		rc = fn(ctx, (unsigned)cairn__pg_get_i64(r, i, 0), &file,
			(uint64_t)cairn__pg_get_i64(r, i, 2), md5, cairn__pg_get_i64(r, i, 4));
	}
	pg->listing--;
	PQclear(r);
	return rc;
}

static int pg_mpu_list(cairn_meta *m, int64_t bucket, const char *prefix, size_t prefix_len,
		       const char *key_marker, size_t key_marker_len, const char *id_marker,
		       size_t limit,
		       int (*fn)(void *ctx, const char *id, const char *key, size_t key_len,
				 int64_t created_ns),
		       void *ctx)
{
	meta_pg *pg = cairn__pg(m);
	uint8_t lo[CAIRN_KEY_MAX + 1], hi[CAIRN_KEY_MAX + 1];
	size_t lo_len, hi_len;
	char bb[24], lb[24];
	PGresult *r;
	int rc;

	if (fn == NULL)
		return cairn__error_set(CAIRN_EINVALID, "mpu_list: no callback");
	if (key_marker && key_marker_len > CAIRN_KEY_MAX)
		return cairn__error_set(CAIRN_EINVALID, "a key marker has at most %d bytes",
					CAIRN_KEY_MAX);
	if ((rc = cairn__meta_key_range(lo, &lo_len, hi, &hi_len, prefix, prefix_len, NULL, 0)) !=
	    0)
		return rc;
	{
		/*
		 * $2..$3 the prefix's key range (cairn__meta_key_range); after the
		 * marker $4 (NULL: none): a later key, or the same key and a later
		 * id ($5 NULL: no id is later, so every upload of the marker key is
		 * skipped). Ids compare as bytes, as SQLite's do; the marker goes
		 * as bytea, so a marker that is not UTF-8 is only a string that
		 * sorts somewhere, not an error.
		 */
		pg_arg a[6] = {PG_TEXT(cairn__pg_i64(bb, bucket)),
			       PG_BYTES(lo, lo_len),
			       PG_BYTES(hi, hi_len),
			       key_marker ? PG_BYTES(key_marker, key_marker_len) : PG_NULL,
			       key_marker && id_marker ? PG_BYTES(id_marker, strlen(id_marker))
						       : PG_NULL,
			       limit == 0 || limit > INT64_MAX
				       ? PG_NULL
				       : PG_TEXT(cairn__pg_i64(lb, (int64_t)limit))};

		r = cairn__pg_exec(pg, "mpu_list",
				   "SELECT id, key, created_ns FROM multipart_uploads "
				   "WHERE bucket_id = $1::bigint AND key >= $2::bytea AND key < $3::bytea "
				   "AND ($4::bytea IS NULL OR key > $4::bytea OR (key = $4::bytea AND "
				   "convert_to(id, 'UTF8') > $5::bytea)) "
				   "ORDER BY key, id COLLATE \"C\" LIMIT $6::bigint",
				   6, a, &rc);
	}
	if (r == NULL)
		return rc;
	pg->listing++;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		const char *id = PQgetvalue(r, i, 0);
		uint8_t *k = NULL;
		size_t klen = 0;

		if (PQgetisnull(r, i, 0) || strlen(id) != MPU_ID_LEN) {
			rc = cairn__error_set(CAIRN_ECORRUPT, "metadata: a stored upload id is malformed");
			break;
		}
		if ((rc = cairn__pg_get_bytes(r, i, 1, &k, &klen)) == 0)
			rc = fn(ctx, id, (const char *)k, klen, cairn__pg_get_i64(r, i, 2));
		free(k);
	}
	pg->listing--;
	PQclear(r);
	return rc;
}

static int pg_mpu_delete(cairn_meta *m, const char *id)
{
	meta_pg *pg = cairn__pg(m);
	pg_arg a[1] = {PG_TEXT(id)};
	PGresult *r;
	int rc;

	if (!mpu_id_ok(id))
		return cairn__error_set(CAIRN_ENOTFOUND, "no such upload");
	if ((rc = cairn__pg_op_begin(pg, "mpu_delete")) != 0)
		return rc;
	rc = cairn__pg_run(pg, "mpu_delete: parts",
			   "DELETE FROM multipart_parts WHERE upload_id = $1::text", 1, a);
	if (rc == 0) {
		r = cairn__pg_exec(pg, "mpu_delete", "DELETE FROM multipart_uploads WHERE id = $1::text",
				   1, a, &rc);
		if (r != NULL && cairn__pg_changes(r) == 0)
			rc = cairn__error_set(CAIRN_ENOTFOUND, "no such upload");
		PQclear(r);
	}
	return cairn__pg_op_end(pg, rc, "mpu_delete");
}

/* ---- the table ------------------------------------------------------------------------------------ */

void cairn__pg_auth_init(cairn_meta *m)
{
	m->user_create = pg_user_create;
	m->user_get = pg_user_get;
	m->user_count = pg_user_count;
	m->token_create = pg_token_create;
	m->token_lookup = pg_token_lookup;
	m->token_revoke = pg_token_revoke;
	m->s3key_create = pg_s3key_create;
	m->s3key_lookup = pg_s3key_lookup;
	m->s3key_revoke = pg_s3key_revoke;
	m->session_create = pg_session_create;
	m->session_lookup = pg_session_lookup;
	m->session_delete = pg_session_delete;
	m->region_create = pg_region_create;
	m->region_get = pg_region_get;
	m->region_list = pg_region_list;
	m->region_delete = pg_region_delete;
	m->mpu_create = pg_mpu_create;
	m->mpu_get = pg_mpu_get;
	m->mpu_part_put = pg_mpu_part_put;
	m->mpu_parts = pg_mpu_parts;
	m->mpu_list = pg_mpu_list;
	m->mpu_delete = pg_mpu_delete;
}
