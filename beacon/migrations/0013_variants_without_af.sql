-- A variant's allele frequency is its ac / an, computed where it is shown (beacon/records.py):
-- the column held the same quotient in 8 bytes of every row (docs/design/storage.md, "Bytes
-- per variant"). Existing partitions keep the bytes until their dataset is ingested again.
ALTER TABLE variants DROP COLUMN af;
