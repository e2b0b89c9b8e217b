"""An independent reading of a VCF's text, for checking what ingest stored.

Deliberately naive (gzip + str.split, no pysam) so that it shares no code and no mistakes with
beacon/vcf.py: if both agree on every row, the coordinates, types and counts are right.
"""
from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

Row = tuple[str, int, int, str, str, str, int | None, int | None, int | None]


def canonical(contig: str) -> str:
    name = contig[3:] if contig.lower().startswith("chr") else contig
    return "MT" if name in ("M", "MT") else name


def _trim(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Drop the shared suffix, then a shared prefix, always keeping one base of each."""
    limit = min(len(ref), len(alt)) - 1
    suffix = len(os.path.commonprefix([ref[::-1], alt[::-1]]))
    cut = min(suffix, limit)
    if cut:
        ref, alt = ref[:-cut], alt[:-cut]
    limit = min(len(ref), len(alt)) - 1
    prefix = min(len(os.path.commonprefix([ref, alt])), limit)
    return pos + prefix, ref[prefix:], alt[prefix:]


def _kind(ref: str, alt: str) -> str:
    if len(ref) == len(alt):
        return "SNP" if len(ref) == 1 else "MNP"
    return "INS" if len(alt) > len(ref) else "DEL"


def expected_rows(path: Path) -> list[Row]:
    """(chromosome, start, end, ref, alt, type, AC, AN, carriers) per ALT someone carries,
    counted from GT."""
    rows: list[Row] = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            pos, ref, alts = int(fields[1]), fields[3], fields[4].split(",")
            info = dict(item.partition("=")[::2] for item in fields[7].split(";"))
            calls = [re.split(r"[/|]", sample.split(":")[0]) for sample in fields[9:]]
            called = [a for call in calls for a in call if a != "."]
            for number, alt in enumerate(alts, start=1):
                if alt in ("*", "."):
                    continue
                allele = str(number)
                ac = called.count(allele) if calls else None
                if ac == 0:             # carried by nobody: no variant of the dataset
                    continue
                carriers = sum(allele in call for call in calls) if calls else None
                an = len(called) if calls else None
                if alt.startswith("<"):
                    start, end, r, a, kind = pos - 1, int(info["END"]), ref, alt, alt[1:-1]
                else:
                    p, r, a = _trim(pos, ref, alt)
                    start, end, kind = p - 1, p - 1 + len(r), _kind(r, a)
                rows.append((canonical(fields[0]), start, end, r, a, kind, ac, an, carriers))
    return sorted(rows, key=repr)
