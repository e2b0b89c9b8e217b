-- Per dataset, chromosome and bin of 65,536 start positions (start_pos >> 16): how many of
-- its variants no longer than 1,000 bases (beacon/store.py LONG_VARIANT) start there, and
-- the fewest carriers among them (beacon/visibility.py CARRIERS; written here with AC for
-- unknown carriers, as CARRIERS then counted them, and lowered by migration 0027).
-- A range count without an allele floor adds up the bins it covers whole and reads only the
-- variants at its two edges and the long ones (beacon/store.py `_binned`): a 1 Mb count of
-- 100M variants visited its ~33,000 matches one by one. Partitioned like `variants`, one
-- partition per dataset (`<its variants partition>_bins`), which an ingest fills beside its
-- staging table and attaches in the swap's transaction: a version's bins are its own on the
-- primary and on every replica, and the swap writes no row (inserting a genome's bins there,
-- ~190,000 of 16,384 bases, took 1-3 s, with every query waiting on the swap's lock).
CREATE TABLE variant_bins (
    dataset_id  text COLLATE "C" NOT NULL,
    chromosome  text COLLATE "C" NOT NULL,
    bin         integer NOT NULL,
    variants    integer NOT NULL,
    rarest      integer NOT NULL,
    PRIMARY KEY (dataset_id, chromosome, bin)
) PARTITION BY LIST (dataset_id);

-- the datasets already loaded
DO $$
DECLARE
    d record;
BEGIN
    FOR d IN SELECT id, partition_table FROM datasets LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF variant_bins FOR VALUES IN (%L)',
                       d.partition_table || '_bins', d.id);
        EXECUTE format('INSERT INTO %I (dataset_id, chromosome, bin, variants, rarest) '
                       'SELECT %L, chromosome, start_pos >> 16, count(*), '
                       'min(coalesce(carriers, ac, 0)) FROM %I '
                       'WHERE end_pos - start_pos <= 1000 '
                       'GROUP BY chromosome, start_pos >> 16 ORDER BY 2, 3',
                       d.partition_table || '_bins', d.id, d.partition_table);
    END LOOP;
END $$;
