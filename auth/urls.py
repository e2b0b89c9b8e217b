"""The one rule for a URL the configuration gives that the node will fetch or publish: an
absolute http(s) URL with a host (the shell's settings, node/urls.py, and the trusted
issuers' key and userinfo URLs here in auth/ both check it). Parsed with the standard
library, as every command's start reads the settings and yarl would add to it."""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

NOT_HTTP = "not an absolute http(s) URL such as https://node.example.org/api"
# What no URL holds (RFC 3986), and RDF cannot write in an IRI: white space, the control
# characters and these, as the body of a regular expression's character class
# (catalogue/record.py uses it too, for records and the node's metadata file). `\s` alone
# missed U+0001 to U+001B and U+007F: an IRI holding one was accepted, and the catalogue
# served Turtle whose IRIREF ([^#x00-#x20<>"{}|^`\]) a strict parser refuses whole (found by
# a review, 2026-12-05).
NOT_IN_URL = r"\s\x00-\x20\x7f<>\"{}|\\^`"


# An IPv6 (or future) address as a URL's whole host, a port after it if any. The standard
# library took more around the brackets (`[2001:db8::7]%zz:5050`, `x[::1]`), which aiohttp's
# URLs (yarl) refuse: a peer so configured, or so listed by the registry, made every network
# request a 500 (found by a review, 2026-12-06).
_BRACKETED = re.compile(r"\[[^\[\]]+\](?::[0-9]*)?")


def http_url(url: str) -> str:
    """`url` as given; ValueError (its message never quoting the value, which may hold a
    secret) unless it is an absolute http(s) URL with a host, a port from 1 to 65535 if
    any, and no white space, control character nor any of `<>"{}|\\^` and the backquote,
    which no URL holds (RFC 3986) and RDF cannot write in an IRI: the node's own URLs are in
    its metadata. Nor a Unicode control, format or separator character (a bidirectional
    override, a zero-width or no-break space), which no IRI holds (RFC 3987) and no host
    name: one was taken, and every fetch of or publication to that URL failed. An address
    in brackets only as the whole host (`_BRACKETED`)."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        fine = (parts.scheme in ("http", "https") and bool(parts.hostname)
                and parts.port != 0 and not re.search(f"[{NOT_IN_URL}]", url)
                and not any(unicodedata.category(c)[0] in "CZ" for c in url if c > "\x7f")
                and ("[" not in host and "]" not in host or _BRACKETED.fullmatch(host)))
    except ValueError:                         # a port that is not a number, a broken [IPv6]
        fine = False
    if not fine:
        raise ValueError(NOT_HTTP)
    return url
