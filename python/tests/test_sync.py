"""sync_bucket and SyncPlan: both directions, every option, plans written and
applied, filters, progress, partial failures and refusals."""

import io
import json
import os

import pytest

import cairn
from conftest import keys, write


def kinds(plan):
    """{path: kind} of a plan."""
    return {op.path: op.kind for op in plan}


@pytest.fixture
def local(tmp_path):
    d = tmp_path / "src"
    write(d / "a.txt", b"alpha")
    write(d / "sub" / "b.bin", b"b" * 5000)
    write(d / "sub" / "deep" / "c.log", b"log")
    return str(d)


def test_upload_then_nothing(admin, bucket, local):
    dst = "cairn://buckets/%s/ck" % bucket
    events = []
    p = admin.sync_bucket(local, dst, progress=events.append)
    assert isinstance(p, cairn.SyncPlan) and len(p) == 3
    assert kinds(p) == {"a.txt": "upload", "sub/b.bin": "upload", "sub/deep/c.log": "upload"}
    assert p.totals == cairn.SyncTotals(upload=3, upload_bytes=5008)
    s = p.summary
    assert (s.uploaded, s.downloaded, s.deleted, s.skipped, s.failed) == (3, 0, 0, 0, 0)
    assert s.bytes == 5008 and s.bytes_sent > 0 and s.failures == ()
    assert events and isinstance(events[-1], cairn.SyncProgress)
    assert events[-1].files_done == events[-1].files_total == 3
    assert keys(admin, bucket) == ["ck/a.txt", "ck/sub/b.bin", "ck/sub/deep/c.log"]
    ops = {op.path: op for op in p}
    assert ops["a.txt"].size == 5 and ops["a.txt"].reason and ops["a.txt"].mtime_ns > 0
    assert p.source == local and p.destination == dst
    assert p.options == {"delete": False, "checksum": False, "ignore_times": False,
                         "ignore_sizes": False, "existing": False, "ignore_existing": False}
    again = admin.sync_bucket(local, dst)
    assert set(kinds(again).values()) == {"skip"} and again.summary.uploaded == 0
    assert again.summary.skipped == 3
    assert "unchanged" in repr(again) and "applied" in repr(again)


def test_download_direction(admin, bucket, local, tmp_path):
    admin.sync_bucket(local, "cairn://buckets/%s/d" % bucket)
    out = str(tmp_path / "out")
    p = admin.sync_bucket("cairn://buckets/%s/d" % bucket, out, jobs=2)
    assert set(kinds(p).values()) == {"download"} and p.summary.downloaded == 3
    assert open(os.path.join(out, "sub", "b.bin"), "rb").read() == b"b" * 5000
    # mtimes are set: a second sync has nothing to do
    assert set(kinds(admin.sync_bucket("cairn://buckets/%s/d" % bucket, out)).values()) == \
        {"skip"}
    assert all(op.hash for op in p)  # remote files carry their hashes


def test_delete(admin, bucket, local):
    dst = "cairn://buckets/%s/del" % bucket
    admin.sync_bucket(local, dst)
    os.remove(os.path.join(local, "a.txt"))
    assert kinds(admin.sync_bucket(local, dst, dry_run=True))["sub/b.bin"] == "skip"
    assert "a.txt" not in kinds(admin.sync_bucket(local, dst, dry_run=True))
    p = admin.sync_bucket(local, dst, delete=True)
    assert kinds(p)["a.txt"] == "delete" and p.summary.deleted == 1
    assert p.totals.delete == 1 and p.totals.delete_bytes == 5
    assert "del/a.txt" not in keys(admin, bucket)


def test_dry_run_changes_nothing(admin, bucket, local):
    p = admin.sync_bucket(local, "cairn://buckets/%s/dry" % bucket, dry_run=True)
    assert p.summary is None and p.totals.upload == 3
    assert keys(admin, bucket) == []
    # a plan returned by dry_run can be applied afterwards (checked first)
    s = p.apply()
    assert s.uploaded == 3 and p.summary is s
    assert len(keys(admin, bucket)) == 3


