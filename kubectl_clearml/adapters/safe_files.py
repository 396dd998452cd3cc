"""Writing a user's file without surprises: the edit goes to the symlink's target, through a temporary file
made with O_EXCL beside it (a name planted there is never followed), with the original's mode and owner on
everything written (the result, the temp file, the ``.bak``), under a lock that makes a second concurrent
run refuse instead of losing an edit, and no temp file left behind when the disk is full.

Refused up front, each with one clear line: a file that is not a regular file (``-f <(...)`` is a pipe:
reading it again would block for ever), a read-only file (0444 means "do not edit me", even for root), a
file another run is editing, and a file that changed since it was read.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from kubectl_clearml.errors import UsageError

MAX_BACKUPS = 1000  # .bak, .bak.1 ... : a bound, so a directory full of them cannot spin us


@dataclass(frozen=True)
class Original:
    """The file as opened for the edit: where it really is, its text, and what to keep of it."""

    path: str  # symlinks resolved: the file an editor would change
    text: str
    mode: int
    uid: int
    gid: int


def editable_target(path: str, *, write: bool = True) -> str:
    """The real file behind ``path``, refused unless it is a regular file (that we may rewrite, with ``write``)."""
    try:
        st = os.stat(path)  # stat, not open: opening a pipe or FIFO blocks until someone writes to it
    except FileNotFoundError:
        raise UsageError("values file not found", path, "check the -f/--values path") from None
    except OSError as exc:
        raise UsageError(f"cannot read values file: {exc.strerror}", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError("--in-place needs a regular file, not a pipe, device or directory", path,
                         "save the values to a file first, or write an overlay with -o FILE")
    real = os.path.realpath(path)
    if write and (not st.st_mode & 0o222 or not os.access(real, os.W_OK)):
        raise UsageError("the values file is read-only; not editing it", path,
                         "make it writable (chmod u+w) if it is meant to be edited, or write an overlay with -o FILE")
    return real


@contextlib.contextmanager
def locked_original(path: str, *, write: bool = True) -> Iterator[Original]:
    """Open the file for an edit and hold an exclusive lock on it until the edit is written.

    A second run that finds it locked, or whose file was replaced by a run that finished meanwhile (the lock
    is on the inode, and a rename puts a new inode in place), is refused: its plan was made on stale text.
    """
    real = editable_target(path, write=write)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:  # e.g. ELOOP: swapped for a symlink since we resolved it
        raise UsageError(f"cannot open the values file: {exc.strerror}", path, "check the file, then re-run") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError("another run is editing the values file", path,
                             "wait for it to finish, then re-run (this run changed nothing)") from None
        st = os.fstat(fd)
        if not _same_file(real, st):
            raise changed_since_read(path)
        try:
            with os.fdopen(os.dup(fd), encoding="utf-8") as fh:
                text = fh.read()
        except UnicodeDecodeError:  # it was UTF-8 when the plan read it
            raise changed_since_read(path) from None
        yield Original(real, text, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    finally:
        os.close(fd)  # releases the lock


def _same_file(path: str, st: os.stat_result) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def changed_since_read(path: str) -> UsageError:
    return UsageError("the values file changed while this run was planning its edit", path,
                      "re-run to plan against its current content (this run changed nothing)")


def write_like(original: Original, text: str) -> str:
    """Keep the original as the first free ``.bak`` name, then replace it with ``text``; returns the backup.

    The first original is never overwritten: a later edit's backup is ``.bak.1``, ``.bak.2`` ...
    """
    backup = _create_backup(original)
    try:
        replace_atomically(original.path, text, mode=original.mode, owner=(original.uid, original.gid))
    except BaseException:
        _remove(backup)  # nothing was edited: a backup would claim otherwise
        raise
    return backup


def _create_backup(original: Original) -> str:
    for n in range(MAX_BACKUPS):
        name = original.path + (".bak" if n == 0 else f".bak.{n}")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        try:
            _keep_mode_and_owner(fd, original.mode, (original.uid, original.gid))
            _write_all(fd, original.text)
        except BaseException:
            os.close(fd)
            _remove(name)
            raise
        os.close(fd)
        return name
    raise UsageError(f"{MAX_BACKUPS} backups of the values file exist already", original.path,
                     "remove old .bak.N files")


def replace_atomically(path: str, text: str, *, mode: int | None = None,
                       owner: tuple[int, int] | None = None) -> None:
    """Write ``text`` to a fresh temp file in ``path``'s directory, then rename it over ``path``.

    ``mode``/``owner`` default to those of the existing file (a new file gets 0666 minus the umask).
    The temp file never outlives a failure (ENOSPC, EFBIG, a signal): a crash never leaves half a file.
    """
    if mode is None:
        try:
            st = os.stat(path)
            mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)  # O_EXCL, 0600
    try:
        try:
            _keep_mode_and_owner(fd, mode, owner)
            _write_all(fd, text)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _keep_mode_and_owner(fd: int, mode: int, owner: tuple[int, int] | None) -> None:
    if owner is not None:
        with contextlib.suppress(PermissionError):  # only root may give a file away; the group may still fail
            os.fchown(fd, *owner)
    os.fchmod(fd, mode)  # after chown, which clears set-id bits


def _write_all(fd: int, text: str) -> None:
    data = text.encode("utf-8")
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # pragma: no cover - os.write raises instead
            raise OSError(errno.EIO, "short write")
        view = view[written:]


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
