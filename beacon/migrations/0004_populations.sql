-- Populations of a dataset (beacon/populations.py): the samples of each country of birth,
-- country and sex, and sex, as bit strings over the samples like the variants' carrier bits,
-- so a variant's counts in a population are bit_counts; and which samples have no call at a
-- variant's site, for its allele number there (NULL: every sample was called).
ALTER TABLE variants ADD COLUMN missing_bits bit varying;
ALTER TABLE variants ALTER COLUMN missing_bits SET STORAGE MAIN;
-- A sites-only file's counts per population, from INFO AC_<label>, AN_<label>, ...
-- (beacon/vcf.py population_keys): {"FI": [AC, AN, homozygous, hemizygous], ...} as JSON.
ALTER TABLE variants ADD COLUMN info_populations text;

CREATE TABLE populations (
    dataset_id  text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    label       text COLLATE "C" NOT NULL,      -- FI, FI_M, M, ...; the dataset id for all
    position    integer NOT NULL,               -- the order rows are reported in
    members     bit varying NOT NULL,
    males       bit varying NOT NULL,           -- the members who are male
    size        integer NOT NULL,
    male_count  integer NOT NULL,
    PRIMARY KEY (dataset_id, label)
);
