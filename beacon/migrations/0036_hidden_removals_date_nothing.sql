-- A dataset removed while the node hides its CONTROLLED datasets (migration 0033's setting,
-- kept by the node's last start) and CONTROLLED itself was on no document of the FAIR Data
-- Point, and its removal changes none: noted as every removal (0018), it moved the catalog's
-- and the root's dates, Last-Modified and ETag, telling any anonymous reader that a hidden
-- dataset had been there until then (found by a review, 2026-12-06). It is not noted; a
-- node whose setting is not known yet (none started) notes every removal, as before. A
-- change of access level still notes one (0032): the dataset joins or leaves the documents.
-- (OR REPLACE: a migration applied again, as tests of later ones apply them, is a no-op)
CREATE OR REPLACE FUNCTION note_shown_dataset_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.access_level = 'CONTROLLED'
            AND coalesce((SELECT hide_controlled FROM fdp_publication), false) THEN
        RETURN NULL;
    END IF;
    INSERT INTO dataset_removals (removed_at) VALUES (clock_timestamp())
    ON CONFLICT (one) DO UPDATE
        SET removed_at = greatest(dataset_removals.removed_at, EXCLUDED.removed_at);
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER datasets_removed AFTER DELETE ON datasets
    FOR EACH ROW EXECUTE FUNCTION note_shown_dataset_removal();
