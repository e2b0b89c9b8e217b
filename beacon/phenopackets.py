"""A dataset's individuals, read from GA4GH Phenopackets v2 JSON or from a simple CSV.

JSON files hold one JSON array of phenopackets, a single phenopacket object, or JSON Lines
(one phenopacket per line; pretty-printed ones one after another, as `jq .` writes them, are
none of these, and refused saying so); wherever a phenopacket may be, a Cohort (its members)
or a Family (its proband and relatives) may be too, standing for its members. Keys are accepted in camelCase (canonical JSON) and snake_case (the
protobuf field names), since tools write both. Only what the Beacon individuals model and the
GDI portal's filters use is read; everything else a phenopacket carries is ignored. A
phenopacket with only a subject is valid: an individual with what is known of it.

What is read, and from where:
* id: `subject.id`, the VCF sample name the individual is linked to, as written: compared
  with the VCF's names exactly, as htslib keeps them, white space around it too (a blank id
  is refused);
* sex: `subject.sex` (FEMALE, MALE, OTHER_SEX, UNKNOWN_SEX; the protobuf numbers 0-3 too);
* age: `subject.timeAtLastEncounter.age.iso8601duration` (its other forms, an ageRange, a
  gestationalAge, an ontologyClass, a timestamp or an interval, leave it unknown, counted in
  `Individual.unaged`, which ingest reports: age filters do not see them);
* country of birth: `subject.countryOfBirth`, an assigned ISO 3166-1 alpha-2 code in either
  letter case. Phenopackets v2 has no field for it; this is the node's own extension, needed
  for the GDI portal's population labels (`FI`, `FI_F`, ...), which the portal reads as
  countries: a code ISO does not assign (`UK`, `EL`, `XX`) is refused, not made a population;
* diseases: `diseases[].term`, onset from `onset.age.iso8601duration` (other onset forms leave
  it unknown, counted as an age's are), stages from `diseaseStage[]`; excluded diseases are
  left out;
* features: `phenotypicFeatures[].type`, excluded ones left out. `excluded` is a proto3 bool:
  JSON true or false, or the strings "true" and "false" that some proto3 JSON parsers (Java's)
  also read; anything else is refused, not read by its truthiness;
* treatments: `medicalActions[].treatment.agent`; procedures: `medicalActions[].procedure.code`;
* histology: `biosamples[].histologicalDiagnosis` and `diseases[].primarySite`, so a
  site-coded term such as the portal's ICD-10 `C18.x` "histopathology" filters can be given
  either way (neither has a place in the Beacon individuals model: it is not in
  `beacon_record`);
* measurements: `measurements[]` with `assay` and `value.quantity.value` (+ `unit`; absent,
  proto3's 0); other value forms (an ontology class, a complex value) are skipped.

CSV (`.csv`, or `.tsv` tab-separated), with a header naming any of these columns once (`id`
needed):
  id, sex, age, country_of_birth, diseases, features
where `diseases` is `;`-separated `TERM` or `TERM@ONSET` (`NCIT:C3117@P45Y`), `features` is
`;`-separated terms (HPO), sex as in phenopackets (any letter case), empty cells unknown.
Cells lose the white space around them, the id's too: a VCF sample whose name begins or ends
with white space can have its phenopacket only in JSON.

Every problem raises PhenopacketProblem, `file:record: reason`, where the record is the
phenopacket's 1-based position in an array or its line in JSON Lines and CSV.
"""
from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pycountry

from beacon.durations import duration_days
from beacon.ontology import is_curie, primary

# The longest term id held (`_curie`); ontology CURIEs are tens of characters.
TERM_ID_CHARACTERS = 256


class PhenopacketProblem(Exception):
    """Bad input, reported as `file:record: reason`."""

    def __init__(self, path: Path | str, record: int | None, reason: str) -> None:
        self.path, self.record, self.reason = str(path), record, reason
        where = f":{record}" if record is not None else ""
        super().__init__(f"{path}{where}: {reason}")

    def __reduce__(self) -> tuple:
        """Rebuilt from its parts when it crosses from a worker process to the coordinator."""
        return (PhenopacketProblem, (self.path, self.record, self.reason))


