"""fs.py - an fsspec filesystem for "cairn://buckets/NS/NAME/PATH" URLs, so
pandas, pyarrow, xarray and the like read and write bucket files directly.

Needs fsspec (Debian: python3-fsspec); the rest of the package does not.
Importing cairn registers the "cairn" protocol with fsspec when fsspec is
installed, and an installed package also declares it as an fsspec.specs
entry point, so `fsspec.open("cairn://buckets/me/run1/data.csv")` works
without importing cairn first.

Paths inside the filesystem are "NS/NAME/KEY" (the URL without
"cairn://buckets/"). The root lists namespaces, a namespace its buckets, a
bucket its folders and files; folders are the '/'-separated prefixes of
keys (buckets hold objects, not folders: mkdir of NS/NAME creates the
bucket, deeper mkdirs do nothing).

Reading: files open in "rb" mode fetch byte ranges (cairn_client_read_range,
at most 64 MiB a request) a block at a time (block_size, default 8 MiB),
through fsspec's read-ahead cache; cat_file reads a range at once. Writing:
"wb" files buffer into a temporary file and upload it on close by the
chunk protocol (so only new chunks travel); nothing exists on the server
until close. Storage options: endpoint, token (as cairn.Client), or a
ready client.

The library has no call that states one object (size, hash, mtime):
info() lists the parent folder (cached in the filesystem's dircache).
"""

import datetime
import os
import tempfile

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import stringify_path

from . import _config
from .client import Client
from .errors import NotFound

__all__ = ["CairnFileSystem", "CairnFile"]

_SCHEME = "cairn://"


def _split(path):
    """(ns, name, key) of a stripped path; missing parts are ""."""
    parts = path.split("/", 2)
    parts += [""] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


