"""cli_map.py - how the `cairn` command line maps onto the Python API, written
down once: python/tests/test_parity.py reads every verb and option from the
CLI's own --help and checks each against this table and the methods'
signatures, so the two cannot drift apart silently.

The rule: a verb is a Client method (COMMANDS); an option --foo-bar is the
keyword parameter foo_bar of that method, except the renamed ones
(RENAMED); the options every server command takes (--endpoint, --token)
are the Client's constructor arguments (CLIENT_OPTIONS); options that only
shape the CLI's text output or its terminal dialogue have no counterpart
(NOT_APPLICABLE, each with the reason). Commands that do not talk to a
server as a client are listed in OTHER_COMMANDS with the reason.
"""

# (command words) -> the Client methods that do what it does
COMMANDS = {
    ("whoami",): ("whoami",),
    ("login",): ("login",),
    ("hash",): ("hash_file",),
    ("buckets", "create"): ("create_bucket",),
    ("buckets", "list"): ("list_buckets",),
    ("buckets", "info"): ("bucket_info",),
    ("buckets", "delete"): ("delete_bucket",),
    ("buckets", "settings"): ("update_bucket_settings",),
    ("buckets", "ls"): ("list_bucket_tree",),
    # cp is three methods: which one is told by which side is a bucket
    ("buckets", "cp"): ("upload_file", "download_file", "copy"),
    ("buckets", "rm"): ("delete_files",),
    ("buckets", "sync"): ("sync_bucket",),
    ("buckets", "prewarm"): ("prewarm",),
}

# options whose parameter is not the option's name in snake_case
RENAMED = {
    "-R": "recursive",
}

# options of every server command: the Client's constructor arguments (for
# `login`, also login()'s own parameters: the pair it checks and saves)
CLIENT_OPTIONS = {
    "--endpoint": "endpoint",
    "--token": "token",
    "--region": "region",
}

# options with no Python counterpart, and why
NOT_APPLICABLE = {
    "--json": "output format: methods return typed objects (dataclasses) with the same "
              "field names as the JSON",
    "--quiet": "output: methods print nothing",
    "--help": "usage text: see the docstrings (help(cairn.Client))",
    "--yes": "terminal confirmation of `buckets delete`: calling delete_bucket is the "
             "confirmation",
    "-h": "`ls -h` prints human-readable sizes: formatting; TreeEntry.size is an int",
    "--human-readable": "the long form of `ls -h`",
    "--verbose": "`sync --verbose` prints every operation: SyncPlan holds them all",
}

# top-level commands that are not client verbs
OTHER_COMMANDS = {
    "chunks": "prints chunk boundaries for debugging; not part of the client API",
    "serve": "runs the server",
    "admin": "maintains a server's data directory on its machine (users, tokens, gc)",
    "version": "cairn.__version__ and cairn.library_version()",
    "help": "usage text",
}


def parameter_for(option):
    """The keyword parameter a CLI option maps to by the rule above."""
    if option in RENAMED:
        return RENAMED[option]
    return option.lstrip("-").replace("-", "_")