@dataclass(frozen=True)
class Term:
    id: str
    label: str | None = None


@dataclass(frozen=True)
class Disease:
    term: Term
    onset: str | None = None            # ISO 8601 duration as given
    stages: tuple[Term, ...] = ()


@dataclass(frozen=True)
class Measurement:
    assay: Term
    value: float
    unit: Term | None = None


@dataclass(frozen=True)
class Individual:
    id: str                             # subject.id == the VCF sample name
    record: int                         # where it was read, for later errors
    sex: str = "UNKNOWN_SEX"
    age: str | None = None              # ISO 8601 duration at the last encounter
    country_of_birth: str | None = None  # ISO 3166-1 alpha-2, upper case
    diseases: tuple[Disease, ...] = ()
    features: tuple[Term, ...] = ()
    treatments: tuple[Term, ...] = ()
    procedures: tuple[Term, ...] = ()
    histology: tuple[Term, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    # of its disease onsets and its age at the last encounter, how many are given in a form
    # other than an age (ageRange, ontologyClass, ...): read as unknown (`_unaged`)
    unaged: int = 0


SEX_TERMS: dict[str, Term] = {
    "FEMALE": Term("NCIT:C16576", "female"),
    "MALE": Term("NCIT:C20197", "male"),
    "OTHER_SEX": Term("NCIT:C45908", "intersex"),
    "UNKNOWN_SEX": Term("NCIT:C17998", "unknown"),
}
_SEX_NUMBERS = ("UNKNOWN_SEX", "FEMALE", "MALE", "OTHER_SEX")   # the protobuf enum's order
_COUNTRY = re.compile(r"[A-Za-z]{2}")
# Codes written for a country whose ISO 3166-1 code is another: the EU's own abbreviations
# for the United Kingdom and Greece, which ISO reserves but does not assign.
_COUNTRY_CONFUSIONS = {"UK": "GB", "EL": "GR"}
_CSV_COLUMNS = ("id", "sex", "age", "country_of_birth", "diseases", "features")
_GZIP = b"\x1f\x8b"                             # a gzip file's first bytes
_SURROGATE = re.compile("[\ud800-\udfff]")     # half of a UTF-16 pair, alone: no character
_NESTED_TOO_DEEPLY = "JSON nested too deeply to read"     # Python's parser gave up, not the file
_JSON_FORMS = ("a JSON file holds one JSON array of phenopackets, one phenopacket, or JSON "
               "Lines: one phenopacket per line, as `jq -c .` writes them")


class _Bad(Exception):
    """A reason, raised where it is found and given its file and record by the reader."""


def read_individuals(path: Path) -> list[Individual]:
    """The individuals a phenopackets JSON file or a CSV describes, in file order."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".tsv"):
        rows = _csv_rows(path)
    else:
        rows = ((record, packet, _individual) for record, packet in _json_records(path))
    try:
        return _unique([_parse(path, record, raw, parse) for record, raw, parse in rows], path)
    except UnicodeDecodeError as error:
        if error.object[:2] == _GZIP:   # "convert it with iconv" mends no compressed file
            raise PhenopacketProblem(path, None, "compressed with gzip: give it decompressed "
                                                 "(gunzip), as JSON, JSON Lines or CSV") from None
        raise PhenopacketProblem(path, None, f"not UTF-8 text (byte "
                                             f"{error.object[error.start]:#04x}); convert it, "
                                             "e.g. with iconv") from None
    except OSError as error:
        raise PhenopacketProblem(path, None, f"cannot read: {error.strerror or error}") from None


def _parse(path: Path, record: int, raw: Any, parse: Any) -> Individual:
    unheld = _unheld_at(raw)
    if unheld is not None:
        place, reason = unheld
        raise PhenopacketProblem(path, record, f"{place or 'the record'}: {reason}")
    try:
        return parse(raw, record)
    except _Bad as bad:
        raise PhenopacketProblem(path, record, str(bad)) from None


def _unheld_at(value: Any, at: str = "") -> tuple[str, str] | None:
    """Where in a record as read (JSON, or a CSV row) is a value the node cannot hold, and
    why; None if nowhere. Refused in any field, read or not, before the record is read:
    * a NUL character, which PostgreSQL's text cannot store (found by
      tests/test_fuzz_ingest.py: a label with one broke the load's COPY);
    * a lone UTF-16 surrogate, what JSON's escape `\\ud83d` decodes to without the other
      half of its pair (an emoji cut in two): no character, so no UTF-8. Until 2026-12-05
      it failed later, naming no record: orjson's TypeError writing the Beacon record, or
      UnicodeEncodeError in the load's COPY for a label the record does not carry (a
      histological diagnosis's), found by a review;
    * an integer of more digits than Python reads, as `_loads` leaves it;
    * a key an object gives twice (`_Repeated`)."""
    if isinstance(value, str):
        if "\x00" in value:
            return at, "holds a NUL character, which no text in the database can"
        lone = None if value.isascii() else _SURROGATE.search(value)
        if lone is not None:
            return at, (f"holds a lone UTF-16 surrogate (\\u{ord(lone.group()):04x} without "
                        "the other half of its pair), not a character")
        return None
    if isinstance(value, _LongInteger):
        return at, (f"an integer of {value.digits:,} digits, longer than a number is read "
                    f"(at most {value.limit:,})")
    if value is _REPEATED:
        return at, "given twice in one object: JSON keeps one, and the other would be lost"
    if isinstance(value, dict):
        places = ((f"{at}.{key}" if at else str(key), inner) for key, inner in value.items())
    elif isinstance(value, list):
        places = ((f"{at}[{n}]", inner) for n, inner in enumerate(value))
    else:
        return None
    for place, inner in places:
        found = _unheld_at(inner, place)
        if found is not None:
            return found
    return None


def _unique(individuals: list[Individual], path: Path) -> list[Individual]:
    """The individuals, each subject id once: one id is one VCF sample."""
    first_seen: dict[str, int] = {}
    for individual in individuals:
        if individual.id in first_seen:
            raise PhenopacketProblem(path, individual.record,
                                     f"duplicate subject id {individual.id!r} "
                                     f"(also record {first_seen[individual.id]})")
        first_seen[individual.id] = individual.record
    return individuals


def beacon_record(individual: Individual) -> dict:
    """The individual as a Beacon v2 individuals default-model record, each term named as
    the node holds it (beacon/ontology.py `primary`: `HP:0001250` for a retired
    `HP:0001275`, `ICD10:C18.2` for `ICD10:C182`), as its filtering terms list it and its
    filters read it. Records repeated the phenopacket's spelling, a term no filtering term
    names, so a client telling records' features apart saw one term as two (found by a
    review, 2026-12-05)."""
    record: dict[str, Any] = {"id": individual.id, "sex": _json(SEX_TERMS[individual.sex])}
    if individual.country_of_birth:
        record["geographicOrigin"] = _country_json(individual.country_of_birth)
    if individual.diseases:
        record["diseases"] = [_disease_json(disease) for disease in individual.diseases]
    if individual.features:
        record["phenotypicFeatures"] = [{"featureType": _json(t)} for t in individual.features]
    if individual.treatments:
        record["treatments"] = [{"treatmentCode": _json(t)} for t in individual.treatments]
    if individual.procedures:
        record["interventionsOrProcedures"] = [{"procedureCode": _json(t)}
                                               for t in individual.procedures]
    measures = [_measure_json(m) for m in individual.measurements if m.unit is not None]
    if measures:
        record["measures"] = measures
    return record


def _country_json(alpha_2: str) -> dict:
    """The country as `ISO3166:FI` (GAZ ids, the schema's suggestion, would need a country
    table the node does not keep; the schema asks only for a CURIE), named where known."""
    country = pycountry.countries.get(alpha_2=alpha_2)
    term = {"id": f"ISO3166:{alpha_2}"}
    return term | {"label": country.name} if country else term


def _json(term: Term) -> dict:
    held = primary(term.id)
    return {"id": held, "label": term.label} if term.label else {"id": held}


def _disease_json(disease: Disease) -> dict:
    """Beacon's Disease has one `stage`: the first one given (phenopackets allow several)."""
    out: dict[str, Any] = {"diseaseCode": _json(disease.term)}
    if disease.onset:
        out["ageOfOnset"] = {"iso8601duration": disease.onset}
    if disease.stages:
        out["stage"] = _json(disease.stages[0])
    return out


