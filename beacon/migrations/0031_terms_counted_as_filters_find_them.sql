-- A measured assay that some of a dataset's individuals also hold as a term (a LOINC code
-- as a procedure's, say) had one row in `individual_terms` counting its term holders alone
-- (beacon/individuals_rows.py individuals_load), so one holder (1 to k - 1) took a field
-- 40 people have values for off the filtering terms' list, which told an anonymous caller
-- that someone holds it as a term (found by a review, 2026-12-06). An ingest now counts
-- whom an ontology filter on the id finds, the holders and those measured (`terms` holds
-- both), and types the row by the larger group. Rows written before are made so here: their
-- count is the holders', their values' rows say who was measured.
UPDATE individual_terms t
   SET kind = CASE WHEN t.individuals >= v.valued THEN 'ontology' ELSE 'alphanumeric' END,
       individuals = (SELECT count(*) FROM individuals i
                       WHERE i.dataset_id = t.dataset_id AND t.id = ANY (i.terms))
  FROM (SELECT dataset_id, field, count(DISTINCT sample_index) AS valued
          FROM individual_values GROUP BY dataset_id, field) v
 WHERE t.kind = 'ontology' AND v.dataset_id = t.dataset_id AND v.field = t.id;
