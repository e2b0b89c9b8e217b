-- When each document of the catalogue's FAIR Data Point last changed (catalogue/
-- document_dates.py): dated by the datasets it holds alone, a node registered again under
-- another name changed its catalog's title and publisher with no dct:modified and no
-- Last-Modified moved, and a harvester reading only what changed by date kept the old
-- metadata (found by a review, 2026-12-07). A digest of its content but its date, the date
-- its data gave it then, and when its content last changed with that date unmoved (NULL:
-- never).
CREATE TABLE IF NOT EXISTS fdp_documents (
    path       text PRIMARY KEY,
    digest     bytea NOT NULL,
    dated      timestamptz,
    changed_at timestamptz
);
