-- The `source` values (a DAC's or a REMS's URL, compared byte for byte) whose
-- ControlledAccessGrants visas grant the dataset: in GA4GH Passports a grant's source is the
-- body that decided it, and with two DACs' grants accepted, one DAC's grant of a dataset the
-- other governs granted it. Empty: a grant from any source the node accepts, as before
-- (auth/policy.py governed_keys). Set by `gdi-node ingest --grant-source` and `gdi-node
-- datasets grant-sources`; kept by an ingest that names none.
-- (IF NOT EXISTS: a migration applied again, as tests of later ones apply them, is a no-op)
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS grant_sources text[] NOT NULL DEFAULT '{}';
