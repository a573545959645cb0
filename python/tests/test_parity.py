"""Parity with the command line, derived from the CLI itself: every command
`cairn --help` lists, every verb `cairn buckets --help` lists and every
option their own --help shows must have its Python counterpart by the rule
of cairn/cli_map.py (a method; --foo-bar is its parameter foo_bar; the
listed exceptions), and every keyword of those methods must be a CLI option
(progress callbacks aside). Nothing here is written by hand from the CLI's
source: when a verb or an option is added to the CLI, this test fails until
Python has it too (or cli_map.py says why it does not apply)."""

import inspect
import os
import re
import subprocess

import pytest

import cairn
from cairn import cli_map
from conftest import REPO

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*[a-z]|-[A-Za-z])(?![\w-])")
PYTHON_ONLY = {"progress"}  # keywords with no CLI option: callbacks


def run_help(cli, *words):
    out = subprocess.run([cli, *words, "--help"], capture_output=True, text=True)
    assert out.returncode == 0, (words, out.stderr)
    return out.stdout


def commands_listed(text):
    """The names in the "commands:" section of a --help text."""
    names, on = [], False
    for line in text.splitlines():
        if line.strip() == "commands:":
            on = True
            continue
        if on:
            m = re.match(r"^  (\S+)\s", line)
            if m:
                names.append(m.group(1))
            elif line.strip() == "" and names:
                break
    return names


@pytest.fixture(scope="module")
def cli_table(cli):
    """{(command words): set of options}, read from the CLI's help texts."""
    top = run_help(cli)
    table = {}
    top_cmds = commands_listed(top)
    assert "buckets" in top_cmds and "hash" in top_cmds  # the parser works
    for cmd in top_cmds:
        if cmd in cli_map.OTHER_COMMANDS:
            continue
        assert cmd == "buckets" or (cmd,) in cli_map.COMMANDS, \
            "`cairn %s` has no Python counterpart in cli_map.COMMANDS" % cmd
    buckets_help = run_help(cli, "buckets")
    verbs = commands_listed(buckets_help)
    assert len(verbs) >= 9
    every = set(OPTION.findall(buckets_help.split("every command takes", 1)[1].splitlines()[0]))
    assert every == {"--endpoint", "--token", "--region", "--json", "--quiet"}
    for verb in verbs:
        table[("buckets", verb)] = set(OPTION.findall(run_help(cli, "buckets", verb))) | every
    for cmd in top_cmds:
        if cmd != "buckets" and cmd not in cli_map.OTHER_COMMANDS:
            table[(cmd,)] = set(OPTION.findall(run_help(cli, cmd)))
    for opts in table.values():
        opts.add("--help")
    return table


def test_every_verb_has_a_method(cli_table):
    for words in cli_table:
        assert words in cli_map.COMMANDS, "`cairn %s` is not in cli_map.COMMANDS" % " ".join(
            words)
        for m in cli_map.COMMANDS[words]:
            assert callable(getattr(cairn.Client, m, None)), "Client.%s is missing" % m


def test_every_option_has_a_parameter(cli_table):
    init = inspect.signature(cairn.Client.__init__).parameters
    problems = []
    for words, options in sorted(cli_table.items()):
        methods = cli_map.COMMANDS[words]
        for opt in sorted(options):
            if opt in cli_map.NOT_APPLICABLE:
                assert cli_map.NOT_APPLICABLE[opt].strip()
                continue
            if opt in cli_map.CLIENT_OPTIONS and words != ("login",):
                if cli_map.CLIENT_OPTIONS[opt] not in init:
                    problems.append("%s: Client(%s=)" % (opt, cli_map.CLIENT_OPTIONS[opt]))
                continue
            param = cli_map.parameter_for(opt)
            for m in methods:
                if param not in inspect.signature(getattr(cairn.Client, m)).parameters:
                    problems.append("cairn %s %s: Client.%s has no parameter %s" % (
                        " ".join(words), opt, m, param))
    assert problems == []


def test_every_keyword_is_an_option(cli_table):
    """The other way: a keyword of a mapped method is one of its verb's options."""
    problems = []
    for words, options in cli_table.items():
        params_of_options = {cli_map.parameter_for(o) for o in options}
        for m in cli_map.COMMANDS[words]:
            for name, p in inspect.signature(getattr(cairn.Client, m)).parameters.items():
                if p.kind is p.KEYWORD_ONLY and name not in PYTHON_ONLY and \
                        name not in params_of_options:
                    problems.append("Client.%s(%s=) is no option of `cairn %s`" % (
                        m, name, " ".join(words)))
    assert problems == []


def test_the_sync_table_in_full(cli_table):
    """A spot check that the parser saw what the sync usage shows."""
    got = cli_table[("buckets", "sync")]
    assert {"--delete", "--checksum", "--ignore-times", "--ignore-sizes", "--existing",
            "--ignore-existing", "--include", "--exclude", "--filter-from", "--jobs",
            "--dry-run", "--plan", "--apply", "--verbose"} <= got
    assert {"-R", "-h"} <= cli_table[("buckets", "ls")]


def test_docs_name_every_method():
    doc = open(os.path.join(REPO, "docs", "python.md"), encoding="utf-8").read()
    for methods in cli_map.COMMANDS.values():
        for m in methods:
            assert m in doc, "docs/python.md does not mention %s" % m
    for opt in cli_map.NOT_APPLICABLE:
        assert "`%s`" % opt in doc, "docs/python.md does not explain %s" % opt
