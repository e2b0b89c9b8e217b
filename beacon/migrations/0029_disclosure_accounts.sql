-- One realised-loss account per caller and dataset, for the variants whose carriers the node
-- cannot name (a sites-only VCF's, counted by AC and nhomalt; beacon/accounts.py): each
-- answer about one near the allele floor adds what it would charge each person counted in
-- it, so the account bounds every one of them, and once it is past the tier's loss budget
-- the dataset answers the caller nothing more. Kept across the dataset's versions (a new one
-- holds people nobody can tell from the earlier ones'), dropped with the dataset.
CREATE TABLE disclosure_accounts (
    caller      text NOT NULL,
    dataset_id  text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    spent       float8 NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, dataset_id)
);
