"""Objects: list_bucket_tree, upload_file (paths, bytes, file objects,
pipes), download_file (paths, directories, file objects), copy,
delete_files, read_range; progress callbacks; refusals."""

import io
import os
import random
import subprocess
import threading
import time

import pytest

import cairn
from conftest import keys, metric, write


def rnd(n, seed=1):
    return random.Random(seed).randbytes(n)


@pytest.fixture
def tree(admin, bucket):
    """bucket holding a/x.bin, a/b/y.txt, top.txt."""
    admin.upload_file(rnd(5000), bucket + "/a/x.bin")
    admin.upload_file(b"yy", bucket + "/a/b/y.txt")
    admin.upload_file(b"top", bucket + "/top.txt")
    return bucket


def test_list_tree(admin, tree):
    top = admin.list_bucket_tree(tree)
    assert [(e.type, e.path) for e in top] == [("directory", "a"), ("file", "top.txt")]
    f = top[1]
    assert f.size == 3 and len(f.hash) == 64 and f.mtime_ns > 0 and not f.is_dir
    assert f.hash == cairn.hash_file(b"top").hash
    assert top[0].is_dir and top[0].size == 0
    assert [e.path for e in admin.list_bucket_tree("cairn://buckets/%s/a" % tree)] == \
        ["a/b", "a/x.bin"]
    assert [e.path for e in admin.list_bucket_tree(tree + "/a/", recursive=True)] == \
        ["a/b/y.txt", "a/x.bin"]
    assert keys(admin, tree) == ["a/b/y.txt", "a/x.bin", "top.txt"]
    assert admin.list_bucket_tree(tree + "/nothing") == []


def test_list_refusals(admin, server, users):
    with pytest.raises(cairn.NotFound):
        admin.list_bucket_tree("admin/no-such")
    with pytest.raises(cairn.InvalidArgument):
        admin.list_bucket_tree("admin")
    with pytest.raises(cairn.InvalidArgument):
        admin.list_bucket_tree("s3://admin/x")
    alice = cairn.Client(server.url, users["alice"])
    alice.create_bucket("alice/hidden", private=True, exist_ok=True)
    with pytest.raises(cairn.NotFound):
        cairn.Client(server.url).list_bucket_tree("alice/hidden")
    alice.delete_bucket("alice/hidden", force=True)


def test_upload_path_and_result(admin, bucket, tmp_path):
    data = rnd(3 << 20, 2)
    src = write(tmp_path / "w.bin", data)
    events = []
    r = admin.upload_file(src, "cairn://buckets/%s/m/w.bin" % bucket, progress=events.append)
    assert (r.bucket, r.path, r.size) == (bucket, "m/w.bin", len(data))
    assert r.hash == cairn.hash_file(src).hash
    assert r.new_bytes == len(data) and r.chunks == r.new_chunks > 10 and r.xorbs >= 1
    assert r.bytes_sent >= len(data) * 0.99 and r.stored_bytes > 0
    phases = [e.phase for e in events]
    assert phases[0] == "hashing" and "uploading" in phases
    assert all(isinstance(e, cairn.TransferProgress) for e in events)
    last = [e for e in events if e.phase == "uploading"][-1]
    assert last.done == last.total == len(data) and last.wire > 0
    # again: every chunk is on the server, almost nothing is sent
    r2 = admin.upload_file(src, bucket + "/m/again.bin")
    assert r2.hash == r.hash and r2.new_bytes == 0 and r2.bytes_sent < 64 * 1024
    # the CLI downloads what Python uploaded, byte for byte
    out = tmp_path / "cli.out"
    subprocess.run([admin_cli(), "buckets", "cp", "cairn://buckets/%s/m/w.bin" % bucket,
                    str(out), "--endpoint", admin.endpoint, "--token", admin._token,
                    "--quiet"], check=True)
    assert out.read_bytes() == data


def admin_cli():
    from conftest import cli_path
    return cli_path()


def test_upload_to_folder_keeps_name(admin, bucket, tmp_path):
    src = write(tmp_path / "keep.txt", b"k")
    assert admin.upload_file(src, bucket + "/dir/").path == "dir/keep.txt"
    assert admin.upload_file(src, bucket + "/").path == "keep.txt"
    with open(src, "rb") as f:
        assert admin.upload_file(f, bucket + "/fo/").path == "fo/keep.txt"
    with pytest.raises(cairn.InvalidArgument, match="name the object"):
        admin.upload_file(b"bytes have no name", bucket + "/dir/")
    with pytest.raises(cairn.InvalidArgument, match="name the object"):
        admin.upload_file(io.BytesIO(b"nor this"), bucket + "/dir/")


