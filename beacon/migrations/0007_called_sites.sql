-- Sites a VCF records without a variant allele: reference-only records (ALT `.`) and gVCF
-- reference blocks (`<NON_REF>` with END), with the alleles called there, so a query that
-- finds no variant at such a site can say how many alleles were looked at (beacon/answer.py).
-- Written with the dataset's version in the swap's transaction (beacon/store.py).
CREATE TABLE called_sites (
    dataset_id  text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    chromosome  text COLLATE "C" NOT NULL,
    start_pos   integer NOT NULL,                -- 0-based, inclusive
    end_pos     integer NOT NULL,                -- 0-based, exclusive (a block's END)
    an          integer NOT NULL
);
CREATE INDEX called_sites_locus ON called_sites (dataset_id, chromosome, start_pos);
