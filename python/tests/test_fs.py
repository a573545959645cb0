"""The fsspec filesystem (cairn.fs): listing, info, range reads through
file objects and cat_file, writes that upload on close, removal, copies,
put/get, buckets as directories; pandas when it is installed."""

import io
import os

import pytest

fsspec = pytest.importorskip("fsspec")

import cairn  # noqa: E402
from cairn.fs import CairnFileSystem  # noqa: E402
from conftest import keys, write  # noqa: E402


@pytest.fixture
def fs(server):
    f = CairnFileSystem(endpoint=server.url, token=server.token, skip_instance_cache=True)
    yield f
    f.invalidate_cache()


@pytest.fixture
def data():
    return os.urandom(300000)


@pytest.fixture
def filled(admin, bucket, data):
    admin.upload_file(data, bucket + "/dir/data.bin")
    admin.upload_file(b"a,b\n1,2\n3,4\n", bucket + "/dir/t.csv")
    admin.upload_file(b"top", bucket + "/top.txt")
    return bucket


def test_registered(server, filled):
    assert fsspec.get_filesystem_class("cairn") is CairnFileSystem
    url = "cairn://buckets/%s/top.txt" % filled
    with fsspec.open(url, "rb", endpoint=server.url, token=server.token) as f:
        assert f.read() == b"top"
    fs, path = fsspec.core.url_to_fs(url, endpoint=server.url, token=server.token)
    assert isinstance(fs, CairnFileSystem) and path == filled + "/top.txt"


def test_paths(fs):
    s = CairnFileSystem._strip_protocol
    assert s("cairn://buckets/a/b/c/d.txt") == "a/b/c/d.txt"
    assert s("a/b/c") == "a/b/c" and s("a/b/") == "a/b" and s("cairn://buckets") == ""
    assert s(["cairn://buckets/a/b", "x/y"]) == ["a/b", "x/y"]
    with pytest.raises(ValueError):
        s("cairn://a/b")
    assert fs.unstrip_protocol("a/b/c") == "cairn://buckets/a/b/c"


def test_ls_and_info(fs, filled, data):
    ns, name = filled.split("/")
    assert {"name": ns, "type": "directory", "size": 0} in fs.ls("")
    assert filled in fs.ls(ns, detail=False)
    top = fs.ls("cairn://buckets/" + filled)
    assert [(e["name"], e["type"]) for e in top] == [(filled + "/dir", "directory"),
                                                   (filled + "/top.txt", "file")]
    info = fs.info(filled + "/dir/data.bin")
    assert info["size"] == len(data) and info["type"] == "file"
    assert info["hash"] == cairn.hash_file(data).hash and info["mtime_ns"] > 0
    assert fs.info(filled + "/dir")["type"] == "directory"
    assert fs.info(filled)["type"] == "directory"
    assert fs.ls(filled + "/top.txt") == [fs.info(filled + "/top.txt")]
    assert fs.exists(filled + "/dir/t.csv") and not fs.exists(filled + "/dir/nope")
    assert fs.isdir(filled + "/dir") and fs.isfile(filled + "/top.txt")
    assert not fs.exists("admin/no-such-bucket") and not fs.exists("nobody-here")
    with pytest.raises(FileNotFoundError):
        fs.info(filled + "/missing")
    with pytest.raises(FileNotFoundError):
        fs.ls("admin/no-such-bucket")
    assert fs.size(filled + "/top.txt") == 3
    assert fs.modified(filled + "/top.txt").year >= 2024
    assert fs.ukey(filled + "/top.txt") == cairn.hash_file(b"top").hash
    assert isinstance(fs.checksum(filled + "/top.txt"), int)
    assert fs.find(filled) == [filled + "/dir/data.bin", filled + "/dir/t.csv",
                               filled + "/top.txt"]
    assert filled + "/dir" in fs.find(filled, withdirs=True)
    assert fs.find(filled + "/dir/t.csv") == [filled + "/dir/t.csv"]
    assert fs.glob(filled + "/dir/*.csv") == [filled + "/dir/t.csv"]
    assert fs.du(filled) == len(data) + 12 + 3


def test_cat_ranges(fs, filled, data):
    p = filled + "/dir/data.bin"
    assert fs.cat(p) == data
    assert fs.cat_file(p, 1000, 2000) == data[1000:2000]
    assert fs.cat_file(p, -100) == data[-100:]
    assert fs.cat_file(p, 10, -10) == data[10:-10]
    assert fs.cat_file(p, len(data) + 5) == b""
    assert fs.cat_file(p, 5, 5) == b""
    assert fs.head(p, 10) == data[:10] and fs.tail(p, 10) == data[-10:]
    with pytest.raises(FileNotFoundError):
        fs.cat(filled + "/nope")


