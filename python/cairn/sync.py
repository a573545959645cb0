"""sync.py - `cairn buckets sync` in Python, over include/cairn/sync.h: a
sync is a plan (both sides listed and compared, one decision per file) and
then its application, as in the CLI. Client.sync_bucket is the entry
point; SyncPlan is what it returns.

Filters are the library's own (cairn_filter_*), so a pattern selects the
same files here as on the command line. The CLI keeps --include,
--exclude and --filter-from rules in command-line order; keyword arguments
have no order, so here exclude rules come first, then include rules, then
the rules of filter_from files (write one file for any other order).
"""

import ctypes
import io
import os
import sys
import tempfile
from ctypes import byref

from . import _lib
from ._lib import lib
from .errors import InvalidArgument, SyncFailed, from_code
from .results import SyncOperation, SyncProgress, SyncSummary, SyncTotals

__all__ = ["SyncPlan", "read_plan"]

_EEXISTS = -5


def _patterns(v, what):
    if v is None:
        return []
    if isinstance(v, (str, os.PathLike)):
        return [os.fspath(v)]
    try:
        out = [os.fspath(x) for x in v]
    except TypeError:
        raise TypeError("%s wants a string or a list of strings" % what) from None
    return out


class _Filter:
    """A cairn_filter built from include / exclude patterns and filter files
    (or none at all: everything is selected). A context manager."""

    def __init__(self, include=None, exclude=None, filter_from=None):
        self.ptr = None
        inc = _patterns(include, "include")
        exc = _patterns(exclude, "exclude")
        files = _patterns(filter_from, "filter_from")
        if not (inc or exc or files):
            return
        p = ctypes.c_void_p()
        _lib.check(lib.cairn_filter_new, byref(p))
        self.ptr = p.value
        try:
            for pat in exc:
                _lib.check(lib.cairn_filter_add, self.ptr, False, _lib.enc(pat))
            for pat in inc:
                _lib.check(lib.cairn_filter_add, self.ptr, True, _lib.enc(pat))
            for f in files:
                _lib.check(lib.cairn_filter_load, self.ptr, os.fsencode(f))
        except BaseException:
            self.close()
            raise

    def selects(self, path):
        """Is this path (relative to the root) selected?"""
        return self.ptr is None or bool(lib.cairn_filter_selects(self.ptr, _lib.enc(path)))

    def close(self):
        if self.ptr is not None:
            lib.cairn_filter_free(self.ptr)
            self.ptr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _jobs(jobs):
    if jobs is None:
        return 0
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= 16:
        raise InvalidArgument("jobs wants 1..16, got %r" % (jobs,))
    return jobs


def _strings(arr, n):
    return tuple(_lib.dec(arr[i]) for i in range(n))


def _sync_progress(p):
    s = p.contents
    return SyncProgress(_lib.dec(s.phase) or "", s.files_done, s.files_total, s.bytes_done,
                        s.bytes_total, s.bytes_saved, s.wire)


