-- Datasets and their variants. See docs/design/storage.md for why the tables look like this.

CREATE TABLE datasets (
    id                 text COLLATE "C" PRIMARY KEY,   -- GDI identifier, e.g. GDI-FI-SYN-001
    assembly           text NOT NULL CHECK (assembly IN ('GRCh37', 'GRCh38')),
    access_level       text NOT NULL CHECK (access_level IN ('PUBLIC', 'REGISTERED', 'CONTROLLED')),
    title              text NOT NULL,
    description        text NOT NULL DEFAULT '',
    variant_count      bigint NOT NULL DEFAULT 0,       -- rows: one per ALT allele
    record_count       bigint NOT NULL DEFAULT 0,       -- VCF records read
    sample_count       integer NOT NULL DEFAULT 0,
    max_variant_length integer NOT NULL DEFAULT 0,      -- max(end - start): bounds overlap scans
    version            integer NOT NULL DEFAULT 1,      -- +1 on every successful re-ingest
    partition_table    text NOT NULL,                   -- the variants partition holding its rows
    source             jsonb NOT NULL DEFAULT '{}',     -- file name, size, ingest figures
    metadata           jsonb NOT NULL DEFAULT '{}',     -- the rest of the metadata file
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- One partition per dataset: an ingest loads and indexes a standalone table, then swaps it in
-- with DETACH/DROP + ATTACH in one short transaction (readers never see a half-loaded dataset).
CREATE TABLE variants (
    dataset_id   text COLLATE "C" NOT NULL,
    chromosome   text COLLATE "C" NOT NULL,  -- canonical: 1..22, X, Y, MT
    start_pos    integer NOT NULL,           -- 0-based, inclusive
    end_pos      integer NOT NULL,           -- 0-based, exclusive
    ref          text COLLATE "C" NOT NULL,
    alt          text COLLATE "C" NOT NULL,  -- bases, or symbolic such as <DEL>
    variant_type text NOT NULL,              -- SNP, MNP, INS, DEL, INDEL, DUP, CNV, INV, SV
    length       integer NOT NULL,           -- affected length in bases (>= 1)
    ac           integer,                    -- allele count of this ALT
    an           integer,                    -- called alleles at the site
    af           double precision,           -- ac / an
    carriers     integer                     -- samples carrying this ALT
) PARTITION BY LIST (dataset_id);

-- Sequence queries hit (chromosome, start, ref, alt) exactly; range and bracket queries scan
-- a start_pos interval widened left by the dataset's max_variant_length.
CREATE INDEX variants_locus ON variants (chromosome, start_pos, ref, alt);
