"""An ingest's temporary directory is held while it lives and removed by the next sweep once
its process is gone, however it ended (beacon/workdirs.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from beacon.workdirs import PREFIX, held, remove_abandoned

ROOT = Path(__file__).resolve().parent.parent

HOLDER = """
import sys, time
from pathlib import Path
from beacon.workdirs import held
with held(Path(sys.argv[1])) as work:
    (work / "prepared.vcf.gz").write_bytes(b"x" * 4096)
    print(work, flush=True)
    time.sleep(120)
"""


def _holder(root: Path) -> tuple[subprocess.Popen[str], Path]:
    """A process holding an ingest directory in `root` (with a file in it), and the directory."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_the_directory_is_named_for_the_sweep_and_gone_at_the_end(tmp_path):
    with held(tmp_path) as work:
        assert work.parent == tmp_path and work.name.startswith(PREFIX) and work.is_dir()
        (work / "file").write_text("x")
        assert sorted(p.name for p in tmp_path.iterdir()) == [work.name]   # no hidden one
    assert list(tmp_path.iterdir()) == []


def test_an_exception_removes_it_too(tmp_path):
    with pytest.raises(RuntimeError), held(tmp_path) as work:
        (work / "file").write_text("x")
        raise RuntimeError("the ingest failed")
    assert list(tmp_path.iterdir()) == []


def test_a_held_directory_is_kept_and_a_killed_ingests_removed(tmp_path):
    alive, kept = _holder(tmp_path)
    killed, left = _holder(tmp_path)
    try:
        assert remove_abandoned(tmp_path) == []          # both held
        os.kill(killed.pid, signal.SIGKILL)              # no exit handler runs
        killed.wait(20)
        assert left.is_dir() and (left / "prepared.vcf.gz").is_file()
        assert remove_abandoned(tmp_path) == [left]
        assert not left.exists()
        assert kept.is_dir() and (kept / "prepared.vcf.gz").is_file()
    finally:
        for process in (alive, killed):
            if process.poll() is None:
                process.kill()
            process.wait(20)


def test_a_directory_held_in_this_process_is_kept(tmp_path):
    # flock belongs to an open file, not a process: the sweep's own open fails to take it
    with held(tmp_path) as work:
        assert remove_abandoned(tmp_path) == []
        assert work.is_dir()


def test_only_unheld_ingest_directories_are_removed(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("x")
    (tmp_path / f"{PREFIX}file").write_text("not a directory")
    (tmp_path / f"{PREFIX}link").symlink_to(elsewhere)            # not followed
    # an earlier version's, which held no lock: it may be a running ingest's
    (tmp_path / "gdi-prepare-abc").mkdir()
    (tmp_path / "gdi-ingest-abc123").mkdir()
    (tmp_path / "gdi-ingest-abc123" / "htslib-1.log").write_text("")
    unheld = tmp_path / f"{PREFIX}abc123"
    unheld.mkdir()
    assert remove_abandoned(tmp_path) == [unheld]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["other", "elsewhere", f"{PREFIX}file", f"{PREFIX}link", "gdi-prepare-abc",
         "gdi-ingest-abc123"])
    assert (elsewhere / "keep").is_file()


def test_a_missing_temporary_directory_is_nothing_to_remove(tmp_path):
    assert remove_abandoned(tmp_path / "absent") == []
