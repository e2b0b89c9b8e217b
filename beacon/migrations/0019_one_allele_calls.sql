-- Which samples' calls at a variant's site name one allele: a half-call (`./1`, `0/.`) or a
-- haploid call (`1`) (beacon/vcf.py; NULL: none did). A population's allele number counts
-- the alleles called (beacon/populations.py): the missing-call bits alone counted such a
-- call as two. Partitions loaded before this column read NULL, as before, until their
-- dataset is ingested again.
ALTER TABLE variants ADD COLUMN one_allele_bits bit varying;
ALTER TABLE variants ALTER COLUMN one_allele_bits SET STORAGE MAIN;
