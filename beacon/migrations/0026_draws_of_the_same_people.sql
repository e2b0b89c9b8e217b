-- Whose draws a dataset's counts of individuals make (beacon/individuals_store.py): the two
-- seeds of a count's noise and of its set's smooth-floor draws were keyed by the dataset's
-- id, so one VCF loaded as three datasets gave a caller three times the draws a set may
-- have, and three noises per question to average. They are keyed by `people` now: the
-- same for every dataset holding the same samples in the same order. `samples` is the
-- digest those are compared by (md5 of the sample ids in sample order, tab-separated, which
-- no VCF sample name holds); both NULL for a dataset without individuals.
ALTER TABLE datasets ADD COLUMN samples text COLLATE "C", ADD COLUMN people text COLLATE "C";

UPDATE datasets d SET samples = (SELECT md5(string_agg(i.id, E'\t' ORDER BY i.sample_index))
                                   FROM individuals i WHERE i.dataset_id = d.id);

-- The datasets loaded so far keep the key they drew with, their id, so that their counts,
-- draws and callers' kept answers stay what they were; the copies of a cohort take the
-- first's (by id). A dataset swapped in later keeps its key while its samples stay the
-- same, takes that of a dataset in place with the same samples, or else `samples <digest>`,
-- which no dataset id (GDI form, no space) equals (individuals_store._name_people).
UPDATE datasets d SET people = (SELECT min(o.id) FROM datasets o WHERE o.samples = d.samples)
 WHERE d.samples IS NOT NULL;

-- A copy's own answers about sets (keys `set <its set digest> <bucket>`) are of draws no
-- question makes any more; each copy holds the first's from now on (beacon/losses.py
-- charge_set), as every copy holds every answer about a set of its people.
DELETE FROM disclosure_answers a USING datasets d
 WHERE d.id = a.dataset_id AND a.variant LIKE 'set %' AND d.people <> d.id;
INSERT INTO disclosure_answers (caller, dataset_id, version, variant, shown)
SELECT a.caller, o.id, o.version, a.variant, a.shown
  FROM disclosure_answers a JOIN datasets d ON d.id = a.dataset_id
  JOIN datasets o ON o.people = d.people AND o.id <> d.id
 WHERE a.variant LIKE 'set %';
