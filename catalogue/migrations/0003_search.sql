-- Catalogue search that finds what a person types (catalogue/store.py, docs/catalogue.md):
-- every word as a prefix (`cardio` finds "cardiomyopathy"), stemmed or as typed, and, where
-- PostgreSQL's pg_trgm extension is installed, words misspelled (`cardiomyopaty`).
--
-- The user's text reaches SQL only as a bind parameter. catalogue_prefix_query parses it with
-- websearch_to_tsquery, which accepts any text (quotes, OR, -word, punctuation) and never
-- fails, then marks each lexeme of that canonical query as a prefix.

-- `search` (0001) holds English stems only; a word typed halfway ("populat") is a prefix of
-- the word as written ("population") but not of its stem ("popul"). Now it holds both, so
-- that each word of a query matches either form, and a -word excludes a record holding it
-- in either.
ALTER TABLE datasets DROP COLUMN search;     -- and its index
ALTER TABLE datasets ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(record ->> 'title', '')), 'A')
    || setweight(jsonb_to_tsvector('english', coalesce(record -> 'keywords', '[]'),
                                   '["string"]'), 'A')
    || setweight(to_tsvector('english', coalesce(record ->> 'description', '')), 'B')
    || setweight(to_tsvector('simple', coalesce(record ->> 'title', '')), 'A')
    || setweight(jsonb_to_tsvector('simple', coalesce(record -> 'keywords', '[]'),
                                   '["string"]'), 'A')
    || setweight(to_tsvector('simple', coalesce(record ->> 'description', '')), 'B')
) STORED;
CREATE INDEX datasets_search ON datasets USING gin (search);

-- Title, keywords and description as one text, for trigram similarity (pg_trgm reads only
-- letters and digits, so the keywords' JSON punctuation does not count).
ALTER TABLE datasets ADD COLUMN search_text text GENERATED ALWAYS AS (
    coalesce(record ->> 'title', '') || ' ' || coalesce((record -> 'keywords')::text, '')
    || ' ' || coalesce(record ->> 'description', '')
) STORED;

-- websearch_to_tsquery(config, q) with every lexeme a prefix: 'heart' & 'cohort' becomes
-- 'heart':* & 'cohort':*. Lexemes in tsquery text are quoted, quotes inside doubled.
CREATE FUNCTION catalogue_prefix_query(config regconfig, q text) RETURNS tsquery
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN regexp_replace(websearch_to_tsquery(config, q)::text,
                          '''(?:[^'']|'''')*''', '\&:*', 'g')::tsquery;

-- A field with the words a query matched between \x02 and \x03 (which are first removed from
-- the field): the service turns them into escaped HTML with <mark> (node/http/catalogue_api.py).
CREATE FUNCTION catalogue_headline(config regconfig, field text, query tsquery) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ts_headline(config, translate(coalesce(field, ''), E'\x02\x03', ''), query,
                       E'HighlightAll=true, StartSel=\x02, StopSel=\x03');

-- Typo tolerance. pg_trgm ships with PostgreSQL (contrib: in the official image, Debian's
-- postgresql-NN and the embedded server) and is a trusted extension, so the catalogue's
-- database owner may create it. Where it cannot be created, search keeps prefix and stemmed
-- matching and these functions match nothing; the migration says so with a WARNING.
--   catalogue_typo_matches(q): the datasets (identifiers) with a run of whole words like q
--     (pg_trgm's strict word similarity at least pg_trgm.strict_word_similarity_threshold,
--     0.5), found through the trigram index: the planner, which takes a trigram comparison
--     (some microseconds) for as cheap as an equality, would otherwise compare every row
--   catalogue_fuzzy_score(q, doc): that similarity, 0-1, for ranking
--   catalogue_near_words(q, doc): doc's words like q, as a query, for highlighting
DO $migration$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'catalogue search without typo tolerance: pg_trgm unavailable (%)',
            SQLERRM;
    END;
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX datasets_search_text ON datasets USING gin (search_text gin_trgm_ops);
        CREATE FUNCTION catalogue_typo_matches(q text) RETURNS SETOF text
            LANGUAGE sql STABLE PARALLEL SAFE ROWS 10 SET enable_seqscan = off
            BEGIN ATOMIC
                SELECT identifier FROM datasets WHERE q <<% search_text;
            END;
        CREATE FUNCTION catalogue_fuzzy_score(q text, doc text) RETURNS real
            LANGUAGE sql STABLE PARALLEL SAFE
            RETURN strict_word_similarity(q, doc);
        CREATE FUNCTION catalogue_near_words(q text, doc text) RETURNS tsquery
            LANGUAGE sql STABLE PARALLEL SAFE
            BEGIN ATOMIC
                SELECT coalesce(websearch_to_tsquery('simple', string_agg(w, ' or ')), '')
                FROM unnest(tsvector_to_array(to_tsvector('simple', doc))) AS w
                WHERE length(w) > 2 AND w <<% q;
            END;
    ELSE
        CREATE FUNCTION catalogue_typo_matches(q text) RETURNS SETOF text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1
            BEGIN ATOMIC
                SELECT NULL::text WHERE false;
            END;
        CREATE FUNCTION catalogue_fuzzy_score(q text, doc text) RETURNS real
            LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN 0;
        CREATE FUNCTION catalogue_near_words(q text, doc text) RETURNS tsquery
            LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURN ''::tsquery;
    END IF;
END
$migration$;
