/*
 * web.h - the browsable pages of `cairn serve` (web.c): home, bucket and
 * folder listings, file pages, login and logout. Server-rendered HTML, no
 * JavaScript; every value escaped; a strict Content-Security-Policy.
 *
 * http.c routes and authenticates (a Bearer token, or on these pages the
 * session cookie that login sets), then asks web.c for a page: web.c
 * builds it and http.c queues it with the headers it names.
 */
#ifndef CAIRN_SERVER_WEB_H
#define CAIRN_SERVER_WEB_H

#include "cairn/repo.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAIRN__SESSION_COOKIE "cairn_session"
#define CAIRN__CSRF_LEN 32 /* hex digits of a form's CSRF token */

enum cairn__web_kind {
	CAIRN__WEB_HOME,   /* GET / */
	CAIRN__WEB_TREE,   /* GET /buckets/NS/NAME[/tree/FOLDER/] */
	CAIRN__WEB_BLOB,   /* GET /buckets/NS/NAME/blob/PATH */
	CAIRN__WEB_LOGIN,  /* GET or POST /login */
	CAIRN__WEB_LOGOUT, /* POST /logout */
	CAIRN__WEB_CSS,    /* GET /static/cairn.css */
	CAIRN__WEB_MISSING /* any other page: 404 */
};

typedef struct cairn__web_req {
	struct MHD_Connection *conn; /* for query arguments and headers */
	const char *url;             /* the request's path, as sent */
	cairn_repo *repo;
	cairn_meta *meta;
	bool post;

	/* the caller */
	bool authed, admin;
	const char *user;                /* when authed */
	bool by_session;                 /* authed through the session cookie */
	char csrf[CAIRN__CSRF_LEN + 1];  /* the logout form's token (a session's) */

	/* the target (TREE, BLOB) */
	const char *ns, *name;
	const char *key; /* folder (no trailing '/') or file path; key_len 0: the root */
	size_t key_len;

	/* a POSTed form (application/x-www-form-urlencoded) */
	const char *body;
	size_t body_len;
} cairn__web_req;

typedef struct cairn__web_page {
	unsigned status;
	const char *ctype;
	char *body;    /* malloc'd */
	size_t len;
	char cookies[2][160]; /* Set-Cookie values, "" for none */
	char location[4400];  /* a redirect's target, "" for none */
} cairn__web_page;

/*
 * Build the page of kind for r into *p (p->body is the caller's to free).
 * Always fills a page (an error page when something fails). Returns 0, or
 * a CAIRN_E* code when the failure was the server's (logged).
 */
int cairn__web_page_build(const cairn__web_req *r, enum cairn__web_kind kind,
			  cairn__web_page *p);

/*
 * The session named by the cookie value v (NULL: none): on success the
 * user, the scope and the CSRF token of its forms. Returns 0, CAIRN_EAUTH
 * (malformed, unknown, expired, or its token revoked), or an engine code.
 */
int cairn__web_session(cairn_meta *m, const char *v, char user[CAIRN_NAME_MAX + 1],
		       char scope[CAIRN_SCOPE_MAX + 1], char csrf[CAIRN__CSRF_LEN + 1]);

/* The S3 front's port, for the file page's snippets (0: none). */
void cairn__web_set_s3_port(unsigned port);

/*
 * Pages link to an object by path when every segment of it is one the
 * native routes take (non-empty, not "." or "..", UTF-8); other keys (an
 * S3 client may store "a/../b") are named by a "path" query argument.
 */
bool cairn__web_key_addressable(const char *key, size_t len);

#endif /* CAIRN_SERVER_WEB_H */