class SyncPlan:
    """A sync plan: what a sync does or did, one SyncOperation per file.

    Iterating gives the operations (skips included); len() counts them.
    Attributes: source, destination (the roots), created_ns, options (the
    flags it was made with: delete, checksum, ignore_times, ignore_sizes,
    existing, ignore_existing), filters (the rules as "+ a\\n- b\\n" text,
    or None), operations, totals (a SyncTotals), errors (files that could
    not be listed or read: "PATH: why"), warnings (files skipped, e.g.
    sockets), summary (a SyncSummary once applied, else None)."""

    def __init__(self, client, ptr):
        self._client = client
        self._ptr = ptr
        p = ptr.contents
        self.source = _lib.dec(p.source)
        self.destination = _lib.dec(p.destination)
        self.created_ns = p.created_ns
        o = p.opts
        self.options = {"delete": bool(o.delete_extra), "checksum": bool(o.checksum),
                        "ignore_times": bool(o.ignore_times),
                        "ignore_sizes": bool(o.ignore_sizes), "existing": bool(o.existing),
                        "ignore_existing": bool(o.ignore_existing)}
        self.filters = _lib.dec(p.filters)
        ops = []
        for i in range(p.n):
            it = p.items[i]
            kind = _lib.SYNC_KINDS[it.kind] if 0 <= it.kind < 4 else str(it.kind)
            ops.append(SyncOperation(kind, _lib.dec(it.path), it.size, it.mtime_ns,
                                     _lib.dec(it.hash), _lib.dec(it.reason)))
        self.operations = tuple(ops)
        self.errors = _strings(p.errors, p.nerrors)
        self.warnings = _strings(p.warnings, p.nwarnings)
        n = (ctypes.c_size_t * 4)()
        b = (ctypes.c_uint64 * 4)()
        lib.cairn_sync_plan_counts(ptr, n, b)
        self.totals = SyncTotals(n[0], n[1], n[2], n[3], b[0], b[1], b[2], b[3])
        self.summary = None

    def __iter__(self):
        return iter(self.operations)

    def __len__(self):
        return len(self.operations)

    def __repr__(self):
        t = self.totals
        return ("<cairn.SyncPlan %s -> %s: %d to upload, %d to download, %d to delete, "
                "%d unchanged%s>" % (self.source, self.destination, t.upload, t.download,
                                     t.delete, t.skip, ", applied" if self.summary else ""))

    def _live(self):
        if self._ptr is None:
            raise InvalidArgument("the plan is closed")
        return self._ptr

    def apply(self, *, jobs=None, progress=None, verify_sources=True):
        """Carry out the plan (``cairn buckets sync --apply``); returns a
        SyncSummary, also kept in .summary.

        verify_sources (default True, as --apply does): first check that
        every file to copy is still as planned (local files: size and mtime;
        objects: size and hash); if any changed, nothing is done and
        AlreadyExists names them (its .failures). jobs: downloads at once,
        1..16. progress: called with a SyncProgress. Files fail alone:
        when some failed, SyncFailed is raised after the others were
        synced. Ctrl-C stops it (KeyboardInterrupt); files already
        committed stay, and running the sync again skips them."""
        self.summary = apply_plan(self._client, self._live(), jobs, progress, verify_sources)
        if self.summary.failed:
            raise SyncFailed("%d file(s) failed to sync: %s" % (
                self.summary.failed, "; ".join(self.summary.failures[:3]) or
                "; ".join(self.errors[:3])), self, self.summary)
        return self.summary

    def write(self, file):
        """Write the plan as JSON Lines (``--plan FILE``): a header line, then
        one line per file {"op", "path", "size", "mtime_ns", "hash",
        "reason"}. file: a path, "-" (standard output) or a writable file
        object (text or binary)."""
        if isinstance(file, (str, os.PathLike)) and os.fsdecode(file) != "-":
            _write_path(self._live(), os.fsencode(file))
            return
        out = sys.stdout if not hasattr(file, "write") else file
        with tempfile.TemporaryDirectory(prefix="cairn-") as d:
            tmp = os.path.join(d, "plan.jsonl")
            _write_path(self._live(), os.fsencode(tmp))
            with open(tmp, "rb") as f:
                data = f.read()
        if isinstance(out, io.TextIOBase) or hasattr(out, "encoding"):
            out.write(data.decode("utf-8", "surrogateescape"))
        else:
            out.write(data)

    def close(self):
        """Free the library's plan (done by the garbage collector otherwise)."""
        if self._ptr is not None:
            lib.cairn_sync_plan_free(self._ptr)
            self._ptr = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _write_path(ptr, path):
    f = _lib.libc.fopen(path, b"w")
    if not f:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), os.fsdecode(path))
    rc, msg = _lib.call(lib.cairn_sync_plan_write, ptr, f)
    if _lib.libc.fclose(f) != 0 and rc == 0:
        rc, msg = -8, "cannot write %s" % os.fsdecode(path)
    if rc < 0:
        raise from_code(rc, "%s: %s" % (os.fsdecode(path), msg))


