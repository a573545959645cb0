"""cairn_build.py - the build backend of the cairn Python package (PEP 517,
PEP 660), standard library only, so that `pip install ./python` works with
no network and no setuptools: pip's isolated build environment has nothing
to install (pyproject.toml: requires = [], backend-path = ["_build"]).

A wheel holds cairn/*.py, the dist-info (METADATA from pyproject.toml's
[project] table, the fsspec.specs entry point) and, when a build of the
library is found, libcairn.so as cairn/libcairn.so.0 (the loader's second
choice, see cairn/_lib.py); the wheel is then tagged for this platform.
The library is looked for at $CAIRN_LIB (the file, or a directory holding
it), then ../build/libcairn.so (what `make` builds). The config setting
bundle=no leaves it out (a pure-Python wheel that finds the library at run
time).

Run as a script, it installs the package without pip, for `make install`:

    python3 python/_build/cairn_build.py install --prefix /usr/local \\
        [--root DESTDIR] [--sitedir DIR] [--manifest BUILD/install_manifest.txt]

writing cairn/ and its dist-info into the interpreter's site directory for
that prefix (Debian: /usr/local/lib/python3.X/dist-packages, or
/usr/lib/python3/dist-packages for /usr), with cairn/_install.py recording
where the library was installed (read from CMake's install manifest), so
that no ldconfig run or environment variable is needed.
"""

import argparse
import base64
import hashlib
import io
import os
import re
import sys
import sysconfig
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)          # python/
PKG = os.path.join(ROOT, "cairn")
NAME = "cairn"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)      # reproducible archives


