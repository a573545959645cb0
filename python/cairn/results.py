"""results.py - the small typed objects Client methods return: plain frozen
dataclasses, one per kind of answer, with the fields the CLI prints with
--json (same names), so scripts can move between the two.
"""

from __future__ import annotations  # the annotations stay text: no typing import

import datetime
from dataclasses import dataclass, field

SCHEME = "cairn://buckets/"

__all__ = [
    "WhoAmI", "LoginResult", "Bucket", "BucketCreated", "TreeEntry", "UploadResult",
    "DownloadResult", "CopyResult", "DeleteResult", "FileHash", "TransferProgress",
    "SyncProgress", "SyncOperation", "SyncTotals", "SyncSummary", "PrewarmJob",
]


def _utc(ns):
    return datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.timezone.utc)


@dataclass(frozen=True)
class WhoAmI:
    """Whom the client's token belongs to (``cairn whoami``).

    user: the user name (also their namespace); scope: "read", "write" or
    "admin"; endpoint: the server asked."""
    user: str
    scope: str
    endpoint: str


@dataclass(frozen=True)
class LoginResult:
    """What ``Client.login`` checked and saved (``cairn login --json``).

    config is the path of the config file written."""
    endpoint: str
    user: str
    scope: str
    config: str


@dataclass(frozen=True)
class Bucket:
    """A bucket (``cairn buckets list`` / ``info --json``).

    The statistics (objects, logical_bytes, dedup_bytes, stored_bytes, chunks,
    xorbs) are filled by Client.bucket_info only; list_buckets leaves them
    None. logical_bytes: the objects' sizes; dedup_bytes: the distinct chunks
    they use, decoded; stored_bytes: those chunks as stored (compressed)."""
    namespace: str
    name: str
    private: bool
    created_ns: int
    objects: int | None = None
    logical_bytes: int | None = None
    stored_bytes: int | None = None
    chunks: int | None = None
    xorbs: int | None = None
    regions: tuple = ()  # the regions kept warm (``settings --regions``)
    dedup_bytes: int | None = None

    @property
    def id(self):
        """"NS/NAME"."""
        return "%s/%s" % (self.namespace, self.name)

    @property
    def uri(self):
        """"cairn://buckets/NS/NAME"."""
        return SCHEME + self.id

    @property
    def created(self):
        """The creation time as an aware UTC datetime."""
        return _utc(self.created_ns)


@dataclass(frozen=True)
class BucketCreated:
    """What ``Client.create_bucket`` did: created is False when the bucket
    existed already and exist_ok was given."""
    namespace: str
    name: str
    created: bool

    @property
    def uri(self):
        """"cairn://buckets/NS/NAME"."""
        return "%s%s/%s" % (SCHEME, self.namespace, self.name)


@dataclass(frozen=True)
class TreeEntry:
    """One entry of ``Client.list_bucket_tree`` (``cairn buckets ls --json``).

    path is the object's key from the bucket's root (a folder's without its
    trailing '/'); type is "file" or "directory". size, hash (64 hex digits,
    the xet file hash) and mtime_ns are those of files; folders have 0, ""
    and 0."""
    type: str
    path: str
    size: int = 0
    hash: str = ""
    mtime_ns: int = 0

    @property
    def is_dir(self):
        """True for a folder (a common prefix of keys)."""
        return self.type == "directory"

    @property
    def mtime(self):
        """The modification time as an aware UTC datetime (files)."""
        return _utc(self.mtime_ns)


@dataclass(frozen=True)
class UploadResult:
    """What an upload did (``cairn buckets cp FILE cairn://... --json``).

    bucket is "NS/NAME", path the object's key; hash and size are the
    object's; chunks how many it has; new_chunks / new_bytes the chunks (and
    their raw bytes) that had to be stored; stored_bytes what the store grew
    by; bytes_sent every request body that went on the wire (dedup queries,
    xorbs, the commit; retries counted); xorbs how many were sent."""
    bucket: str
    path: str
    hash: str
    size: int
    new_bytes: int
    stored_bytes: int
    chunks: int
    new_chunks: int
    bytes_sent: int
    xorbs: int


