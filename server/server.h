/*
 * server.h - `cairn serve`: the HTTP front (native API) over libmicrohttpd.
 * The command parses its options, opens the data directory, creates the
 * first admin token if there are no users yet, serves until SIGTERM or
 * SIGINT, lets requests in flight finish, and returns an exit code.
 */
#ifndef CAIRN_SERVER_H
#define CAIRN_SERVER_H

/* The `cairn serve` subcommand (argv[0] is "serve"). Returns an exit code. */
int cairn_server_cmd(int argc, char **argv);

#endif /* CAIRN_SERVER_H */