def _project():
    import tomllib  # Python 3.11+: building needs it; the package itself runs on 3.9+
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def _version():
    with open(os.path.join(PKG, "_version.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    if not m:
        raise RuntimeError("no __version__ in cairn/_version.py")
    return m.group(1)


def _bundle_wanted(config_settings):
    v = (config_settings or {}).get("bundle", "yes")
    return str(v).lower() not in ("no", "false", "0", "off")


def find_library():
    """The libcairn.so to bundle (a real file, symlinks resolved), or None."""
    cands = []
    env = os.environ.get("CAIRN_LIB")
    if env:
        if os.path.isdir(env):
            cands += [os.path.join(env, "libcairn.so.0"), os.path.join(env, "libcairn.so")]
        else:
            cands.append(env)
    cands.append(os.path.join(ROOT, "..", "build", "libcairn.so"))
    for c in cands:
        if os.path.isfile(c):
            return os.path.realpath(c)
    return None


def _metadata(proj, version):
    lines = ["Metadata-Version: 2.1", "Name: %s" % proj["name"], "Version: %s" % version]
    if proj.get("description"):
        lines.append("Summary: %s" % proj["description"])
    if proj.get("requires-python"):
        lines.append("Requires-Python: %s" % proj["requires-python"])
    for dep in proj.get("dependencies", []):
        lines.append("Requires-Dist: %s" % dep)
    for extra, deps in sorted(proj.get("optional-dependencies", {}).items()):
        lines.append("Provides-Extra: %s" % extra)
        for dep in deps:
            lines.append('Requires-Dist: %s; extra == "%s"' % (dep, extra))
    return "\n".join(lines) + "\n"


def _entry_points(proj):
    out = []
    for group, eps in sorted(proj.get("entry-points", {}).items()):
        out.append("[%s]" % group)
        out += ["%s = %s" % (k, v) for k, v in sorted(eps.items())]
        out.append("")
    return "\n".join(out)


def _package_files():
    """(archive name, source path) of the package's modules."""
    out = []
    for name in sorted(os.listdir(PKG)):
        if name.endswith(".py") and name != "_install.py":
            out.append(("%s/%s" % (NAME, name), os.path.join(PKG, name)))
    return out


def _platform_tag():
    return re.sub(r"[^A-Za-z0-9_]", "_", sysconfig.get_platform())


def _dist_info(version):
    return "%s-%s.dist-info" % (NAME, version)


def _dist_info_files(proj, version, tag, purelib, installer=None):
    """{name: bytes} of the dist-info, RECORD aside."""
    di = _dist_info(version)
    files = {
        di + "/METADATA": _metadata(proj, version).encode(),
        di + "/WHEEL": ("Wheel-Version: 1.0\nGenerator: cairn_build\nRoot-Is-Purelib: %s\n"
                        "Tag: %s\n" % ("true" if purelib else "false", tag)).encode(),
    }
    eps = _entry_points(proj)
    if eps:
        files[di + "/entry_points.txt"] = eps.encode()
    if installer:
        files[di + "/INSTALLER"] = (installer + "\n").encode()
    return files


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (name, digest, len(data))


def _write_wheel(path, entries, record_name):
    """A wheel at path from [(name, bytes, mode)], with its RECORD."""
    lines = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in entries:
            zi = zipfile.ZipInfo(name, ZIP_DATE)
            zi.external_attr = (mode & 0xFFFF) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
            lines.append(_record_line(name, data))
        lines.append("%s,," % record_name)
        zi = zipfile.ZipInfo(record_name, ZIP_DATE)
        zi.external_attr = 0o644 << 16
        z.writestr(zi, ("\n".join(lines) + "\n").encode())


def _read(path):
    with open(path, "rb") as f:
        return f.read()


# ---- PEP 517 -------------------------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    proj, version = _project(), _version()
    lib = find_library() if _bundle_wanted(config_settings) else None
    tag = "py3-none-" + _platform_tag() if lib else "py3-none-any"
    for name, data in _dist_info_files(proj, version, tag, lib is None).items():
        p = os.path.join(metadata_directory, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return _dist_info(version)


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    proj, version = _project(), _version()
    lib = find_library() if _bundle_wanted(config_settings) else None
    tag = "py3-none-" + _platform_tag() if lib else "py3-none-any"
    entries = [(name, _read(src), 0o644) for name, src in _package_files()]
    if lib:
        entries.append(("%s/libcairn.so.0" % NAME, _read(lib), 0o755))
    entries += [(n, d, 0o644) for n, d in _dist_info_files(proj, version, tag, lib is None).items()]
    filename = "%s-%s-%s.whl" % (NAME, version, tag)
    _write_wheel(os.path.join(wheel_directory, filename), entries,
                 _dist_info(version) + "/RECORD")
    return filename


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """A wheel that puts this source tree on sys.path (a .pth file): edits
    to python/cairn/ take effect at once; the library is found as from a
    build tree (../build/libcairn.so, or $CAIRN_LIB)."""
    proj, version = _project(), _version()
    tag = "py3-none-any"
    entries = [("__editable__.%s-%s.pth" % (NAME, version), (ROOT + "\n").encode(), 0o644)]
    entries += [(n, d, 0o644) for n, d in _dist_info_files(proj, version, tag, True).items()]
    filename = "%s-%s-%s.whl" % (NAME, version, tag)
    _write_wheel(os.path.join(wheel_directory, filename), entries,
                 _dist_info(version) + "/RECORD")
    return filename


def build_sdist(sdist_directory, config_settings=None):
    proj, version = _project(), _version()
    base = "%s-%s" % (NAME, version)
    files = [("pyproject.toml", os.path.join(ROOT, "pyproject.toml")),
             ("_build/cairn_build.py", os.path.abspath(__file__))]
    files += _package_files()
    filename = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz", format=tarfile.PAX_FORMAT) as t:
        def add(name, data):
            ti = tarfile.TarInfo("%s/%s" % (base, name))
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 315532800
            t.addfile(ti, io.BytesIO(data))
        add("PKG-INFO", _metadata(proj, version).encode())
        for name, src in files:
            add(name, _read(src))
    return filename


# ---- make install --------------------------------------------------------------------------------


def default_sitedir(prefix):
    """Where this interpreter looks for packages installed under prefix."""
    v = "%d.%d" % sys.version_info[:2]
    prefix = os.path.normpath(prefix)
    debian = {"/usr": "/usr/lib/python3/dist-packages",
              "/usr/local": "/usr/local/lib/python%s/dist-packages" % v}
    if prefix in debian and debian[prefix] in sys.path:
        return debian[prefix]
    return sysconfig.get_path("purelib", "posix_prefix", vars={"base": prefix, "platbase": prefix})


def _libdir_from_manifest(manifest, root):
    with open(manifest, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if re.search(r"/libcairn\.so(\.\d+)*$", line):
                d = os.path.dirname(line)
                if root and d.startswith(root.rstrip("/") + "/"):
                    d = d[len(root.rstrip("/")):]
                return d
    return None


def install(prefix, root="", sitedir=None, libdir=None, manifest=None):
    """Install cairn/ and its dist-info under root + sitedir; return the directory."""
    proj, version = _project(), _version()
    sitedir = sitedir or default_sitedir(prefix)
    if libdir is None and manifest and os.path.exists(manifest):
        libdir = _libdir_from_manifest(manifest, root)
    libdir = libdir or os.path.join(prefix, "lib")
    dest = (root.rstrip("/") + sitedir) if root else sitedir
    files = {name: _read(src) for name, src in _package_files()}
    files["%s/_install.py" % NAME] = (
        '"""_install.py - written by `make install`: where libcairn.so was installed."""\n'
        "LIBDIR = %r\n" % libdir).encode()
    files.update(_dist_info_files(proj, version, "py3-none-any", True, installer="make"))
    record = []
    for name, data in sorted(files.items()):
        p = os.path.join(dest, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        record.append(_record_line(name, data))
    rec_name = _dist_info(version) + "/RECORD"
    record.append("%s,," % rec_name)
    with open(os.path.join(dest, rec_name), "w", encoding="utf-8") as f:
        f.write("\n".join(record) + "\n")
    return dest


def main(argv=None):
    ap = argparse.ArgumentParser(prog="cairn_build.py", description="install the cairn "
                                 "Python package without pip (make install)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("install")
    p.add_argument("--prefix", default="/usr/local")
    p.add_argument("--root", default="", help="staging directory (DESTDIR)")
    p.add_argument("--sitedir", default=None, help="site directory (default: the "
                   "interpreter's for PREFIX)")
    p.add_argument("--libdir", default=None, help="where libcairn.so is installed")
    p.add_argument("--manifest", default=None, help="CMake's install_manifest.txt, to find "
                   "the library's directory")
    a = ap.parse_args(argv)
    dest = install(a.prefix, a.root, a.sitedir, a.libdir, a.manifest)
    print("installed the cairn Python package in %s" % dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