def test_upload_bytes_like(admin, bucket):
    for i, data in enumerate([b"", b"abc", bytearray(b"ba" * 70000), memoryview(rnd(200000))]):
        r = admin.upload_file(data, "%s/b%d" % (bucket, i))
        assert r.size == len(data) and r.hash == cairn.hash_file(data).hash
        if data:
            assert admin.read_range("%s/b%d" % (bucket, i), 0, 1 << 20) == bytes(data)
    assert [e.size for e in admin.list_bucket_tree(bucket) if e.path == "b0"] == [0]


def test_upload_file_objects(admin, bucket, tmp_path):
    data = rnd(300000, 3)
    src = write(tmp_path / "fo.bin", data)
    with open(src, "rb") as f:  # a regular file at its start: its fd, by the chunk protocol
        assert admin.upload_file(f, bucket + "/fo1").hash == cairn.hash_file(src).hash
    with open(src, "rb") as f:  # not at its start: the rest of it
        f.seek(1000)
        assert admin.upload_file(f, bucket + "/fo2").size == len(data) - 1000
    assert admin.read_range(bucket + "/fo2", 0, 10) == data[1000:1010]
    bio = io.BytesIO(data)
    assert admin.upload_file(bio, bucket + "/fo3").size == len(data)
    assert admin.read_range(bucket + "/fo3", 5, 5) == data[5:10]
    # a pipe: no fd to read twice, copied first
    r, w = os.pipe()

    def feed():
        with os.fdopen(w, "wb") as wf:
            wf.write(data)

    t = threading.Thread(target=feed)
    t.start()
    with os.fdopen(r, "rb") as rf:
        assert admin.upload_file(rf, bucket + "/fo4").size == len(data)
    t.join()
    assert admin.read_range(bucket + "/fo4", 0, len(data)) == data
    with pytest.raises(TypeError):
        admin.upload_file(12345, bucket + "/x")


def test_upload_fifo_path_streams(admin, bucket, tmp_path):
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    data = rnd(100000, 4)

    def feed():
        with open(fifo, "wb") as f:
            f.write(data)

    t = threading.Thread(target=feed)
    t.start()
    r = admin.upload_file(fifo, bucket + "/fifo.bin")
    t.join()
    assert r.size == len(data) and r.hash == cairn.hash_file(data).hash


def test_upload_from_a_pipe_waits_out_slow_down(admin, server, bucket, tmp_path):
    """A 503 SlowDown (the server's upload memory is taken) comes before
    any body byte is sent, so even an upload from a pipe, which cannot be
    read twice, is sent again after Retry-After; the bytes arrive whole."""
    window = 68 << 20  # what the server reserves for an upload of unknown size
    share = int(metric(server, "cairn_upload_memory_limit_bytes")) // 4  # one namespace's
    held = share // window  # uploads admin can have in flight; one more is refused
    assert held >= 1
    release = threading.Event()
    errors = []

    def fifo_feeder(path, data, wait_for=None):
        os.mkfifo(path)

        def feed():
            with open(path, "wb") as f:
                f.write(data[:1000])
                if wait_for is not None:
                    wait_for.wait(60)
                f.write(data[1000:])
        t = threading.Thread(target=feed)
        t.start()
        return t

    def hold(i):
        path = str(tmp_path / ("held%d" % i))
        feeder = fifo_feeder(path, rnd(5000, 10 + i), release)
        try:
            with cairn.Client(server.url, server.token) as c:
                c.upload_file(path, bucket + "/held%d" % i)
        except Exception as e:  # noqa: BLE001  (reported by the test below)
            errors.append(e)
        feeder.join()

    holders = [threading.Thread(target=hold, args=(i,)) for i in range(held)]
    for t in holders:
        t.start()
    try:
        deadline = time.time() + 30
        while metric(server, "cairn_upload_memory_bytes") < held * window:
            assert time.time() < deadline, "the held uploads did not start"
            time.sleep(0.05)
        slowed = metric(server, 'cairn_http_requests_total{code="503"}')
        data = rnd(300000, 50)
        path = str(tmp_path / "late")
        feeder = fifo_feeder(path, data)
        result = {}

        def late():
            try:
                result["r"] = admin.upload_file(path, bucket + "/late.bin")
            except Exception as e:  # noqa: BLE001
                result["e"] = e
        t = threading.Thread(target=late)
        t.start()
        while metric(server, 'cairn_http_requests_total{code="503"}') == slowed:
            assert time.time() < deadline, "the late upload was never refused"
            time.sleep(0.05)
    finally:
        release.set()
        for h in holders:
            h.join()
    t.join()
    feeder.join()
    assert errors == []
    assert "e" not in result, result.get("e")
    assert result["r"].size == len(data) and result["r"].hash == cairn.hash_file(data).hash
    assert admin.read_range(bucket + "/late.bin", 0, len(data)) == data


