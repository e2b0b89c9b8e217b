-- Whether the node last started hiding its CONTROLLED datasets (GDI_NODE_HIDE_CONTROLLED_
-- DATASETS), so that a start under the other setting is noted as a removal (migration
-- 0018): the datasets it hides or shows again left or joined the FAIR Data Point with no
-- row deleted, and the catalog and the root kept the date of the datasets shown, so a
-- harvester deciding by fdp-o:metadataModified kept the datasets just hidden (found by a
-- review, 2026-12-06). No row until a node starts: the setting before is unknown.
-- (IF NOT EXISTS: a migration applied again, as tests of later ones apply them, is a no-op)
CREATE TABLE IF NOT EXISTS fdp_publication (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    hide_controlled boolean NOT NULL
);
