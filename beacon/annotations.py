"""Functional annotations a VCF carries (SnpEff `ANN`, VEP `CSQ`), protein changes and
genomic HGVS, so gene, protein and HGVS queries are answered from the file's own annotations.

Which entries belong to which ALT. An INFO annotation lists entries for every ALT of a record,
each naming its allele, and the two tools name alleles differently:
- SnpEff writes the ALT as it stands in the VCF (`TACA>TA` gives `TA`), but for an ALT that
  is neither a plain insertion nor deletion (nor a prefix of REF, nor REF one of its) it
  writes the ALT less the prefix it shares with REF on multi-allelic records (`ACACG>
  ACACACGCACA,ACACA` gives `ACGCACA` and `ACACA`; SnpEff issue #197).
- VEP drops the padding base of indel sites: when any ALT differs in length from REF, and
  every allele (`*` aside) starts with the same base, that base is cut from REF and every ALT,
  an empty allele becoming `-` (`ACG>A` gives `-`; `A>AT,C`, whose first bases differ, keeps
  `AT` and `C`). With `--minimal` each ALT is trimmed on its own instead, and with
  `--allele_number` an `ALLELE_NUM` column gives the ALT's index, which then decides alone.
A record with one ALT owns all its entries whatever their allele spelling (that also covers
symbolic ALTs, for which VEP writes a class such as `deletion`); on multi-allelic records an
entry belongs to the ALT whose spelling, by the tool's rule above, it carries (VEP's minimal
spelling is tried when no entry carries the rule's), and on a record of symbolic ALTs none of
whose entries spells one (VEP annotates it as one SV, writing its class) every entry is every
ALT's.

Protein changes are stored in one canonical form, HGVS with three-letter amino acids and the
`p.` prefix (`p.Val600Glu`, `p.Arg213Ter`, `p.Leu55=`, `p.Arg213GlyfsTer5`), so a request's
`V600E`, `p.V600E`, `Val600Glu` or `p.(Val600Glu)` normalises to the same stored value.

Genomic HGVS (`genomicAlleleShortForm`) is mapped to the VCF-style allele the node stores,
padding base included; HGVS never states that base, so it is `N`, which the node's sequence
queries match against any one base. HGVS places indels in repeats at their 3'-most position
while VCF callers left-align them: there the two spellings differ and the query misses.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote

from beacon.assemblies import ASSEMBLIES
from beacon.limits import ALLELE_BASES

if TYPE_CHECKING:   # a request's HGVS and protein changes are parsed here: no VCF reader then
    import pysam

Tool = Literal["SnpEff", "VEP"]

# INFO keys that carry annotations: CSQ is VEP's default, ANN SnpEff's (and VEP's with
# --vcf_info_field ANN), vep the gnomAD releases'. The Description says which tool wrote it.
_ANNOTATION_KEYS = ("ANN", "CSQ", "vep")
_VEP_FORMAT = re.compile(r"Format:\s*'?([^'\"]+)")
_SNPEFF_FORMAT = re.compile(r"Functional annotations:\s*'([^']+)'")
# Column names of the parts an Annotation holds, per tool.
_COLUMNS: dict[str, dict[str, str]] = {
    "VEP": {"allele": "Allele", "consequence": "Consequence", "impact": "IMPACT",
            "gene": "SYMBOL", "gene_id": "Gene", "feature_type": "Feature_type",
            "transcript": "Feature", "hgvs_c": "HGVSc", "hgvs_p": "HGVSp",
            "allele_num": "ALLELE_NUM", "hgnc_id": "HGNC_ID"},
    "SnpEff": {"allele": "Allele", "consequence": "Annotation", "impact": "Annotation_Impact",
               "gene": "Gene_Name", "gene_id": "Gene_ID", "feature_type": "Feature_Type",
               "transcript": "Feature_ID", "hgvs_c": "HGVS.c", "hgvs_p": "HGVS.p"},
}
_TRANSCRIPT_TYPES = frozenset({"Transcript", "transcript"})
# What both tools write for the genes a variant lies near (5 kb by default), not in
_NEAR_GENE = frozenset({"upstream_gene_variant", "downstream_gene_variant"})
_SPLIT_TERMS = re.compile(r"[&,]")

_THREE_TO_ONE = {
    "Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E",
    "Gly": "G", "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F",
    "Pro": "P", "Ser": "S", "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V", "Sec": "U",
    "Pyl": "O", "Ter": "*",
}
_ONE_TO_THREE = {one: three for three, one in _THREE_TO_ONE.items()} | {"X": "Ter"}
_KEYWORD_KINDS = {"delins": "x", "del": "d", "ins": "i", "dup": "u", "fs": "f", "ext": "e"}
_KEYWORD = "(?P<k>delins|del|ins|dup|fs|ext)"
_NUMBER_OR_SIGN = r"(?P<n>-?[0-9]+)|(?P<s>[_=?])"
# Tokens of each spelling: a `*` (or, one-letter only, a legacy `X`) is a stop.
_THREE_LETTER_TOKEN = re.compile(
    "(?P<a>" + "|".join(_THREE_TO_ONE) + r"|\*)|" + _KEYWORD + "|" + _NUMBER_OR_SIGN)
_ONE_LETTER_TOKEN = re.compile(
    _KEYWORD + "|(?P<a>[" + "".join(_ONE_TO_THREE) + "])|" + _NUMBER_OR_SIGN)
_WORD = re.compile("[A-Z][a-z]{2}")
# The shapes of a protein change, over one letter per token: a amino acid, n position,
# m negative offset, x delins, d del, i ins, u dup, f fs, e ext. Single position: missense,
# nonsense, synonymous, unknown (Met1?), frameshift, extension, del, dup, delins; ranges: del,
# dup, delins, ins.
_SHAPE = re.compile(r"an(?:a|=|\?|a?f(?:a[n?])?|a?e(?:a?[nm?])?|d|u|xa+)"
                    r"|an_an(?:d|u|xa+|i(?:a+|n))")

# Positions are ASCII digits (`\d` took any script's, `17:g.١٢٣C>A` as 123); one longer
# than this is past every chromosome's end, and int() refuses thousands of digits
_POSITION_DIGITS = 10
_GENOMIC = re.compile(r"(?P<sequence>\S+?):(?P<kind>[a-z])\.(?P<change>\S+)")
_SUBSTITUTION = re.compile(r"(?P<start>[0-9]+)(?P<ref>[ACGTN])>(?P<alt>[ACGTN])")
_EDIT = re.compile(r"(?P<start>[0-9]+)(?:_(?P<end>[0-9]+))?"
                   r"(?P<op>delins|del|ins|dup)(?P<bases>[ACGTN]*)")


@dataclass(frozen=True)
class AnnotationField:
    """One INFO key holding annotations, and where each part sits in its `|`-separated
    entries (None: the tool was not asked to write that column)."""

    key: str
    tool: Tool
    columns: tuple[str, ...]
    allele: int
    consequence: int
    impact: int | None
    gene: int | None
    gene_id: int | None
    feature_type: int | None
    transcript: int | None
    hgvs_c: int | None
    hgvs_p: int | None
    allele_num: int | None
    hgnc_id: int | None = None      # VEP's HGNC_ID (with --symbol)


@dataclass(frozen=True)
class AnnotationLayout:
    """The annotation fields a file's header declares; None from `from_header` when none is,
    so the ingest can skip annotation work for the many files that carry none."""

    fields: tuple[AnnotationField, ...]

    @classmethod
    def from_header(cls, header: pysam.VariantHeader) -> AnnotationLayout | None:
        """Read each annotation field's column order from its Description; a field whose
        Description follows neither tool's format is refused, since reading its columns by
        position would store wrong genes, and so is one not declared as text, whose values
        htslib reads as numbers or a flag: no entries to split."""
        fields = []
        for key in _ANNOTATION_KEYS:
            if key in header.info:
                declared = header.info[key]
                if declared.type not in ("String", "Character"):
                    raise ValueError(f"INFO {key} is declared Type={declared.type}; its "
                                     "annotations are text (Type=String)")
                fields.append(_field(key, declared.description or ""))
        return cls(tuple(fields)) if fields else None


@dataclass(frozen=True)
class Annotation:
    """One annotation entry of one ALT: a consequence on one transcript (or gene, or region).

    gene is None where the tool names none (intergenic and regulatory entries); hgvs_c is the
    coding change without its transcript prefix (`c.524G>A`); hgvs_p the protein change in the
    canonical form (`p.Arg175His`), or as written (prefix removed) when it is not a change this
    module can read, such as `p.?`."""

    gene: str | None
    gene_id: str | None
    transcript: str | None
    consequence: tuple[str, ...]
    impact: str | None
    hgvs_c: str | None
    hgvs_p: str | None
    hgnc_id: str | None = None

    @property
    def genes(self) -> tuple[str, ...]:
        """The genes the entry names: its one, or the two an SV fuses, which SnpEff writes
        as one Gene_Name joined by `&` (`FGFR3&TACC3`)."""
        return tuple(name for name in self.gene.split("&") if name) if self.gene else ()

    @property
    def gene_ids(self) -> tuple[str, ...]:
        """The gene ids the entry names (VEP's Gene, SnpEff's Gene_ID; a fusion's two), an
        Ensembl id without its version as geneId takes it: VEP run without --symbol names
        the gene by this alone, and geneId by an Ensembl id finds it so; and VEP's HGNC id,
        `HGNC:7325` (older releases write `7325`), so geneId by an HGNC id the gene table
        does not hold finds what the symbol does."""
        ids = tuple(name.split(".")[0] if name.upper().startswith("ENSG") else name
                    for name in (self.gene_id or "").split("&") if name)
        if not self.hgnc_id:
            return ids
        return (*ids, self.hgnc_id if self.hgnc_id.upper().startswith("HGNC:")
                else f"HGNC:{self.hgnc_id}")

    @property
    def in_gene(self) -> bool:
        """Whether the entry puts the variant in its gene: geneId finds the variants in a
        gene, and an entry only up- or downstream of it names a gene up to 5 kb away."""
        return not self.consequence or not _NEAR_GENE.issuperset(self.consequence)


@dataclass(frozen=True)
class GenomicAllele:
    """A genomic HGVS expression as the VCF-style allele the node stores: 0-based start of
    REF, REF and ALT with `N` where HGVS does not say the base (the padding base, deleted
    bases it does not list). assembly_id is None when the reference sequence does not pin
    one (a chromosome name, or the mitochondrial accession shared by both assemblies).
    variant_type is the stored type a deletion (DEL) or an insertion or duplication (INS)
    must have, so `NCA>N` is not the delins `TCA>G` stored there; such an allele is asked as
    the trimmed allele it names, whose padding base is the same on both sides
    (beacon/request.py `_short_form`)."""

    assembly_id: str | None
    chromosome: str
    start: int
    ref: str
    alt: str
    variant_type: str | None = None


def _field(key: str, description: str) -> AnnotationField:
    vep, snpeff = _VEP_FORMAT.search(description), _SNPEFF_FORMAT.search(description)
    if snpeff:
        tool: Tool = "SnpEff"
        columns = tuple(c.strip() for c in snpeff[1].split("|"))
    elif vep:
        tool = "VEP"
        columns = tuple(c.strip() for c in vep[1].strip().split("|"))
    else:
        raise ValueError(f"INFO {key} declares no annotation format: its Description has "
                         "neither VEP's 'Format: Allele|…' nor SnpEff's "
                         "\"Functional annotations: 'Allele | …'\"")
    index = {name: i for i, name in enumerate(columns)}
    names = _COLUMNS[tool]
    missing = [names[part] for part in ("allele", "consequence") if names[part] not in index]
    if missing:
        raise ValueError(f"INFO {key} ({tool}) has no {' or '.join(missing)} column")
    where = {part: index.get(name) for part, name in names.items()}
    return AnnotationField(key=key, tool=tool, columns=columns, allele=index["Allele"],
                           consequence=index[names["consequence"]], impact=where["impact"],
                           gene=where["gene"], gene_id=where["gene_id"],
                           feature_type=where["feature_type"], transcript=where["transcript"],
                           hgvs_c=where["hgvs_c"], hgvs_p=where["hgvs_p"],
                           allele_num=where.get("allele_num"), hgnc_id=where.get("hgnc_id"))


def annotations(layout: AnnotationLayout,
                record: pysam.VariantRecord) -> list[tuple[Annotation, ...]]:
    """The annotations of each ALT of a record, in ALT order (index i for ALT i), or [] when
    the record carries none: most records of an annotated file may carry none (intergenic,
    `--no_intergenic`), and looking that up costs nothing, unlike reading its ALTs."""
    info = record.info
    values = {f.key: info[f.key] for f in layout.fields if f.key in info}
    if not values:
        return []
    return annotations_of(layout, record.ref or "", record.alts or (), values)


def annotations_of(layout: AnnotationLayout, ref: str, alts: Sequence[str],
                   values: Mapping[str, str | Sequence[str] | None]
                   ) -> list[tuple[Annotation, ...]]:
    """The same from raw INFO values: per key, the entries as pysam gives them (a tuple of
    strings for `Number=.`, one comma-joined string for fields declared `Number=1`)."""
    found: list[list[Annotation]] = [[] for _ in alts]
    for field in layout.fields:
        raw = values.get(field.key)
        if raw is None:
            continue
        entries = raw.split(",") if isinstance(raw, str) else [
            part for value in raw if value for part in value.split(",")]
        rows = [entry.split("|") for entry in entries if entry]
        for index, owned in enumerate(_owners(field, ref, alts, rows)):
            found[index].extend(_annotation(field, row) for row in owned)
    return [tuple(dict.fromkeys(entries)) for entries in found]


def _owners(field: AnnotationField, ref: str,
            alts: Sequence[str], rows: list[list[str]]) -> list[list[list[str]]]:
    """The entries of each ALT, by the allele rule in the module docstring."""
    if len(alts) == 1:
        return [rows]
    if field.allele_num is not None:
        by_number: list[list[list[str]]] = [[] for _ in alts]
        for row in rows:
            number = _column(row, field.allele_num)
            if number is not None and number.isdigit() and 1 <= int(number) <= len(alts):
                by_number[int(number) - 1].append(row)
        return by_number
    spellings = [vep_alleles(ref, alts) if field.tool == "VEP" else list(alts)]
    if field.tool == "VEP":
        spellings.append([_minimal_allele(ref, alt) for alt in alts])
    else:
        # read as written alone, such an ALT's entries were no ALT's: its genes and protein
        # changes were not found, and its record had no molecularAttributes
        spellings.append([_snpeff_allele(ref, alt) for alt in alts])
    taken: set[int] = set()
    owned: list[list[list[str]]] = [[] for _ in alts]
    for spelling in spellings:
        for index, allele in enumerate(spelling):
            if owned[index]:
                continue
            for number, row in enumerate(rows):
                if number not in taken and _column(row, field.allele) == allele:
                    owned[index].append(row)
                    taken.add(number)
    if not taken and all(alt.startswith("<") for alt in alts):
        # VEP annotates a record of symbolic ALTs as one structural variant, each entry's
        # Allele its class (a CNV caller's <DEL>,<DUP>: copy_number_variation): every
        # entry is every ALT's
        return [rows for _ in alts]
    return owned


def vep_alleles(ref: str, alts: Sequence[str]) -> list[str]:
    """How VEP names each ALT in its Allele column (module docstring); the generator writes
    synthetic CSQ with it."""
    indel = any(len(alt) != len(ref) for alt in alts)
    if len(alts) == 1:
        shared = ref[:1] == alts[0][:1]
    else:
        shared = len({allele[:1] for allele in (ref, *alts) if "*" not in allele}) == 1
    if not (indel and shared):
        return list(alts)
    return [alt if "*" in alt else (alt[1:] or "-") for alt in alts]


def _snpeff_allele(ref: str, alt: str) -> str:
    """How SnpEff names an ALT of a multi-allelic record that is no plain insertion or
    deletion (module docstring): without the prefix it shares with REF, whatever follows."""
    shared = 0
    while shared < min(len(ref), len(alt)) and ref[shared] == alt[shared]:
        shared += 1
    return alt[shared:] if shared < min(len(ref), len(alt)) else alt


def _minimal_allele(ref: str, alt: str) -> str:
    """VEP's --minimal spelling: the ALT without the prefix and suffix it shares with REF."""
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while ref and alt and ref[0] == alt[0]:
        ref, alt = ref[1:], alt[1:]
    return alt or "-"


def _column(row: list[str], index: int | None) -> str | None:
    """A column's value, URL-unescaped (VEP escapes `=`, `;` and `,`), None when empty.
    Raises ValueError for an escaped NUL (`%00`): PostgreSQL text cannot hold one, and the
    record is refused at its line rather than the load failing at the COPY."""
    if index is None or index >= len(row) or not row[index]:
        return None
    value = row[index]
    if "%" not in value:
        return value
    value = unquote(value)
    if "\x00" in value:
        raise ValueError(f"annotation value {row[index]!r} holds a NUL (%00) once unescaped")
    return value


def _annotation(field: AnnotationField, row: list[str]) -> Annotation:
    feature_type = _column(row, field.feature_type)
    is_transcript = feature_type is None or feature_type in _TRANSCRIPT_TYPES
    intergenic = feature_type == "intergenic_region"
    consequence = _column(row, field.consequence) or ""
    hgvs_p = _without_prefix(_column(row, field.hgvs_p))
    return Annotation(
        gene=None if intergenic else _column(row, field.gene),
        gene_id=None if intergenic else _column(row, field.gene_id),
        transcript=_column(row, field.transcript) if is_transcript else None,
        consequence=tuple(term for term in _SPLIT_TERMS.split(consequence) if term),
        impact=_column(row, field.impact),
        hgvs_c=_without_prefix(_column(row, field.hgvs_c)),
        hgvs_p=_stored_protein(hgvs_p) if hgvs_p is not None else None,
        hgnc_id=None if intergenic else _column(row, field.hgnc_id))


@lru_cache(maxsize=1 << 16)
def _stored_protein(hgvs_p: str) -> str:
    """The canonical form, or the text as written for p.?, p.0 and other non-changes; cached,
    since a VEP record repeats one change on every transcript of its gene."""
    try:
        return normalise_aminoacid_change(hgvs_p)
    except ValueError:
        return hgvs_p


# A canonical frameshift (`normalise_aminoacid_change`): where, the new residue if written,
# and the stop (`Ter24`, `Ter?`) if written.
_FRAMESHIFT = re.compile(r"p\.(?P<at>[A-Z][a-z]{2}\d+)(?P<new>(?:[A-Z][a-z]{2})?)fs"
                         r"(?P<stop>(?:Ter(?:\d+|\?))?)")


@lru_cache(maxsize=1 << 16)
def indexed_protein_changes(hgvs_p: str) -> frozenset[str]:
    """What an annotated protein change is stored under for aminoacidChange: itself, and for
    a frameshift the shorter forms HGVS allows for it, which leave out the new residue, the
    stop or both (`p.Asn459TyrfsTer24` also under `p.Asn459Tyrfs`, `p.Asn459fsTer24` and
    `p.Asn459fs`). So `N459fs` or `N459Yfs` finds it by the same index lookup as
    `N459Yfs*24`, while a form that says more than the annotation (`N459Yfs*30`, or
    `N459Yfs` against SnpEff's `p.Asn459fs`) finds it not."""
    shift = _FRAMESHIFT.fullmatch(hgvs_p)
    if shift is None:
        return frozenset({hgvs_p})
    return frozenset(f"p.{shift['at']}{new}fs{stop}" for new in {shift["new"], ""}
                     for stop in {shift["stop"], ""})


def protein_change_pattern(change: str) -> str:
    """A regular expression (PostgreSQL's `~`) matching the annotated changes a canonical
    change finds, as `indexed_protein_changes` indexes them: the change itself, or, for a
    frameshift leaving out its new residue or stop, the frameshifts there that state them.
    geneId with aminoacidChange reads it against each annotation entry of a variant, as the
    index cannot tell which entry of the variant's carries the change and which the gene."""
    shift = _FRAMESHIFT.fullmatch(change)
    if shift is None:
        return f"^{re.escape(change)}$"
    new = shift["new"] or "([A-Z][a-z]{2})?"
    stop = re.escape(shift["stop"]) if shift["stop"] else r"(Ter([0-9]+|\?))?"
    return rf"^p\.{shift['at']}{new}fs{stop}$"


def _without_prefix(hgvs: str | None) -> str | None:
    """VEP writes `ENST00000269305.4:c.524G>A`; the transcript is stored on its own."""
    if hgvs is None:
        return None
    return hgvs.rsplit(":", 1)[-1] or None


def normalise_aminoacid_change(text: str) -> str:
    """The canonical form (`p.Val600Glu`) of a protein change written with one- or
    three-letter amino acids, with or without `p.`, parentheses, a protein accession prefix
    (`NP_004324.2:`) or URL escapes (`%3D` for `=`). A change repeating its amino acid
    (`p.Val119Val`, as SnpEff writes synonymous ones) becomes `p.Val119=`.

    Raises ValueError saying what is wrong."""
    tokens = _protein_tokens(text)
    shape = "".join(kind for kind, _ in tokens)
    if not _SHAPE.fullmatch(shape):
        raise ValueError(f"{text!r} is not a protein change HGVS describes (expected e.g. "
                         "V600E, p.Val600Glu, p.Arg213Ter, p.Leu55=, p.Arg213GlyfsTer5)")
    if shape == "ana" and tokens[0][1] == tokens[2][1]:
        tokens[2] = ("=", "=")
    return "p." + "".join(value for _, value in tokens)


def protein_change_forms(text: str) -> frozenset[str]:
    """Every spelling a query may use for a protein change: three- and one-letter, with and
    without `p.` (`p.Val600Glu`, `Val600Glu`, `p.V600E`, `V600E`). Raises ValueError like
    `normalise_aminoacid_change`."""
    canonical = normalise_aminoacid_change(text)
    one = "p." + "".join(_THREE_TO_ONE.get(token, token)
                         for token in re.split(r"([A-Z][a-z]{2})", canonical[2:]) if token)
    return frozenset({canonical, canonical[2:], one, one[2:]})


def _protein_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, three-letter spelling) tokens of a protein change; kinds as in _SHAPE."""
    body = unquote(text.strip()) if "%" in text else text.strip()
    body = body.rsplit(":", 1)[-1].removeprefix("p.")
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    if not body:
        raise ValueError(f"{text!r} names no protein change")
    first_word = _WORD.search(body)
    three = first_word is not None and first_word[0] in _THREE_TO_ONE
    tokens: list[tuple[str, str]] = []
    at = 0
    pattern = _THREE_LETTER_TOKEN if three else _ONE_LETTER_TOKEN
    while at < len(body) and (token := pattern.match(body, at)):
        kind, value = token.lastgroup or "", token[0]
        if kind == "a":
            value = _ONE_TO_THREE[value] if len(value) == 1 else value
        elif kind == "n" and value.startswith("-"):
            kind = "m"
        elif kind == "k":
            kind = _KEYWORD_KINDS[value]
        elif kind == "s":
            kind = value
        tokens.append((kind, value))
        at = token.end()
    if at < len(body):
        style = ("three-letter amino acids (Val, Glu, Ter)" if three
                 else "upper-case one-letter amino acids (V, E, *)")
        raise ValueError(f"{text!r}: cannot read {body[at:]!r} as a protein change in "
                         f"{style}")
    return tokens


def parse_genomic_hgvs(text: str) -> GenomicAllele:
    """A genomic HGVS expression on a RefSeq chromosome accession (`NC_000017.11:g.7674858C>A`,
    which also fixes the assembly) or a chromosome name (`17:g.…`, `chr17:g.…`): substitution,
    deletion (`g.123_125del`, `g.123delC`), insertion (`g.123_124insACG`), deletion-insertion
    (`g.123_125delinsAT`) and duplication with its bases (`g.123_125dupCTG`).

    Raises ValueError naming what is wrong: not genomic (c., p.), an unknown sequence, uncertain
    or out-of-range positions, or a form that cannot become one VCF allele."""
    match = _GENOMIC.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a genomic HGVS expression such as "
                         "NC_000017.11:g.7674858C>A")
    kind, change = match["kind"], match["change"]
    if re.search(f"[0-9]{{{_POSITION_DIGITS + 1}}}", change):
        raise ValueError(f"{text!r}: a position of more than {_POSITION_DIGITS} digits "
                         "is past the end of every chromosome")
    if kind not in ("g", "m"):
        raise ValueError(f"{text!r}: only genomic changes (g., or m. on the mitochondrion) "
                         f"map to a position; {kind}. needs the transcript's alignment")
    assembly_id, chromosome = _place(match["sequence"])
    if kind == "m" and chromosome != "MT":
        raise ValueError(f"{text!r}: m. names mitochondrial positions, not {chromosome}")
    if substitution := _SUBSTITUTION.fullmatch(change):
        start, ref, alt = int(substitution["start"]), substitution["ref"], substitution["alt"]
        if ref == alt:
            raise ValueError(f"{text!r}: {ref}>{alt} changes nothing")
        allele = GenomicAllele(assembly_id, chromosome, start - 1, ref, alt)
    elif edit := _EDIT.fullmatch(change):
        allele = _edit(text, assembly_id, chromosome, edit)
    else:
        raise ValueError(f"{text!r}: {change!r} is not a substitution (7674858C>A), deletion "
                         "(123_125del), insertion (123_124insACG), delins or dup with bases; "
                         "uncertain positions and repeats cannot be matched")
    if (bases := len(allele.ref) + len(allele.alt)) > ALLELE_BASES:
        # as ingest measures an allele: REF and ALT together. A longer insertion is stored
        # as a symbolic one, so asked in bases it was a silent exists: false
        raise ValueError(f"{text!r}: its alleles, {bases:,} bases, are longer than the "
                         f"node stores an allele in bases ({ALLELE_BASES:,}); ask for a range "
                         "(start, end) with variantType INS or DEL")
    _check_within(text, allele)
    return allele


def _place(sequence: str) -> tuple[str | None, str]:
    """Chromosome and, when only one assembly has that sequence, the assembly."""
    placed = {assembly.id: chromosome for assembly in ASSEMBLIES.values()
              if (chromosome := assembly.normalise(sequence)) is not None}
    if not placed:
        raise ValueError(f"{sequence!r} is not a chromosome or RefSeq chromosome accession of "
                         f"{' or '.join(ASSEMBLIES)}")
    chromosome = next(iter(placed.values()))
    return (next(iter(placed)) if len(placed) == 1 else None), chromosome


def _edit(text: str, assembly_id: str | None, chromosome: str,
          edit: re.Match[str]) -> GenomicAllele:
    start = int(edit["start"])
    end = int(edit["end"]) if edit["end"] else start
    op, bases = edit["op"], edit["bases"]
    if end < start:
        raise ValueError(f"{text!r}: the range ends before it starts")
    span = end - start + 1
    if span > ALLELE_BASES:
        # checked before the span's Ns are spelt out: 2e8 of them (and their SQL pattern)
        # took the node's memory, and past any chromosome they were a MemoryError
        raise ValueError(f"{text!r}: {span:,} bases are longer than the node stores an allele "
                         f"in bases ({ALLELE_BASES:,}); ask for a range (start, end) with "
                         "variantType DEL or DUP")
    if op == "ins":
        if end != start + 1 or not bases:
            raise ValueError(f"{text!r}: an insertion names the two flanking positions and "
                             "the inserted bases (123_124insACG)")
        return GenomicAllele(assembly_id, chromosome, start - 1, "N", "N" + bases, "INS")
    if op == "delins":
        if not bases:
            raise ValueError(f"{text!r}: delins needs the inserted bases")
        return GenomicAllele(assembly_id, chromosome, start - 1, "N" * span, bases)
    if bases and len(bases) != span:
        raise ValueError(f"{text!r}: {len(bases)} bases given for {span} positions")
    if start < 2:
        raise ValueError(f"{text!r}: an indel at the first base has no padding base before it")
    if op == "dup":
        if not bases:
            raise ValueError(f"{text!r}: a duplication needs its bases (123_125dupCTG) to be "
                             "matched as the insertion VCF writes")
        return GenomicAllele(assembly_id, chromosome, start - 2, "N", "N" + bases, "INS")
    return GenomicAllele(assembly_id, chromosome, start - 2, "N" + (bases or "N" * span), "N",
                         "DEL")


def _check_within(text: str, allele: GenomicAllele) -> None:
    """Positions must lie on the chromosome of the assembly (or of either, when not pinned)."""
    assemblies = ([ASSEMBLIES[allele.assembly_id]] if allele.assembly_id
                  else list(ASSEMBLIES.values()))
    last = allele.start + len(allele.ref)
    if allele.start < 0 or all(last > a.length(allele.chromosome) for a in assemblies):
        raise ValueError(f"{text!r}: position outside chromosome {allele.chromosome}")
