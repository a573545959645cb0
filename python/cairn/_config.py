"""_config.py - what the CLI's cli_client_open and `cairn login` decide,
done the same way in Python: where the config file is, reading and writing
it, choosing the endpoint and token; and the CLI's parse_remote for bucket
paths ("cairn://buckets/NS/NAME[/PATH]" or, where allowed, "NS/NAME[/PATH]").

Config file: $XDG_CONFIG_HOME/cairn/config (XDG_CONFIG_HOME must be an
absolute path), else $HOME/.config/cairn/config; "key = value" lines
(endpoint, token), '#' comments. It holds a secret: written 0600 in 0700
directories, through a temporary file, fsynced and renamed.
"""

import os
from dataclasses import dataclass

from . import _lib
from .errors import InvalidArgument

SCHEME = "cairn://buckets/"
VALUE_MAX = 1024


def config_dir():
    """The config directory, or None when neither variable is set."""
    x, h = os.environ.get("XDG_CONFIG_HOME"), os.environ.get("HOME")
    if x and x.startswith("/"):
        return os.path.join(x, "cairn")
    if h:
        return os.path.join(h, ".config", "cairn")
    return None


def config_path():
    """The config file's path, or None."""
    d = config_dir()
    return os.path.join(d, "config") if d else None


def read_config():
    """(endpoint, token) from the config file; "" for what it lacks."""
    endpoint = token = ""
    path = config_path()
    if path is None:
        return endpoint, token
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return endpoint, token
    for raw in lines:
        line = raw.decode("utf-8", "surrogateescape").strip(" \t\r\n")
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        k, v = k.strip(" \t"), v.strip(" \t\r\n")
        if len(_lib.enc(v)) >= VALUE_MAX:
            continue
        if k == "endpoint":
            endpoint = v
        elif k == "token":
            token = v
    return endpoint, token


def resolve(endpoint=None, token=None):
    """The endpoint and token a client uses, in the CLI's order: the
    arguments, then $CAIRN_ENDPOINT / $CAIRN_TOKEN, then the config file,
    then the default endpoint (and no token). Empty strings count as unset."""
    cfg_endpoint, cfg_token = read_config()
    if not endpoint:
        endpoint = os.environ.get("CAIRN_ENDPOINT") or cfg_endpoint or _lib.DEFAULT_ENDPOINT
    if not token:
        token = os.environ.get("CAIRN_TOKEN") or cfg_token or None
    return endpoint, token


def write_config(endpoint, token):
    """Write the config file as `cairn login` does; return its path.
    Raises InvalidArgument when there is nowhere to write it, OSError when
    writing fails."""
    d = config_dir()
    if d is None:
        raise InvalidArgument("neither HOME nor XDG_CONFIG_HOME is set: nowhere to write "
                              "the config")
    os.makedirs(d, mode=0o700, exist_ok=True)
    path = os.path.join(d, "config")
    tmp = os.path.join(d, ".config.%d.tmp" % os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        body = "# written by `cairn login`\nendpoint = %s\ntoken = %s\n" % (endpoint, token)
        os.write(fd, _lib.enc(body))
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


# ---- bucket paths ------------------------------------------------------------------------------


@dataclass
class Remote:
    """A parsed bucket path: namespace, bucket name, key (no leading or
    trailing '/'), and whether the path named a folder (ended in '/' or had
    no key)."""
    ns: str
    name: str
    key: str
    dir: bool

    @property
    def bucket(self):
        return "%s/%s" % (self.ns, self.name)

    def uri(self, key=None):
        return "%s%s/%s/%s" % (SCHEME, self.ns, self.name, self.key if key is None else key)


def _part_ok(s):
    n = len(_lib.enc(s))
    return 0 < n <= _lib.NAME_MAX


def parse_remote(s, bare_ok, name_only=False):
    """"cairn://buckets/NS/NAME[/PATH]" or, with bare_ok, "NS/NAME[/PATH]"
    as a Remote; with name_only, "NAME" alone too (ns ""). None if s is
    neither (the CLI's parse_remote)."""
    if not isinstance(s, str):
        return None
    if s.startswith(SCHEME):
        p = s[len(SCHEME):]
    elif not bare_ok or "://" in s:
        return None
    else:
        p = s
    if "/" not in p:
        if not name_only or not _part_ok(p):
            return None
        return Remote("", p, "", True)
    ns, rest = p.split("/", 1)
    if not _part_ok(ns):
        return None
    name, _, rest = rest.partition("/")
    if not _part_ok(name):
        return None
    is_dir = rest == "" or rest.endswith("/")
    key = rest.rstrip("/")
    if len(_lib.enc(key)) > _lib.KEY_MAX:
        return None
    return Remote(ns, name, key, is_dir)


def remote_arg(s, want, bare_ok=True, name_only=False):
    """parse_remote, raising InvalidArgument("'s' is not WANT") when it fails."""
    r = parse_remote(s, bare_ok, name_only)
    if r is None:
        raise InvalidArgument("'%s' is not %s" % (s, want))
    return r
