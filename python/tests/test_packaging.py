"""Packaging: `pip install ./python` offline (build isolation on, the in-tree
backend), the wheel's contents (bundled library, RECORD, entry point), the
editable and sdist builds, `make install`'s way (cairn_build.py install), and
the loader's search order, each checked in a fresh interpreter with a clean
environment."""

import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import zipfile

from conftest import PYROOT

sys.path.insert(0, os.path.join(PYROOT, "_build"))
import cairn_build  # noqa: E402

import cairn  # noqa: E402

LIB = os.path.realpath(cairn.library_path())


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("CAIRN_LIB", "PYTHONPATH", "CAIRN_ENDPOINT", "CAIRN_TOKEN")}
    env.update(extra)
    return env


def py(code, **env):
    """Run code in a fresh interpreter; its stdout, stripped."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=clean_env(**env), cwd="/")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def check_record(z):
    names = set(z.namelist())
    record = [n for n in names if n.endswith(".dist-info/RECORD")][0]
    rows = list(csv.reader(io.StringIO(z.read(record).decode())))
    listed = {r[0] for r in rows}
    assert listed == names
    for name, digest, size in rows:
        if name == record:
            continue
        data = z.read(name)
        want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == "sha256=" + want and int(size) == len(data)


def test_pip_install_offline(tmp_path, server):
    target = str(tmp_path / "site")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", "--no-cache-dir", "--target", target,
                          PYROOT], capture_output=True, text=True, timeout=240,
                         env=clean_env(CAIRN_LIB=LIB), cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert os.path.exists(os.path.join(target, "cairn", "libcairn.so.0"))
    assert not os.path.exists(os.path.join(PYROOT, "build"))  # nothing written in the tree
    # no CAIRN_LIB: the bundled copy is used
    got = py("import cairn; print(cairn.library_path()); "
             "print(cairn.Client(%r, %r).whoami().user)" % (server.url, server.token),
             PYTHONPATH=target)
    assert got.splitlines() == [os.path.join(target, "cairn", "libcairn.so.0"), "admin"]
    # fsspec finds the filesystem through the entry point, before cairn is imported
    if _has("fsspec"):
        assert py("import fsspec; print(fsspec.get_filesystem_class('cairn').__module__)",
                  PYTHONPATH=target) == "cairn.fs"


def _has(mod):
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def test_wheel_contents(tmp_path, monkeypatch):
    monkeypatch.setenv("CAIRN_LIB", LIB)
    name = cairn_build.build_wheel(str(tmp_path))
    assert name == "cairn-%s-py3-none-%s.whl" % (cairn.__version__, cairn_build._platform_tag())
    with zipfile.ZipFile(tmp_path / name) as z:
        names = set(z.namelist())
        assert {"cairn/__init__.py", "cairn/client.py", "cairn/fs.py", "cairn/libcairn.so.0",
                "cairn-%s.dist-info/METADATA" % cairn.__version__} <= names
        assert not any("test" in n or "__pycache__" in n for n in names)
        assert z.read("cairn/libcairn.so.0") == open(LIB, "rb").read()
        eps = z.read("cairn-%s.dist-info/entry_points.txt" % cairn.__version__).decode()
        assert "[fsspec.specs]\ncairn = cairn.fs:CairnFileSystem" in eps
        wheel = z.read("cairn-%s.dist-info/WHEEL" % cairn.__version__).decode()
        assert "Root-Is-Purelib: false" in wheel
        check_record(z)
    # without the library: a pure-Python wheel
    name = cairn_build.build_wheel(str(tmp_path), config_settings={"bundle": "no"})
    assert name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(tmp_path / name) as z:
        assert "cairn/libcairn.so.0" not in z.namelist()
        check_record(z)
    meta = tmp_path / "meta"
    meta.mkdir()
    di = cairn_build.prepare_metadata_for_build_wheel(str(meta))
    assert "Name: cairn" in (meta / di / "METADATA").read_text()
    assert cairn_build.get_requires_for_build_wheel() == []


def test_editable_and_sdist(tmp_path):
    name = cairn_build.build_editable(str(tmp_path))
    with zipfile.ZipFile(tmp_path / name) as z:
        pth = [n for n in z.namelist() if n.endswith(".pth")]
        assert len(pth) == 1 and z.read(pth[0]).decode().strip() == PYROOT
        check_record(z)
    import tarfile
    sd = cairn_build.build_sdist(str(tmp_path))
    with tarfile.open(tmp_path / sd) as t:
        names = t.getnames()
    base = "cairn-%s/" % cairn.__version__
    assert {base + "pyproject.toml", base + "_build/cairn_build.py", base + "PKG-INFO",
            base + "cairn/client.py"} <= set(names)


def test_make_install_way(tmp_path, server):
    root = str(tmp_path / "stage")
    dest = cairn_build.install("/usr", root=root, libdir=os.path.dirname(LIB))
    assert dest == root + cairn_build.default_sitedir("/usr")
    assert os.path.exists(os.path.join(dest, "cairn-%s.dist-info" % cairn.__version__,
                                       "RECORD"))
    assert "LIBDIR = %r" % os.path.dirname(LIB) in open(os.path.join(dest, "cairn",
                                                                     "_install.py")).read()
    # the library is found where make install put it (no CAIRN_LIB, no ldconfig)
    os.symlink(LIB, os.path.join(str(tmp_path), "libcairn.so.0"))
    dest2 = cairn_build.install("/opt/x", root=str(tmp_path / "stage2"),
                                libdir=str(tmp_path))
    got = py("import cairn; print(cairn.library_path())", PYTHONPATH=dest2)
    assert got == os.path.join(str(tmp_path), "libcairn.so.0")
    # the manifest CMake writes gives the library's directory
    man = tmp_path / "install_manifest.txt"
    man.write_text("/stage/usr/include/cairn/client.h\n/stage/usr/lib/libcairn.so.0\n")
    assert cairn_build._libdir_from_manifest(str(man), "/stage") == "/usr/lib"


def test_loader_order(tmp_path):
    # a build tree: python/cairn beside build/libcairn.so; PYTHONPATH alone suffices
    tree = tmp_path / "checkout"
    shutil.copytree(os.path.join(PYROOT, "cairn"), str(tree / "python" / "cairn"),
                    ignore=shutil.ignore_patterns("__pycache__", "libcairn.so*", "_install.py"))
    (tree / "build").mkdir()
    os.symlink(LIB, str(tree / "build" / "libcairn.so"))
    assert py("import cairn; print(cairn.library_path())",
              PYTHONPATH=str(tree / "python")) == str(tree / "build" / "libcairn.so")
    # CAIRN_LIB first, as a file or as a directory
    other = tmp_path / "other"
    other.mkdir()
    os.symlink(LIB, str(other / "libcairn.so"))
    assert py("import cairn; print(cairn.library_path())", PYTHONPATH=str(tree / "python"),
              CAIRN_LIB=str(other)) == str(other / "libcairn.so")
    assert py("import cairn; print(cairn.library_path())", PYTHONPATH=str(tree / "python"),
              CAIRN_LIB=str(other / "libcairn.so")) == str(other / "libcairn.so")
    # nothing anywhere: a clear ImportError (unless the system has one installed)
    import ctypes.util
    if ctypes.util.find_library("cairn") is None:
        os.remove(str(tree / "build" / "libcairn.so"))
        out = subprocess.run([sys.executable, "-c", "import cairn"], capture_output=True,
                             text=True, env=clean_env(PYTHONPATH=str(tree / "python")))
        assert out.returncode != 0 and "set CAIRN_LIB" in out.stderr


def test_works_without_fsspec(tmp_path):
    """The package imports and works when fsspec cannot be imported."""
    block = tmp_path / "block"
    block.mkdir()
    (block / "fsspec.py").write_text("raise ImportError('no fsspec here')\n")
    got = py("import cairn; print(cairn.hash_file(b'x').size)",
             PYTHONPATH="%s:%s" % (block, PYROOT), CAIRN_LIB=LIB)
    assert got == "1"


def test_fsspec_registered_lazily():
    """import cairn does not import fsspec; fsspec imported later (even after
    a probe with find_spec) knows the protocol."""
    if not _has("fsspec"):
        return
    got = py("import sys, importlib.util, cairn; print('fsspec' in sys.modules); "
             "importlib.util.find_spec('fsspec'); import fsspec; "
             "print(fsspec.get_filesystem_class('cairn').__name__)",
             PYTHONPATH=PYROOT, CAIRN_LIB=LIB)
    assert got.splitlines() == ["False", "CairnFileSystem"]
