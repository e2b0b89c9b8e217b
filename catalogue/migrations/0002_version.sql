-- One number that moves whenever nodes or datasets change, from any process (the service, a
-- `gdi-node catalogue harvest`): the catalogue's FAIR Data Point rebuilds its pages only when
-- it has moved, instead of loading and validating every record on every request.
--
-- Bumped at commit (deferred constraint triggers), once per transaction: a reader that sees
-- the new number also sees the new rows, and the row lock on the counter is taken after all
-- of the transaction's other locks, so it cannot close a deadlock.

CREATE TABLE catalogue_version (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint NOT NULL
);
INSERT INTO catalogue_version (version) VALUES (1);

CREATE FUNCTION bump_catalogue_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('gdi_catalogue.bumped', true) IS DISTINCT FROM 'yes' THEN
        UPDATE catalogue_version SET version = version + 1;
        PERFORM set_config('gdi_catalogue.bumped', 'yes', true);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER nodes_changed AFTER INSERT OR UPDATE OR DELETE ON nodes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_catalogue_version();
CREATE CONSTRAINT TRIGGER datasets_changed AFTER INSERT OR UPDATE OR DELETE ON datasets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_catalogue_version();
