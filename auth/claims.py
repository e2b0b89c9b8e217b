"""The claims this node reads from a token, each with its JSON type checked before any use.

A trusted issuer's token is still input. `"exp": "1796…"` (a numeric string), `Infinity`, a
list where a string belongs would otherwise reach comparisons and arithmetic and surface as an
exception (a 500) instead of a refusal, or be coerced into something the issuer never signed.
Validated strictly (no coercion: a numeric string is not a number, `true` is not 1), a
malformed claim makes an access token an InvalidToken (401) and a visa a dropped visa. Only
the claims the node reads are declared; any others are ignored.

`sub` names the caller wherever the node counts and records them: the budget, the losses and
the audit trail, all in PostgreSQL, whose text cannot hold a NUL (such a `sub` was a 500 on
every request), the operator's `gdi-node audit` table and the `gdi_node.audit` log lines
(which carry `jti` too). A line break there would forge lines, and so would U+2028 and
U+2029 (line and paragraph separators: Python's `splitlines`, editors and log viewers break
lines at them); a bidi control such as U+202E (right-to-left override) shows the rest of the
line reversed, and a zero-width or non-ASCII space makes one caller look like another.
OpenID Connect's `sub` is printable ASCII, so one holding any character Python does not
print (a control, format, separator, surrogate or unassigned one) is a malformed claim, and
so is one beginning or ending with a space, which no reader sees either; and it is at most
255 characters long, so a longer one is too: unbounded, a `sub` of 3,000 letters did
not fit PostgreSQL's index of the budget (a 500 on every query of a node keeping budgets).
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

NumericDate = Annotated[float, Field(allow_inf_nan=False)]
"""Seconds since the epoch (RFC 7519): a finite JSON number, integer or not."""
NonEmpty = Annotated[str, Field(min_length=1)]


def _printable(text: str) -> str:
    """The text, if every character of it prints as itself; the reason names the first
    that does not by its code point, never the text."""
    if not text.isprintable():
        bad = next(c for c in text if not c.isprintable())
        raise ValueError(f"must hold only printable characters, not U+{ord(bad):04X} (a "
                         "control, format, line or paragraph separator, or non-ASCII space)")
    return text


def _unpadded(text: str) -> str:
    """The text, if it neither begins nor ends with a space: one there is as invisible as a
    no-break space, at the end of a log line or in `gdi-node audit list`'s padded column."""
    if text != text.strip():
        raise ValueError("must not begin or end with a space")
    return text


Printable = Annotated[str, AfterValidator(_printable)]
# OpenID Connect Core 2: `sub` "MUST NOT exceed 255 ASCII characters"
Subject = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_printable),
                    AfterValidator(_unpadded)]


class Claims(BaseModel):
    """The registered claims every token this node accepts carries."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")
    purpose: ClassVar[Literal["access", "visa"]]

    iss: str
    sub: Subject
    exp: NumericDate
    iat: NumericDate
    nbf: NumericDate | None = None
    jti: Printable | None = None
    aud: str | list[str] | None = None
    scope: str | None = Field(
        default=None, description="Space-separated; in a visa, `openid` marks a Visa Access "
                                  "Token (auth/tokens.py)")

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset((self.scope or "").split())


class AccessClaims(Claims):
    """An access token, or a Passport JWT presented as one (claim `ga4gh_passport_v1`)."""

    purpose: ClassVar[Literal["access", "visa"]] = "access"

    ga4gh_passport_v1: list[object] | None = Field(
        default=None, description="Visa JWTs; an entry that is not a string is a dropped visa")


class VisaAssertion(BaseModel):
    """The `ga4gh_visa_v1` object of a visa (GA4GH Passport v1.2)."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")

    type: NonEmpty
    value: NonEmpty
    source: NonEmpty
    by: NonEmpty | None = Field(
        default=None, description="Who in the source asserted it; OPTIONAL, except in the "
                                  "types that must say it (auth/passport.py)")
    asserted: NumericDate
    conditions: list[object] | None = Field(
        default=None, description="The node does not evaluate conditions, so it does not "
                                  "honour a visa that has any (auth/passport.py); an empty "
                                  "list has none")


class VisaClaims(Claims):
    """A visa JWT: the registered claims and one assertion."""

    purpose: ClassVar[Literal["access", "visa"]] = "visa"

    ga4gh_visa_v1: VisaAssertion