class CairnFileSystem(AbstractFileSystem):
    """fsspec filesystem over a Cairn server; protocol "cairn".

    CairnFileSystem(endpoint=None, token=None, client=None): endpoint and
    token are found as cairn.Client finds them (arguments, $CAIRN_ENDPOINT /
    $CAIRN_TOKEN, the `cairn login` config, the default); client: use this
    cairn.Client instead. The ``client`` attribute is the Client in use."""

    protocol = ("cairn",)
    root_marker = ""
    blocksize = 8 << 20

    def __init__(self, endpoint=None, token=None, client=None, **storage_options):
        super().__init__(endpoint=endpoint, token=token, client=client, **storage_options)
        self.client = client if client is not None else Client(endpoint, token)

    @classmethod
    def _strip_protocol(cls, path):
        """"cairn://buckets/NS/NAME/KEY" (or "NS/NAME/KEY") as "NS/NAME/KEY"."""
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        if path.startswith(_SCHEME):
            rest = path[len(_SCHEME):]
            if rest != "buckets" and not rest.startswith("buckets/"):
                raise ValueError("'%s': cairn URLs are cairn://buckets/NS/NAME/PATH" % path)
            path = rest[len("buckets"):]
        return path.strip("/")

    def unstrip_protocol(self, name):
        """"NS/NAME/KEY" as "cairn://buckets/NS/NAME/KEY"."""
        return _config.SCHEME + self._strip_protocol(name)

    @staticmethod
    def _get_kwargs_from_urls(path):
        return {}

    # ---- listing -----------------------------------------------------------------------------

    def _entry(self, ns, name, e):
        d = {"name": "%s/%s/%s" % (ns, name, e.path), "type": e.type,
             "size": e.size}
        if not e.is_dir:
            d.update(hash=e.hash, mtime_ns=e.mtime_ns)
        return d

    def _ls_dir(self, path):
        """The entries of a folder ([] for none: folders are prefixes)."""
        if path in self.dircache:
            return self.dircache[path]
        ns, name, key = _split(path)
        if not ns:
            seen = sorted({b.namespace for b in self.client.list_buckets()})
            out = [{"name": n, "type": "directory", "size": 0} for n in seen]
        elif not name:
            out = [{"name": b.id, "type": "directory", "size": 0, "private": b.private,
                    "created_ns": b.created_ns}
                   for b in self.client.list_buckets(ns)]
            if not out:
                raise FileNotFoundError(path)
        else:
            r = _config.Remote(ns, name, key, True)
            out = [self._entry(ns, name, e) for e in self.client._list(r, False)]
        self.dircache[path] = out
        return out

    def ls(self, path, detail=True, **kwargs):
        """The entries under path (a file: the file itself), as dicts with
        name, type ("file" / "directory"), size, and for files hash (the xet
        file hash) and mtime_ns; or their names with detail=False."""
        path = self._strip_protocol(path)
        out = self._ls_dir(path)
        if not out and _split(path)[2]:
            out = [self.info(path)]
        return out if detail else [e["name"] for e in out]

    def info(self, path, **kwargs):
        """The entry of one path (see ls); FileNotFoundError if there is none."""
        path = self._strip_protocol(path)
        ns, name, key = _split(path)
        if not name:
            if ns:
                self._ls_dir(ns)
            return {"name": path, "type": "directory", "size": 0}
        if not key:
            try:
                b = self.client.bucket_info(path)
            except NotFound:
                raise FileNotFoundError(path) from None
            return {"name": path, "type": "directory", "size": 0, "private": b.private,
                    "created_ns": b.created_ns}
        parent = path.rsplit("/", 1)[0]
        for e in self._ls_dir(parent):
            if e["name"] == path:
                return e
        raise FileNotFoundError(path)

    def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
        """Every file under path (one recursive listing of the bucket folder)."""
        path = self._strip_protocol(path)
        ns, name, key = _split(path)
        if maxdepth is not None or not name:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail,
                                **kwargs)
        out = {}
        try:
            entries = self.client._list(_config.Remote(ns, name, key, True), True)
        except NotFound:
            entries = []
        base = "%s/%s" % (ns, name)
        for e in entries:
            d = self._entry(ns, name, e)
            out[d["name"]] = d
            if withdirs:
                parts = e.path.split("/")[:-1]
                for i in range(len(key.split("/")) if key else 0, len(parts)):
                    dn = "%s/%s" % (base, "/".join(parts[:i + 1]))
                    out.setdefault(dn, {"name": dn, "type": "directory", "size": 0})
        if not out and key:
            try:
                d = self.info(path)
                if d["type"] == "file":
                    out[path] = d
            except FileNotFoundError:
                pass
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def created(self, path):
        """The object's modification time (Cairn keeps one time per object)."""
        return self.modified(path)

    def modified(self, path):
        """The object's modification time, an aware UTC datetime."""
        info = self.info(path)
        if "mtime_ns" not in info:
            raise IsADirectoryError(path)
        return datetime.datetime.fromtimestamp(info["mtime_ns"] / 1e9, tz=datetime.timezone.utc)

    def ukey(self, path):
        """The object's xet file hash (changes when its content does)."""
        return self.info(path).get("hash") or super().ukey(path)

    def checksum(self, path):
        """An int from the object's xet file hash."""
        h = self.info(path).get("hash")
        return int(h[:16], 16) if h else super().checksum(path)

    # ---- reading -------------------------------------------------------------------------------

    def _read(self, path, start, end):
        return self.client.read_range(self.unstrip_protocol(path), start, end - start)

    def cat_file(self, path, start=None, end=None, **kwargs):
        """The bytes of one object, or of [start, end) (negative values count
        from the end, as slices do)."""
        path = self._strip_protocol(path)
        size = self.info(path)["size"]
        start = 0 if start is None else (max(size + start, 0) if start < 0 else start)
        end = size if end is None else (max(size + end, 0) if end < 0 else min(end, size))
        if start >= end:
            return b""
        return self._read(path, start, end)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None,
              **kwargs):
        if mode == "rb":
            if self.info(path)["type"] != "file":
                raise IsADirectoryError(path)
            return CairnFile(self, path, mode, block_size or self.blocksize,
                             cache_options=cache_options, **kwargs)
        if mode == "wb":
            return CairnFile(self, path, mode, block_size or self.blocksize,
                             autocommit=autocommit, **kwargs)
        raise NotImplementedError("cairn files open in 'rb' or 'wb' mode, not %r" % mode)

    def get_file(self, rpath, lpath, callback=None, outfile=None, **kwargs):
        """Download one object to a local path (verified; see
        Client.download_file); a folder becomes a local directory."""
        rpath = self._strip_protocol(rpath)
        if self.isdir(rpath):
            os.makedirs(lpath, exist_ok=True)
            return None
        prog = _callback_progress(callback)
        if outfile is not None:
            return self.client.download_file(self.unstrip_protocol(rpath), outfile,
                                             progress=prog)
        return self.client.download_file(self.unstrip_protocol(rpath), os.fspath(lpath),
                                         progress=prog)

    # ---- writing ---------------------------------------------------------------------------------

    def put_file(self, lpath, rpath, callback=None, **kwargs):
        """Upload one local file by the chunk protocol (see Client.upload_file)."""
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return None
        rpath = self._strip_protocol(rpath)
        self.client.upload_file(os.fspath(lpath), self.unstrip_protocol(rpath),
                                progress=_callback_progress(callback))
        self.invalidate_cache(rpath)

    def pipe_file(self, path, value, **kwargs):
        """Write bytes as one object."""
        path = self._strip_protocol(path)
        self.client.upload_file(bytes(value), self.unstrip_protocol(path))
        self.invalidate_cache(path)

    def cp_file(self, path1, path2, **kwargs):
        """Copy an object on the server (no data moves)."""
        path1, path2 = self._strip_protocol(path1), self._strip_protocol(path2)
        self.client.copy(self.unstrip_protocol(path1), self.unstrip_protocol(path2))
        self.invalidate_cache(path2)

    def rm_file(self, path):
        """Delete one object."""
        path = self._strip_protocol(path)
        self.client.delete_files(self.unstrip_protocol(path))
        self.invalidate_cache(path)

    def _rm(self, path):
        self.rm_file(path)

    def rm(self, path, recursive=False, maxdepth=None):
        """Delete objects: path may be a list; with recursive, everything
        under folders, in batches (buckets themselves stay: rmdir)."""
        paths = self.expand_path(path, recursive=recursive, maxdepth=maxdepth)
        by_bucket = {}
        for p in paths:
            ns, name, key = _split(p)
            if key and self.info(p)["type"] == "file":
                by_bucket.setdefault((ns, name), []).append(key)
        for (ns, name), keys in by_bucket.items():
            self.client._delete_keys(ns, name, keys)
        self.invalidate_cache()

    def mkdir(self, path, create_parents=True, **kwargs):
        """Create the bucket NS/NAME (private=True in kwargs for a private
        one); deeper folders need nothing (they exist once a key has them),
        but their bucket is created with create_parents."""
        path = self._strip_protocol(path)
        ns, name, key = _split(path)
        if not name:
            raise PermissionError("cannot create a namespace through the filesystem: %s" % path)
        if not key:
            self.client.create_bucket("%s/%s" % (ns, name),
                                      private=bool(kwargs.get("private", False)))
        elif create_parents:
            self.client.create_bucket("%s/%s" % (ns, name), exist_ok=True)
        self.invalidate_cache()

    def makedirs(self, path, exist_ok=False):
        """Create the bucket of path if needed (exist_ok: an existing one is fine)."""
        path = self._strip_protocol(path)
        ns, name, key = _split(path)
        if not name:
            return
        created = self.client.create_bucket("%s/%s" % (ns, name), exist_ok=True).created
        if not created and not key and not exist_ok:
            raise FileExistsError(path)
        self.invalidate_cache()

    def rmdir(self, path):
        """Delete the empty bucket NS/NAME (folders vanish with their objects)."""
        path = self._strip_protocol(path)
        ns, name, key = _split(path)
        if name and not key:
            self.client.delete_bucket(path)
        self.invalidate_cache()

    def invalidate_cache(self, path=None):
        """Forget listings (all of them: a write changes its folder and every
        parent's)."""
        self.dircache.clear()
        super().invalidate_cache(path)


