"""ISO 8601 durations (ages, ages of onset) as a number of days, so they compare as durations.

Ages arrive as `P30Y`, `P2Y6M`, `P3W` or `P1Y2M3DT4H5M6S`; compared as strings `P9Y` would sort
after `P10Y`, and `P1Y` would differ from `P12M`. A duration has no fixed length in days (a
month is 28 to 31 of them), so the node uses the documented mean lengths of the Gregorian
calendar: a year is 365.25 days and a month a twelfth of it, 30.4375 days. Hence `P1Y` ==
`P12M` exactly, and `P1M` == `P30.4375D`. Ages are compared, never added to dates, so the
approximation only decides ties between durations less than a day apart. The days are summed
exactly (as fractions) and made a float once, so durations equal by these lengths are the same
float: summed in floats unit by unit, `P0.7Y` and `P8.4M` (255.675 days each), `P1DT1H` and
`PT25H` came out a rounding error apart, so `=`, `>=`, `<=` and `!` filters answered them
wrongly, and two spellings of one question drew the noise of two (found by a review,
2026-12-05; values stored before are re-made by ingesting the dataset again).

Accepted: the designators Y M W D and, after T, H M S, each with an optional fraction (`P1.5Y`,
`P1,5Y`), in that order, at least one present, in either letter case (weeks may be combined with
the others, as ISO 8601-2 allows). Digits are 0-9: a Unicode regex's digits and float() also
take other scripts' (`P٣٠Y`, fullwidth `P３０Y`), which no ISO 8601 writer emits and which the
node refuses in positions too. Anything else raises ValueError naming the reason.

A duration longer than MAX_YEARS is refused: no age is, and the digits are unbounded, so
`P` + 400 nines + `Y` read as infinity (float() overflows) and a 30-digit year as 10^32 days,
both stored as a person's age and matched by any `>=` filter. The bound is generous, above the
web page's three-digit years (node/web/app.js), so that `age < P999Y` still means "any age".
"""
from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

# The Beacon individual's fields whose values are durations (ages, stored as days), as filters
# name them: here, not with the filters, so that an ingest reads individuals without loading
# the request models the filters refuse with (beacon/request.py, a tenth of its start).
ONSET = "diseases.ageOfOnset.iso8601duration"
AGE = "timeAtLastEncounter.age.iso8601duration"
_DAYS_PER_YEAR = Fraction(36525, 100)
_DAYS = {"Y": _DAYS_PER_YEAR, "M": _DAYS_PER_YEAR / 12, "W": Fraction(7), "D": Fraction(1),
         "H": Fraction(1, 24), "TM": Fraction(1, 1440), "S": Fraction(1, 86400)}
_NUMBER = r"([0-9]+(?:[.,][0-9]+)?)"
_DIGITS = 30              # in a number of a duration: more is no age (1,000 years in seconds: 11)
_DURATION = re.compile(
    rf"P(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?", re.IGNORECASE)
_UNITS = ("Y", "M", "W", "D", "H", "TM", "S")
MAX_YEARS = 1000


@lru_cache(maxsize=1024)
def duration_days(text: str) -> float:
    """`text` (an ISO 8601 duration such as `P30Y` or `P2Y6M`) as days; ValueError if it is not
    one. Remembered: summed as fractions, one costs about 9 µs, on every request of a filter
    on an age (a float sum cost 2), and the portal sends the same few."""
    given = text.strip()
    if given.startswith("-"):
        raise ValueError(f"negative duration {text!r}: an age cannot be negative")
    if not given.isascii():
        raise ValueError(f"{text!r} is not an ISO 8601 duration: it holds a character other "
                         "than the designators and digits 0-9")
    match = _DURATION.fullmatch(given)
    if match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not an ISO 8601 duration (e.g. P30Y, P2Y6M, P3W, P10D)")
    if given.upper().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration: T must be followed by H, M or S")
    numbers = [(unit, number) for unit, number in zip(_UNITS, match.groups())
               if number is not None]
    if any(len(number) > _DIGITS for _, number in numbers):
        raise ValueError(f"{text!r} is not an ISO 8601 duration of an age (too large: a "
                         f"number of more than {_DIGITS} digits)")
    days = sum(Fraction(number.replace(",", ".")) * _DAYS[unit] for unit, number in numbers)
    if days > MAX_YEARS * _DAYS_PER_YEAR:
        raise ValueError(f"{text!r} is not an ISO 8601 duration of an age (too large: at most "
                         f"P{MAX_YEARS}Y)")
    return float(days)
