# The krew zipapp's __main__.py (scripts/build_dist.py puts it in the archive and sets BUILD_ID).
#
# Python imports modules from a zip without ever keeping their bytecode, so every run compiled the
# Kubernetes client again (~2 s of a 2.5 s `kubectl clearml queues`). On its first run the archive unpacks
# itself, once per build, into a per-user cache; imports then read plain files and Python keeps their
# bytecode in __pycache__ there, as with a pip install. The files are one payload.zip inside the archive
# (Python reads a zipapp's whole directory before running it: 2 entries, not 2,200). Where no cache can
# be used (read-only home, a directory someone else owns), it unpacks into a temporary directory for
# this run only: slower, never broken.
import os
import sys

BUILD_ID = "dev"
PAYLOAD = "payload.zip"


def _cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kubectl-clearml")


def _owned_by_us(path):
    getuid = getattr(os, "getuid", None)
    return getuid is None or os.stat(path).st_uid == getuid()


def _extract(archive, into):
    import io
    import zipfile

    with zipfile.ZipFile(archive) as outer:
        payload = outer.read(PAYLOAD)
    with zipfile.ZipFile(io.BytesIO(payload)) as inner:
        inner.extractall(into)  # zipfile drops absolute paths and '..'


def _temporary(archive):
    import atexit
    import shutil
    import tempfile

    into = tempfile.mkdtemp(prefix="kubectl-clearml-")
    atexit.register(shutil.rmtree, into, True)
    _extract(archive, into)
    return into


def _unpacked(archive):
    """The directory holding this build's files, unpacked on first use; None when no cache is usable."""
    root = _cache_root()
    target = os.path.join(root, BUILD_ID)
    if os.path.isfile(os.path.join(target, ".complete")):
        return target if _owned_by_us(target) else None
    import shutil
    import tempfile

    os.makedirs(root, mode=0o700, exist_ok=True)
    if not _owned_by_us(root):
        return None
    staging = tempfile.mkdtemp(prefix=".unpack-", dir=root)
    try:
        _extract(archive, staging)
        open(os.path.join(staging, ".complete"), "w").close()
        if os.path.isdir(target):  # an unfinished copy from an interrupted run
            shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)  # atomic: a concurrent run sees all of it or none
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.isfile(os.path.join(target, ".complete")):  # unless another run just made it
            return None
    return target


def main():
    archive = os.path.dirname(os.path.abspath(__file__))
    try:
        unpacked = _unpacked(archive)
    except OSError:
        unpacked = None
    if unpacked is None:
        unpacked = _temporary(archive)
    else:
        # Our private copy keeps its bytecode even under PYTHONDONTWRITEBYTECODE, as a pip install has its
        # .pyc files written at install time whatever that variable says.
        sys.dont_write_bytecode = False
    if sys.path and os.path.abspath(sys.path[0]) == archive:
        sys.path[0] = unpacked
    else:
        sys.path.insert(0, unpacked)
    import kubectl_clearml.cli.main

    kubectl_clearml.cli.main.main()


main()
