-- Individuals: who a dataset's samples are, and which of them carry each variant.
-- See docs/design/storage.md ("Individuals") for why the tables look like this.

-- Which samples carry each ALT allele, as bit strings of the dataset's sample count: bit i
-- (from the left, as get_bit counts) is the individual with sample_index i. NULL where the
-- VCF has no genotypes. A rare allele's bits are nearly all zero and compress to a few bytes
-- (the staging table keeps them inline, compressed: beacon/store.py create_staging);
-- `bit_or` over the variants a query matches gives its carriers in one aggregate.
ALTER TABLE variants ADD COLUMN carrier_bits bit varying;   -- any copy of the ALT
ALTER TABLE variants ADD COLUMN hom_bits bit varying;       -- two copies (diploid calls)
ALTER TABLE variants ALTER COLUMN carrier_bits SET STORAGE MAIN;
ALTER TABLE variants ALTER COLUMN hom_bits SET STORAGE MAIN;

-- One row per VCF sample (the individual it is), with what its phenopacket says. Filters on
-- ontology terms read `terms` (exact) or `ancestry` (the terms and all their ancestors, so
-- includeDescendantTerms needs no ontology at query time: it was resolved at ingest).
CREATE TABLE individuals (
    dataset_id    text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    sample_index  integer NOT NULL,                   -- the sample's column in the VCF, from 0
    id            text COLLATE "C" NOT NULL,          -- subject id = VCF sample name
    sex           text COLLATE "C" NOT NULL,          -- FEMALE, MALE, OTHER_SEX, UNKNOWN_SEX
    country       text COLLATE "C",                   -- of birth, ISO 3166-1 alpha-2
    terms         text[] COLLATE "C" NOT NULL,        -- every ontology term it holds
    ancestry      text[] COLLATE "C" NOT NULL,        -- those and all their ancestors
    record        text NOT NULL,                      -- the Beacon individual record (JSON)
    PRIMARY KEY (dataset_id, sample_index),
    UNIQUE (dataset_id, id)
);

-- Numbers an alphanumeric filter compares: ages and onsets (ISO 8601 durations, in days),
-- measurements (by assay term). One row per value; an individual may hold several per field.
CREATE TABLE individual_values (
    dataset_id    text COLLATE "C" NOT NULL,
    sample_index  integer NOT NULL,
    field         text COLLATE "C" NOT NULL,          -- e.g. diseases.ageOfOnset.iso8601duration
    value         double precision NOT NULL,
    FOREIGN KEY (dataset_id, sample_index)
        REFERENCES individuals (dataset_id, sample_index) ON DELETE CASCADE
);
CREATE INDEX individual_values_lookup ON individual_values (dataset_id, field, sample_index);

-- The filtering terms a dataset's individuals hold, with how many hold each (with its
-- descendants), so /filtering_terms lists only what a caller's floor lets them learn exists.
CREATE TABLE individual_terms (
    dataset_id    text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    id            text COLLATE "C" NOT NULL,
    label         text,
    kind          text NOT NULL CHECK (kind IN ('ontology', 'alphanumeric')),
    individuals   integer NOT NULL,
    PRIMARY KEY (dataset_id, id)
);

-- The key of the noise added to counts of individuals (beacon/disclosure.py
-- report_individuals): made once, from the server's strong random source, the same for every
-- worker process and across restarts (noise that changed would average away), and never
-- read out: statements hash with it inside the database.
CREATE TABLE disclosure_secret (secret text NOT NULL);
INSERT INTO disclosure_secret VALUES (gen_random_uuid()::text || gen_random_uuid()::text);
