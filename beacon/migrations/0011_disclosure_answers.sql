-- The near-floor variants each caller was answered about (beacon/losses.py), one row each,
-- instead of two arrays on the caller's losses row: an answer that these determine is then
-- read by index lookups of the variants it matches, not by reading (and, on every charge,
-- rewriting) lists that grow with everything the caller has asked. `shown` is the answer
-- (shown stays shown, hidden stays hidden); `version` the dataset version it was given for.
CREATE TABLE disclosure_answers (
    caller      text NOT NULL,
    dataset_id  text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    variant     text COLLATE "C" NOT NULL,
    shown       boolean NOT NULL,
    PRIMARY KEY (caller, dataset_id, variant)
);

INSERT INTO disclosure_answers (caller, dataset_id, version, variant, shown)
SELECT caller, dataset_id, version, variant, true FROM disclosure_losses, unnest(shown) AS variant
UNION ALL
SELECT caller, dataset_id, version, variant, false FROM disclosure_losses, unnest(hidden) AS variant
ON CONFLICT DO NOTHING;

ALTER TABLE disclosure_losses DROP COLUMN shown, DROP COLUMN hidden;
