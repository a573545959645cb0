"""Client construction, endpoint / token resolution (the CLI's order), login,
whoami, and the error table."""

import os
import stat

import pytest

import cairn
from cairn import _config, errors


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A scratch HOME for one test, no CAIRN_* variables."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for k in ("XDG_CONFIG_HOME", "CAIRN_ENDPOINT", "CAIRN_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    return monkeypatch


def test_default_endpoint_and_anonymous(env):
    c = cairn.Client()
    assert c.endpoint == "http://127.0.0.1:8700"
    assert c._token is None
    assert "token" not in repr(c)


def test_endpoint_trailing_slash_dropped(env):
    assert cairn.Client("http://127.0.0.1:9/").endpoint == "http://127.0.0.1:9"


def test_resolution_order(env, tmp_path):
    cfg = tmp_path / ".config" / "cairn"
    cfg.mkdir(parents=True)
    (cfg / "config").write_text("# comment\n endpoint = http://cfg:1 \ntoken=cfgtok\nbogus\n")
    assert _config.resolve() == ("http://cfg:1", "cfgtok")
    env.setenv("CAIRN_ENDPOINT", "http://env:2")
    env.setenv("CAIRN_TOKEN", "envtok")
    assert _config.resolve() == ("http://env:2", "envtok")
    assert _config.resolve("http://arg:3", "argtok") == ("http://arg:3", "argtok")
    # empty strings count as unset, as on the command line
    assert _config.resolve("", "") == ("http://env:2", "envtok")
    c = cairn.Client()
    assert c.endpoint == "http://env:2" and c._token == "envtok"


def test_xdg_config_home(env, tmp_path):
    x = tmp_path / "xdg"
    (x / "cairn").mkdir(parents=True)
    (x / "cairn" / "config").write_text("endpoint = http://xdg:4\n")
    env.setenv("XDG_CONFIG_HOME", str(x))
    assert _config.resolve()[0] == "http://xdg:4"
    # a relative XDG_CONFIG_HOME is ignored, as the CLI ignores it
    env.setenv("XDG_CONFIG_HOME", "relative")
    assert _config.resolve()[0] == "http://127.0.0.1:8700"


def test_bad_endpoint_and_token(env):
    with pytest.raises(cairn.InvalidArgument, match="must start with http"):
        cairn.Client("ftp://x")
    with pytest.raises(cairn.InvalidArgument, match="malformed token"):
        cairn.Client("http://127.0.0.1:9", "a\nb")
    with pytest.raises(ValueError):  # InvalidArgument is a ValueError too
        cairn.Client("nope")


def test_unreachable_server(env):
    with pytest.raises(cairn.IOFailure, match="cannot reach"):
        cairn.Client("http://127.0.0.1:1").whoami()


def test_whoami(admin, server, users):
    me = admin.whoami()
    assert me == cairn.WhoAmI("admin", "admin", server.url)
    assert cairn.Client(server.url, users["alice-read"]).whoami().scope == "read"
    with pytest.raises(cairn.AuthError):
        cairn.Client(server.url).whoami()
    with pytest.raises(cairn.AuthError) as ei:
        cairn.Client(server.url, "cairn_" + "0" * 64).whoami()
    assert isinstance(ei.value, PermissionError)
    assert ei.value.message and ei.value.code == -9


def test_login_writes_config(env, server, users, tmp_path):
    c = cairn.Client(server.url, users["alice"])
    res = c.login()
    path = tmp_path / ".config" / "cairn" / "config"
    assert res == cairn.LoginResult(server.url, "alice", "write", str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    text = path.read_text()
    assert "endpoint = %s\n" % server.url in text
    assert "token = %s\n" % users["alice"] in text
    # a client made afterwards with no arguments uses the saved pair
    assert cairn.Client().whoami().user == "alice"
    # the CLI reads what Python wrote
    import subprocess
    out = subprocess.run([server.cli, "whoami", "--json"], capture_output=True, text=True)
    assert out.returncode == 0 and '"user":"alice"' in out.stdout


def test_login_switches_client(env, server, users):
    c = cairn.Client(server.url, users["alice"])
    c.login(token=users["bob"])
    assert c.whoami().user == "bob"


def test_login_refusals(env, server, tmp_path):
    cfg = tmp_path / ".config" / "cairn" / "config"
    with pytest.raises(cairn.InvalidArgument, match="needs a token"):
        cairn.Client(server.url).login()
    with pytest.raises(cairn.AuthError):
        cairn.Client(server.url).login(token="cairn_" + "1" * 64)
    assert not cfg.exists()  # nothing written for a refused token
    with pytest.raises(cairn.InvalidArgument, match="malformed"):
        cairn.Client(server.url, "tok").login(endpoint="http://x\n")


def test_login_no_home(env, server):
    env.delenv("HOME")
    with pytest.raises(cairn.InvalidArgument, match="nowhere to write"):
        cairn.Client(server.url, server.token).login()


def test_error_table():
    cases = {-1: cairn.CairnError, -2: cairn.OutOfMemory, -3: cairn.InvalidArgument,
             -4: cairn.NotFound, -5: cairn.AlreadyExists, -6: cairn.TooBig, -7: cairn.Corrupt,
             -8: cairn.IOFailure, -9: cairn.AuthError, -10: cairn.PermissionDenied,
             -11: cairn.Unsupported, -12: cairn.Canceled}
    for code, cls in cases.items():
        e = errors.from_code(code, "msg %d" % code)
        assert type(e) is cls and isinstance(e, cairn.CairnError)
        assert e.code == code and str(e) == "msg %d" % code and e.message == str(e)
        # the names are the library's own
        assert e.name == cairn._lib.lib.cairn_error_name(code).decode()
    assert isinstance(errors.from_code(-4, ""), FileNotFoundError)
    assert isinstance(errors.from_code(-5, ""), FileExistsError)
    assert isinstance(errors.from_code(-10, ""), PermissionError)
    assert isinstance(errors.from_code(-3, ""), ValueError)
    assert isinstance(errors.from_code(-8, ""), OSError)
    assert errors.from_code(-99, "x").code == -99
    assert issubclass(cairn.SyncFailed, cairn.CairnError)


def test_versions():
    assert cairn.library_version() == cairn.__version__
    assert os.path.exists(cairn.library_path())


def test_context_manager_and_close(server):
    with cairn.Client(server.url, server.token) as c:
        assert c.whoami().user == "admin"
    with pytest.raises(cairn.InvalidArgument, match="closed"):
        c.whoami()
    c.close()  # twice is fine


def test_docstrings_everywhere():
    """Every public name of the package has a docstring."""
    import inspect
    import cairn.cli_map
    import cairn.fs  # noqa: F401  (fsspec is installed for the tests)
    mods = [cairn, cairn.client, cairn.errors, cairn.results, cairn.sync, cairn.fs,
            cairn.cli_map]
    missing = []
    for m in mods:
        if not (m.__doc__ or "").strip():
            missing.append(m.__name__)
        for name in getattr(m, "__all__", []):
            obj = getattr(m, name)
            if not (inspect.getdoc(obj) or "").strip():
                missing.append("%s.%s" % (m.__name__, name))
            if inspect.isclass(obj):
                for an, a in vars(obj).items():
                    if an.startswith("_") or not callable(a) and not isinstance(a, property):
                        continue
                    if not (inspect.getdoc(a) or "").strip():
                        missing.append("%s.%s.%s" % (m.__name__, name, an))
    assert missing == []
