"""errors.py - the exceptions of the cairn package: one class per error code
of libcairn (include/cairn/errors.h), all subclasses of CairnError.

This is the package's one table from codes to the outside (the CLI has its
exit codes, the server its HTTP statuses). Each class also derives from the
built-in exception a Python programmer would reach for, so
`except FileNotFoundError` catches cairn.NotFound and
`except PermissionError` catches AuthError and PermissionDenied.

The message is the library's, which for a refused request is the server's own.
"""

__all__ = [
    "CairnError", "OutOfMemory", "InvalidArgument", "NotFound", "AlreadyExists", "TooBig",
    "Corrupt", "IOFailure", "AuthError", "PermissionDenied", "Unsupported", "Canceled",
    "SyncFailed", "from_code",
]


class CairnError(Exception):
    """Base of every error the cairn package raises for the library or the server.

    Attributes: ``code`` (the library's negative CAIRN_E* code), ``name``
    (its symbolic name, e.g. "CAIRN_ENOTFOUND") and ``message`` (the
    library's message; for a refused request, the server's)."""

    code = -1
    name = "CAIRN_ERROR"

    def __init__(self, message=""):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class OutOfMemory(CairnError, MemoryError):
    """CAIRN_ENOMEM: an allocation in the library failed."""
    code, name = -2, "CAIRN_ENOMEM"


class InvalidArgument(CairnError, ValueError):
    """CAIRN_EINVALID: a malformed argument (a bad name, path, option or plan),
    or a request the server refused as such (HTTP 400)."""
    code, name = -3, "CAIRN_EINVALID"


class NotFound(CairnError, FileNotFoundError):
    """CAIRN_ENOTFOUND: no such bucket or object (a private bucket of someone
    else is not found either); HTTP 404."""
    code, name = -4, "CAIRN_ENOTFOUND"


class AlreadyExists(CairnError, FileExistsError):
    """CAIRN_EEXISTS: the thing exists already (a bucket), a bucket is not
    empty, or a sync plan's sources changed since it was made; HTTP 409."""
    code, name = -5, "CAIRN_EEXISTS"


class TooBig(CairnError):
    """CAIRN_ETOOBIG: a size over a ceiling (an answer, a commit); HTTP 413."""
    code, name = -6, "CAIRN_ETOOBIG"


class Corrupt(CairnError):
    """CAIRN_ECORRUPT: data failed verification (a download whose bytes do not
    hash to the object's file hash)."""
    code, name = -7, "CAIRN_ECORRUPT"


class IOFailure(CairnError, OSError):
    """CAIRN_EIO: the network (server unreachable, connection lost, a server
    error) or the local disk failed, or a file changed while it was read."""
    code, name = -8, "CAIRN_EIO"


class AuthError(CairnError, PermissionError):
    """CAIRN_EAUTH: no token, or an unknown or revoked one; HTTP 401."""
    code, name = -9, "CAIRN_EAUTH"


class PermissionDenied(CairnError, PermissionError):
    """CAIRN_EPERM: a valid token without the right (read-only token, someone
    else's namespace); HTTP 403."""
    code, name = -10, "CAIRN_EPERM"


class Unsupported(CairnError):
    """CAIRN_EUNSUPPORTED: not available on this build, machine or server."""
    code, name = -11, "CAIRN_EUNSUPPORTED"


class Canceled(CairnError):
    """CAIRN_ECANCELED: the call was stopped on request (cairn_client_cancel).
    Ctrl-C during a call raises KeyboardInterrupt instead; Canceled is what a
    call stopped from another thread (Client.cancel) raises."""
    code, name = -12, "CAIRN_ECANCELED"


class SyncFailed(CairnError):
    """A sync ran to its end but some files failed (the CLI's exit status 1).

    ``plan`` is the SyncPlan that was applied, ``summary`` its SyncSummary,
    ``failures`` the "PATH: why" lines (also in summary.failures)."""

    def __init__(self, message, plan=None, summary=None):
        super().__init__(message)
        self.plan = plan
        self.summary = summary
        self.failures = summary.failures if summary is not None else ()


_BY_CODE = {cls.code: cls for cls in (CairnError, OutOfMemory, InvalidArgument, NotFound,
                                      AlreadyExists, TooBig, Corrupt, IOFailure, AuthError,
                                      PermissionDenied, Unsupported, Canceled)}


def from_code(code, message):
    """The exception for library error code ``code`` carrying ``message``."""
    cls = _BY_CODE.get(code, CairnError)
    e = cls(message)
    if cls is CairnError:
        e.code = code
    return e
