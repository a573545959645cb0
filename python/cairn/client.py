"""client.py - cairn.Client: the `cairn` command line's server verbs as
methods (whoami, login, buckets create / list / info / delete / settings /
ls / cp / rm / sync, hash), over libcairn's client (include/cairn/client.h).

Every method does what its CLI verb does, with the same defaults and the
same path forms; options keep their names (--exist-ok is exist_ok).
cli_map.py holds the table from each CLI verb and option to its method and
parameter, and python/tests/test_parity.py checks it against the CLI's own
--help. Results are the dataclasses of results.py; failures raise the
exceptions of errors.py.

Threads: a libcairn client handle is not thread safe, so a Client keeps a
few handles and gives each call its own; one Client may be used from many
threads at once. Calls release the GIL while the library works.

Ctrl-C: long calls made from the main thread run on a worker thread while
the main thread waits (see _lib.run_cancellable); Ctrl-C cancels the
transfer, waits for the library to stop, and raises KeyboardInterrupt. An
upload stopped that way commits nothing.
"""

import contextlib
import ctypes
import errno
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
from ctypes import byref

from . import _config, _lib
from ._lib import lib
from .errors import InvalidArgument, NotFound, from_code
from .results import (Bucket, BucketCreated, CopyResult, DeleteResult, DownloadResult, FileHash,
                      LoginResult, PrewarmJob, TransferProgress, TreeEntry, UploadResult, WhoAmI)

__all__ = ["Client", "hash_file"]

_EUNSUPPORTED = -11
_POOL_MAX = 4  # idle handles kept per Client (each holds a kept-alive connection)


def _raise(rc, msg):
    raise from_code(rc, msg)


class _Progress:
    """A user's progress callback as a C callback: converts the C struct,
    and keeps the first exception the callback raises. That exception stops
    the call (a cancel on the call's client handle) and is raised once the
    call returned (finish). The ctypes function object lives as long as
    this wrapper, which the caller keeps until the call returned."""

    def __init__(self, fn, ctype, convert, handle=None):
        self.error = None
        self.handle = handle

        def trampoline(ctx, p):
            if self.error is not None:
                return
            try:
                fn(convert(p))
            except BaseException as e:
                self.error = e
                if self.handle is not None:
                    lib.cairn_client_cancel(self.handle, True)

        self.cfunc = ctype(trampoline)

    def finish(self):
        """Raise what the callback raised, if it did (clearing the cancel)."""
        if self.error is not None:
            if self.handle is not None:
                lib.cairn_client_cancel(self.handle, False)
            raise self.error


def _transfer_progress(p):
    s = p.contents
    phase = _lib.PHASES[s.phase] if 0 <= s.phase < len(_lib.PHASES) else str(s.phase)
    return TransferProgress(phase, s.done, s.total, s.deduped, s.wire)


def _put_result(r, res):
    return UploadResult(r.bucket, r.key, _lib.dec(res.hash), res.size, res.new_bytes,
                        res.stored_bytes, res.chunks, res.new_chunks, res.bytes_sent, res.xorbs)


def _bucket(b, stats):
    s = b.has_stats and stats
    regions = _lib.dec(b.regions)
    return Bucket(_lib.dec(b.ns), _lib.dec(b.name), bool(b.is_private), b.created_ns,
                  b.objects if s else None, b.logical_bytes if s else None,
                  b.stored_bytes if s else None, b.chunks if s else None,
                  b.xorbs if s else None, tuple(regions.split(",")) if regions else (),
                  b.dedup_bytes if s else None)


def _prewarm(p):
    d = _lib.dec
    return PrewarmJob(d(p.job), d(p.region), d(p.bucket), d(p.prefix), d(p.state), d(p.message),
                      p.files, p.files_done, p.xorbs, p.xorbs_done, p.bytes, p.bytes_done,
                      p.logical_bytes, p.bytes_per_second)


def _base(p):
    """The last segment of a '/' path."""
    return p.rstrip("/").rsplit("/", 1)[-1]


@contextlib.contextmanager
def _bytes_fd(data):
    """A regular-file fd holding data (memfd: no disk), at offset 0."""
    mv = memoryview(data).cast("B")
    try:
        fd = os.memfd_create("cairn-upload", os.MFD_CLOEXEC)
        f = None
    except (AttributeError, OSError):
        f = tempfile.TemporaryFile()
        fd = f.fileno()
    try:
        off = 0
        while off < len(mv):
            off += os.write(fd, mv[off:off + (64 << 20)])
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        if f is not None:
            f.close()
        else:
            os.close(fd)


def _regular_fd(fobj):
    """fobj's fd if it is a regular file positioned at its start, else None."""
    try:
        fd = fobj.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if fobj.tell() != 0:
            return None
        if getattr(fobj, "writable", lambda: False)():
            fobj.flush()  # what it buffered belongs to the file
        return fd
    except (AttributeError, OSError, ValueError):
        return None


