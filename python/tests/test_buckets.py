"""Buckets: create_bucket, bucket_info, list_buckets, delete_bucket,
update_bucket_settings, and their refusals."""

import pytest

import cairn


@pytest.fixture
def alice(server, users):
    return cairn.Client(server.url, users["alice"])


@pytest.fixture
def bob(server, users):
    return cairn.Client(server.url, users["bob"])


def test_create_forms(alice):
    assert alice.create_bucket("solo") == cairn.BucketCreated("alice", "solo", True)
    assert alice.create_bucket("alice/pair").created
    r = alice.create_bucket("cairn://buckets/alice/uri", private=True)
    assert r.uri == "cairn://buckets/alice/uri"
    assert alice.bucket_info("alice/uri").private
    assert not alice.bucket_info("alice/solo").private
    for b in ("solo", "pair", "uri"):
        alice.delete_bucket("alice/" + b)


def test_create_exists(alice):
    alice.create_bucket("twice")
    with pytest.raises(cairn.AlreadyExists) as ei:
        alice.create_bucket("twice")
    assert isinstance(ei.value, FileExistsError)
    assert alice.create_bucket("alice/twice", exist_ok=True) == \
        cairn.BucketCreated("alice", "twice", False)
    alice.delete_bucket("alice/twice")


@pytest.mark.parametrize("name", ["Upper", "a/b/c", "", "cairn://buckets/", "http://x/y",
                                  "x" * 97, "alice/" + "y" * 97])
def test_create_bad_names(alice, name):
    with pytest.raises(cairn.InvalidArgument):
        alice.create_bucket(name)


def test_create_refused(server, users, alice):
    with pytest.raises(cairn.PermissionDenied):
        alice.create_bucket("bob/mine")
    with pytest.raises(cairn.PermissionDenied):
        cairn.Client(server.url, users["alice-read"]).create_bucket("alice/ro")
    with pytest.raises(cairn.AuthError):
        cairn.Client(server.url).create_bucket("alice/anon")
    with pytest.raises(cairn.AuthError):
        cairn.Client(server.url).create_bucket("anon")  # NAME alone needs whoami


def test_info_and_stats(admin, bucket):
    b = admin.bucket_info(bucket)
    assert (b.namespace, b.name, b.private, b.objects, b.logical_bytes) == \
        ("admin", bucket.split("/")[1], False, 0, 0)
    assert b.id == bucket and b.uri == "cairn://buckets/" + bucket
    assert b.created.year >= 2024
    admin.upload_file(b"x" * 1000, bucket + "/a")
    admin.upload_file(b"x" * 1000, bucket + "/b")
    b = admin.bucket_info("cairn://buckets/" + bucket)
    assert b.objects == 2 and b.logical_bytes == 2000 and b.chunks == 1 and b.xorbs >= 1
    assert b.stored_bytes > 0


def test_info_refusals(admin, bucket):
    with pytest.raises(cairn.NotFound):
        admin.bucket_info("admin/no-such-bucket")
    for bad in ("admin", bucket + "/key", "cairn://x/y"):
        with pytest.raises(cairn.InvalidArgument):
            admin.bucket_info(bad)


def test_list(admin, alice, bob, server):
    alice.create_bucket("alice/pub", exist_ok=True)
    alice.create_bucket("alice/priv", private=True, exist_ok=True)
    mine = {b.name: b for b in alice.list_buckets("alice")}
    assert {"pub", "priv"} <= set(mine)
    assert mine["priv"].private and not mine["pub"].private
    assert mine["pub"].objects is None  # lists carry no statistics
    assert all(b.namespace == "alice" for b in alice.list_buckets("alice"))
    seen_by_bob = {b.id for b in bob.list_buckets()}
    assert "alice/pub" in seen_by_bob and "alice/priv" not in seen_by_bob
    anon = {b.id for b in cairn.Client(server.url).list_buckets()}
    assert "alice/pub" in anon and "alice/priv" not in anon
    assert {"alice/pub", "alice/priv"} <= {b.id for b in admin.list_buckets()}
    assert alice.list_buckets("nobody") == []
    with pytest.raises(cairn.NotFound):
        bob.bucket_info("alice/priv")  # someone else's private bucket is not found
    alice.delete_bucket("alice/pub")
    alice.delete_bucket("alice/priv")


def test_delete(admin):
    admin.create_bucket("admin/del")
    admin.upload_file(b"data", "admin/del/f")
    with pytest.raises(cairn.AlreadyExists, match="not empty"):
        admin.delete_bucket("admin/del")
    admin.delete_bucket("cairn://buckets/admin/del", force=True)
    with pytest.raises(cairn.NotFound):
        admin.bucket_info("admin/del")
    with pytest.raises(cairn.NotFound):
        admin.delete_bucket("admin/del")
    assert admin.delete_bucket("admin/del", missing_ok=True) is None
    with pytest.raises(cairn.InvalidArgument):
        admin.delete_bucket("admin/del/key")


def test_delete_refused(alice, bob, server):
    alice.create_bucket("alice/keep", exist_ok=True)
    with pytest.raises(cairn.PermissionDenied):
        bob.delete_bucket("alice/keep")
    with pytest.raises(cairn.AuthError):
        cairn.Client(server.url).delete_bucket("alice/keep")
    alice.delete_bucket("alice/keep")


def test_settings(alice, bob, server):
    alice.create_bucket("alice/vis", exist_ok=True)
    alice.update_bucket_settings("alice/vis", private=True)
    assert alice.bucket_info("alice/vis").private
    with pytest.raises(cairn.NotFound):
        cairn.Client(server.url).bucket_info("alice/vis")
    alice.update_bucket_settings("cairn://buckets/alice/vis", public=True)
    assert not alice.bucket_info("alice/vis").private
    assert cairn.Client(server.url).bucket_info("alice/vis").name == "vis"
    alice.update_bucket_settings("alice/vis", private=False)  # the same as public=True
    assert not alice.bucket_info("alice/vis").private
    alice.update_bucket_settings("alice/vis", private=True, public=False)  # agreeing: fine
    assert alice.bucket_info("alice/vis").private
    for kw in ({}, {"private": True, "public": True}, {"private": False, "public": False}):
        with pytest.raises(cairn.InvalidArgument):
            alice.update_bucket_settings("alice/vis", **kw)
    with pytest.raises(cairn.NotFound):
        alice.update_bucket_settings("alice/none", private=True)
    with pytest.raises((cairn.PermissionDenied, cairn.NotFound)):
        bob.update_bucket_settings("alice/vis", public=True)
    alice.update_bucket_settings("alice/vis", public=True)
    with pytest.raises(cairn.PermissionDenied):
        bob.update_bucket_settings("alice/vis", private=True)
    with pytest.raises(cairn.AuthError):
        cairn.Client(server.url).update_bucket_settings("alice/vis", private=True)
    alice.delete_bucket("alice/vis")