def test_open_reads_ranges(fs, filled, data, monkeypatch):
    calls = []
    real = fs.client.read_range

    def counting(path, offset, length):
        calls.append((offset, length))
        return real(path, offset, length)

    monkeypatch.setattr(fs.client, "read_range", counting)
    with fs.open(filled + "/dir/data.bin", "rb", block_size=65536, cache_type="bytes") as f:
        assert f.size == len(data)
        f.seek(200000)
        assert f.read(1000) == data[200000:201000]
        assert f.tell() == 201000
        f.seek(-50, 2)
        assert f.read() == data[-50:]
        f.seek(10)
        assert f.read(70000) == data[10:70010]
    with pytest.raises(IsADirectoryError):
        fs.open(filled + "/dir", "rb")
    # only the ranges asked for (plus read-ahead) travelled, never the whole file
    assert calls and sum(n for _, n in calls) < len(data)
    assert all(n <= 65536 * 3 for _, n in calls)
    with fsspec.open("cairn://buckets/%s/dir/t.csv" % filled, "rt",
                     endpoint=fs.client.endpoint, token=fs.client._token) as f:
        assert f.readline() == "a,b\n"


def test_open_write(fs, bucket, admin):
    p = bucket + "/w/out.bin"
    payload = os.urandom(1 << 20)
    with fs.open(p, "wb", block_size=100000) as f:
        for i in range(0, len(payload), 70000):
            f.write(payload[i:i + 70000])
        assert keys(admin, bucket) == []  # nothing on the server before close
    assert fs.cat(p) == payload
    with fs.open(bucket + "/w/empty", "wb"):
        pass
    assert fs.cat(bucket + "/w/empty") == b""
    with pytest.raises(NotImplementedError):
        fs.open(p, "ab")
    fs.pipe(bucket + "/w/piped", b"piped bytes")
    assert fs.cat(bucket + "/w/piped") == b"piped bytes"
    # a transaction uploads on commit only
    with fs.transaction:
        with fs.open(bucket + "/w/tx", "wb") as f:
            f.write(b"tx")
        assert "w/tx" not in keys(admin, bucket)
    assert fs.cat(bucket + "/w/tx") == b"tx"


def test_rm_cp_put_get(fs, filled, data, tmp_path, admin):
    fs.cp(filled + "/top.txt", filled + "/copy.txt")
    assert fs.cat(filled + "/copy.txt") == b"top"
    fs.rm(filled + "/copy.txt")
    assert not fs.exists(filled + "/copy.txt")
    src = write(tmp_path / "up.bin", data)
    fs.put(src, "cairn://buckets/%s/up/up.bin" % filled)
    assert fs.cat(filled + "/up/up.bin") == data
    fs.get(filled + "/up/up.bin", str(tmp_path / "down.bin"))
    assert open(tmp_path / "down.bin", "rb").read() == data
    fs.get(filled + "/dir", str(tmp_path / "dl"), recursive=True)
    assert sorted(os.listdir(tmp_path / "dl")) == ["data.bin", "t.csv"]
    fs.rm(filled + "/dir", recursive=True)
    assert keys(admin, filled) == ["top.txt", "up/up.bin"]
    fs.rm([filled + "/top.txt", filled + "/up/up.bin"])
    assert keys(admin, filled) == []
    with pytest.raises(FileNotFoundError):
        fs.rm(filled + "/gone")


def test_buckets_as_directories(fs, admin):
    fs.mkdir("admin/fs-made")
    assert admin.bucket_info("admin/fs-made").name == "fs-made"
    with pytest.raises(FileExistsError):
        fs.mkdir("admin/fs-made")
    fs.makedirs("admin/fs-made/deeper/still", exist_ok=True)
    fs.makedirs("admin/fs-made2")
    with pytest.raises(FileExistsError):
        fs.makedirs("admin/fs-made2")
    fs.mkdir("admin/fs-priv", private=True)
    assert admin.bucket_info("admin/fs-priv").private
    fs.rmdir("admin/fs-made")
    fs.rmdir("admin/fs-made2")
    fs.rmdir("admin/fs-priv")
    assert not fs.exists("admin/fs-made")


def test_pandas(fs, filled, server):
    pd = pytest.importorskip("pandas")
    url = "cairn://buckets/%s/dir/t.csv" % filled
    df = pd.read_csv(url, storage_options={"endpoint": server.url, "token": server.token})
    assert list(df.columns) == ["a", "b"] and df["b"].sum() == 6
    out = "cairn://buckets/%s/dir/out.csv" % filled
    df.to_csv(out, index=False, storage_options={"endpoint": server.url,
                                                 "token": server.token})
    assert fs.cat(out) == b"a,b\n1,2\n3,4\n"


def test_anonymous_reads_public(server, filled):
    anon = CairnFileSystem(endpoint=server.url, skip_instance_cache=True)
    assert anon.cat(filled + "/top.txt") == b"top"
    with pytest.raises(PermissionError):
        anon.pipe(filled + "/nope", b"x")
    assert isinstance(io.BytesIO(), io.IOBase)
