-- The long variants' GiST (0008) on one column: each span on a genome-wide coordinate (the
-- chromosome's number times 2^32, plus the position), no longer (chromosome, span) through
-- btree_gist. The stabbing lookup a range query makes for the long variants covering its
-- start was two thirds of a 1 kb range count at 100M variants (docs/benchmarks.md): 0.10-0.12
-- ms in the two-column GiST, about half that in a range GiST of its own. `genome_position`
-- is an immutable SQL function, inlined where the index and the queries use it (beacon/store.py
-- _SPAN, the same expression); a chromosome outside 1-22, X, Y, MT would share 0 with every
-- other such one, which the queries' own `chromosome = ` condition still tells apart.
CREATE FUNCTION genome_position(chrom text, pos integer) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN coalesce(array_position('{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,X,Y,MT}'::text[],
                                   chrom), 0)::bigint * 4294967296 + pos;

DROP INDEX variants_long;
CREATE INDEX variants_long ON variants
    USING gist (int8range(genome_position(chromosome, start_pos),
                          genome_position(chromosome, end_pos)))
    WHERE end_pos - start_pos > 1000;
ANALYZE variants;
