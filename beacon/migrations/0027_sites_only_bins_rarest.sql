-- A variant whose carriers are unknown (a sites-only VCF's without nhomalt, or one whose
-- genotypes were not read) now counts as carried by ceil(AC / 2) people, the fewest its
-- allele count can come from (beacon/visibility.py CARRIERS), not by AC: the floor failed
-- open. `variant_bins.rarest` (0014) was written with AC, and a bin whose rarest is too high
-- prices a wide count that adds it up as commoner than its rarest match (beacon/store.py
-- `_binned`; beacon/disclosure.py is_rare).
--
-- Lowered to ceil(old / 2), a lower bound: for every variant ceil(AC / 2) >= ceil(old / 2),
-- and known carriers are >= half of themselves, so the new minimum is never below it. Not
-- recomputed exactly: that aggregates every row of each such dataset (30-63 s per 100M
-- variants, as an ingest's bins, beacon/store.py _make_bins) inside the start-up's
-- migration transaction, while this touches only the bins (~47,000 per genome-wide dataset)
-- and reads no variant. The cost: a bin whose rarest was a known carrier count (a file
-- with nhomalt) is priced rarer than it is, until the dataset's next ingest writes it
-- exactly; never commoner. Only the datasets that can hold unknown carriers: those not
-- genotyped, and those migration 0012 took as genotyped by their samples alone (not
-- ingested since it), which may have been read from INFO. A genotyped dataset's carriers
-- are all from its genotypes, its bins exact.
UPDATE variant_bins b SET rarest = b.rarest / 2 + b.rarest % 2
    FROM datasets d
    WHERE d.id = b.dataset_id AND b.rarest > 1
      AND (NOT d.genotyped
           OR d.updated_at < (SELECT applied_at FROM schema_migrations WHERE version = 12));
