-- When each document of the node's FAIR Data Point last changed (catalogue/document_dates.py):
-- dated by its data alone (datasets' versions, removals), a change of what the node's
-- settings put in it (its base URL, organisation, name, the rounding of its counts) moved no
-- dct:modified and no Last-Modified, and a harvester reading only what changed by date kept
-- the old metadata (found by a review, 2026-12-07). A digest of its content but its date,
-- the date its data gave it then, and when its content last changed with that date unmoved
-- (NULL: never). Only the primary is asked (node/replicas.py PRIMARY_ONLY).
-- (IF NOT EXISTS: a migration applied again, as tests of later ones apply them, is a no-op)
CREATE TABLE IF NOT EXISTS fdp_documents (
    path       text PRIMARY KEY,
    digest     bytea NOT NULL,
    dated      timestamptz,
    changed_at timestamptz
);
