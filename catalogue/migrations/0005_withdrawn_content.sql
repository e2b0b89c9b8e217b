-- A withdrawn dataset keeps its identifier, its node and when it was withdrawn, not its record
-- (catalogue/store.py, docs/catalogue.md "Withdrawal"): a node that hides its CONTROLLED
-- datasets (hide_controlled_datasets) withdraws them from the catalogue, whose API served on
-- their title, access rights, counts and contact as `withdrawn`. Those withdrawn before this
-- migration lose theirs now.
UPDATE datasets SET record = jsonb_build_object('identifier', identifier)
WHERE status = 'withdrawn';
