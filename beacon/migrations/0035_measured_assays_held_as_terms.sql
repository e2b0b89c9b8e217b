-- An ontology filter on a measured assay's id (as filtering_terms lists it: `LOINC:8302-2`)
-- finds those measured: since 2026-12-05 an ingest writes the assay into each measured
-- individual's `terms` and `ancestry` and the term's `term_members` bits (beacon/
-- individuals_rows.py individuals_load, `found`). A dataset loaded before kept its rows
-- through every migration, so once upgraded such a filter counted nobody, a false 0, where
-- the same files loaded now count everyone measured (found by a review: upgrade from an
-- older commit, then query). Its rows are made so here from its values' rows
-- (`individual_values`, a field other than the two durations is an assay), with the
-- term's bits (as migration 0005 made them) and its `individual_terms` row (whom the filter
-- finds, typed by the larger group, as migration 0031 and an ingest count it). The assay's
-- own ancestors are not added (the ontology is the package's, not the database's): an
-- assay whose id has some (an HPO or NCIT class, not a LOINC code) is found by a filter
-- on an ancestor only from its next ingest.
-- Such a dataset is one with someone measured whose terms lack the assay: one loaded since
-- holds each measured individual's assays in its terms, where counting its holders would
-- count the measured too. A view names them, read again by each statement, where a
-- temporary table would have held them (a database may refuse its role TEMP), and the
-- individuals' terms are written last, as the others read them before.

-- the datasets to be made so (someone measured whose terms lack the assay): their assays' rows
CREATE VIEW assays_0035 AS
WITH unheld AS (
    SELECT DISTINCT v.dataset_id FROM individual_values v
      JOIN individuals i ON i.dataset_id = v.dataset_id AND i.sample_index = v.sample_index
     WHERE v.field NOT IN ('diseases.ageOfOnset.iso8601duration',
                           'timeAtLastEncounter.age.iso8601duration')
       AND NOT (v.field = ANY (i.terms)))
SELECT v.dataset_id, v.sample_index, v.field FROM individual_values v
 WHERE v.field NOT IN ('diseases.ageOfOnset.iso8601duration',
                       'timeAtLastEncounter.age.iso8601duration')
   AND v.dataset_id IN (SELECT dataset_id FROM unheld);

-- the filtering terms' rows: whom the filter finds, typed by the larger group
WITH assays AS (SELECT * FROM assays_0035)
UPDATE individual_terms t
   SET kind = CASE WHEN a.held >= a.valued THEN 'ontology' ELSE 'alphanumeric' END,
       individuals = a.either
  FROM (SELECT a.dataset_id, a.field, count(DISTINCT a.sample_index) AS valued,
               (SELECT count(*) FROM individuals i
                 WHERE i.dataset_id = a.dataset_id AND a.field = ANY (i.terms)) AS held,
               (SELECT count(*) FROM individuals i
                 WHERE i.dataset_id = a.dataset_id
                   AND (a.field = ANY (i.terms)
                        OR EXISTS (SELECT 1 FROM individual_values w
                                    WHERE w.dataset_id = i.dataset_id
                                      AND w.sample_index = i.sample_index
                                      AND w.field = a.field))) AS either
          FROM assays a
         GROUP BY a.dataset_id, a.field) a
 WHERE a.dataset_id = t.dataset_id AND a.field = t.id;

-- the term's bits: those holding it, or measured
WITH assays AS (SELECT * FROM assays_0035)
INSERT INTO term_members AS tm (dataset_id, term, exact, descendants)
SELECT a.dataset_id, a.field,
       string_agg(CASE WHEN a.field = ANY (i.terms) OR m.sample_index IS NOT NULL
                       THEN '1' ELSE '0' END, '' ORDER BY i.sample_index)::varbit,
       string_agg(CASE WHEN a.field = ANY (i.ancestry) OR m.sample_index IS NOT NULL
                       THEN '1' ELSE '0' END, '' ORDER BY i.sample_index)::varbit
  FROM (SELECT DISTINCT dataset_id, field FROM assays) a
  JOIN individuals i ON i.dataset_id = a.dataset_id
  LEFT JOIN (SELECT DISTINCT dataset_id, sample_index, field FROM assays) m
    ON m.dataset_id = i.dataset_id AND m.sample_index = i.sample_index AND m.field = a.field
 GROUP BY a.dataset_id, a.field
    ON CONFLICT (dataset_id, term)
    DO UPDATE SET exact = EXCLUDED.exact, descendants = EXCLUDED.descendants;

-- the measured individuals' terms and ancestry
WITH assays AS (SELECT * FROM assays_0035)
UPDATE individuals i
   SET terms = ARRAY(SELECT DISTINCT t COLLATE "C" FROM unnest(i.terms || m.assays) t
                      ORDER BY 1),
       ancestry = ARRAY(SELECT DISTINCT t COLLATE "C" FROM unnest(i.ancestry || m.assays) t
                         ORDER BY 1)
  FROM (SELECT dataset_id, sample_index, array_agg(DISTINCT field) AS assays FROM assays
         GROUP BY dataset_id, sample_index) m
 WHERE i.dataset_id = m.dataset_id AND i.sample_index = m.sample_index
   AND NOT (i.terms @> m.assays AND i.ancestry @> m.assays);

DROP VIEW assays_0035;
