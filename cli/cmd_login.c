/*
 * cmd_login.c - `cairn login` and `cairn whoami`, and what every command
 * that talks to a server shares: the config file, choosing the endpoint
 * and token, and the one table from error codes to exit codes.
 *
 *   cairn login --endpoint URL --token T [--json] [--quiet]
 *   cairn whoami [--endpoint URL] [--token T] [--json]
 *
 * The config file is $XDG_CONFIG_HOME/cairn/config, else
 * $HOME/.config/cairn/config: "key = value" lines (endpoint, token), '#'
 * comments. It holds a secret, so it is written 0600 in 0700 directories,
 * through a temporary file and a rename (never half written).
 */
#include "cli.h"

#include "cairn/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VALUE_MAX 1024

/* ---- exit codes --------------------------------------------------------------------- */

int cli_exit_code(int rc)
{
	switch (rc) {
	case 0: return EXIT_OK;
	case CAIRN_ENOTFOUND: return EXIT_NOTFOUND;
	case CAIRN_EAUTH:
	case CAIRN_EPERM: return EXIT_AUTH;
	default: return EXIT_FAIL;
	}
}

int cli_fail(int rc, const char *what)
{
	const char *msg = cairn_error_last();

	if (msg == NULL || *msg == '\0')
		msg = cairn_error_name(rc);
	if (what && *what)
		fprintf(stderr, "cairn: %s: %s\n", what, msg);
	else
		fprintf(stderr, "cairn: %s\n", msg);
	return cli_exit_code(rc);
}

/* ---- the config file ------------------------------------------------------------------ */

/* The config directory (no trailing '/'); false if neither variable is set. */
static bool config_dir(char *out, size_t cap)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
	int n;

	if (x != NULL && *x == '/')
		n = snprintf(out, cap, "%s/cairn", x);
	else if (h != NULL && *h != '\0')
		n = snprintf(out, cap, "%s/.config/cairn", h);
	else
		return false;
	return n > 0 && (size_t)n < cap;
}

/* Trim spaces at both ends, in place. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Read endpoint and token from the config file (missing file: nothing, no error). */
static void config_read(char endpoint[VALUE_MAX], char token[VALUE_MAX])
{
	char dir[PATH_MAX], path[PATH_MAX + 16], line[2 * VALUE_MAX];
	FILE *f;

	endpoint[0] = token[0] = '\0';
	if (!config_dir(dir, sizeof(dir)))
		return;
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *k = trim(line), *eq, *v;
		if (*k == '#' || *k == '\0' || (eq = strchr(k, '=')) == NULL)
			continue;
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		if (strlen(v) >= VALUE_MAX)
			continue;
		if (strcmp(k, "endpoint") == 0)
			snprintf(endpoint, VALUE_MAX, "%s", v);
		else if (strcmp(k, "token") == 0)
			snprintf(token, VALUE_MAX, "%s", v);
	}
	fclose(f);
}

