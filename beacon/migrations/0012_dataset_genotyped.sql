-- Whether a dataset's variants say which samples carry them (`carrier_bits`, read from the
-- genotypes): only then can a caller's answers be charged to the people in them
-- (beacon/losses.py). A dataset read from INFO counts (its samples' genotypes not read, as
-- when it is loaded without individuals) has nobody to charge, so it is answered as the
-- caller's tier sees it, without the accounting's statement. Existing datasets are taken as
-- genotyped when they have samples: accounting them is always right, only slower.
ALTER TABLE datasets ADD COLUMN genotyped boolean NOT NULL DEFAULT false;
UPDATE datasets SET genotyped = sample_count > 0;
