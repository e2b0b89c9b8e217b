"""PostgreSQL's integer, the one limit the node's numbers are held to in several places: the
variant store's positions, a disclosure rule and a floor's values (the statements take them
as integers), and the settings' bounds; and the longest alleles the store holds, which both
ingest and a query's HGVS are held to. One name for each, in a module the settings and a
request's parser can import without loading the rest of the core."""

INT4_MAX = 2**31 - 1
# The most bases a variant's REF and ALT may hold together. The locus btree keeps both in
# each entry, and `disclosure_answers` keys a caller's answers by them (visibility.KEY);
# PostgreSQL bounds a btree entry at 2,704 bytes, compressed if it can be: a sequence-resolved
# SV of ~8,000 bases stopped the ingest with the database's error at the index build,
# naming no record. 2,000 fits uncompressed, with room for the answers' caller. Longer
# alleles are refused at their line (beacon/vcf.py): spelt as symbolic alleles (<DEL>,
# <INS> with END or SVLEN) they load at any length.
ALLELE_BASES = 2_000
