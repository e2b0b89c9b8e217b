-- Per dataset, chromosome and bin of 16,384 start positions (start_pos >> 14): how many of
-- its variants no longer than 1,000 bases (beacon/store.py LONG_VARIANT) start there, and
-- the fewest carriers among them (coalesce(carriers, ac, 0), beacon/visibility.py CARRIERS).
-- A range count without an allele floor adds up the bins it covers whole and reads only the
-- variants at its two edges and the long ones (beacon/store.py `_binned`): a 1 Mb count of
-- 100M variants visited its ~33,000 matches one by one. Written with the partition, in the
-- swap's transaction, so a version's bins are its own on the primary and on every replica.
CREATE TABLE variant_bins (
    dataset_id  text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    chromosome  text COLLATE "C" NOT NULL,
    bin         integer NOT NULL,
    variants    integer NOT NULL,
    rarest      integer NOT NULL,
    PRIMARY KEY (dataset_id, chromosome, bin)
);

INSERT INTO variant_bins (dataset_id, chromosome, bin, variants, rarest)
SELECT dataset_id, chromosome, start_pos >> 14, count(*), min(coalesce(carriers, ac, 0))
FROM variants WHERE end_pos - start_pos <= 1000
GROUP BY dataset_id, chromosome, start_pos >> 14
ORDER BY dataset_id, chromosome, start_pos >> 14;
