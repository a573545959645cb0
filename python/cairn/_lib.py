"""_lib.py - finding libcairn.so and declaring the part of its C API the
package uses, with ctypes (standard library only).

The structures below mirror include/cairn/client.h, sync.h, chunk.h and
hash.h field for field; a change there must be made here too (the test
suite checks every call end to end against a live server).

Where the library is looked for, first hit wins:
  1. $CAIRN_LIB: the library file itself, or a directory holding it;
  2. a copy inside the package (what `pip install ./python` bundles);
  3. the build tree: ../../build/ from this file (so that
     `PYTHONPATH=python` alone works in a checkout built with `make`);
  4. the directory `make install` recorded in _install.py;
  5. the system's search (ctypes.util.find_library("cairn")).

This module also holds how a call into the library runs: `call` reads the
thread-local error message on the thread that made the call, and
`run_cancellable` runs a long call on a worker thread so that Ctrl-C in the
main thread cancels it (cairn_client_cancel) instead of waiting for it.
"""

import ctypes
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char, c_char_p, c_double, c_int,
                    c_int64, c_size_t, c_uint, c_uint8, c_uint64, c_void_p)

from . import errors

_HERE = os.path.dirname(os.path.abspath(__file__))

NAME_MAX = 96    # CAIRN_CLIENT_NAME_MAX
KEY_MAX = 1024   # CAIRN_CLIENT_KEY_MAX
REGIONS_MAX = 511  # CAIRN_CLIENT_REGIONS_MAX
RANGE_MAX = 64 << 20  # cairn_client_read_range's ceiling
DEFAULT_ENDPOINT = "http://127.0.0.1:8700"  # CAIRN_CLIENT_DEFAULT_ENDPOINT


def _candidates():
    """Library paths to try, in order (see the module docstring)."""
    env = os.environ.get("CAIRN_LIB")
    if env:
        if os.path.isdir(env):
            yield from (os.path.join(env, n) for n in ("libcairn.so", "libcairn.so.0"))
        else:
            yield env
    for n in ("libcairn.so.0", "libcairn.so"):
        yield os.path.join(_HERE, n)
    yield os.path.normpath(os.path.join(_HERE, "..", "..", "build", "libcairn.so"))
    try:
        from . import _install  # written by `make install`
        yield os.path.join(_install.LIBDIR, "libcairn.so.0")
    except ImportError:
        pass
    import ctypes.util  # only here: it costs an import most runs do not need
    found = ctypes.util.find_library("cairn")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("cairn: libcairn.so not found; set CAIRN_LIB to the library (a build's "
                      "libcairn.so) or install it (make install). Tried: " + ", ".join(tried))


lib, path = _load()

# ---- include/cairn/errors.h, common.h ------------------------------------------------------

lib.cairn_error_last.restype = c_char_p
lib.cairn_error_last.argtypes = []
lib.cairn_error_name.restype = c_char_p
lib.cairn_error_name.argtypes = [c_int]
lib.cairn_error_clear.restype = None
lib.cairn_error_clear.argtypes = []
lib.cairn_version.restype = c_char_p
lib.cairn_version.argtypes = []

# ---- include/cairn/client.h ----------------------------------------------------------------


class Whoami(Structure):
    _fields_ = [("user", c_char * (NAME_MAX + 1)), ("scope", c_char * 8)]


class BucketS(Structure):
    _fields_ = [("ns", c_char * (NAME_MAX + 1)), ("name", c_char * (NAME_MAX + 1)),
                ("is_private", c_bool), ("created_ns", c_int64), ("has_stats", c_bool),
                ("objects", c_uint64), ("logical_bytes", c_uint64), ("stored_bytes", c_uint64),
                ("chunks", c_uint64), ("xorbs", c_uint64),
                ("regions", c_char * (REGIONS_MAX + 1)), ("dedup_bytes", c_uint64)]