def hash_file(path, *, threads=None, progress=None):
    """The xet file hash and size of a local file, as ``cairn hash`` prints them.

    path: a file path (str or os.PathLike; "-" is standard input), a binary
    file object with a fileno (hashed from its current offset), or the data
    itself as bytes, bytearray or memoryview. threads: 0..64
    threads to use, None or 0 for one per CPU (``--threads N``). progress:
    called with a TransferProgress (phase "hashing") after each block.
    Returns a FileHash. Raises OSError for a file that cannot be opened,
    cairn.IOFailure when a read fails or the file changes while it is read.
    Hashing cannot be interrupted by Ctrl-C (the library has no cancel for
    it): KeyboardInterrupt arrives when it ends."""
    if threads is None:
        threads = 0
    if not isinstance(threads, int) or isinstance(threads, bool) or not 0 <= threads <= 64:
        raise InvalidArgument("threads wants 0..64, got %r" % (threads,))
    opts = _lib.HashOptions(_lib.HASH_OPTIONS_VERSION, threads)
    total = [0]
    prog = None
    if progress is not None:
        prog = _Progress(progress, _lib.HASH_PROGRESS_FN,
                         lambda done: TransferProgress("hashing", done, total[0]))
        opts.progress = prog.cfunc
    out = ctypes.POINTER(_lib.FileChunks)()
    name = None
    if isinstance(path, (bytes, bytearray, memoryview)):
        data = bytes(path)
        total[0] = len(data)
        rc, msg = _lib.call(lib.cairn_hash_buffer, byref(out), data, len(data), byref(opts))
    elif hasattr(path, "fileno") and not isinstance(path, (str, os.PathLike)):
        name = getattr(path, "name", None)
        name = name if isinstance(name, str) else None
        if hasattr(path, "flush"):
            path.flush()
        fd = path.fileno()
        st = os.fstat(fd)
        total[0] = st.st_size if stat.S_ISREG(st.st_mode) else 0
        rc, msg = _lib.call(lib.cairn_hash_fd, byref(out), fd, byref(opts))
    else:
        name = os.fsdecode(path)
        if name == "-":
            fd, close = 0, False
        else:
            fd, close = os.open(path, os.O_RDONLY | os.O_CLOEXEC), True
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
            total[0] = st.st_size if stat.S_ISREG(st.st_mode) else 0
            rc, msg = _lib.call(lib.cairn_hash_fd, byref(out), fd, byref(opts))
        finally:
            if close:
                os.close(fd)
    if prog is not None:
        prog.finish()
    if rc < 0:
        _raise(rc, "%s: %s" % (name, msg) if name else msg)
    try:
        hexbuf = ctypes.create_string_buffer(65)
        lib.cairn_hash_to_hex(hexbuf, byref(out.contents.file_hash))
        return FileHash(name, _lib.dec(hexbuf.value), out.contents.size)
    finally:
        lib.cairn_file_chunks_free(out)