def test_plan_file_then_apply(admin, bucket, local, tmp_path):
    plan_file = str(tmp_path / "plan.jsonl")
    p = admin.sync_bucket(local, "cairn://buckets/%s/pl" % bucket, plan=plan_file)
    assert p.summary is None and keys(admin, bucket) == []
    lines = [json.loads(x) for x in open(plan_file)]
    assert lines[0]["cairn_sync_plan"] == 1 and len(lines) == 4
    assert {x["op"] for x in lines[1:]} == {"upload"}
    applied = admin.sync_bucket(apply=plan_file)
    assert applied.summary.uploaded == 3 and len(keys(admin, bucket)) == 3
    # the CLI applies a plan Python wrote, and the other way round
    admin.sync_bucket(local, "cairn://buckets/%s/pl2" % bucket, plan=plan_file)
    import subprocess
    from conftest import cli_path
    r = subprocess.run([cli_path(), "buckets", "sync", "--apply", plan_file, "--endpoint",
                        admin.endpoint, "--token", admin._token, "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["uploaded"] == 3


def test_apply_refuses_changed_sources(admin, bucket, local, tmp_path):
    plan_file = str(tmp_path / "plan.jsonl")
    admin.sync_bucket(local, "cairn://buckets/%s/ch" % bucket, plan=plan_file)
    write(os.path.join(local, "a.txt"), b"alpha, changed")
    with pytest.raises(cairn.AlreadyExists) as ei:
        admin.sync_bucket(apply=plan_file)
    assert any("a.txt" in f for f in ei.value.failures)
    assert keys(admin, bucket) == []  # nothing was done


def test_plan_write_targets(admin, bucket, local, capsys):
    p = admin.sync_bucket(local, "cairn://buckets/%s/w" % bucket, dry_run=True)
    sio = io.StringIO()
    p.write(sio)
    assert sio.getvalue().count("\n") == 4 and '"op":' in sio.getvalue().replace(": ", ":")
    bio = io.BytesIO()
    p.write(bio)
    assert bio.getvalue().decode() == sio.getvalue()
    p.write("-")
    assert capsys.readouterr().out == sio.getvalue()
    p.close()
    with pytest.raises(cairn.InvalidArgument):
        p.apply()


def test_filters(admin, bucket, local, tmp_path):
    dst = "cairn://buckets/%s/f" % bucket
    assert set(kinds(admin.sync_bucket(local, dst, include="*.bin", dry_run=True))) == \
        {"sub/b.bin"}
    assert set(kinds(admin.sync_bucket(local, dst, exclude=["*.bin", "deep/"],
                                       dry_run=True))) == {"a.txt"}
    # exclude before include: c.log is excluded although "*.log" would include it
    p = admin.sync_bucket(local, dst, include=["*.log", "*.txt"], exclude="deep/", dry_run=True)
    assert set(kinds(p)) == {"a.txt"}
    assert p.filters and "- deep/" in p.filters
    rules = write(tmp_path / "rules", b"# comment\n+ *.txt\n- *\n")
    assert set(kinds(admin.sync_bucket(local, dst, filter_from=rules, dry_run=True))) == \
        {"a.txt"}
    assert set(kinds(admin.sync_bucket(local, dst, filter_from=[rules], dry_run=True))) == \
        {"a.txt"}
    with pytest.raises(cairn.InvalidArgument):
        admin.sync_bucket(local, dst, include="[bad", dry_run=True)
    with pytest.raises(cairn.InvalidArgument):
        admin.sync_bucket(local, dst, filter_from=write(tmp_path / "bad", b"? nope\n"))
    with pytest.raises(cairn.IOFailure):
        admin.sync_bucket(local, dst, filter_from=str(tmp_path / "missing"))


def _remote_mtime(admin, bucket, key):
    return [e for e in admin.list_bucket_tree(bucket, recursive=True) if e.path == key][0]


def test_comparison_flags(admin, bucket, local):
    dst = "cairn://buckets/%s/c" % bucket
    admin.sync_bucket(local, dst)
    a = os.path.join(local, "a.txt")
    b = os.path.join(local, "sub", "b.bin")
    # b: changed content and mtime; new.txt: new; a: untouched
    write(b, b"B" * 6000)
    write(os.path.join(local, "new.txt"), b"new")
    k = kinds(admin.sync_bucket(local, dst, dry_run=True))
    assert (k["a.txt"], k["sub/b.bin"], k["new.txt"]) == ("skip", "upload", "upload")
    k = kinds(admin.sync_bucket(local, dst, existing=True, dry_run=True))
    assert k["sub/b.bin"] == "upload" and k.get("new.txt", "skip") == "skip"
    k = kinds(admin.sync_bucket(local, dst, ignore_existing=True, dry_run=True))
    assert k["sub/b.bin"] == "skip" and k["new.txt"] == "upload"
    k = kinds(admin.sync_bucket(local, dst, ignore_times=True, dry_run=True))
    assert k["a.txt"] == "upload"
    # checksum: same bytes, other mtime -> the same file
    os.utime(a, ns=(10**18, 10**18))
    assert kinds(admin.sync_bucket(local, dst, dry_run=True))["a.txt"] == "upload"
    p = admin.sync_bucket(local, dst, checksum=True, dry_run=True)
    assert kinds(p)["a.txt"] == "skip" and p.options["checksum"]
    assert {op.path: op for op in p}["a.txt"].hash == cairn.hash_file(a).hash
    # ignore_sizes: another size, the same mtime -> the same file
    e = _remote_mtime(admin, bucket, "c/sub/deep/c.log")
    c = os.path.join(local, "sub", "deep", "c.log")
    write(c, b"a longer log")
    os.utime(c, ns=(e.mtime_ns, e.mtime_ns))
    assert kinds(admin.sync_bucket(local, dst, dry_run=True))["sub/deep/c.log"] == "upload"
    assert kinds(admin.sync_bucket(local, dst, ignore_sizes=True,
                                   dry_run=True))["sub/deep/c.log"] == "skip"


def test_jobs(admin, bucket, local):
    for bad in (0, 17, "4", 2.0, True):
        with pytest.raises(cairn.InvalidArgument):
            admin.sync_bucket(local, "cairn://buckets/%s/j" % bucket, jobs=bad)
    assert admin.sync_bucket(local, "cairn://buckets/%s/j" % bucket, jobs=16).summary.uploaded \
        == 3


def test_partial_failure_raises_sync_failed(admin, bucket, local):
    bad = os.path.join(os.fsencode(local), b"bad-\xff-name.txt")
    with open(bad, "wb") as f:
        f.write(b"not a UTF-8 name")
    with pytest.raises(cairn.SyncFailed) as ei:
        admin.sync_bucket(local, "cairn://buckets/%s/pf" % bucket)
    e = ei.value
    assert e.summary.uploaded == 3 and e.summary.failed >= 1
    assert e.plan.errors and "bad-" in e.plan.errors[0]
    assert len(keys(admin, bucket)) == 3  # the others synced
    # a dry run reports the problem without raising
    assert admin.sync_bucket(local, "cairn://buckets/%s/pf" % bucket, dry_run=True).errors


def test_refusals(admin, bucket, local, tmp_path, server, users):
    dst = "cairn://buckets/%s/r" % bucket
    with pytest.raises(cairn.InvalidArgument):
        admin.sync_bucket(local, str(tmp_path / "other"))  # two local sides
    with pytest.raises(cairn.InvalidArgument):
        admin.sync_bucket(local, dst, dry_run=True, plan=str(tmp_path / "p"))
    with pytest.raises(cairn.InvalidArgument):
        admin.sync_bucket(local)
    with pytest.raises(cairn.InvalidArgument):
        admin.sync_bucket(local, dst, apply=str(tmp_path / "p"))
    with pytest.raises(cairn.InvalidArgument):
        admin.sync_bucket(apply=str(tmp_path / "p"), delete=True)
    with pytest.raises(FileNotFoundError):
        admin.sync_bucket(apply=str(tmp_path / "no-plan"))
    with pytest.raises(cairn.InvalidArgument, match="line"):
        admin.sync_bucket(apply=write(tmp_path / "junk", b'{"nope": 1}\n'))
    with pytest.raises(cairn.NotFound):
        admin.sync_bucket(local, "cairn://buckets/admin/no-such/x")
    with pytest.raises(cairn.PermissionDenied):
        cairn.Client(server.url, users["alice"]).sync_bucket(local, dst)
    with pytest.raises(cairn.AuthError):
        cairn.Client(server.url).sync_bucket(local, dst)
    assert keys(admin, bucket) == []


def test_training_loop_example(admin, bucket, tmp_path):
    """docs/python.md's loop: a checkpoint folder synced every N steps."""
    ckpt = tmp_path / "ckpt"
    sent = []
    for step in range(1, 7):
        write(ckpt / "model.bin", bytes([step % 3]) * 200000 + b"tail")
        write(ckpt / ("step-%d.json" % step), b'{"step": %d}' % step)
        if step % 2 == 0:
            p = admin.sync_bucket(str(ckpt) + "/", "cairn://buckets/%s/run1/ckpt" % bucket)
            sent.append(p.summary.uploaded)
    assert sent == [3, 3, 3]  # model.bin and the two new step files each time
    assert len(keys(admin, bucket)) == 7
