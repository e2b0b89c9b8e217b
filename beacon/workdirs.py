"""Where an ingest keeps its temporary files, and removing what killed ingests left there.

An ingest writes a bgzipped, indexed copy of a plain-gzip VCF (as big as the file
decompressed and compressed again, beacon/prepare.py) and its workers' htslib logs. They
go when the ingest ends, by Ctrl-C and SIGTERM too; `kill -9` and the kernel's OOM killer
give it no chance, and each such ingest of a large plain-gzip file left gigabytes in the
temporary directory for good.

So each ingest's directory is held: the ingest keeps an exclusive `flock` on it while it
lives, which the kernel releases when the process ends, however it ends. The next ingest
and `gdi-node db clean` remove every ingest directory whose lock they can take. A lock, not
the process id in the name: a process id says nothing across PID namespaces (containers
sharing a temporary directory), and a reused one keeps a dead ingest's files for good. The
directory is made under a hidden name and renamed once locked, so no sweep can see it
unlocked. Earlier versions named their directories `gdi-ingest-*` and `gdi-prepare-*` and
held no lock: whether such a one is in use cannot be told, so the sweep leaves them alone
(it removed a running older ingest's logs under it). Only the ingest's own files are here:
Python's multiprocessing keeps its fork server's socket in a `pymp-*` directory of its own
(empty but for the socket).
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("gdi_node.ingest")

PREFIX = "gdi-ingest-held-"   # no earlier version's name begins so


@contextlib.contextmanager
def held(root: Path | None = None) -> Iterator[Path]:
    """A new directory for one ingest's files, in `root` (the temporary directory: TMPDIR),
    locked while the block runs and removed with everything in it at its end."""
    made = Path(tempfile.mkdtemp(prefix=f".{PREFIX}", dir=root))
    fd = os.open(made, os.O_RDONLY | os.O_DIRECTORY)
    try:
        path = made.with_name(made.name[1:])
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(made, path)   # the lock stays with the directory: it is the same one
        except BaseException:
            shutil.rmtree(made, ignore_errors=True)
            raise
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    finally:
        os.close(fd)


def remove_abandoned(root: Path | None = None) -> list[Path]:
    """Remove the ingest directories in `root` (the temporary directory) that no process
    holds; returns them. One that cannot be opened or removed (another user's) is left."""
    root = Path(root or tempfile.gettempdir())
    try:
        entries = [e for e in os.scandir(root)
                   if e.name.startswith(PREFIX) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    removed = []
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue                # held: an ingest is using it
            shutil.rmtree(entry.path, ignore_errors=True)
            if not os.path.lexists(entry.path):
                removed.append(Path(entry.path))
        finally:
            os.close(fd)
    if removed:
        log.warning("removed the temporary files of interrupted ingests: %s",
                    ", ".join(map(str, removed)))
    return removed
