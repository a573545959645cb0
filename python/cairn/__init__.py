"""cairn - Python access to Cairn storage buckets (self-hosted, with xet-style
deduplication), as a thin ctypes layer over libcairn: as fast as the
`cairn` command line, which it mirrors verb for verb.

    import cairn
    client = cairn.Client()   # endpoint and token as the CLI finds them
    client.create_bucket("run1", exist_ok=True)
    client.upload_file("model.safetensors", "cairn://buckets/me/run1/ckpt/")
    client.sync_bucket("ckpt/", "cairn://buckets/me/run1/ckpt")

Standard library only. The library is found through $CAIRN_LIB, a copy in
the package, a build tree next to the sources, or the system (see
cairn._lib). With fsspec installed, "cairn://buckets/NS/NAME/PATH" URLs
open through fsspec (cairn.fs.CairnFileSystem), so pandas and similar
libraries read and write bucket files directly. docs/python.md has the
whole story.
"""

import sys

from ._version import __version__
from . import _lib
from .errors import (AlreadyExists, AuthError, CairnError, Canceled, Corrupt, InvalidArgument,
                     IOFailure, NotFound, OutOfMemory, PermissionDenied, SyncFailed, TooBig,
                     Unsupported)
from .results import (Bucket, BucketCreated, CopyResult, DeleteResult, DownloadResult, FileHash,
                      LoginResult, PrewarmJob, SyncOperation, SyncProgress, SyncSummary,
                      SyncTotals, TransferProgress, TreeEntry, UploadResult, WhoAmI)
from .client import Client, hash_file
from .sync import SyncPlan

__all__ = [
    "__version__", "Client", "hash_file", "SyncPlan", "library_version", "library_path",
    "CairnError", "OutOfMemory", "InvalidArgument", "NotFound", "AlreadyExists", "TooBig",
    "Corrupt", "IOFailure", "AuthError", "PermissionDenied", "Unsupported", "Canceled",
    "SyncFailed",
    "WhoAmI", "LoginResult", "Bucket", "BucketCreated", "TreeEntry", "UploadResult",
    "DownloadResult", "CopyResult", "DeleteResult", "FileHash", "TransferProgress",
    "SyncProgress", "SyncOperation", "SyncTotals", "SyncSummary", "PrewarmJob",
]


def library_version():
    """The version of the libcairn in use (cairn_version())."""
    return _lib.version()


def library_path():
    """The path libcairn was loaded from."""
    return _lib.path


def _register_fsspec(fsspec):
    """Make "cairn://" URLs open through fsspec (cairn.fs.CairnFileSystem)."""
    try:
        fsspec.register_implementation("cairn", "cairn.fs.CairnFileSystem", clobber=True)
    except Exception:
        pass


class _FsspecHook:
    """Registers the protocol when fsspec gets imported, so that importing
    cairn does not import fsspec (30 ms) for programs that never use it.
    (An installed package also declares the protocol as an fsspec.specs
    entry point; this covers a build tree on PYTHONPATH.) It stays in
    sys.meta_path until fsspec was actually loaded (a mere probe with
    importlib.util.find_spec loads nothing and changes nothing)."""

    busy = False

    def find_spec(self, name, path=None, target=None):
        if name != "fsspec" or self.busy:
            return None
        import importlib.util
        self.busy = True
        try:
            spec = importlib.util.find_spec(name)  # what the other finders say
        finally:
            self.busy = False
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        hook, run = self, loader.exec_module

        def exec_module(module):  # on this spec's own loader object only
            run(module)
            sys.meta_path[:] = [f for f in sys.meta_path if f is not hook]
            _register_fsspec(module)

        loader.exec_module = exec_module
        return spec


if "fsspec" in sys.modules:
    _register_fsspec(sys.modules["fsspec"])
else:
    sys.meta_path.insert(0, _FsspecHook())
