-- Variants longer than 1,000 bases (end_pos - start_pos; LONG_VARIANT in beacon/store.py) in
-- a GiST index of their spans: a range query finds them there, and the rest on the locus btree
-- from 1,000 bases left of the range, no longer from the dataset's longest variant's length
-- left of it (docs/design/storage.md, "Long variants"). btree_gist (a trusted contrib
-- extension) lets the chromosome be the index's first column. Declared on the parent, so
-- every existing partition is indexed here, and an ingest's staging table gets the same index
-- (beacon/store.py index_staging) for ATTACH to adopt. ANALYZE gives the planner statistics
-- of the span expression, as an ingest's ANALYZE does.
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE INDEX variants_long ON variants USING gist (chromosome, int8range(start_pos, end_pos))
    WHERE end_pos - start_pos > 1000;
ANALYZE variants;