def read_plan(client, path):
    """Read a plan written by SyncPlan.write (or `cairn buckets sync --plan`),
    to be applied with client. Raises OSError when the file cannot be
    opened, InvalidArgument naming the bad line."""
    bpath = os.fsencode(path)
    f = _lib.libc.fopen(bpath, b"r")
    if not f:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), os.fsdecode(bpath))
    out = ctypes.POINTER(_lib.SyncPlanS)()
    try:
        rc, msg = _lib.call(lib.cairn_sync_plan_read, byref(out), f)
    finally:
        _lib.libc.fclose(f)
    if rc < 0:
        raise from_code(rc, "%s: %s" % (os.fsdecode(bpath), msg))
    return SyncPlan(client, out)


def apply_plan(client, ptr, jobs, progress, verify):
    """cairn_sync_apply on a client handle of its own; a SyncSummary.
    Raises the library's error (with .failures) when the apply stopped."""
    from .client import _Progress
    ao = _lib.SyncApplyOptions(_lib.SYNC_APPLY_OPTIONS_VERSION, _jobs(jobs), bool(verify))
    s = _lib.SyncSummaryS()
    try:
        with client._handle() as h:
            prog = None
            if progress is not None:
                prog = _Progress(progress, _lib.SYNC_PROGRESS_FN, _sync_progress, h)
                ao.progress = prog.cfunc
            rc, msg = _lib.run_cancellable(
                h, lambda: _lib.call(lib.cairn_sync_apply, h, ptr, byref(ao), byref(s)))
            if prog is not None:
                prog.finish()
        failures = _strings(s.failures, s.nfailures)
        summary = SyncSummary(s.uploaded, s.downloaded, s.deleted, s.skipped, s.failed, s.bytes,
                              s.bytes_sent, s.bytes_received, s.bytes_saved, failures)
    finally:
        lib.cairn_sync_summary_free(byref(s))
    if rc < 0:
        if rc == _EEXISTS and verify and failures:
            msg = "%s: %s" % (msg, "; ".join(failures))
        e = from_code(rc, msg)
        e.failures = failures
        e.summary = summary
        raise e
    return summary


def sync_bucket(client, src, dst, *, delete, include, exclude, filter_from, dry_run, plan, apply,
                ignore_times, ignore_sizes, existing, ignore_existing, checksum, jobs, progress):
    """Client.sync_bucket's body (documented there)."""
    if apply is not None:
        if (src is not None or dst is not None or dry_run or plan is not None or include or
                exclude or filter_from or delete or checksum or ignore_times or ignore_sizes or
                existing or ignore_existing):
            raise InvalidArgument("apply=FILE takes no paths and no other sync options (the "
                                  "plan has them)")
        p = read_plan(client, apply)
        p.apply(jobs=jobs, progress=progress, verify_sources=True)
        return p
    if src is None or dst is None:
        raise InvalidArgument("sync wants src and dst")
    if dry_run and plan is not None:
        raise InvalidArgument("dry_run and plan both only plan; give one")
    _jobs(jobs)
    src, dst = os.fsdecode(src), os.fsdecode(dst)
    out = ctypes.POINTER(_lib.SyncPlanS)()
    with _Filter(include, exclude, filter_from) as flt:
        so = _lib.SyncOptions(_lib.SYNC_OPTIONS_VERSION, bool(checksum), bool(ignore_times),
                              bool(ignore_sizes), bool(existing), bool(ignore_existing),
                              bool(delete), flt.ptr, 0)
        with client._handle() as h:
            try:
                rc, msg = _lib.run_cancellable(h, lambda: _lib.call(
                    lib.cairn_sync_plan_make, h, _lib.enc(src), _lib.enc(dst), byref(so),
                    byref(out)))
            except BaseException:
                if out:
                    lib.cairn_sync_plan_free(out)
                raise
    if rc < 0:
        raise from_code(rc, msg)
    sp = SyncPlan(client, out)
    if plan is not None:
        sp.write(plan)
        return sp
    if dry_run:
        return sp
    sp.apply(jobs=jobs, progress=progress, verify_sources=False)
    return sp