class PrewarmS(Structure):
    _fields_ = [("job", c_char * 33), ("region", c_char * (NAME_MAX + 1)),
                ("bucket", c_char * (2 * NAME_MAX + 2)), ("prefix", c_char * (KEY_MAX + 1)),
                ("state", c_char * 16), ("message", c_char * 512),
                ("files", c_uint64), ("files_done", c_uint64), ("xorbs", c_uint64),
                ("xorbs_done", c_uint64), ("bytes", c_uint64), ("bytes_done", c_uint64),
                ("logical_bytes", c_uint64), ("bytes_per_second", c_double)]


class EntryS(Structure):
    _fields_ = [("is_dir", c_bool), ("path", c_char_p), ("size", c_uint64),
                ("hash", c_char_p), ("mtime_ns", c_int64)]


class PutResult(Structure):
    _fields_ = [("hash", c_char * 65), ("size", c_uint64), ("new_bytes", c_uint64),
                ("stored_bytes", c_uint64), ("chunks", c_uint64), ("new_chunks", c_uint64),
                ("bytes_sent", c_uint64), ("xorbs", c_uint64)]


class ProgressS(Structure):
    _fields_ = [("phase", c_int), ("done", c_uint64), ("total", c_uint64),
                ("deduped", c_uint64), ("wire", c_uint64)]


PHASES = ("hashing", "uploading", "downloading")  # cairn_client_phase
PROGRESS_FN = CFUNCTYPE(None, c_void_p, POINTER(ProgressS))
BUCKET_CB = CFUNCTYPE(c_int, c_void_p, POINTER(BucketS))
ENTRY_CB = CFUNCTYPE(c_int, c_void_p, POINTER(EntryS))


class XferOptions(Structure):
    _fields_ = [("version", c_uint), ("parallel", c_uint), ("progress", PROGRESS_FN),
                ("progress_ctx", c_void_p)]


XFER_OPTIONS_VERSION = 1


class GetResult(Structure):
    _fields_ = [("hash", c_char * 65), ("size", c_uint64), ("bytes_received", c_uint64),
                ("terms", c_uint64), ("fetches", c_uint64)]


_client = c_void_p
_S = c_char_p