def test_upload_refusals(admin, server, users, bucket, tmp_path):
    with pytest.raises(FileNotFoundError):
        admin.upload_file(str(tmp_path / "missing"), bucket + "/x")
    with pytest.raises(IsADirectoryError):
        admin.upload_file(str(tmp_path), bucket + "/x")
    with pytest.raises(cairn.NotFound):
        admin.upload_file(b"x", "admin/no-such-bucket/x")
    with pytest.raises(cairn.InvalidArgument):
        admin.upload_file(b"x", "admin")
    with pytest.raises(cairn.InvalidArgument):
        admin.upload_file(b"x", bucket + "/a/../b")
    with pytest.raises(cairn.InvalidArgument):
        admin.upload_file(b"x", bucket + "/" + "k" * 1025)
    with pytest.raises(cairn.PermissionDenied):
        cairn.Client(server.url, users["alice"]).upload_file(b"x", bucket + "/alice")
    with pytest.raises(cairn.AuthError):
        cairn.Client(server.url).upload_file(b"x", bucket + "/anon")
    alice = cairn.Client(server.url, users["alice"])
    alice.create_bucket("alice/ro", exist_ok=True)
    with pytest.raises(cairn.PermissionDenied):
        cairn.Client(server.url, users["alice-read"]).upload_file(b"x", "alice/ro/x")
    assert keys(admin, bucket) == []
    alice.delete_bucket("alice/ro", force=True)


def test_download_forms(admin, bucket, tmp_path):
    data = rnd(2 << 20, 5)
    admin.upload_file(data, bucket + "/d/obj.bin")
    events = []
    r = admin.download_file("cairn://buckets/%s/d/obj.bin" % bucket, str(tmp_path / "o1"),
                            progress=events.append)
    assert open(tmp_path / "o1", "rb").read() == data
    assert r.path == str(tmp_path / "o1") and r.size == len(data)
    assert r.hash == cairn.hash_file(data).hash and r.bytes_received > 0
    assert events and events[-1].phase == "downloading" and events[-1].done == len(data)
    # a directory receives the object under its own name
    d = tmp_path / "into"
    d.mkdir()
    assert admin.download_file(bucket + "/d/obj.bin", str(d)).path == str(d / "obj.bin")
    assert admin.download_file(bucket + "/d/obj.bin", str(d) + "/").path == str(d / "obj.bin")
    with pytest.raises(cairn.IOFailure):  # as cp: a folder that does not exist is not made
        admin.download_file(bucket + "/d/obj.bin", str(tmp_path / "new") + "/")
    # file objects
    bio = io.BytesIO()
    r = admin.download_file(bucket + "/d/obj.bin", bio)
    assert bio.getvalue() == data and r.path is None and r.hash
    with open(tmp_path / "fo", "wb") as f:
        f.write(b"head:")
        admin.download_file(bucket + "/d/obj.bin", f)
    assert open(tmp_path / "fo", "rb").read() == b"head:" + data
    # an existing file is replaced whole
    write(tmp_path / "old", b"old content")
    admin.download_file(bucket + "/d/obj.bin", str(tmp_path / "old"))
    assert open(tmp_path / "old", "rb").read() == data


def test_download_progress_over_many_fetches(admin, bucket, tmp_path):
    """An object whose chunks sit in many xorbs is fetched in more ranges
    than there are workers, so a worker fetches several: the bytes it wrote
    before stay counted. Progress only grows, and ends at the size."""
    pieces = [rnd(200000, 100 + i) for i in range(20)]
    for i, p in enumerate(pieces):
        admin.upload_file(p, bucket + "/piece%d" % i)  # a xorb each
    data = b"".join(pieces)
    admin.upload_file(data, bucket + "/whole.bin")
    events = []
    r = admin.download_file(bucket + "/whole.bin", str(tmp_path / "w"), progress=events.append)
    assert open(tmp_path / "w", "rb").read() == data and r.size == len(data)
    done = [e.done for e in events if e.phase == "downloading"]
    assert done and done[-1] == len(data), (done[-1], len(data))
    assert all(a <= b for a, b in zip(done, done[1:])), "progress went back"


