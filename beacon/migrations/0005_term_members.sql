-- Which individuals hold each ontology term, as bit strings over the dataset's samples (bit i
-- from the left, as get_bit counts, is the individual with sample_index i: the order of
-- variants.carrier_bits), so a count whose filters are all ontology terms is
-- bit_count(bit_or(carrier_bits) & t1 & t2 ...) and reads no individual's row
-- (beacon/individuals_store.py; docs/design/storage.md, "Individuals").
-- One row per term in any individual's `ancestry` (every term held, and all its ancestors).
CREATE TABLE term_members (
    dataset_id   text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    term         text COLLATE "C" NOT NULL,
    exact        bit varying NOT NULL,      -- individuals whose `terms` hold it
    descendants  bit varying NOT NULL,      -- individuals whose `ancestry` holds it
    PRIMARY KEY (dataset_id, term)
);
ALTER TABLE term_members ALTER COLUMN exact SET STORAGE MAIN;
ALTER TABLE term_members ALTER COLUMN descendants SET STORAGE MAIN;

-- Datasets ingested before this migration: the same bits, from their individuals' rows
-- (sample_index runs 0 .. samples - 1, one row per sample), as ingest now writes them.
INSERT INTO term_members (dataset_id, term, exact, descendants)
SELECT t.dataset_id, t.term,
       string_agg(CASE WHEN t.term = ANY(i.terms) THEN '1' ELSE '0' END, ''
                  ORDER BY i.sample_index)::varbit,
       string_agg(CASE WHEN t.term = ANY(i.ancestry) THEN '1' ELSE '0' END, ''
                  ORDER BY i.sample_index)::varbit
FROM (SELECT DISTINCT dataset_id, unnest(ancestry) AS term FROM individuals) AS t
JOIN individuals i ON i.dataset_id = t.dataset_id
GROUP BY t.dataset_id, t.term;
