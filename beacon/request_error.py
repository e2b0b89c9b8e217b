"""The refusal of client input, in a module of its own: every parser of a request raises it,
and the request's parser (beacon/request.py) and the filters' (beacon/filters.py) each use
the other's work, which neither could import while this lived in one of them."""
from __future__ import annotations

MAX_ERROR_MESSAGE = 600


class RequestError(ValueError):
    """Client input this node refuses; `field` names the offending parameter. A message
    longer than MAX_ERROR_MESSAGE keeps its start (the field, the value's beginning) and its
    end (why), with how much was cut between: messages quote what was sent, and an error
    body echoed a 500 kB `geneId` whole, or 20,000 unknown dataset ids."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field = field_name
        text = f"{field_name}: {message}"
        if len(text) > MAX_ERROR_MESSAGE:
            half = MAX_ERROR_MESSAGE // 2
            text = (f"{text[:half]}… [{len(text) - 2 * half:,} characters not shown] …"
                    f"{text[-half:]}")
        super().__init__(text)