def test_download_to_stdout(admin, bucket, server, tmp_path):
    admin.upload_file(b"to stdout\n", bucket + "/s.txt")
    code = ("import sys; sys.path.insert(0, %r); import cairn; "
            "r = cairn.Client(%r, %r).download_file(%r, '-'); "
            "sys.stderr.write(repr(r.size))" % (
                os.path.dirname(os.path.dirname(os.path.abspath(__file__))), server.url,
                server.token, bucket + "/s.txt"))
    out = subprocess.run([sys_executable(), "-c", code], capture_output=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"to stdout\n" and out.stderr == b"10"


def sys_executable():
    import sys
    return sys.executable


def test_download_refusals(admin, bucket, tmp_path, server, users):
    admin.upload_file(b"x", bucket + "/f/x")
    with pytest.raises(cairn.NotFound):
        admin.download_file(bucket + "/f/none", str(tmp_path / "n"))
    assert not (tmp_path / "n").exists()
    with pytest.raises(cairn.NotFound):
        admin.download_file("admin/no-such/x", str(tmp_path / "n"))
    with pytest.raises(cairn.InvalidArgument, match="folder"):
        admin.download_file(bucket + "/f/", str(tmp_path / "n"))
    with pytest.raises(cairn.InvalidArgument, match="folder"):
        admin.download_file(bucket, str(tmp_path / "n"))
    with pytest.raises(TypeError):
        admin.download_file(bucket + "/f/x", 42)
    alice = cairn.Client(server.url, users["alice"])
    alice.create_bucket("alice/secret", private=True, exist_ok=True)
    alice.upload_file(b"s", "alice/secret/s")
    with pytest.raises(cairn.NotFound):
        cairn.Client(server.url, users["bob"]).download_file("alice/secret/s",
                                                             str(tmp_path / "s"))
    alice.delete_bucket("alice/secret", force=True)
    assert os.listdir(tmp_path) == []  # no temporary file left behind


def test_copy(admin, bucket, server, users):
    admin.upload_file(b"copy me", bucket + "/src/c.txt")
    r = admin.copy("cairn://buckets/%s/src/c.txt" % bucket, "cairn://buckets/%s/dst/" % bucket)
    assert r == cairn.CopyResult("dst/c.txt", cairn.hash_file(b"copy me").hash, 7, bucket,
                                 "src/c.txt", 0)
    assert admin.copy(bucket + "/src/c.txt", bucket + "/renamed").path == "renamed"
    assert admin.read_range(bucket + "/renamed", 0, 100) == b"copy me"
    with pytest.raises(cairn.NotFound):
        admin.copy(bucket + "/src/none", bucket + "/x")
    with pytest.raises(cairn.NotFound):
        admin.copy(bucket + "/src/c.txt", "admin/no-such/x")
    with pytest.raises(cairn.InvalidArgument, match="folder"):
        admin.copy(bucket + "/src/", bucket + "/x")
    alice = cairn.Client(server.url, users["alice"])
    with pytest.raises(cairn.PermissionDenied):
        alice.copy(bucket + "/src/c.txt", bucket + "/by-alice")
    alice.create_bucket("alice/cp", exist_ok=True)
    assert alice.copy(bucket + "/src/c.txt", "alice/cp/").path == "c.txt"  # public source
    alice.delete_bucket("alice/cp", force=True)


def test_delete_files(admin, tree):
    assert list(admin.delete_files(tree + "/top.txt", dry_run=True)) == ["top.txt"]
    assert "top.txt" in keys(admin, tree)
    r = admin.delete_files("cairn://buckets/%s/top.txt" % tree)
    assert r == cairn.DeleteResult(tree, ("top.txt",), False) and len(r) == 1
    assert "top.txt" not in keys(admin, tree)
    with pytest.raises(cairn.NotFound):
        admin.delete_files(tree + "/top.txt")
    with pytest.raises(cairn.InvalidArgument, match="recursive"):
        admin.delete_files(tree + "/a")  # a folder, even without a trailing '/'
    with pytest.raises(cairn.InvalidArgument, match="recursive"):
        admin.delete_files(tree + "/a/")
    with pytest.raises(cairn.InvalidArgument, match="recursive"):
        admin.delete_files(tree + "/a/x.bin", include="*.bin")
    r = admin.delete_files(tree + "/a", recursive=True, dry_run=True)
    assert r.paths == ("a/b/y.txt", "a/x.bin") and r.dry_run
    assert len(keys(admin, tree)) == 2
    assert admin.delete_files(tree + "/a", recursive=True).paths == ("a/b/y.txt", "a/x.bin")
    assert keys(admin, tree) == []
    with pytest.raises(cairn.NotFound, match="no objects"):
        admin.delete_files(tree + "/a", recursive=True)


def test_delete_files_filters(admin, bucket):
    for k in ("r/keep.txt", "r/x.tmp", "r/sub/y.tmp", "r/sub/z.bin", "r/logs/l.txt"):
        admin.upload_file(k.encode(), bucket + "/" + k)
    r = admin.delete_files(bucket + "/r", recursive=True, include="*.tmp", dry_run=True)
    assert r.paths == ("r/sub/y.tmp", "r/x.tmp")
    # exclude rules are tried first: logs/ stays although "*.txt" would take it
    r = admin.delete_files(bucket + "/r", recursive=True, include=["*.txt", "*.bin"],
                           exclude="logs/")
    assert r.paths == ("r/keep.txt", "r/sub/z.bin")
    assert keys(admin, bucket) == ["r/logs/l.txt", "r/sub/y.tmp", "r/x.tmp"]
    with pytest.raises(cairn.NotFound, match="filters select"):
        admin.delete_files(bucket + "/r", recursive=True, include="*.none")
    with pytest.raises(cairn.InvalidArgument):
        admin.delete_files(bucket + "/r", recursive=True, include="[unclosed")
    # the whole bucket
    assert len(admin.delete_files(bucket, recursive=True)) == 3


def test_delete_refused(admin, bucket, server, users):
    admin.upload_file(b"x", bucket + "/x")
    with pytest.raises(cairn.PermissionDenied):
        cairn.Client(server.url, users["alice"]).delete_files(bucket + "/x")
    with pytest.raises(cairn.AuthError):
        cairn.Client(server.url).delete_files(bucket, recursive=True)
    with pytest.raises(cairn.NotFound):
        admin.delete_files("admin/no-such/x")
    assert keys(admin, bucket) == ["x"]


def test_read_range(admin, bucket):
    data = rnd(1 << 20, 6)
    admin.upload_file(data, bucket + "/r.bin")
    assert admin.read_range(bucket + "/r.bin", 0, 10) == data[:10]
    assert admin.read_range(bucket + "/r.bin", 123456, 70000) == data[123456:193456]
    assert admin.read_range(bucket + "/r.bin", len(data) - 5, 100) == data[-5:]
    assert admin.read_range(bucket + "/r.bin", 7, 0) == b""
    with pytest.raises(cairn.InvalidArgument):
        admin.read_range(bucket + "/r.bin", len(data) + 10, 5)
    with pytest.raises(cairn.InvalidArgument):
        admin.read_range(bucket + "/r.bin", -1, 5)
    with pytest.raises(cairn.NotFound):
        admin.read_range(bucket + "/none", 0, 5)


def test_threads_share_a_client(admin, bucket):
    """One Client from 8 threads at once: each call gets its own handle."""
    errors = []

    def work(i):
        try:
            data = rnd(100000 + i, 100 + i)
            admin.upload_file(data, "%s/t/%d" % (bucket, i))
            assert admin.read_range("%s/t/%d" % (bucket, i), 0, len(data)) == data
            admin.whoami()
        except BaseException as e:
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert len(keys(admin, bucket)) == 8


def test_non_utf8_names_round_trip(admin, bucket, tmp_path):
    name = os.fsdecode(b"caf\xe9.bin")  # Latin-1 bytes: a surrogate in Python
    src = write(os.path.join(str(tmp_path), name), b"bytes")
    with pytest.raises(cairn.CairnError):
        # keys must be UTF-8 on the server
        admin.upload_file(src, bucket + "/")
    r = admin.upload_file(src, bucket + "/caf\u00e9.bin")
    assert [e.path for e in admin.list_bucket_tree(bucket)] == [r.path] == ["caf\u00e9.bin"]
