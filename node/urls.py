"""Base URLs as operators and clients write them, with or without a trailing slash: stored
without one, so that `f"{base}/api"` is right whichever way they were written. The one place
that normalises them (settings, peers, command-line options)."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def without_trailing_slash(url: str) -> str:
    return url.rstrip("/")


Url = Annotated[str, AfterValidator(without_trailing_slash)]