/* mkdir -p with mode 0700 for what is missing. 0 or -1 (errno). */
static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Write the config file; on failure print one line and return EXIT_FAIL. */
static int config_write(const char *endpoint, const char *token, char *path, size_t cap)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 32];
	FILE *f;
	int fd;

	if (!config_dir(dir, sizeof(dir))) {
		fprintf(stderr, "cairn: neither HOME nor XDG_CONFIG_HOME is set: nowhere to "
				"write the config\n");
		return EXIT_FAIL;
	}
	snprintf(path, cap, "%s/config", dir);
	snprintf(tmp, sizeof(tmp), "%s/.config.%ld.tmp", dir, (long)getpid());
	if (mkdirs(dir) != 0) {
		fprintf(stderr, "cairn: cannot create %s: %s\n", dir, strerror(errno));
		return EXIT_FAIL;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 || (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "cairn: cannot write %s: %s\n", tmp, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		return EXIT_FAIL;
	}
	fprintf(f, "# written by `cairn login`\nendpoint = %s\ntoken = %s\n", endpoint, token);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "cairn: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

int cli_client_open(cairn_client **out, const cli_remote *o)
{
	static char cfg_endpoint[VALUE_MAX], cfg_token[VALUE_MAX];
	const char *endpoint = o->endpoint, *token = o->token;
	int rc;

	config_read(cfg_endpoint, cfg_token);
	if (endpoint == NULL || *endpoint == '\0')
		endpoint = getenv("CAIRN_ENDPOINT");
	if (endpoint == NULL || *endpoint == '\0')
		endpoint = cfg_endpoint[0] ? cfg_endpoint : CAIRN_CLIENT_DEFAULT_ENDPOINT;
	if (token == NULL || *token == '\0')
		token = getenv("CAIRN_TOKEN");
	if (token == NULL || *token == '\0')
		token = cfg_token[0] ? cfg_token : NULL;
	rc = cairn_client_new(out, endpoint, token);
	if (rc == 0 && o->region != NULL && (rc = cairn_client_set_region(*out, o->region)) != 0) {
		cairn_client_free(*out);
		*out = NULL;
	}
	return rc == 0 ? EXIT_OK : cli_fail(rc, NULL);
}

/* ---- login and whoami ------------------------------------------------------------------- */

/* --endpoint, --token, --json, --quiet, --help; no positional arguments. */
static int parse_remote(int argc, char **argv, cli_remote *o, const char *usage_line)
{
	static const struct option longopts[] = {
		{"endpoint", required_argument, NULL, 'e'},
		{"token", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":q", longopts, NULL)) != -1) {
		switch (ch) {
		case 'e': o->endpoint = optarg; break;
		case 't': o->token = optarg; break;
		case 'j': o->json = true; break;
		case 'q': o->quiet = true; break;
		case 'H':
			printf("%s\n", usage_line);
			exit(EXIT_OK);
		case ':':
			fprintf(stderr, "cairn: option '%s' needs a value (%s)\n", argv[optind - 1],
				usage_line);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "cairn: unknown option '%s' (%s)\n", argv[optind - 1],
				usage_line);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "cairn: unexpected argument '%s' (%s)\n", argv[optind], usage_line);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int cmd_login(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn login --endpoint URL --token TOKEN "
					 "[--json] [--quiet]";
	char path[PATH_MAX + 16];
	cairn_client_whoami me;
	cairn_client *c = NULL;
	cli_remote o;
	int rc, status;

	if ((status = parse_remote(argc, argv, &o, usage_line)) != EXIT_OK)
		return status;
	if (o.endpoint == NULL || *o.endpoint == '\0')
		o.endpoint = getenv("CAIRN_ENDPOINT");
	if (o.endpoint == NULL || *o.endpoint == '\0')
		o.endpoint = CAIRN_CLIENT_DEFAULT_ENDPOINT;
	if (o.token == NULL || *o.token == '\0')
		o.token = getenv("CAIRN_TOKEN");
	if (o.token == NULL || *o.token == '\0') {
		fprintf(stderr, "cairn: login needs a token (%s)\n", usage_line);
		return EXIT_USAGE;
	}
	if (strpbrk(o.endpoint, "\r\n") || strpbrk(o.token, "\r\n") ||
	    strlen(o.endpoint) >= VALUE_MAX || strlen(o.token) >= VALUE_MAX) {
		fprintf(stderr, "cairn: malformed endpoint or token\n");
		return EXIT_USAGE;
	}
	/* check the token before keeping it */
	if ((rc = cairn_client_new(&c, o.endpoint, o.token)) != 0)
		return cli_fail(rc, NULL);
	rc = cairn_client_whoami_get(c, &me);
	cairn_client_free(c);
	if (rc != 0)
		return cli_fail(rc, "login");
	if ((status = config_write(o.endpoint, o.token, path, sizeof(path))) != EXIT_OK)
		return status;
	if (o.json) {
		printf("{\"endpoint\":");
		cli_json_string(stdout, o.endpoint);
		printf(",\"user\":");
		cli_json_string(stdout, me.user);
		printf(",\"scope\":");
		cli_json_string(stdout, me.scope);
		printf(",\"config\":");
		cli_json_string(stdout, path);
		printf("}\n");
	} else if (!o.quiet) {
		printf("logged in to %s as %s (%s token); saved in %s\n", o.endpoint, me.user,
		       me.scope, path);
	}
	return cli_finish_output(EXIT_OK);
}

int cmd_whoami(int argc, char **argv)
{
	static const char usage_line[] = "usage: cairn whoami [--endpoint URL] [--token TOKEN] "
					 "[--json] [--quiet]";
	cairn_client_whoami me;
	cairn_client *c = NULL;
	cli_remote o;
	int rc, status;

	if ((status = parse_remote(argc, argv, &o, usage_line)) != EXIT_OK)
		return status;
	if ((status = cli_client_open(&c, &o)) != EXIT_OK)
		return status;
	rc = cairn_client_whoami_get(c, &me);
	if (rc != 0) {
		status = cli_fail(rc, NULL);
		cairn_client_free(c);
		return status;
	}
	if (o.json) {
		printf("{\"user\":");
		cli_json_string(stdout, me.user);
		printf(",\"scope\":");
		cli_json_string(stdout, me.scope);
		printf(",\"endpoint\":");
		cli_json_string(stdout, cairn_client_endpoint(c));
		printf("}\n");
	} else if (!o.quiet) {
		printf("%s (%s token) at %s\n", me.user, me.scope, cairn_client_endpoint(c));
	}
	cairn_client_free(c);
	return cli_finish_output(EXIT_OK);
}
