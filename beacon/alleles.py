"""How an allele is stored: in bases, trimmed to its minimal VCF form; a breakend, as written
but for the case of its bases.
Ingest trims the VCF's alleles (beacon/vcf.py) and a sequence query or variantInternalId the
alleles it asks for (beacon/request.py `stored_form`) by this one function, and both tell a
breakend by one pattern, so both name a variant alike; it is kept apart so that parsing a
request does not load the VCF reader (pysam, asyncpg)."""
from __future__ import annotations

import re

# A breakend ALT (VCF 4.3, 5.4): `t[p[`, `t]p]`, `]p]t`, `[p[t`, or a single breakend, `.t` or
# `t.`, matched in upper case. Stored as written, its bases in upper case (its mate's name is
# the file's, `chr17`: `stored_breakend`), and so looked up by a variantInternalId
# (beacon/records.py), as the id the node gives spells it.
# A query's allele that is the other allele's first base: the padding base of the spec's
# trimmed deletion (its ALT) or insertion (its REF), the same on both sides (beacon/request.py
# `_alleles`, beacon/store.py `variant_conditions`). No allele a client sends is spelt so.
PADDING = "="
BREAKEND = re.compile(r"^([ACGTN]*[\[\]][^\[\]]+:\d+[\[\]][ACGTN]*|\.[ACGTN]+|[ACGTN]+\.)$")
_MATE = re.compile(r"([\[\]][^\[\]]+:\d+[\[\]])")


def stored_breakend(alt: str) -> str:
    """A breakend ALT (one BREAKEND matches in upper case) as stored: its bases in upper case,
    as every other allele's, its mate as written (a contig's name is the file's, `chr17`).
    VCF's bases are of either case: stored as written, `t[chr2:5[` and `T[chr2:5[` were two
    variants, their carriers and counts split between them, where the file holds one."""
    parts = _MATE.split(alt, maxsplit=1)
    return "".join(part if index % 2 else part.upper() for index, part in enumerate(parts))


def minimal(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """An allele in bases as stored: the suffix REF and ALT share trimmed, then the prefix,
    each keeping one base, the start moving right with the prefix: an allele asked as a VCF
    or another tool spelt it (`ACGT>ACG` at POS - 1) is the variant ingest stored."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt
