"""The node's log lines (node/logs.py) as its operators and collectors read them: one record,
one line, in the text and the JSON format alike, whatever text from outside (a token's header,
a request's path, a peer's answer) a record's message or its extra= fields carry."""
from __future__ import annotations

import json
import logging
import os
import sys

import pytest

from node.logs import JsonFormatter, TextFormatter

# An audit line as the text log writes it, the forgery a line break before it makes
FORGED = "2026-12-05 10:00:00,000 INFO    gdi_node.audit: access sub=carol datasets={}"
# Every character Python's splitlines breaks a line at (editors and log viewers break at
# most of them), and controls that hide a line's text on a terminal (ESC, DEL, a C1 CSI)
BREAKING = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
            "\u2029", "\x00", "\x1b[2K", "\x7f", "\x9b"]


def _record(message: str = "token refused", args: tuple = (), **extras: object
            ) -> logging.LogRecord:
    record = logging.LogRecord("gdi_node.audit", logging.INFO, __file__, 1, message, args,
                               None)
    record.__dict__.update(extras)
    return record


@pytest.mark.parametrize("breaking", BREAKING)
def test_a_text_log_record_is_one_line_whatever_its_extras_and_message_hold(breaking):
    """An extra= field was written as it came: the "token refused" line's `reason=`,
    holding an unsigned token's `crit` header, forged an audit line after its line break
    (found by a review, 2026-12-05). Each such character is written as its escape, in the
    extras and in the message (whose %s arguments may be a token's or a peer's text)."""
    record = _record("visa dropped: %s", (f"x{breaking}{FORGED}",), request_id="r1",
                     decision="refused", reason=f"crit x{breaking}{FORGED}")
    written = TextFormatter().format(record)
    assert len(written.splitlines()) == 1, written
    assert written.isprintable(), repr(written)
    escaped = breaking.encode("unicode_escape").decode()
    assert f"visa dropped: x{escaped}{FORGED}" in written, written       # kept, readable
    assert written.endswith(f" request_id=r1 decision=refused reason=crit x{escaped}{FORGED}")


def test_a_text_log_record_of_printable_text_is_written_as_it_is():
    record = _record("access", (), sub="jörg@example.org", datasets={"GDI-FI-SYN-003": "record"})
    written = TextFormatter().format(record)
    assert written.endswith(" gdi_node.audit: access sub=jörg@example.org "
                            "datasets={'GDI-FI-SYN-003': 'record'}"), written


def test_a_traceback_follows_its_record_on_indented_lines_that_begin_no_record():
    """An exception's message is anyone's text too (aiohttp logs its "Unhandled exception"
    with the error it met): its lines are indented, so a line that is not indented is
    always a record's first, and the record's extras stay on that first line."""
    try:
        raise ValueError(f"refused\n{FORGED}\u2028{FORGED}")
    except ValueError:
        record = _record("Unhandled exception", (), request_id="r2")
        record.exc_info = sys.exc_info()
    lines = TextFormatter().format(record).split("\n")
    assert lines[0].endswith("gdi_node.audit: Unhandled exception request_id=r2"), lines[0]
    assert lines[1] == "    Traceback (most recent call last):", lines
    assert lines[-2:] == ["    ValueError: refused", f"    {FORGED}\\u2028{FORGED}"], lines
    assert all(line.startswith("    ") for line in lines[1:]), lines


@pytest.mark.parametrize("breaking", BREAKING)
def test_a_json_log_record_is_one_line_even_to_a_reader_splitting_at_unicode_breaks(breaking):
    """JSON escapes the C0 controls, not NEL, U+2028 or U+2029, which orjson wrote as they
    were: a reader splitting the log with Python's splitlines read a forged record after
    one. They are written as JSON escapes, which read back as the same text."""
    record = _record("visa dropped: %s", (f"x{breaking}{FORGED}",),
                     reason=f"crit x{breaking}{FORGED}")
    written = JsonFormatter().format(record)
    assert len(written.splitlines()) == 1, written
    entry = json.loads(written)
    assert entry["reason"] == f"crit x{breaking}{FORGED}"
    assert entry["message"] == f"visa dropped: x{breaking}{FORGED}"


# Unicode's bidirectional controls, which reorder what follows them on the line as a terminal
# or viewer shows it: a path ending "\u202e002 404" shows its status as 200 ("Trojan Source")
BIDI = ["\u202e", "\u202d", "\u202a", "\u202b", "\u202c", "\u2066", "\u2067", "\u2068",
        "\u2069", "\u200e", "\u200f", "\u061c"]


@pytest.mark.parametrize("bidi", BIDI)
def test_a_log_record_shows_its_text_in_the_order_it_was_written(bidi):
    """A request's path is the client's to write, and the access log line puts the status
    after it: a right-to-left override there showed the rest of the line reversed, the
    status the client chose in place of the node's, as `gdi-node audit list` once showed an
    entry (tests/test_budget_and_audit.py). Each is written as its escape, in the text
    format, and in JSON as its JSON escape, which reads back as the same text."""
    path = f"/api/individuals/x{bidi}002"
    record = logging.LogRecord("gdi_node.access", logging.INFO, __file__, 1, "%s %s %d",
                               ("GET", path, 404), None)
    record.__dict__.update(route=path)
    text = TextFormatter().format(record)
    assert bidi not in text and text.isprintable(), repr(text)
    escaped = bidi.encode("unicode_escape").decode()
    assert text.endswith(f"GET /api/individuals/x{escaped}002 404 route=/api/individuals/"
                         f"x{escaped}002"), text
    written = JsonFormatter().format(record)
    assert bidi not in written, repr(written)
    entry = json.loads(written)
    assert entry["message"] == f"GET {path} 404" and entry["route"] == path


@pytest.mark.parametrize("extras", [
    {"path": os.fsdecode(b"/data/kohorte-\xe4rzte.vcf.gz")},   # a Latin-1 file name
    {"sub": "\ud800"},                                          # a lone surrogate in a claim
    {"records": 2**70},                                         # past 64 bits
])
def test_a_json_log_record_orjson_cannot_write_is_still_one_json_line(extras):
    """orjson refuses a lone surrogate (what Python makes of a file name's byte that is not
    UTF-8) and an integer past 64 bits: the record was lost, and logging wrote "--- Logging
    error ---" and a traceback into the JSON log instead. Such a record is written by the
    standard library's encoder, one line of JSON holding the same text and numbers."""
    (key, value), = extras.items()
    record = _record("loading %s", (value,), **extras)
    written = JsonFormatter().format(record)
    assert len(written.splitlines()) == 1, written
    entry = json.loads(written)
    assert entry[key] == value and entry["message"] == f"loading {value}"
    assert entry["logger"] == "gdi_node.audit" and entry["level"] == "INFO"


async def test_a_path_writes_no_fields_of_its_own_into_the_access_line(node, caplog):
    """The access line wrote the path decoded, and the text format separates its fields by
    spaces: `GET /api/g_variants%20200%20request_id=forged%20status=200` read as a 200 with a
    request id of the caller's choosing, placed before the real ones (found by a review,
    2026-12-06). The path is written as sent, percent-encoded; and the 404's message quotes
    it with each character that does not print as itself escaped (U+202E went back as
    sent)."""
    caplog.set_level(logging.INFO, logger="gdi_node.access")
    forged = "/api/g_variants%20200%20request_id=forged%20status=200%20route=/api/g_variants"
    async with node.get(forged) as response:
        assert response.status == 404
    async with node.get("/api/%E2%80%AEfdp.json") as response:
        assert response.status == 404
        said = (await response.json())["error"]["errorMessage"]
    assert said == "no such endpoint or entry: /api/\\u202efdp.json", said
    [line, _] = [TextFormatter().format(r) for r in caplog.records
                 if r.name == "gdi_node.access"]
    assert f"GET {forged} 404 request_id=" in line, line
    fields = [word.partition("=")[0] for word in line.split() if "=" in word
              and not word.startswith("/")]
    assert fields == ["request_id", "status", "duration_ms", "route"], line
    assert " request_id=forged" not in line, line
