"""Making the files operators have readable in parallel: plain gzip, unindexed bgzip, and
files whose index is older than they are.

htslib reads only BGZF-compressed VCFs (`bgzip`), and reads them in parallel regions only with
an index. A VCF compressed with plain `gzip` cannot be opened at all, and one without an index
is read from start to end by one worker. Rather than refusing them, ingest prepares a copy in a
temporary directory (recompressed with bgzip and tabix-indexed by pysam) and says so; the
original is never touched. Problems found in the copy are reported against the original: the
lines are the same.

An index older than its file describes an earlier file: ingest plans its regions from the
index's contigs and finds each region's first record at the index's offsets, so records on a
contig the old file lacked were silently left unread, and moved offsets failed as
`Invalid BGZF header`. htslib only warns of it, on the stderr ingest keeps quiet. Such an
index is not used, nor one htslib cannot read: the file is indexed again in a copy (a link
to it, beside a new index), which costs one pass over the file and loses nothing; the report
says so.
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pysam

from beacon.vcf import quiet_htslib

_GZIP = b"\x1f\x8b"


@dataclass(frozen=True)
class Prepared:
    path: Path                 # what to read: the original, or the prepared copy
    note: str | None = None    # what was done, for the operator; None: nothing


def _bgzf(head: bytes) -> bool:
    """Of a gzip file's first bytes, whether they are BGZF's: a BGZF block's gzip header
    carries the `BC` extra subfield."""
    has_extra = len(head) > 3 and head[3] & 0x04
    return bool(has_extra and head[12:14] == b"BC")


def _indexed(path: Path) -> bool:
    return any(Path(f"{path}{suffix}").exists() for suffix in (".tbi", ".csi"))


def _unusable_index(path: Path) -> tuple[Path, str] | None:
    """An index beside `path` that is not to be read through, and why, if any:
    * one last written before `path` was: htslib's own test (it warns "The index file is
      older than the data file"), to the nanosecond rather than the second, since a file
      rewritten within the second of its indexing is as stale. A copy that wrote the index
      first is re-indexed too: slower, never wrong;
    * one htslib cannot read (truncated, damaged, not an index): it opened the file without
      it, warning on the stderr ingest keeps quiet, so the file was read from the top by
      one worker and the report said nothing of why (found by a review, 2026-12-05)."""
    written = path.stat().st_mtime_ns
    beside = [index for index in (Path(f"{path}{suffix}") for suffix in (".tbi", ".csi"))
              if index.exists()]
    for index in beside:
        if index.stat().st_mtime_ns < written:
            return index, "is older than the file, so it may not describe it"
    if beside:
        try:
            with quiet_htslib(), pysam.VariantFile(str(path)) as opened:
                readable = opened.index is not None
        except (OSError, ValueError):
            return None                           # the reader names what is wrong
        if not readable:
            return beside[0], "could not be read (damaged, or not an index)"
    return None


def _is_bcf(path: Path) -> bool:
    """A bgzipped file's content is a BCF (its magic, `BCF`), not a VCF's text."""
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(3) == b"BCF"
    except (OSError, EOFError):
        return False


def prepare(path: Path, workdir: Path) -> Prepared:
    """The file to read for `path`, preparing a bgzipped, indexed copy in `workdir` when it
    is plain gzip or bgzip without an index, and a new index when its own is older than it
    (a BCF's too). A plain-text VCF, and a BCF or bgzip file with an index at least as new,
    are read as they are. Malformed files are left for the reader to name."""
    if not path.is_file():
        return Prepared(path)
    with path.open("rb") as fh:
        head = fh.read(18)
    gzipped = head[:2] == _GZIP
    bgzf = gzipped and _bgzf(head)
    unusable = _unusable_index(path) if bgzf else None
    if unusable is not None:
        return _reindexed(path, workdir, *unusable)
    if gzipped and not bgzf:                       # plain gzip, which htslib cannot read
        text = workdir / f"{path.name.removesuffix('.gz')}"
        with gzip.open(path, "rb") as source, text.open("wb") as target:
            while True:
                try:
                    chunk = source.read(1 << 20)
                except (OSError, EOFError):
                    return Prepared(path)          # corrupt: the reader says why
                if not chunk:
                    break
                _write(target, chunk, text)
        compressed, indexed = _bgzip_and_index(text)
        return Prepared(compressed, "compressed with plain gzip: recompressed with bgzip and "
                        + ("indexed for parallel reads (use `bgzip` and `tabix -p vcf` to "
                           "skip this step)" if indexed else
                           "read from the top by one worker: it could not be indexed (are "
                           "its records sorted?)"))
    # by its content, not its name: a plain-text VCF named `.vcf.gz` is read as it is (given
    # to tabix, the link to it was compressed and removed, and the file said not to exist)
    if bgzf and path.suffix == ".gz" and not _indexed(path):
        link, indexed = _indexed_link(path, workdir, bcf=False)
        if not indexed:
            return Prepared(path)                  # unsorted or truncated: read as it is
        return Prepared(link, "no index beside it: indexed for parallel reads (add one with "
                              "`tabix -p vcf` to skip this step)")
    return Prepared(path)


def _write(target: BinaryIO, chunk: bytes, copy: Path) -> None:
    """A chunk of the plain-gzip file's copy; OSError naming the copy when it cannot be
    written (a full disk). Caught with the reading's errors, a full disk was taken for a
    corrupt file, and the VCF refused as "not bgzip-compressed" (found by a review,
    2026-12-05)."""
    try:
        target.write(chunk)
    except OSError as exc:
        raise OSError(exc.errno, f"could not write this uncompressed copy of the plain-gzip "
                                 f"file ({exc.strerror or exc}): free space here, or set "
                                 "TMPDIR to a directory with room for it", str(copy)) from None


def _indexed_link(path: Path, workdir: Path, bcf: bool) -> tuple[Path, bool]:
    """A link to `path` in `workdir`, and whether htslib could index it there (a `bcf` with
    a CSI index, as bcftools does, a VCF with tabix's); where it could not (unsorted,
    truncated), whatever the failed build left is removed, so the link has no index."""
    link = workdir / path.name
    os.symlink(path.resolve(), link)
    try:
        with quiet_htslib():
            pysam.tabix_index(str(link), preset="bcf" if bcf else "vcf", csi=bcf, force=True)
    except (OSError, ValueError):
        for suffix in (".tbi", ".csi"):
            Path(f"{link}{suffix}").unlink(missing_ok=True)
        return link, False
    return link, True


def _reindexed(path: Path, workdir: Path, unusable: Path, why: str) -> Prepared:
    """`path` read through a new index in `workdir` (beside a link to it), or, if it cannot
    be indexed (unsorted, malformed), from the top by one worker, where the reader names
    what is wrong: never through `unusable`, which `why` says why of."""
    bcf = _is_bcf(path)
    link, indexed = _indexed_link(path, workdir, bcf)
    said = f"its index {unusable.name} {why}: not used; "
    if not indexed:
        return Prepared(link, said + "read from the top by one worker: it could not be "
                                     "indexed again (are its records sorted?)")
    again = "bcftools index -f" if bcf else "tabix -f -p vcf"
    return Prepared(link, said + f"indexed again for parallel reads (`{again}` on the file "
                                 "skips this step)")


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