@dataclass(frozen=True)
class DownloadResult:
    """What a download did (``cairn buckets cp cairn://... FILE --json``).

    path is the local file written (None when the destination was a file
    object or standard output); hash is the object's file hash, checked
    against the bytes received (None for a streamed download to a file
    object, which the server checks chunk by chunk instead);
    bytes_received the xorb bytes fetched."""
    path: str | None
    size: int
    hash: str | None
    bytes_received: int


@dataclass(frozen=True)
class CopyResult:
    """A copy on the server (``cairn buckets cp cairn://... cairn://... --json``):
    the destination's key (path), hash and size, and where it came from."""
    path: str
    hash: str
    size: int
    src_bucket: str
    src_path: str
    bytes_sent: int = 0


@dataclass(frozen=True)
class DeleteResult:
    """What ``Client.delete_files`` deleted (or, with dry_run, would delete).

    bucket is "NS/NAME"; paths the keys, in key order. Iterable and sized
    like the tuple of paths."""
    bucket: str
    paths: tuple[str, ...]
    dry_run: bool = False

    def __iter__(self):
        return iter(self.paths)

    def __len__(self):
        return len(self.paths)


@dataclass(frozen=True)
class FileHash:
    """The xet file hash and size of a local file (``cairn hash --json``):
    the same hash the server lists for the object and the Hugging Face Hub
    computes."""
    path: str | None
    hash: str
    size: int


@dataclass(frozen=True)
class TransferProgress:
    """Where an upload, download or hash stands, as given to a progress callback.

    phase: "hashing", "uploading" or "downloading"; done: bytes of the file
    handled in this phase (uploading: deduplicated ones included); total:
    the file's size; deduped: uploading, bytes the server had already and
    were not sent; wire: bytes on the wire so far."""
    phase: str
    done: int
    total: int
    deduped: int = 0
    wire: int = 0


@dataclass(frozen=True)
class SyncProgress:
    """Where applying a sync plan stands, as given to a progress callback.

    phase: "hashing", "uploading", "downloading" or "deleting"; files and
    bytes done of their totals; bytes_saved: uploads, bytes the server had
    already; wire: bytes sent or received so far."""
    phase: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    bytes_saved: int
    wire: int


@dataclass(frozen=True)
class SyncOperation:
    """One decision of a sync plan (one line of a plan file).

    kind: "upload", "download", "delete" or "skip"; path: relative to both
    roots, '/'-separated; size and mtime_ns: the source file's (delete: the
    destination file's); hash: its xet file hash when known, else "";
    reason: why, in a few words."""
    kind: str
    path: str
    size: int
    mtime_ns: int
    hash: str
    reason: str


@dataclass(frozen=True)
class SyncTotals:
    """Counts and bytes per kind of operation in a sync plan."""
    upload: int = 0
    download: int = 0
    delete: int = 0
    skip: int = 0
    upload_bytes: int = 0
    download_bytes: int = 0
    delete_bytes: int = 0
    skip_bytes: int = 0


@dataclass(frozen=True)
class SyncSummary:
    """What applying a sync plan did (``cairn buckets sync --json``).

    Files uploaded, downloaded, deleted, skipped and failed; bytes of the
    files transferred; bytes_sent (request bodies), bytes_received (object
    and xorb bytes), bytes_saved (uploads: what the server had already);
    failures: one "PATH: why" line per failed file."""
    uploaded: int
    downloaded: int
    deleted: int
    skipped: int
    failed: int
    bytes: int
    bytes_sent: int
    bytes_received: int
    bytes_saved: int
    failures: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class PrewarmJob:
    """A pre-warm job as its region's cache node reports it (``cairn buckets
    prewarm ... --json``). state is "queued", "running", "waiting" (the
    origin cannot be reached: message says why; the job goes on when it
    can), "done", "failed" or "released". files and xorbs count what the
    job stages, the *_done fields what is staged; bytes are stored bytes,
    logical_bytes the files' sizes; bytes_per_second is bytes_done over the
    time the job has run."""
    job: str
    region: str
    bucket: str
    prefix: str
    state: str
    message: str
    files: int
    files_done: int
    xorbs: int
    xorbs_done: int
    bytes: int
    bytes_done: int
    logical_bytes: int
    bytes_per_second: float

    @property
    def finished(self):
        """True once the job will change no more (done, failed or released)."""
        return self.state in ("done", "failed", "released")
