-- The long variants' GiST (0008) carries what a range count reads of them, so the count
-- finds the long variants covering its range's start in the index alone (an index-only
-- scan, once VACUUM has marked the pages all-visible) instead of fetching each one's row.
-- A long variant starts up to its length left of the range, so each sits on a page of its
-- own, far from the range's short variants: at 100M variants, the ~7 long variants covering
-- a base were ~7 of a 1 kb count's ~9 heap pages, most of them outside the cache
-- (docs/benchmarks.md, "Long variants read from their index"). The columns are the count's:
-- its conditions (start_pos, end_pos, dataset_id) and the rarest (carriers, ac). ~140,000
-- entries at 100M variants: 18 MB against 9 MB. beacon/store.py index_staging builds the
-- same index on an ingest's staging table, for ATTACH to adopt.
DROP INDEX variants_long;
CREATE INDEX variants_long ON variants USING gist (chromosome, int8range(start_pos, end_pos))
    INCLUDE (start_pos, end_pos, carriers, ac, dataset_id)
    WHERE end_pos - start_pos > 1000;