def _callback_progress(callback):
    """An fsspec Callback as a cairn progress function (bytes of the transfer)."""
    if callback is None or not hasattr(callback, "absolute_update"):
        return None

    def progress(p):
        if p.phase == "hashing":
            return
        callback.set_size(p.total)
        callback.absolute_update(p.done)

    return progress


class CairnFile(AbstractBufferedFile):
    """A file of a CairnFileSystem: "rb" reads byte ranges a block at a time;
    "wb" buffers into a temporary file and uploads it on close (or on
    commit, inside an fsspec transaction)."""

    def _fetch_range(self, start, end):
        end = min(end, self.size)
        if start >= end:
            return b""
        return self.fs._read(self.path, start, end)

    def _initiate_upload(self):
        self._tmp = tempfile.TemporaryFile(prefix="cairn-")

    def _upload_chunk(self, final=False):
        self._tmp.write(self.buffer.getbuffer())
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self):
        """Upload what was written (called on close unless in a transaction)."""
        self._tmp.flush()
        self._tmp.seek(0)
        try:
            self.fs.client.upload_file(self._tmp, self.fs.unstrip_protocol(self.path))
        finally:
            self._tmp.close()
        self.fs.invalidate_cache(self.path)

    def discard(self):
        """Drop what was written (a transaction rolled back)."""
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            tmp.close()
