-- Rows of no variant: an ALT nobody carries (AC 0, from the genotypes or INFO: a cohort's
-- file subset to fewer people, as `bcftools view -s` leaves it), not loaded since
-- 2026-12-05, and an ALT equal to REF (`C>C`, or a multi-allelic record's `G,G`), not loaded
-- since 2026-12-03 (beacon/vcf.py `_rows_of`). A dataset loaded before kept its rows
-- through every migration, so once upgraded it still answered that they exist, counted
-- and listed them (an AC 0 to a caller without an allele floor: a grant, or a dataset
-- whose `disclosure` lifts it; a REF-equal ALT to anyone its carriers' count reaches),
-- where the same file loaded now misses them (found by a review: upgrade from an older
-- commit, then query). Its rows are removed here, and what was made of them: the
-- dataset's variant count and the bins they were counted in (migration 0014), recounted
-- from the rows left, as an ingest counts them (beacon/store.py `_make_bins`).
-- A site whose ALTs nobody carries is not written as a called site (migration 0007), as an
-- ingest now writes it: which record a row came from is no longer known, so a miss there
-- says no alleleNumber, as a miss anywhere the file did not call did before, until the
-- dataset's next ingest. Only datasets loaded before the first migration after both fixes
-- (0025) are read: one loaded since holds no such row, and each read is its whole
-- partition's.
DO $$
DECLARE
    d record;
    removed integer;
    chromosomes text[];
    bins integer[];
BEGIN
    FOR d IN SELECT id, partition_table FROM datasets
              WHERE updated_at < (SELECT applied_at FROM schema_migrations WHERE version = 25)
    LOOP
        -- the rows removed (long ones included: they are in no bin), and the bins of the
        -- others (no temporary table: a database may refuse its role TEMP)
        EXECUTE format('WITH gone AS (DELETE FROM %I WHERE ac = 0 OR ref = alt '
                       'RETURNING chromosome, start_pos, end_pos), '
                       'binned AS (SELECT DISTINCT chromosome, (start_pos >> 16)::integer AS bin '
                       'FROM gone WHERE end_pos - start_pos <= 1000) '
                       'SELECT (SELECT count(*) FROM gone), '
                       '(SELECT array_agg(chromosome ORDER BY chromosome, bin) FROM binned), '
                       '(SELECT array_agg(bin ORDER BY chromosome, bin) FROM binned)',
                       d.partition_table) INTO removed, chromosomes, bins;
        IF removed > 0 THEN
            UPDATE datasets SET variant_count = variant_count - removed WHERE id = d.id;
            EXECUTE format('DELETE FROM %I b USING unnest($1::text[], $2::integer[]) '
                           'AS u (chromosome, bin) '
                           'WHERE b.chromosome = u.chromosome AND b.bin = u.bin',
                           d.partition_table || '_bins') USING chromosomes, bins;
            EXECUTE format('INSERT INTO %I (dataset_id, chromosome, bin, variants, rarest) '
                           'SELECT %L, v.chromosome, (v.start_pos >> 16)::integer, '
                           'count(*)::integer, '
                           'min(coalesce(v.carriers, v.ac / 2 + v.ac %% 2, 0))::integer '
                           'FROM %I v JOIN unnest($1::text[], $2::integer[]) '
                           'AS u (chromosome, bin) ON v.chromosome = u.chromosome '
                           'AND v.start_pos >> 16 = u.bin '
                           'WHERE v.end_pos - v.start_pos <= 1000 '
                           'GROUP BY v.chromosome, v.start_pos >> 16',
                           d.partition_table || '_bins', d.id, d.partition_table)
                USING chromosomes, bins;
        END IF;
    END LOOP;
END $$;
