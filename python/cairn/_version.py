"""_version.py - the package's version: the library's (include/cairn/common.h)."""
__version__ = "0.1.0"
