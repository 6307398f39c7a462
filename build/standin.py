"""lxcz start-up stand-in for a standard-library module: see docs/building.md."""

# build/build puts this file at the archive root as contextlib.py and functools.py, with
# .pyc files. runpy's importlib.util (Python 3.10, 3.11) imports both while the archive is
# sys.path[0]; a stand-in is a lazy proxy that imports the real module only when an
# attribute is taken from it, and zipmain.py drops the stand-ins before lxcz runs. Kept
# short: Pythons that the .pyc files do not match compile it at every start.
import sys

_lxcz_standin = True


def _real():
    # the real module, from the standard library (never the archive), in sys.modules
    name = __name__
    if getattr(sys.modules.get(name), "_lxcz_standin", False):
        del sys.modules[name]
    archive = getattr(__loader__, "archive", None)  # noqa: F821 - set by the import system
    saved = sys.path
    sys.path = [p for p in saved if p != archive]
    try:
        __import__(name)
    finally:
        sys.path = saved
    return sys.modules[name]


def __getattr__(name):
    if name[:2] == "__":
        raise AttributeError(name)  # the import system probing __path__ and the like
    return getattr(_real(), name)


def contextmanager(func):
    # what importlib.util takes from contextlib: the real decorator, at the first call
    def helper(*args, **kwds):
        return _real().contextmanager(func)(*args, **kwds)

    helper.__wrapped__ = func
    return helper


if sys.version_info < (3, 10):  # runpy needs the real modules anyway (typing, pkgutil)
    sys.modules[__name__] = _real()  # and the import system hands out what is there
