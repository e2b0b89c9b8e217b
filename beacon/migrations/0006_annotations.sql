-- What the VCF's own annotations (SnpEff ANN, VEP CSQ; beacon/annotations.py) say of each
-- ALT: the genes it falls in (HGNC symbols, upper case) and its protein changes (canonical
-- HGVS, p.Val600Glu), for geneId and aminoacidChange queries, and every annotation entry as
-- JSON for the record's molecularAttributes. NULL: the file has no annotations; '{}': it has,
-- and none for this allele.
ALTER TABLE variants ADD COLUMN genes text[] COLLATE "C";
ALTER TABLE variants ADD COLUMN protein_changes text[] COLLATE "C";
ALTER TABLE variants ADD COLUMN annotation text;

-- A gene the node's table does not place, or a protein change alone, is found by these.
CREATE INDEX variants_genes ON variants USING gin (genes) WHERE genes IS NOT NULL;
CREATE INDEX variants_protein_changes ON variants USING gin (protein_changes)
    WHERE protein_changes IS NOT NULL;
