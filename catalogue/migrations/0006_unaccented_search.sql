-- Search that finds a word whatever accents it is typed or written with (catalogue/store.py,
-- docs/catalogue.md "Search text"): `genomica` finds "Genómica", `vasterbotten` finds
-- "Västerbotten", `genómica` finds "genomica". A European catalogue's titles are in many
-- languages and a researcher types on any keyboard: matched as written, `genomica` found no
-- Spanish title holding "Genómica", nor `Jose` a "José" (found by a review, 2026-12-05).
--
-- catalogue_plain is 'simple' (each word as written, lower case) with PostgreSQL's unaccent
-- dictionary before it, for the words holding a letter past ASCII: the records' words are
-- indexed, and the query's words looked up, without their accents. The English stems (the
-- 'english' configuration) are left as they were. unaccent ships with PostgreSQL (contrib:
-- the official image, Debian's postgresql-NN and the embedded server) and is a trusted
-- extension, so the catalogue's database owner may create it; where it cannot be created,
-- catalogue_plain is 'simple' alone, search matches accents as written, and the migration
-- says so with a WARNING.
DO $migration$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS unaccent;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'catalogue search matches accents as written: unaccent unavailable (%)',
            SQLERRM;
    END;
    CREATE TEXT SEARCH CONFIGURATION catalogue_plain (COPY = simple);
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'unaccent') THEN
        ALTER TEXT SEARCH CONFIGURATION catalogue_plain
            ALTER MAPPING FOR word, hword, hword_part WITH unaccent, simple;
    END IF;
END
$migration$;

-- `search` as in 0003, its words as written now through catalogue_plain.
ALTER TABLE datasets DROP COLUMN search;     -- and its index
ALTER TABLE datasets ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(record ->> 'title', '')), 'A')
    || setweight(jsonb_to_tsvector('english', coalesce(record -> 'keywords', '[]'),
                                   '["string"]'), 'A')
    || setweight(to_tsvector('english', coalesce(record ->> 'description', '')), 'B')
    || setweight(to_tsvector('catalogue_plain', coalesce(record ->> 'title', '')), 'A')
    || setweight(jsonb_to_tsvector('catalogue_plain', coalesce(record -> 'keywords', '[]'),
                                   '["string"]'), 'A')
    || setweight(to_tsvector('catalogue_plain', coalesce(record ->> 'description', '')), 'B')
) STORED;
CREATE INDEX datasets_search ON datasets USING gin (search);