def _decl(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


_decl("cairn_client_new", c_int, POINTER(_client), _S, _S)
_decl("cairn_client_free", None, _client)
_decl("cairn_client_clone", c_int, POINTER(_client), _client)
_decl("cairn_client_cancel", None, _client, c_bool)
_decl("cairn_client_endpoint", c_char_p, _client)
_decl("cairn_client_whoami_get", c_int, _client, POINTER(Whoami))
_decl("cairn_client_bucket_create", c_int, _client, _S, _S, c_bool, c_bool)
_decl("cairn_client_bucket_info", c_int, _client, _S, _S, POINTER(BucketS))
_decl("cairn_client_bucket_list", c_int, _client, _S, BUCKET_CB, c_void_p)
_decl("cairn_client_bucket_delete", c_int, _client, _S, _S, c_bool, c_bool)
_decl("cairn_client_bucket_set_private", c_int, _client, _S, _S, c_bool)
_decl("cairn_client_bucket_set_regions", c_int, _client, _S, _S, _S)
_decl("cairn_client_set_region", c_int, _client, _S)
_decl("cairn_client_region", c_char_p, _client)
_decl("cairn_client_prewarm_start", c_int, _client, _S, _S, _S, _S, POINTER(PrewarmS))
_decl("cairn_client_prewarm_get", c_int, _client, _S, _S, POINTER(PrewarmS))
_decl("cairn_client_prewarm_release", c_int, _client, _S, _S, POINTER(PrewarmS))
_decl("cairn_client_list", c_int, _client, _S, _S, _S, c_bool, ENTRY_CB, c_void_p)
_decl("cairn_client_upload_fd", c_int, _client, _S, _S, _S, c_int, POINTER(PutResult))
_decl("cairn_client_download_to_fd", c_int, _client, _S, _S, _S, c_int, POINTER(c_uint64))
_decl("cairn_client_delete_object", c_int, _client, _S, _S, _S)
_decl("cairn_client_read_range", c_int, _client, _S, _S, _S, c_uint64, c_size_t, c_void_p,
      POINTER(c_size_t))
_decl("cairn_client_put_file", c_int, _client, _S, _S, _S, c_int, POINTER(XferOptions),
      POINTER(PutResult))
_decl("cairn_client_delete_many", c_int, _client, _S, _S, POINTER(c_char_p), c_size_t,
      POINTER(c_size_t))
_decl("cairn_client_get_file", c_int, _client, _S, _S, _S, _S, POINTER(XferOptions),
      POINTER(GetResult))
_decl("cairn_client_copy", c_int, _client, _S, _S, _S, _S, _S, _S, POINTER(PutResult))

# ---- include/cairn/hash.h, chunk.h ------------------------------------------------------------


class HashS(Structure):
    _fields_ = [("bytes", c_uint8 * 32)]


class ChunkInfo(Structure):
    _fields_ = [("offset", c_uint64), ("len", c_uint64), ("hash", HashS)]


class FileChunks(Structure):
    _fields_ = [("file_hash", HashS), ("size", c_uint64), ("count", c_size_t),
                ("chunks", POINTER(ChunkInfo))]


HASH_PROGRESS_FN = CFUNCTYPE(None, c_void_p, c_uint64)


class HashOptions(Structure):
    _fields_ = [("version", c_uint), ("threads", c_uint), ("block_size", c_size_t),
                ("salt", POINTER(HashS)), ("progress", HASH_PROGRESS_FN),
                ("progress_ctx", c_void_p)]


HASH_OPTIONS_VERSION = 1

_decl("cairn_hash_fd", c_int, POINTER(POINTER(FileChunks)), c_int, POINTER(HashOptions))
_decl("cairn_hash_buffer", c_int, POINTER(POINTER(FileChunks)), c_void_p, c_size_t,
      POINTER(HashOptions))
_decl("cairn_file_chunks_free", None, POINTER(FileChunks))
_decl("cairn_hash_to_hex", None, c_void_p, POINTER(HashS))

# ---- include/cairn/sync.h ----------------------------------------------------------------------


class SyncItem(Structure):
    _fields_ = [("kind", c_int), ("path", c_char_p), ("size", c_uint64), ("mtime_ns", c_int64),
                ("hash", c_char * 65), ("reason", c_char_p)]


SYNC_KINDS = ("upload", "download", "delete", "skip")  # cairn_sync_kind


class SyncOptions(Structure):
    _fields_ = [("version", c_uint), ("checksum", c_bool), ("ignore_times", c_bool),
                ("ignore_sizes", c_bool), ("existing", c_bool), ("ignore_existing", c_bool),
                ("delete_extra", c_bool), ("filter", c_void_p), ("threads", c_uint)]


SYNC_OPTIONS_VERSION = 1


class SyncPlanS(Structure):
    _fields_ = [("source", c_char_p), ("destination", c_char_p), ("created_ns", c_int64),
                ("opts", SyncOptions), ("filters", c_char_p), ("items", POINTER(SyncItem)),
                ("n", c_size_t), ("errors", POINTER(c_char_p)), ("nerrors", c_size_t),
                ("warnings", POINTER(c_char_p)), ("nwarnings", c_size_t)]


class SyncProgressS(Structure):
    _fields_ = [("phase", c_char_p), ("files_done", c_uint64), ("files_total", c_uint64),
                ("bytes_done", c_uint64), ("bytes_total", c_uint64), ("bytes_saved", c_uint64),
                ("wire", c_uint64)]


SYNC_PROGRESS_FN = CFUNCTYPE(None, c_void_p, POINTER(SyncProgressS))


class SyncApplyOptions(Structure):
    _fields_ = [("version", c_uint), ("jobs", c_uint), ("verify_sources", c_bool),
                ("progress", SYNC_PROGRESS_FN), ("progress_ctx", c_void_p)]


SYNC_APPLY_OPTIONS_VERSION = 1


class SyncSummaryS(Structure):
    _fields_ = [("uploaded", c_uint64), ("downloaded", c_uint64), ("deleted", c_uint64),
                ("skipped", c_uint64), ("failed", c_uint64), ("bytes", c_uint64),
                ("bytes_sent", c_uint64), ("bytes_received", c_uint64),
                ("bytes_saved", c_uint64), ("failures", POINTER(c_char_p)),
                ("nfailures", c_size_t)]


_filter = c_void_p
_plan_p = POINTER(SyncPlanS)
_decl("cairn_filter_new", c_int, POINTER(_filter))
_decl("cairn_filter_free", None, _filter)
_decl("cairn_filter_add", c_int, _filter, c_bool, _S)
_decl("cairn_filter_load", c_int, _filter, _S)
_decl("cairn_filter_selects", c_bool, _filter, _S)
_decl("cairn_filter_count", c_size_t, _filter)
_decl("cairn_sync_plan_make", c_int, _client, _S, _S, POINTER(SyncOptions), POINTER(_plan_p))
_decl("cairn_sync_plan_write", c_int, _plan_p, c_void_p)
_decl("cairn_sync_plan_read", c_int, POINTER(_plan_p), c_void_p)
_decl("cairn_sync_plan_free", None, _plan_p)
_decl("cairn_sync_plan_counts", None, _plan_p, POINTER(c_size_t), POINTER(c_uint64))
_decl("cairn_sync_apply", c_int, _client, _plan_p, POINTER(SyncApplyOptions),
      POINTER(SyncSummaryS))
_decl("cairn_sync_summary_free", None, POINTER(SyncSummaryS))

# stdio, for the plan reader and writer (FILE *)
libc = ctypes.CDLL(None, use_errno=True)
libc.fopen.restype = c_void_p
libc.fopen.argtypes = [c_char_p, c_char_p]
libc.fclose.restype = c_int
libc.fclose.argtypes = [c_void_p]

# ---- calling ------------------------------------------------------------------------------------


def enc(s):
    """str (or None) as the bytes the library takes: UTF-8, with the
    undecodable bytes of os.fsdecode'd names given back (surrogateescape)."""
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    return s.encode("utf-8", "surrogateescape")


def dec(b):
    """Bytes from the library as str (invalid UTF-8 kept as surrogates)."""
    if b is None:
        return None
    return b.decode("utf-8", "surrogateescape")


def last_message(rc):
    """This thread's error message for code rc (its name if there is none)."""
    msg = lib.cairn_error_last()
    if not msg:
        msg = lib.cairn_error_name(rc)
    return dec(msg)


def call(func, *args):
    """Call func(*args); return (rc, message), the message read on this thread."""
    rc = func(*args)
    return rc, (last_message(rc) if rc < 0 else "")


def check(func, *args):
    """Call func(*args) and raise the exception of its error code, if any."""
    rc, msg = call(func, *args)
    if rc < 0:
        raise errors.from_code(rc, msg)
    return rc


def _wait(done):
    """Wait until the worker released lock done, in short waits (a
    KeyboardInterrupt arrives between them)."""
    while not done.acquire(timeout=0.1):
        pass


def run_cancellable(handle, work):
    """Run work() (which calls into the library with client handle and
    returns what the caller wants) so that Ctrl-C stops it.

    In the main thread, work runs on a worker thread while the main thread
    waits in short waits: a KeyboardInterrupt there asks the library to stop
    (cairn_client_cancel(handle, true), which reaches the clones the call
    made), waits for work to return, clears the flag, and is re-raised.
    Elsewhere work runs right here (signals only reach the main thread).

    The wait is on a lock the worker releases, not on Thread.join: in
    Python 3.11 a join interrupted by KeyboardInterrupt marks a thread that
    is still running as stopped, and the handle would be reused under it."""
    if threading.current_thread() is not threading.main_thread():
        return work()
    box = {}
    done = threading.Lock()
    done.acquire()

    def target():
        try:
            box["value"] = work()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e
        finally:
            done.release()

    t = threading.Thread(target=target, name="cairn-call", daemon=True)
    try:
        t.start()
        _wait(done)
    except KeyboardInterrupt:
        lib.cairn_client_cancel(handle, True)
        try:
            while True:
                try:
                    _wait(done)
                    break
                except KeyboardInterrupt:
                    continue  # a second Ctrl-C: still wait for the library
        finally:
            lib.cairn_client_cancel(handle, False)
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]


def version():
    """The library's version string."""
    return dec(lib.cairn_version())