class Client:
    """A client of a Cairn server: the CLI's `buckets`, `login`, `whoami` and
    `hash` verbs as methods.

    endpoint and token are chosen as the CLI chooses them: the arguments,
    then $CAIRN_ENDPOINT / $CAIRN_TOKEN, then the config file `cairn login`
    writes ($XDG_CONFIG_HOME/cairn/config or ~/.config/cairn/config), then
    http://127.0.0.1:8700 and no token (anonymous). region (else
    $CAIRN_REGION) makes downloads read through that region's cache node
    and is the default region of prewarm(). The CLI's --endpoint, --token
    and --region options are these arguments; its --json and --quiet have
    no counterpart (methods return objects and print nothing).

    Raises InvalidArgument for a malformed endpoint or token. Usable as a
    context manager (close() frees the connections); safe to share between
    threads."""

    def __init__(self, endpoint=None, token=None, region=None):
        self._closed = True
        endpoint, token = _config.resolve(endpoint, token)
        self._region = region
        self._lock = threading.Lock()
        self._free = []
        self._busy = set()
        self._token = token
        self._endpoint_arg = endpoint
        self._gen = 0  # login() changes it: handles of older credentials are not kept
        h = self._new_handle()
        self._endpoint = _lib.dec(lib.cairn_client_endpoint(h))
        self._free.append(h)
        self._closed = False

    # ---- handles ------------------------------------------------------------------------------

    def _new_handle(self):
        h = ctypes.c_void_p()
        rc, msg = _lib.call(lib.cairn_client_new, byref(h), _lib.enc(self._endpoint_arg),
                            _lib.enc(self._token))
        if rc < 0:
            _raise(rc, msg)
        if self._region is not None:
            rc, msg = _lib.call(lib.cairn_client_set_region, h, _lib.enc(self._region))
            if rc < 0:
                lib.cairn_client_free(h)
                _raise(rc, msg)
        return h.value

    @contextlib.contextmanager
    def _handle(self):
        """A client handle for one call, this call's alone."""
        with self._lock:
            if self._closed:
                raise InvalidArgument("the client is closed")
            h = self._free.pop() if self._free else None
            gen = self._gen
        if h is None:
            h = self._new_handle()
        with self._lock:
            self._busy.add(h)
        try:
            yield h
        finally:
            lib.cairn_client_cancel(h, False)
            with self._lock:
                self._busy.discard(h)
                keep = not self._closed and gen == self._gen and len(self._free) < _POOL_MAX
                if keep:
                    self._free.append(h)
            if not keep:
                lib.cairn_client_free(h)

    def _check(self, h, func, *args, long=False):
        """Call func(h, *args) (on a worker thread if long: see run_cancellable)
        and raise on an error code."""
        if long:
            rc, msg = _lib.run_cancellable(h, lambda: _lib.call(func, h, *args))
        else:
            rc, msg = _lib.call(func, h, *args)
        if rc < 0:
            _raise(rc, msg)
        return rc

    def close(self):
        """Free the client's connections. Calls in progress finish first on
        their own handles; later calls raise InvalidArgument."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            free, self._free = self._free, []
        for h in free:
            lib.cairn_client_free(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "cairn.Client(%r%s)" % (self._endpoint, ", token=..." if self._token else "")

    @property
    def endpoint(self):
        """The server's URL ("http://host:port", no trailing '/')."""
        return self._endpoint

    @property
    def region(self):
        """The region reads go through (the region argument or $CAIRN_REGION), or None."""
        with self._handle() as h:
            r = lib.cairn_client_region(h)
        return _lib.dec(r) if r else None

    def cancel(self):
        """Stop every call of this client in progress on other threads: they
        raise cairn.Canceled; an upload stopped so commits nothing. Calls
        made later are not affected."""
        with self._lock:
            busy = list(self._busy)
        for h in busy:
            lib.cairn_client_cancel(h, True)

    # ---- login, whoami --------------------------------------------------------------------------

    def whoami(self):
        """Whom the token belongs to (``cairn whoami``): a WhoAmI.
        Raises AuthError without a token or with a bad one."""
        me = _lib.Whoami()
        with self._handle() as h:
            self._check(h, lib.cairn_client_whoami_get, byref(me))
        return WhoAmI(_lib.dec(me.user), _lib.dec(me.scope), self._endpoint)

    def login(self, endpoint=None, token=None):
        """Check a token against a server and save both in the config file,
        as ``cairn login --endpoint URL --token TOKEN`` does; from then on
        this client uses them too.

        endpoint and token default to the client's own. The token is checked
        (whoami) before anything is written; the file is written 0600 in
        0700 directories, through a temporary file and a rename. Returns a
        LoginResult. Raises InvalidArgument without a token or for a
        malformed one, AuthError for a token the server does not know."""
        endpoint = endpoint or self._endpoint
        token = token or self._token
        if not token:
            raise InvalidArgument("login needs a token")
        for v in (endpoint, token):
            if "\r" in v or "\n" in v or len(_lib.enc(v)) >= _config.VALUE_MAX:
                raise InvalidArgument("malformed endpoint or token")
        other = Client(endpoint, token)
        try:
            me = other.whoami()
        finally:
            other.close()
        path = _config.write_config(endpoint, token)
        old_free = []
        with self._lock:
            self._endpoint_arg, self._token = endpoint, token
            self._endpoint = me.endpoint
            self._gen += 1
            old_free, self._free = self._free, []
        for h in old_free:
            lib.cairn_client_free(h)
        return LoginResult(endpoint, me.user, me.scope, path)

    # ---- buckets ----------------------------------------------------------------------------------

    def create_bucket(self, name, *, private=False, exist_ok=False):
        """Create a bucket (``cairn buckets create [NS/]NAME [--private] [--exist-ok]``).

        name: "NS/NAME", "NAME" alone (in the caller's own namespace) or
        "cairn://buckets/NS/NAME". private: only its owner may read it.
        exist_ok: an existing bucket is not an error (its privacy is left
        as it is). Returns a BucketCreated. Raises AlreadyExists,
        InvalidArgument (a bad name), AuthError / PermissionDenied (no right
        to write in the namespace)."""
        r = _config.remote_arg(name, "a bucket name (NS/NAME or NAME)", name_only=True)
        if r.key:
            raise InvalidArgument("'%s' is not a bucket name (NS/NAME or NAME)" % name)
        if not r.ns:
            r.ns = self.whoami().user
        with self._handle() as h:
            rc, msg = _lib.call(lib.cairn_client_bucket_create, h, _lib.enc(r.ns),
                                _lib.enc(r.name), bool(private), False)
        if rc == -5 and exist_ok:
            return BucketCreated(r.ns, r.name, False)
        if rc < 0:
            _raise(rc, msg)
        return BucketCreated(r.ns, r.name, True)

    def bucket_info(self, bucket):
        """A bucket's settings and statistics (``cairn buckets info NS/NAME``):
        a Bucket with objects, logical_bytes, stored_bytes, chunks and xorbs.
        Raises NotFound (also for someone else's private bucket)."""
        r = self._bucket_arg(bucket)
        b = _lib.BucketS()
        with self._handle() as h:
            self._check(h, lib.cairn_client_bucket_info, _lib.enc(r.ns), _lib.enc(r.name),
                        byref(b))
        return _bucket(b, True)

    def list_buckets(self, namespace=None):
        """The buckets the caller may see (``cairn buckets list [NAMESPACE]``),
        in namespace (None: all), as a list of Bucket (no statistics)."""
        out, err = [], []

        def cb(ctx, b):
            try:
                out.append(_bucket(b.contents, False))
                return 0
            except BaseException as e:
                err.append(e)
                return 1

        fn = _lib.BUCKET_CB(cb)
        with self._handle() as h:
            self._check(h, lib.cairn_client_bucket_list, _lib.enc(namespace or None), fn,
                             None, long=True)
        if err:
            raise err[0]
        return out

    def delete_bucket(self, bucket, *, missing_ok=False, force=False):
        """Delete a bucket (``cairn buckets delete NS/NAME [--missing-ok] [--force]``).

        A bucket holding objects is only deleted with force (and everything
        in it with it); otherwise AlreadyExists ("not empty"). missing_ok: a
        missing bucket is not an error. The CLI's --yes (confirmation on the
        terminal) has no counterpart: calling the method is the
        confirmation. Raises NotFound, AlreadyExists, AuthError,
        PermissionDenied."""
        r = self._bucket_arg(bucket)
        with self._handle() as h:
            rc, msg = _lib.call(lib.cairn_client_bucket_delete, h, _lib.enc(r.ns),
                                _lib.enc(r.name), bool(force), bool(missing_ok))
        if rc == -5:
            _raise(rc, "bucket %s is not empty (delete with force=True): %s" % (r.bucket, msg))
        if rc < 0:
            _raise(rc, msg)

    def update_bucket_settings(self, bucket, *, private=None, public=None, regions=None):
        """Change a bucket's visibility and the regions it keeps warm
        (``cairn buckets settings NS/NAME [--private|--public] [--regions A,B]``).

        private=True / public=True (private=False is public=True and the
        other way round); regions: region names, as a list or "A,B" ("" or
        [] for none): every object committed from then on is staged on
        those regions' cache nodes in the background. Give at least one of
        the two. Returns the Bucket as it is now. Raises InvalidArgument
        (nothing to change, contradictory values, a region the server does
        not know), NotFound, AuthError, PermissionDenied."""
        wants = set()
        if private is not None:
            wants.add(bool(private))
        if public is not None:
            wants.add(not public)
        if len(wants) > 1 or (not wants and regions is None):
            raise InvalidArgument("give private=True or public=True, and/or regions=")
        if regions is not None and not isinstance(regions, str):
            regions = ",".join(regions)
        r = self._bucket_arg(bucket)
        b = _lib.BucketS()
        with self._handle() as h:
            if wants:
                self._check(h, lib.cairn_client_bucket_set_private, _lib.enc(r.ns),
                            _lib.enc(r.name), wants.pop())
            if regions is not None:
                self._check(h, lib.cairn_client_bucket_set_regions, _lib.enc(r.ns),
                            _lib.enc(r.name), _lib.enc(regions))
            self._check(h, lib.cairn_client_bucket_info, _lib.enc(r.ns), _lib.enc(r.name),
                        byref(b))
        return _bucket(b, True)

    # ---- pre-warming ----------------------------------------------------------------------------------

    def prewarm(self, path=None, *, region=None, wait=False, status=None, release=None,
                progress=None):
        """Stage data on a region's cache node before a job reads it
        (``cairn buckets prewarm NS/NAME[/PREFIX] [--wait]``, ``--status
        JOB``, ``--release JOB``). Give one of:

        - path: "NS/NAME[/PREFIX]" (or the cairn:// form): every xorb of
          every object whose key starts with PREFIX is fetched by the node
          and pinned there (kept whatever its cache size) until released;
        - status=JOB: the job's progress;
        - release=JOB: unpin the job's data (the node may evict it again).

        region: the region's name (default: the Client's region).
        wait: poll until the job is done, failed or released, calling
        progress(job) with each report. Returns a PrewarmJob (the last
        report). Raises InvalidArgument (no region, no or several of path /
        status / release), NotFound (bucket, region or job), AuthError,
        IOFailure (the node cannot be reached)."""
        if (path is not None) + (status is not None) + (release is not None) != 1:
            raise InvalidArgument("give one of path, status= and release=")
        if release is not None and wait:
            raise InvalidArgument("release= does not wait")
        p = _lib.PrewarmS()
        reg = _lib.enc(region) if region else None
        with self._handle() as h:
            if lib.cairn_client_region(h) is None and not region:
                raise InvalidArgument("which region? give region= (or Client(region=), "
                                      "$CAIRN_REGION)")
            if release is not None:
                self._check(h, lib.cairn_client_prewarm_release, _lib.enc(release), reg, byref(p))
            elif status is not None:
                self._check(h, lib.cairn_client_prewarm_get, _lib.enc(status), reg, byref(p))
            else:
                r = _config.remote_arg(path, "a bucket path (NS/NAME[/PREFIX])")
                prefix = r.key + ("/" if r.key and r.dir else "")
                self._check(h, lib.cairn_client_prewarm_start, _lib.enc(r.ns), _lib.enc(r.name),
                            _lib.enc(prefix), reg, byref(p))
            job = _prewarm(p)
            while wait and not job.finished:
                if progress is not None:
                    progress(job)
                time.sleep(0.25)
                self._check(h, lib.cairn_client_prewarm_get, _lib.enc(job.job), reg, byref(p))
                job = _prewarm(p)
        if wait and progress is not None:
            progress(job)
        return job

    def _bucket_arg(self, s):
        r = _config.parse_remote(s, True)
        if r is None or r.key:
            raise InvalidArgument("'%s' is not a bucket (NS/NAME)" % (s,))
        return r

    # ---- objects ------------------------------------------------------------------------------------

    def list_bucket_tree(self, path, *, recursive=False):
        """The objects of a bucket folder (``cairn buckets ls PATH [-R]``).

        path: "cairn://buckets/NS/NAME[/FOLDER]" or "NS/NAME[/FOLDER]".
        One level (folders as TreeEntry of type "directory") or, with
        recursive, every object below; in key order, as a list of TreeEntry
        whose paths are keys from the bucket's root. The CLI's -h
        (human-readable sizes) is formatting and has no counterpart.
        Raises NotFound (no such bucket), InvalidArgument (a bad path)."""
        r = _config.remote_arg(path, "a bucket path (cairn://buckets/NS/NAME[/FOLDER])")
        return self._list(r, recursive)

    def _list(self, r, recursive):
        out, err = [], []

        def cb(ctx, e):
            try:
                e = e.contents
                if e.is_dir:
                    out.append(TreeEntry("directory", _lib.dec(e.path)))
                else:
                    out.append(TreeEntry("file", _lib.dec(e.path), e.size, _lib.dec(e.hash),
                                         e.mtime_ns))
                return 0
            except BaseException as x:
                err.append(x)
                return 1

        fn = _lib.ENTRY_CB(cb)
        with self._handle() as h:
            self._check(h, lib.cairn_client_list, _lib.enc(r.ns), _lib.enc(r.name),
                        _lib.enc(r.key), bool(recursive), fn, None, long=True)
        if err:
            raise err[0]
        return out

    def _has_entries(self, r):
        """Does folder r hold anything? (stops at the first entry)"""
        fn = _lib.ENTRY_CB(lambda ctx, e: 1)
        with self._handle() as h:
            rc, _ = _lib.call(lib.cairn_client_list, h, _lib.enc(r.ns), _lib.enc(r.name),
                              _lib.enc(r.key), False, fn, None)
        return rc == 1

    def upload_file(self, src, dst, *, progress=None):
        """Upload one file (``cairn buckets cp SRC cairn://buckets/NS/NAME/PATH``).

        src: a local path (str or os.PathLike; "-" is standard input), bytes
        (or bytearray / memoryview), or a binary file object. A regular file
        goes by the chunk protocol (chunked and hashed here; only the chunks
        the server lacks are sent); a file object on a regular file at its
        start is uploaded the same way through its fd; bytes go through an
        in-memory file (memfd). Any other file object is first copied into
        a temporary file (so that it can be deduplicated and retried);
        standard input and other non-regular paths (a FIFO) are streamed to
        the server, which deduplicates as the bytes arrive.

        dst: "cairn://buckets/NS/NAME/PATH" (or "NS/NAME/PATH"); a PATH
        ending in '/' keeps the source's file name. progress: called with a
        TransferProgress, from the library's threads, one call at a time;
        an exception it raises stops the upload and is raised here.

        Returns an UploadResult. Raises NotFound (no such bucket),
        AuthError / PermissionDenied, IOFailure (network; a file that
        changed while it was read: nothing is committed), OSError for a
        local file that cannot be opened."""
        r = _config.remote_arg(dst, "a bucket path (cairn://buckets/NS/NAME/PATH)")
        if isinstance(src, (bytes, bytearray, memoryview)):
            self._fill_dir_key(r, None)
            with _bytes_fd(src) as fd:
                return self._put_fd(r, fd, True, progress)
        if isinstance(src, (str, os.PathLike)):
            p = os.fsdecode(src)
            if p == "-":
                self._fill_dir_key(r, None)
                return self._put_fd(r, 0, False, progress)
            self._fill_dir_key(r, p)
            fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "is a directory (upload_file uploads "
                                            "one file)", p)
                return self._put_fd(r, fd, stat.S_ISREG(st.st_mode), progress)
            finally:
                os.close(fd)
        if hasattr(src, "read"):
            name = getattr(src, "name", None)
            self._fill_dir_key(r, name if isinstance(name, str) else None)
            fd = _regular_fd(src)
            if fd is not None:
                return self._put_fd(r, fd, True, progress)
            with tempfile.TemporaryFile() as tmp:
                shutil.copyfileobj(src, tmp, 1 << 20)
                tmp.flush()
                return self._put_fd(r, tmp.fileno(), True, progress)
        raise TypeError("upload_file: src must be a path, bytes or a binary file object, not %s"
                        % type(src).__name__)

    @staticmethod
    def _fill_dir_key(r, src_name):
        """A destination folder keeps the source's file name (as cp does)."""
        if not r.dir:
            return
        b = _base(src_name) if src_name else ""
        if not b or b == "-":
            raise InvalidArgument("name the object to upload to (%s/PATH)" % r.uri("").rstrip("/"))
        r.key = "%s/%s" % (r.key, b) if r.key else b
        if len(_lib.enc(r.key)) > _lib.KEY_MAX:
            raise InvalidArgument("destination path too long")
        r.dir = False

    def _put_fd(self, r, fd, regular, progress):
        res = _lib.PutResult()
        ns, name, key = _lib.enc(r.ns), _lib.enc(r.name), _lib.enc(r.key)
        with self._handle() as h:
            prog = None
            xo = _lib.XferOptions(_lib.XFER_OPTIONS_VERSION)
            if progress is not None:
                prog = _Progress(progress, _lib.PROGRESS_FN, _transfer_progress, h)
                xo.progress = prog.cfunc

            def work():
                rc, msg = _EUNSUPPORTED, ""
                if regular:
                    rc, msg = _lib.call(lib.cairn_client_put_file, h, ns, name, key, fd,
                                        byref(xo), byref(res))
                    if rc == _EUNSUPPORTED:
                        try:
                            os.lseek(fd, 0, os.SEEK_SET)
                        except OSError as e:
                            return -8, "cannot rewind the file: %s" % e.strerror
                if rc == _EUNSUPPORTED:
                    rc, msg = _lib.call(lib.cairn_client_upload_fd, h, ns, name, key, fd,
                                        byref(res))
                return rc, msg

            rc, msg = _lib.run_cancellable(h, work)
            if prog is not None:
                prog.finish()
        if rc < 0:
            _raise(rc, "upload failed: %s" % msg)
        return _put_result(r, res)

    def download_file(self, src, dst, *, progress=None):
        """Download one object (``cairn buckets cp cairn://buckets/NS/NAME/PATH DST``).

        src: "cairn://buckets/NS/NAME/PATH" (or "NS/NAME/PATH"). dst: a local
        path (an existing directory, or one ending in '/', receives the
        object under its own name), "-" for standard output, or a writable
        binary file object.

        To a path the object is rebuilt from xorb ranges fetched in
        parallel into a temporary file beside the target, checked against
        its file hash, fsynced and renamed over the target: the target is
        the old file or the whole, verified object. A file object receives
        a verified copy the same way, through a temporary file. Standard
        output gets the object streamed as the server sends it (the server
        checks every chunk). progress: called with a TransferProgress
        (phase "downloading"); an exception it raises stops the download.

        Returns a DownloadResult. Raises NotFound, InvalidArgument (src
        names a folder), AuthError / PermissionDenied, Corrupt (the bytes do
        not hash to the object's file hash), IOFailure."""
        r = _config.remote_arg(src, "a bucket path (cairn://buckets/NS/NAME/PATH)")
        if r.dir or not r.key:
            raise InvalidArgument("%s names a folder; download_file downloads one object"
                                  % r.uri())
        if isinstance(dst, (str, os.PathLike)) and os.fsdecode(dst) == "-":
            sys.stdout.flush()
            out = getattr(sys.stdout, "buffer", None)
            if out is not None:
                out.flush()
            return self._stream_to_fd(r, sys.stdout.fileno())
        if isinstance(dst, (str, os.PathLike)):
            return self._get_file(r, self._down_target(r, os.fsdecode(dst)), progress)
        if hasattr(dst, "write"):
            with tempfile.TemporaryDirectory(prefix="cairn-") as d:
                res = self._get_file(r, os.path.join(d, "object"), progress)
                with open(res.path, "rb") as f:
                    shutil.copyfileobj(f, dst, 1 << 20)
            return DownloadResult(None, res.size, res.hash, res.bytes_received)
        raise TypeError("download_file: dst must be a path or a writable binary file object, "
                        "not %s" % type(dst).__name__)

    @staticmethod
    def _down_target(r, dst):
        if dst.endswith("/") or os.path.isdir(dst):
            return os.path.join(dst, _base(r.key))
        return dst

    def _get_file(self, r, target, progress):
        res = _lib.GetResult()
        with self._handle() as h:
            prog = None
            xo = _lib.XferOptions(_lib.XFER_OPTIONS_VERSION)
            if progress is not None:
                prog = _Progress(progress, _lib.PROGRESS_FN, _transfer_progress, h)
                xo.progress = prog.cfunc
            args = (_lib.enc(r.ns), _lib.enc(r.name), _lib.enc(r.key), os.fsencode(target))
            rc, msg = _lib.run_cancellable(
                h, lambda: _lib.call(lib.cairn_client_get_file, h, *args, byref(xo), byref(res)))
            if prog is not None:
                prog.finish()
        if rc < 0:
            _raise(rc, "%s: %s" % (r.uri(), msg))
        return DownloadResult(target, res.size, _lib.dec(res.hash), res.bytes_received)

    def _stream_to_fd(self, r, fd):
        size = ctypes.c_uint64()
        with self._handle() as h:
            self._check(h, lib.cairn_client_download_to_fd, _lib.enc(r.ns), _lib.enc(r.name),
                        _lib.enc(r.key), fd, byref(size), long=True)
        return DownloadResult(None, size.value, None, size.value)

    def copy(self, src, dst):
        """Copy an object on the server, bucket to bucket
        (``cairn buckets cp cairn://buckets/NS/NAME/PATH cairn://buckets/NS2/NAME2/PATH2``).

        No data moves: dst becomes the same file as src. A dst ending in
        '/' keeps the source's name. The source must be readable by the
        token, the destination writable. Returns a CopyResult. Raises
        NotFound (the source object or either bucket), AuthError /
        PermissionDenied, InvalidArgument."""
        want = "a bucket path (cairn://buckets/NS/NAME/PATH)"
        s = _config.remote_arg(src, want)
        d = _config.remote_arg(dst, want)
        if s.dir or not s.key:
            raise InvalidArgument("%s names a folder; copy copies one object" % s.uri())
        if d.dir:
            d.key = "%s/%s" % (d.key, _base(s.key)) if d.key else _base(s.key)
            if len(_lib.enc(d.key)) > _lib.KEY_MAX:
                raise InvalidArgument("destination path too long")
        res = _lib.PutResult()
        with self._handle() as h:
            rc, msg = _lib.call(lib.cairn_client_copy, h, _lib.enc(s.ns), _lib.enc(s.name),
                                _lib.enc(s.key), _lib.enc(d.ns), _lib.enc(d.name),
                                _lib.enc(d.key), byref(res))
        if rc < 0:
            _raise(rc, "copy failed: %s" % msg)
        return CopyResult(d.key, _lib.dec(res.hash), res.size, s.bucket, s.key)

    def delete_files(self, path, *, recursive=False, include=None, exclude=None, dry_run=False):
        """Delete objects (``cairn buckets rm PATH [-R] [--include P]...
        [--exclude P]... [--dry-run]``).

        path: "cairn://buckets/NS/NAME/PATH" (or "NS/NAME/PATH"). Without
        recursive, the one object PATH (a folder is refused). With
        recursive, every object under the folder PATH, deleted in batches
        of 10,000; include / exclude (a pattern or a list of them, sync's
        rules) choose among them by their path below the folder: exclude
        rules are tried before include rules, the first match deciding.
        dry_run: delete nothing, return what would be deleted.

        Returns a DeleteResult. Raises NotFound (no such object; with
        recursive, no object the filters select), InvalidArgument (a
        folder without recursive, filters without recursive, a bad
        pattern), AuthError / PermissionDenied."""
        from .sync import _Filter
        r = _config.remote_arg(path, "a bucket path (cairn://buckets/NS/NAME/PATH)")
        if not recursive and (r.dir or not r.key):
            raise InvalidArgument("%s names a folder: use recursive=True to delete what is "
                                  "under it" % path)
        if not recursive and (include or exclude):
            raise InvalidArgument("include and exclude choose among the objects of a folder: "
                                  "use recursive=True")
        ns, name = _lib.enc(r.ns), _lib.enc(r.name)
        if not recursive:
            if not dry_run:
                with self._handle() as h:
                    rc, msg = _lib.call(lib.cairn_client_delete_object, h, ns, name,
                                        _lib.enc(r.key))
                if rc == -4 and self._has_entries(r):
                    raise InvalidArgument("%s names a folder: use recursive=True to delete "
                                          "what is under it" % path)
                if rc < 0:
                    _raise(rc, "%s: %s" % (path, msg))
            return DeleteResult(r.bucket, (r.key,), bool(dry_run))
        with _Filter(include, exclude) as flt:
            prefix = len(r.key) + 1 if r.key else 0
            keys = [e.path for e in self._list(r, True)
                    if not e.is_dir and flt.selects(e.path[prefix:])]
        if not keys:
            raise NotFound("no objects under %s%s" % (path, " that the filters select"
                                                      if include or exclude else ""))
        if not dry_run:
            self._delete_keys(r.ns, r.name, keys)
        return DeleteResult(r.bucket, tuple(keys), bool(dry_run))

    def _delete_keys(self, ns, name, keys):
        """cairn_client_delete_many: keys missing already are not an error."""
        if not keys:
            return
        arr = (ctypes.c_char_p * len(keys))(*[_lib.enc(k) for k in keys])
        with self._handle() as h:
            self._check(h, lib.cairn_client_delete_many, _lib.enc(ns), _lib.enc(name), arr,
                        len(keys), None, long=True)

    def read_range(self, path, offset, length):
        """Bytes [offset, offset + length) of one object, fewer at its end
        (no CLI verb: what file objects and fsspec read with). The server
        checks every chunk it serves; requests go 64 MiB at a time.

        Raises NotFound, InvalidArgument (offset past the end, a folder),
        AuthError / PermissionDenied, IOFailure."""
        r = _config.remote_arg(path, "a bucket path (cairn://buckets/NS/NAME/PATH)")
        if r.dir or not r.key:
            raise InvalidArgument("%s names a folder; read_range reads one object" % r.uri())
        if offset < 0 or length < 0:
            raise InvalidArgument("read_range wants offset >= 0 and length >= 0")
        if length == 0:
            return b""
        ns, name, key = _lib.enc(r.ns), _lib.enc(r.name), _lib.enc(r.key)
        out = bytearray(length)
        done = 0
        with self._handle() as h:
            while done < length:
                n = min(_lib.RANGE_MAX, length - done)
                buf = (ctypes.c_char * n).from_buffer(out, done)
                got = ctypes.c_size_t()
                try:
                    self._check(h, lib.cairn_client_read_range, ns, name, key, offset + done, n,
                                buf, byref(got), long=n >= (1 << 20))
                finally:
                    del buf
                done += got.value
                if got.value < n:
                    break
        return bytes(memoryview(out)[:done])

    # ---- sync, hash ---------------------------------------------------------------------------------

    def sync_bucket(self, src=None, dst=None, *, delete=False, include=None, exclude=None,
                    filter_from=None, dry_run=False, plan=None, apply=None, ignore_times=False,
                    ignore_sizes=False, existing=False, ignore_existing=False, checksum=False,
                    jobs=None, progress=None):
        """Make dst like src, moving only what differs (``cairn buckets sync``).

        One of src and dst is a local folder, the other
        "cairn://buckets/NS/NAME[/FOLDER]". The options are the CLI's:
        delete (delete dst files src lacks; files the filters leave out are
        never deleted), checksum (compare xet file hashes, not size and
        mtime), ignore_times (copy even when size and mtime agree),
        ignore_sizes (compare mtimes only), existing (only update files dst
        has), ignore_existing (only add files dst lacks), include / exclude
        (a pattern or a list) and filter_from (a rules file or a list of
        them; "+ PATTERN" / "- PATTERN" lines): exclude rules come first,
        then include rules, then the files' rules, the first match
        deciding. jobs: downloads at once, 1..16 (default 4).

        dry_run: only plan; plan="FILE": only plan and write the plan to
        FILE (JSON Lines, as --plan); apply="FILE": carry out a plan written
        before (no src, dst or other options: the plan has them), after
        checking every source is still as planned (AlreadyExists names those
        that changed, and nothing is done). Otherwise the plan is made and
        applied at once. progress: called with a SyncProgress while applying.
        The CLI's --verbose is output only: the plan's operations are in the
        returned object.

        Returns a SyncPlan (iterable over its SyncOperation; .totals;
        .summary once applied). Raises SyncFailed when some files failed
        (the others were synced; .summary says which), InvalidArgument (bad
        roots, options or patterns), NotFound, AuthError / PermissionDenied,
        IOFailure."""
        from . import sync
        return sync.sync_bucket(self, src, dst, delete=delete, include=include,
                                exclude=exclude, filter_from=filter_from, dry_run=dry_run,
                                plan=plan, apply=apply, ignore_times=ignore_times,
                                ignore_sizes=ignore_sizes, existing=existing,
                                ignore_existing=ignore_existing, checksum=checksum, jobs=jobs,
                                progress=progress)

    def hash_file(self, path, *, threads=None, progress=None):
        """The xet file hash of a local file (``cairn hash [--threads N] FILE``):
        the module function cairn.hash_file; no server is involved."""
        return hash_file(path, threads=threads, progress=progress)
