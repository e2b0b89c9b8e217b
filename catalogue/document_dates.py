"""When each document of a FAIR Data Point last changed, kept in the database of whoever serves
it (the node's, the catalogue's: table fdp_documents, their migrations 0038 and 0007).

A document's date came from its data alone (its datasets' versions, their removals), so a
change of what else it says (the base URL in every IRI, the organisation, the node's name,
the rounding of its counts) moved no date, no Last-Modified, and a harvester reading only
what changed by date kept the old metadata. A digest of each document's content but its
date is kept with the time the content last changed with its data's date unmoved; the
document is dated by that when later (catalogue/rdf.py FdpSite.dates). The same content
after a restart moves nothing; a content that changed with a new version of its data is
dated by the version, as before, unless that is no later than its date was (`_NOTE`).
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

import asyncpg

from catalogue.rdf import FdpSite, content_digests

# First seen, a document is noted with no change: its date is its data's, as it was before
# any digest. Then a new digest is a change of its own (clock_timestamp: the moment it is
# noted, after every reader of the content before) unless its data's date is later than
# the document's was (its data's, or its last change of its own): dated by its data no
# later than that, it changed under the date it had, or an older one, and If-Modified-Since
# got a 304. So with its data's date the same (a setting changed), moved forward but not
# past its last change (a record pushed with a version ingested while the catalogue was
# away, after a change of its own), or back (a node that restored its database from a
# backup pushing its datasets as they were before a bad ingest). Where the data's dates only
# move forward (a node's: `forward_only`, $4), one moving back is a view older than the one
# noted, another worker's not reloaded yet, and is not noted: noted, it dated the newer
# content the other worker serves after the older, a 304 for it.
# Paths in order, so that two workers noting at once lock their rows in the same order.
_NOTE = """
INSERT INTO fdp_documents AS d (path, digest, dated)
SELECT path, digest, dated
FROM unnest($1::text[], $2::bytea[], $3::timestamptz[]) AS g(path, digest, dated)
ORDER BY path
ON CONFLICT (path) DO UPDATE SET
    digest = EXCLUDED.digest, dated = EXCLUDED.dated,
    changed_at = CASE WHEN d.digest <> EXCLUDED.digest
                           AND (EXCLUDED.dated IS NULL
                                OR EXCLUDED.dated <= GREATEST(d.dated, d.changed_at))
                      THEN clock_timestamp() ELSE d.changed_at END
WHERE (d.digest <> EXCLUDED.digest OR d.dated IS DISTINCT FROM EXCLUDED.dated)
  AND NOT ($4 AND coalesce(EXCLUDED.dated < d.dated, false))
"""
# Read after the note, in a statement of its own: read in the note's (its RETURNING, and the
# rows it left), a row another worker changed while this note waited for it was read as it
# was when the note began, before that change, and the two workers started at once with a
# setting that changed a document dated it apart, one by the change, one as before it: a
# 304 to If-Modified-Since for a changed document (found by a review, 2026-12-07).
_CHANGED = """
SELECT path, changed_at FROM fdp_documents
WHERE path = ANY($1::text[]) AND changed_at IS NOT NULL
"""


async def note_contents(db: asyncpg.Pool | asyncpg.Connection,
                        contents: dict[str, tuple[bytes, datetime | None]],
                        *, forward_only: bool = False) -> dict[str, datetime]:
    """Note each document's digest and its data's date (by path); when each one's content
    last changed on its own (only those that ever did), as noted by whoever noted last.
    `forward_only`: its data's dates never move back (`_NOTE`)."""
    paths = sorted(contents)
    await db.execute(_NOTE, paths, [contents[p][0] for p in paths],
                     [contents[p][1] for p in paths], forward_only)
    rows = await db.fetch(_CHANGED, paths)
    return {row["path"]: row["changed_at"] for row in rows}


class DocumentDates:
    """A site dated by its documents' changes, noted once per version of the site (the
    node and the catalogue keep one until their data change) and once more only when its
    documents' contents or dates differ from the last noted: a reload finding the same
    datasets writes nothing."""

    def __init__(self, pool: asyncpg.Pool, *, forward_only: bool = False) -> None:
        """`forward_only`: the data's dates never move back (a node's: its datasets'
        versions and removals), so one that does is an older view (`_NOTE`)."""
        self.pool = pool
        self.forward_only = forward_only
        self._lock = asyncio.Lock()
        self._site: FdpSite | None = None
        self._dated: FdpSite | None = None
        self._contents: dict[str, tuple[bytes, datetime | None]] = {}
        self._changed: dict[str, datetime] = {}
        self._known: dict[tuple[str, str], bytes] = {}

    async def dated(self, site: FdpSite) -> FdpSite:
        """`site` with each document's last change of content (FdpSite.contents_changed)."""
        if site is self._site and self._dated is not None:
            return self._dated
        async with self._lock:
            if site is self._site and self._dated is not None:
                return self._dated
            documents = site.documents     # built here, not in the thread and here at once
            # in a thread: a node's first site, or one all of whose documents a setting
            # changed, renders every document, 2.5 s for 2,000 datasets
            digests = await asyncio.to_thread(content_digests, site, self._known)
            self._known = dict(digests.values())       # those of documents no longer shown go
            dates = {path: documents[path][1].modified for path in digests}
            contents = {path: (digest, dates[path]) for path, (_, digest) in digests.items()}
            if contents != self._contents:
                self._changed = await note_contents(self.pool, contents,
                                                     forward_only=self.forward_only)
                self._contents = contents
            self._site = site
            self._dated = replace(site, contents_changed=self._changed)
            return self._dated
