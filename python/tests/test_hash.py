"""hash_file against `cairn hash --json`, for paths, standard input, file
objects and bytes; threads; refusals."""

import io
import json
import os
import subprocess
import sys

import pytest

import cairn
from conftest import PYROOT, write


@pytest.fixture
def files(tmp_path):
    return [write(tmp_path / "empty", b""), write(tmp_path / "small", b"hello"),
            write(tmp_path / "big", os.urandom(5 << 20))]


def test_matches_cli(cli, files):
    out = subprocess.run([cli, "hash", "--json", *files], check=True, capture_output=True)
    want = json.loads(out.stdout)
    for w in want:
        got = cairn.hash_file(w["path"])
        assert got == cairn.FileHash(w["path"], w["hash"], w["size"])
    assert want[0]["hash"] == "0" * 64  # an empty file
    for t in (1, 2, 64):
        assert cairn.hash_file(files[2], threads=t).hash == want[2]["hash"]


def test_forms(files, admin):
    big = files[2]
    h = cairn.hash_file(big)
    data = open(big, "rb").read()
    assert cairn.hash_file(data).hash == h.hash
    assert cairn.hash_file(bytearray(data)).hash == h.hash
    assert cairn.hash_file(memoryview(data)) == cairn.FileHash(None, h.hash, len(data))
    with open(big, "rb") as f:
        assert cairn.hash_file(f) == cairn.FileHash(big, h.hash, h.size)
    import pathlib
    assert cairn.hash_file(pathlib.Path(big)).hash == h.hash
    assert admin.hash_file(big) == h
    # standard input, "-" as for the CLI
    code = "import sys; sys.path.insert(0, %r); import cairn; print(cairn.hash_file('-').hash)" \
        % PYROOT
    with open(big, "rb") as f:
        out = subprocess.run([sys.executable, "-c", code], stdin=f, capture_output=True,
                             text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == h.hash


def test_refusals(tmp_path):
    with pytest.raises(FileNotFoundError):
        cairn.hash_file(str(tmp_path / "missing"))
    with pytest.raises(IsADirectoryError):
        cairn.hash_file(str(tmp_path))
    for bad in (-1, 65, "2", 1.5):
        with pytest.raises(cairn.InvalidArgument):
            cairn.hash_file(b"x", threads=bad)
    with pytest.raises((io.UnsupportedOperation, AttributeError, TypeError, OSError)):
        cairn.hash_file(io.StringIO("text"))
