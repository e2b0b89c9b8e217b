-- A dataset ingested again under another access level is noted as a removal (migration
-- 0018): with GDI_NODE_HIDE_CONTROLLED_DATASETS one made CONTROLLED leaves the FAIR Data
-- Point without its row being deleted, and the catalog and the root, dated by the datasets
-- they still show, went back to an older date although the documents had just changed, so a
-- harvester deciding by fdp-o:metadataModified kept the now hidden dataset (found by a
-- review, 2026-12-06). Without hiding, the date noted is that of the ingest that shows the
-- dataset changed, within its transaction's time of the dataset's own new `modified`; a
-- hidden dataset ingested again as CONTROLLED changes no level and is not noted.
-- (OR REPLACE: a migration applied again, as tests of later ones apply them, is a no-op)
CREATE OR REPLACE TRIGGER datasets_access_level_changed AFTER UPDATE OF access_level ON datasets
    FOR EACH ROW WHEN (OLD.access_level IS DISTINCT FROM NEW.access_level)
    EXECUTE FUNCTION note_dataset_removal();
