"""Making the files operators have readable in parallel: plain gzip and unindexed bgzip.

htslib reads only BGZF-compressed VCFs (`bgzip`), and reads them in parallel regions only with
an index. A VCF compressed with plain `gzip` cannot be opened at all, and one without an index
is read from start to end by one worker. Rather than refusing them, ingest prepares a copy in a
temporary directory (recompressed with bgzip and tabix-indexed by pysam) and says so; the
original is never touched. Problems found in the copy are reported against the original: the
lines are the same.
"""
from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pysam

from beacon.vcf import quiet_htslib

_GZIP = b"\x1f\x8b"


@dataclass(frozen=True)
class Prepared:
    path: Path                 # what to read: the original, or the prepared copy
    note: str | None = None    # what was done, for the operator; None: nothing


def _is_plain_gzip(path: Path) -> bool:
    """gzip, but not BGZF: a BGZF block's gzip header carries the `BC` extra subfield."""
    with path.open("rb") as fh:
        head = fh.read(18)
    if head[:2] != _GZIP:
        return False
    has_extra = len(head) > 3 and head[3] & 0x04
    return not (has_extra and head[12:14] == b"BC")


def _indexed(path: Path) -> bool:
    return any(Path(f"{path}{suffix}").exists() for suffix in (".tbi", ".csi"))


def prepare(path: Path, workdir: Path) -> Prepared:
    """The file to read for `path`, preparing a bgzipped, indexed copy in `workdir` when it
    is plain gzip or bgzip without an index. A BCF, a plain-text VCF and an indexed bgzip
    file are read as they are. Malformed files are left for the reader to name."""
    if not path.is_file():
        return Prepared(path)
    if _is_plain_gzip(path):
        text = workdir / f"{path.name.removesuffix('.gz')}"
        try:
            with gzip.open(path, "rb") as source, text.open("wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
        except (OSError, EOFError):
            return Prepared(path)                  # corrupt: the reader says why
        compressed, indexed = _bgzip_and_index(text)
        return Prepared(compressed, "compressed with plain gzip: recompressed with bgzip and "
                        + ("indexed for parallel reads (use `bgzip` and `tabix -p vcf` to "
                           "skip this step)" if indexed else
                           "read from the top by one worker: it could not be indexed (are "
                           "its records sorted?)"))
    if path.suffix == ".gz" and not _indexed(path):
        link = workdir / path.name
        os.symlink(path.resolve(), link)
        try:
            with quiet_htslib():
                pysam.tabix_index(str(link), preset="vcf", force=True)
        except (OSError, ValueError):
            return Prepared(path)                  # unsorted or truncated: read as it is
        return Prepared(link, "no index beside it: indexed for parallel reads (add one with "
                              "`tabix -p vcf` to skip this step)")
    return Prepared(path)


def _bgzip_and_index(text: Path) -> tuple[Path, bool]:
    """`text` compressed with bgzip, and whether it could be indexed (sorted, well formed):
    an unindexed copy is read from the top, where the reader names what is wrong.
    tabix_index compresses first and removes `text`, so a failed index leaves the
    compressed copy (looking for `text` then was a FileNotFoundError, reported as the
    database's)."""
    try:
        with quiet_htslib():
            return Path(pysam.tabix_index(str(text), preset="vcf", force=True)), True
    except (OSError, ValueError):
        compressed = Path(f"{text}.gz")
        if text.exists():                          # it failed before compressing
            pysam.tabix_compress(str(text), str(compressed), force=True)
            text.unlink()
        return compressed, False
