-- A dataset whose variants name nobody (no `carrier_bits`: read from a VCF's INFO counts,
-- its samples' genotypes not read) is answered through one account per caller (migration
-- 0029, beacon/accounts.py): `datasets.genotyped` false says which. Migration 0012 set it
-- from the samples alone, taking every dataset then in place that had samples as
-- genotyped ("accounting them is always right, only slower"), so one loaded from INFO
-- counts without its individuals before it, and not ingested since, was neither: accounted
-- per person, it had nobody to charge, and its near-floor variants were answered by the
-- smooth floor alone, as every sites-only dataset's were before 0029 (the membership
-- attack's 0.68: docs/privacy.md, "Variants that name nobody"). Such a dataset is taken as
-- what it is. Only those 0012 set (in place before it, not ingested since: an ingest writes
-- the flag from what it read), and only if none of their variants has carriers: a
-- genotyped dataset's first rows have them, so its check stops there.
UPDATE datasets d SET genotyped = false
 WHERE d.genotyped
   AND d.updated_at < (SELECT applied_at FROM schema_migrations WHERE version = 12)
   AND NOT EXISTS (SELECT 1 FROM variants v
                    WHERE v.dataset_id = d.id AND v.carrier_bits IS NOT NULL);
