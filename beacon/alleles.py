"""How an allele in bases is stored: trimmed to its minimal VCF form. Ingest trims the
VCF's alleles (beacon/vcf.py) and a sequence query or variantInternalId the alleles it asks
for (beacon/request.py `stored_form`) by this one function, so both name a variant alike; it
is kept apart so that parsing a request does not load the VCF reader (pysam, asyncpg)."""
from __future__ import annotations


def minimal(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """An allele in bases as stored: the suffix REF and ALT share trimmed, then the prefix,
    each keeping one base, the start moving right with the prefix: an allele asked as a VCF
    or another tool spelt it (`ACGT>ACG` at POS - 1) is the variant ingest stored."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt
