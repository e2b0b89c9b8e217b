-- When a dataset was last removed from the node (`gdi-node remove`, or any DELETE of a
-- datasets row). The FAIR Data Point's catalog and root are dated by the latest `modified`
-- of the datasets they show: removing the newest moved that date back although the documents
-- had just changed, and a harvester deciding by fdp-o:metadataModified missed the removal.
-- They take the later of the two now (node/publication/records.py).
CREATE TABLE dataset_removals (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    removed_at timestamptz NOT NULL
);

CREATE FUNCTION note_dataset_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dataset_removals (removed_at) VALUES (clock_timestamp())
    ON CONFLICT (one) DO UPDATE
        SET removed_at = greatest(dataset_removals.removed_at, EXCLUDED.removed_at);
    RETURN NULL;
END $$;

CREATE TRIGGER datasets_removed AFTER DELETE ON datasets
    FOR EACH ROW EXECUTE FUNCTION note_dataset_removal();