def _measure_json(measure: Measurement) -> dict:
    """A measure with a unit: Beacon's Quantity requires one, so a measure read without it is
    left out of the record (it still counts for filters)."""
    return {"assayCode": _json(measure.assay),
            "measurementValue": {"value": measure.value, "unit": _json(measure.unit)}}


def _json_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(record, parsed value): array items, the single object, or JSON Lines."""
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise PhenopacketProblem(path, None, "empty file: expected a JSON array of "
                                             "phenopackets, a phenopacket or JSON Lines")
    try:
        document = _loads(text)
    except json.JSONDecodeError as error:
        if not error.msg.startswith("Extra data"):
            raise PhenopacketProblem(path, error.lineno, f"not JSON: {error.msg}") from None
        before = text[:error.pos].rstrip()
        last, spanned = before.count("\n") + 1, before.lstrip().count("\n")
        if spanned:                         # pretty-printed values one after another (`jq .`)
            raise PhenopacketProblem(path, error.lineno, f"a second JSON value, after one over "
                                     f"lines {last - spanned}-{last}: {_JSON_FORMS}") from None
        yield from _json_lines(path, text)
        return
    except RecursionError:                     # Python's parser, not the file, gave up
        raise PhenopacketProblem(path, None, _NESTED_TOO_DEEPLY) from None
    yield from enumerate(_flattened(document if isinstance(document, list) else [document]),
                         start=1)


def _flattened(values: list[Any]) -> Iterator[Any]:
    """Each phenopacket of `values` in order, a Cohort's or a Family's members in its place:
    numbered so, a record is the phenopacket's place in the file, as in a file holding one
    Cohort or Family. An array of families (a file per study of trios) had each read as one
    phenopacket and refused, "record 1: subject.id is missing or blank"."""
    for value in values:
        members = _members(value)
        yield from members if members is not None else (value,)


def _members(document: Any) -> list[Any] | None:
    """The phenopackets of Phenopackets v2's containers of several, in order: a Cohort's
    `members`, a Family's `proband` and `relatives` (a trio's VCF); None for anything else,
    read as one phenopacket. Read as one, either was refused, its subject "missing"."""
    if not isinstance(document, dict) or _get(document, "subject") is not None:
        return None
    members = _get(document, "members")
    if isinstance(members, list):
        return members
    if members is not None:
        return [_NotListed("members is not a list: a Cohort's members are a list of "
                           "phenopackets")]
    proband, relatives = _get(document, "proband"), _get(document, "relatives")
    if proband is None:
        return None
    if relatives is not None and not isinstance(relatives, list):
        # one relative written as an object was dropped without a word
        return [proband, _NotListed("relatives is not a list: a Family's relatives are a "
                                    "list of phenopackets")]
    return [proband, *(relatives or [])]


@dataclass(frozen=True)
class _NotListed:
    """In a container's place among the phenopackets, the reason its phenopackets are not a
    list, refused there (`_individual`) with the file and record every problem names."""
    reason: str


@dataclass(frozen=True)
class _LongInteger:
    """A JSON integer of more digits than Python's int() reads (`sys.get_int_max_str_digits`),
    as `_loads` reads it, for `_unheld_at` to refuse at its record."""
    digits: int
    limit: int


def _integer(digits: str) -> int | _LongInteger:
    try:
        return int(digits)
    except ValueError:
        return _LongInteger(len(digits.lstrip("-")), sys.get_int_max_str_digits())


class _Repeated:
    """A key an object of the JSON gives twice, as `_loads` reads it, for `_unheld_at` to
    refuse at its record: json keeps the last, and the first was dropped without a word
    (two `diseases`: the first's lost; found by a review, 2026-12-06), where a CSV's
    column given twice is refused."""


_REPEATED = _Repeated()


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object of the JSON, each key given twice marked `_REPEATED`."""
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                obj[key] = _REPEATED
            seen.add(key)
    return obj


def _loads(text: str) -> Any:
    """json.loads, with an integer of more than 4,300 digits (Python's int max str digits)
    read as a _LongInteger, which is refused at its record like a NUL. json.loads raises a
    plain ValueError for one, not JSONDecodeError, anywhere in the file, a field read or
    not: until 2026-12-05 neither reader caught it, and the ingest failed with Python's
    "Exceeds the limit (4300 digits) for integer string conversion", naming the VCF (found
    by a review). Parsed again only then, so the usual parse keeps the parser's own int."""
    try:
        return json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError:
        raise
    except ValueError:
        return json.loads(text, parse_int=_integer, object_pairs_hook=_pairs)


def _json_lines(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """Lines end at "\n" (a "\r" before it is dropped), as JSON Lines says and as the
    parser's line numbers count: str.splitlines() also ends one at U+2028, U+2029, U+0085
    and others, which a JSON string may hold as they are, so a valid line was cut in two."""
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip():
            try:
                parsed = _loads(line)
            except json.JSONDecodeError as error:
                cut = error.pos >= len(line.rstrip())      # a value that goes on below
                raise PhenopacketProblem(path, number, f"not JSON: {error.msg}" + (
                    f", the line ending inside a JSON value ({_JSON_FORMS})" if cut else "")
                                         ) from None
            except RecursionError:
                raise PhenopacketProblem(path, number, _NESTED_TOO_DEEPLY) from None
            for packet in _flattened([parsed]):     # a line's Cohort or Family: its members
                yield number, packet


def _get(obj: dict, key: str) -> Any:
    """obj[key] under its camelCase or its snake_case (protobuf) name; _Bad where it is
    under both: one field written twice, which protobuf's JSON parsers refuse, and of which
    the snake_case one was dropped without a word (`"timeAtLastEncounter": null` beside
    `"time_at_last_encounter": {...}` lost the age; found by a review, 2026-12-06)."""
    snake = _snake(key)
    if key in obj:
        if snake in obj and snake != key:
            raise _Bad(f"{key} and {snake} both given: one field, written twice")
        return obj[key]
    return obj.get(snake)


@lru_cache(maxsize=256)
def _snake(key: str) -> str:
    """A camelCase field name as protobuf's snake_case writes it."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def _items(obj: dict, key: str, where: str) -> list[tuple[str, Any]]:
    """(path for messages, item) of the list under `key`; absent is empty."""
    value = _get(obj, key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{where}{key} is not a list")
    return [(f"{where}{key}[{n}]", item) for n, item in enumerate(value)]


def _object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Bad(f"{where} is not an object")
    return value


def _term(value: Any, where: str) -> Term:
    """An OntologyClass `{id, label}` whose id is a CURIE."""
    term = _object(value, where)
    label = term.get("label")
    return Term(_curie(term.get("id"), f"{where}.id"),
                label if isinstance(label, str) and label else None)


def _curie(term_id: Any, where: str) -> str:
    """A term id, a CURIE of at most TERM_ID_CHARACTERS: the individuals' terms are keyed by
    id in btree indexes (`individual_terms`, `term_members`), whose entries PostgreSQL
    bounds (2,704 bytes); a longer id stopped the load with the database's error, naming no
    record."""
    if isinstance(term_id, str) and len(term_id) > TERM_ID_CHARACTERS:
        raise _Bad(f"{where}: a term id of {len(term_id):,} characters is longer than the "
                   f"node stores ({TERM_ID_CHARACTERS})")
    if not isinstance(term_id, str) or not is_curie(term_id):
        ascii_only = not isinstance(term_id, str) or term_id.isascii()
        hint = "" if ascii_only else ", in printable ASCII"
        raise _Bad(f"{where}: {term_id!r} is not a CURIE (prefix:local){hint}")
    return term_id


def _duration(value: Any, where: str) -> str:
    """An ISO 8601 duration as given, once it is known to be one."""
    if not isinstance(value, str):
        raise _Bad(f"{where}: {value!r} is not an ISO 8601 duration (e.g. P30Y)")
    try:
        duration_days(value)
    except ValueError as error:
        raise _Bad(f"{where}: {error}") from None
    return value.strip()


def _age(time_element: Any, where: str) -> str | None:
    """A TimeElement's `age.iso8601duration`; None for its other forms."""
    if time_element is None:
        return None
    age = _get(_object(time_element, where), "age")
    if age is None:
        return None
    return _duration(_get(_object(age, f"{where}.age"), "iso8601duration"),
                     f"{where}.age.iso8601duration")


def _unaged(time_element: Any) -> bool:
    """A TimeElement (already read by `_age`) given, but not as an age: an ageRange, a
    gestationalAge, an ontologyClass (`HP:0003581`, adult onset), a timestamp or an
    interval. Read as unknown by design, so age filters do not see it; counted, so that
    ingest tells the operator how many. Until 2026-12-05 they were dropped without a word,
    and a file whose onsets were all ontology classes loaded as one without onsets."""
    return (isinstance(time_element, dict) and bool(time_element)
            and _get(time_element, "age") is None)


def _individual(packet: Any, record: int) -> Individual:
    """The individual of a phenopacket, its id `subject.id` as written. Until 2026-12-05 the
    id was stripped of the white space around it, while htslib keeps a VCF's sample names
    exactly: the phenopacket of a sample `S1 ` was refused as "subject 'S1' is not a sample
    of the VCF", and samples `S1` and `S1 ` could never both have one (found by a review)."""
    if isinstance(packet, _NotListed):
        raise _Bad(packet.reason)
    packet = _object(packet, "the phenopacket")
    subject = _object(_get(packet, "subject") or {}, "subject")
    _not_v1(packet, subject)
    subject_id = _get(subject, "id")
    if subject_id is not None and not isinstance(subject_id, str):
        # a number, as a table exported to JSON writes an id of digits: refused as "missing"
        # before, which it is not
        number = isinstance(subject_id, int | float) and not isinstance(subject_id, bool)
        raise _Bad(f"subject.id: {subject_id!r} is not a string"
                   + (f' ("{subject_id}"?)' if number else ""))
    if subject_id is None or not subject_id.strip():
        raise _Bad("subject.id is missing or blank")
    diseases, times = [], [_get(subject, "timeAtLastEncounter")]
    for where, item in _items(packet, "diseases", ""):
        if not _excluded(_object(item, where), where):
            diseases.append(_disease(item, where))
            times.append(_get(item, "onset"))
    actions = [(where, _object(item, where))
               for where, item in _items(packet, "medicalActions", "")]
    return Individual(
        id=subject_id, record=record, sex=_sex(_get(subject, "sex")),
        age=_age(times[0], "subject.timeAtLastEncounter"),
        country_of_birth=_country(_get(subject, "countryOfBirth")),
        diseases=tuple(diseases),
        features=tuple(_term(_get(_object(item, where), "type"), f"{where}.type")
                       for where, item in _items(packet, "phenotypicFeatures", "")
                       if not _excluded(_object(item, where), where)),
        treatments=_action_terms(actions, "treatment", "agent"),
        procedures=_action_terms(actions, "procedure", "code"),
        histology=_histology(packet),
        measurements=tuple(m for where, item in _items(packet, "measurements", "")
                           if (m := _measurement(_object(item, where), where)) is not None),
        unaged=sum(_unaged(time) for time in times))


# The fields Phenopackets v1 wrote that v2 renamed (list, v1 field, v2 field), v2's reading
# of a v1 phenopacket missing them: a feature v1 marks `negated` (the person does not have
# it) was held as present, and the ages v1 gives were dropped without a word
_V1_FIELDS = (("phenotypicFeatures", "negated", "excluded"), ("diseases", "ageOfOnset", "onset"),
               ("diseases", "ageRangeOfOnset", "onset"), ("diseases", "classOfOnset", "onset"))
# the subject's fields of v1 (v2 field): its age at collection, as an age or a range of them
_V1_SUBJECT = (("ageAtCollection", "timeAtLastEncounter"),
               ("ageRangeAtCollection", "timeAtLastEncounter"))
_CONVERT = ("; this node reads Phenopackets v2: convert the file (phenopacket-tools' "
            "`convert` does)")


def _not_v1(packet: dict, subject: dict) -> None:
    """_Bad for a Phenopackets v1 phenopacket, told by its schema version or by a field only
    v1 has: read as v2, it is misread (`_V1_FIELDS`)."""
    meta = _get(packet, "metaData")
    version = _get(meta, "phenopacketSchemaVersion") if isinstance(meta, dict) else None
    if isinstance(version, str) and version.strip().startswith("1"):
        raise _Bad(f"metaData.phenopacketSchemaVersion: {version!r} is Phenopackets v1"
                   + _CONVERT)
    for field, renamed in _V1_SUBJECT:
        if _get(subject, field) is not None:
            raise _Bad(f"subject.{field}: a Phenopackets v1 field (v2 writes {renamed})"
                       + _CONVERT)
    for listed, field, renamed in _V1_FIELDS:
        for where, item in _items(packet, listed, ""):
            if isinstance(item, dict) and _get(item, field) is not None:
                raise _Bad(f"{where}.{field}: a Phenopackets v1 field (v2 writes {renamed})"
                           + _CONVERT)


def _excluded(item: dict, where: str) -> bool:
    """An item's `excluded`, a proto3 bool: true, false, the strings "true" and "false" (which
    Java's proto3 JSON parser also accepts), or absent (false). Read by truthiness, `"false"`
    dropped the feature and `"no"` or 1 decided by accident; anything else is refused."""
    value = _get(item, "excluded")
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    raise _Bad(f"{where}.excluded: {value!r} is not true or false")


def _action_terms(actions: list[tuple[str, dict]], kind: str, field: str) -> tuple[Term, ...]:
    """The medical actions of one kind, by their term (a treatment's agent, a procedure's code);
    the other kinds (radiation therapy, therapeutic regimens) are not read."""
    return tuple(_term(_get(_object(_get(action, kind), f"{where}.{kind}"), field),
                       f"{where}.{kind}.{field}")
                 for where, action in actions if _get(action, kind) is not None)


def _sex(value: Any) -> str:
    if value is None:
        return "UNKNOWN_SEX"
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 4:
        return _SEX_NUMBERS[value]
    if isinstance(value, str) and value.upper() in SEX_TERMS:
        return value.upper()
    raise _Bad(f"unknown sex {value!r} (expected one of {', '.join(SEX_TERMS)})")


def _country(value: Any) -> str | None:
    """An assigned ISO 3166-1 alpha-2 code, upper-cased. It becomes a population label the GDI
    portal reads as a country, so a well-formed code ISO does not assign (`UK`, `ZZ`) is
    refused as surely as a name; the refusal suggests the code meant where it can tell."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _COUNTRY.fullmatch(value.strip()):
        raise _Bad(f"countryOfBirth {value!r} is not a two-letter ISO 3166-1 code"
                   + _country_hint(value))
    code = value.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise _Bad(f"countryOfBirth {value!r} is not an ISO 3166-1 alpha-2 code"
                   + _country_hint(code))
    return code


def _country_hint(given: Any) -> str:
    """` (GB?)`: the code meant by a known confusion, an alpha-3 code or a country's name;
    empty when none is known."""
    if not isinstance(given, str):
        return ""
    code = _COUNTRY_CONFUSIONS.get(given.strip().upper())
    if code is None:
        try:
            code = pycountry.countries.lookup(given.strip()).alpha_2
        except LookupError:
            return ""
    return f" ({code}?)"


def _disease(disease: dict, where: str) -> Disease:
    return Disease(term=_term(_get(disease, "term"), f"{where}.term"),
                   onset=_age(_get(disease, "onset"), f"{where}.onset"),
                   stages=tuple(_term(stage, stage_where) for stage_where, stage
                                in _items(disease, "diseaseStage", f"{where}.")))


def _histology(packet: dict) -> tuple[Term, ...]:
    """Biosamples' histological diagnoses, then the diseases' primary sites."""
    found = [_term(diagnosis, f"{where}.histologicalDiagnosis")
             for where, sample in _items(packet, "biosamples", "")
             if (diagnosis := _get(_object(sample, where), "histologicalDiagnosis")) is not None]
    for where, item in _items(packet, "diseases", ""):
        site = _get(item, "primarySite")
        if site is not None and not _excluded(item, where):
            found.append(_term(site, f"{where}.primarySite"))
    return tuple(dict.fromkeys(found))


def _measurement(measurement: dict, where: str) -> Measurement | None:
    """A quantity measurement; None for the other value forms. The value is held as a float;
    a quantity without one (absent or null) holds proto3's default, 0, which protobuf's JSON
    printers leave out (refused as no number until 2026-12-05: a file measuring a 0 loaded
    nothing; found by a review). A JSON integer past a float's range (a 1 and 400 zeros) is
    refused at its record. Until 2026-12-05 `math.isfinite()` raised OverflowError on it,
    which no reader caught: the ingest failed with "int too large to convert to float",
    naming the VCF (found by a review)."""
    value = _get(measurement, "value")
    quantity = _get(value, "quantity") if isinstance(value, dict) else None
    if quantity is None:
        return None
    quantity = _object(quantity, f"{where}.value.quantity")
    number = _get(quantity, "value")
    number = 0.0 if number is None else number
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise _Bad(f"{where}.value.quantity.value {number!r} is not a number")
    try:
        held = float(number)
    except OverflowError:
        raise _Bad(f"{where}.value.quantity.value: an integer of {len(str(abs(number))):,} "
                   "digits, not a number a float can hold (at most about 1.8e308)") from None
    if not math.isfinite(held):
        raise _Bad(f"{where}.value.quantity.value {number!r} is not a number")
    unit = _get(quantity, "unit")
    return Measurement(assay=_term(_get(measurement, "assay"), f"{where}.assay"),
                       value=held,
                       unit=None if unit is None else _term(unit, f"{where}.value.quantity.unit"))


def _csv_rows(path: Path) -> Iterator[tuple[int, dict, Any]]:
    """(line, row, parser) for each data line of a CSV/TSV file. A cell longer than
    Python's csv reads (`csv.field_size_limit()`) is refused at its line: its bare
    csv.Error failed the ingest naming the VCF (found by a review, 2026-12-05)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        try:
            yield from _csv_checked(path, reader)
        except csv.Error as error:
            limit = csv.field_size_limit()
            reason = (f"a cell of more than {limit:,} characters, longer than a CSV cell is "
                      "read" if "field limit" in str(error) else f"not CSV: {error}")
            # the csv reader's line: DictReader's own is the last row it gave's
            raise PhenopacketProblem(path, reader.reader.line_num, reason) from None


def _csv_checked(path: Path, reader: csv.DictReader) -> Iterator[tuple[int, dict, Any]]:
    """_csv_rows' rows, the header's columns checked first."""
    columns = [name.strip() for name in reader.fieldnames or []]
    unknown = [name for name in columns if name not in _CSV_COLUMNS]
    if "id" not in columns or unknown:
        reason = (f"unknown column(s) {', '.join(unknown)}" if unknown
                  else "no header with an id column")
        raise PhenopacketProblem(path, 1, f"{reason} (expected {', '.join(_CSV_COLUMNS)})")
    twice = next((name for n, name in enumerate(columns) if name in columns[:n]), None)
    if twice is not None:           # the row's dict would keep the last cell, silently
        raise PhenopacketProblem(path, 1, f"column {twice} given twice")
    for row in reader:
        if None in row:
            raise PhenopacketProblem(path, reader.line_num, "more cells than the header has")
        cleaned = {key.strip(): (value or "").strip() for key, value in row.items()}
        yield reader.line_num, cleaned, _csv_individual


def _csv_individual(row: dict, record: int) -> Individual:
    if not row.get("id"):
        raise _Bad("id is missing or blank")
    sex = row.get("sex", "")
    return Individual(
        id=row["id"], record=record, sex=_sex(sex.upper() if sex else None),
        age=_duration(row["age"], "age") if row.get("age") else None,
        country_of_birth=_country(row.get("country_of_birth")),
        diseases=tuple(_csv_disease(item) for item in _split(row.get("diseases", ""))),
        features=tuple(Term(_curie(item, "features")) for item in _split(row.get("features", ""))))


def _split(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(";") if item.strip()]


def _csv_disease(item: str) -> Disease:
    """`TERM` or `TERM@P30Y`; an `@` with no onset after it is refused, not read as none."""
    term, at, onset = item.partition("@")
    return Disease(term=Term(_curie(term.strip(), "diseases")),
                   onset=_duration(onset, "diseases onset") if at else None)
