-- One realised-loss account per caller and dataset, for the variants whose carriers the node
-- cannot name (a sites-only VCF's, counted by AC and nhomalt; beacon/accounts.py): each
-- answer about one near the allele floor adds what it would charge each person counted in
-- it, so the account bounds every one of them, and once it is past the tier's loss budget
-- the dataset answers the caller nothing more. Kept across the dataset's versions (a new one
-- holds people nobody can tell from the earlier ones'), dropped with the dataset.
CREATE TABLE disclosure_accounts (
    caller      text NOT NULL,
    dataset_id  text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    spent       float8 NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, dataset_id)
);

-- A caller's turn at its account for a dataset, in one round trip (beacon/accounts.py): the
-- caller's lock (the key beacon/losses.py `turn` hashes alike), the dataset's version held
-- in place, then the account read and, if it has room, charged with the answers' losses and
-- those answers kept where they leave it within the budget (answers the caller was given
-- before left out). Each statement of a volatile function sees what committed before it
-- began, so the read comes after the lock. Called outside a transaction, the lock ends
-- with the call; inside one (a wide lane's, or a turn held to count again), with that.
-- Returns the version in place, when the dataset was made, the account before and after
-- (NULL: nothing charged); no row: the dataset is gone.
CREATE FUNCTION disclosure_account_turn(
        lock_key text, p_caller text, p_dataset text, keys text[], answers boolean[],
        losses float8[], budget float8, counted_version integer, counted_made timestamptz)
RETURNS TABLE (version integer, created_at timestamptz, spent float8, after float8)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(lock_key, 11));
    LOCK TABLE ONLY variants IN ACCESS SHARE MODE;
    RETURN QUERY
    WITH state AS (
        SELECT d.version, d.created_at, coalesce(a.spent, 0) AS spent
          FROM datasets d LEFT JOIN disclosure_accounts a
            ON a.caller = p_caller AND a.dataset_id = d.id
         WHERE d.id = p_dataset),
    fresh AS (
        SELECT k.variant, k.shown, k.loss
          FROM state s, unnest(keys, answers, losses) AS k(variant, shown, loss)
         WHERE s.spent <= budget AND s.version = counted_version
           AND s.created_at = counted_made
           AND NOT EXISTS (SELECT 1 FROM disclosure_answers a WHERE a.caller = p_caller
                              AND a.dataset_id = p_dataset AND a.variant = k.variant)),
    total AS (SELECT sum(f.loss) AS loss, count(*) AS n FROM fresh f),
    kept AS (
        INSERT INTO disclosure_answers (caller, dataset_id, version, variant, shown)
        SELECT p_caller, p_dataset, s.version, f.variant, f.shown
          FROM state s, total t, fresh f
         WHERE s.spent + t.loss <= budget),
    charged AS (
        INSERT INTO disclosure_accounts AS c (caller, dataset_id, spent)
        SELECT p_caller, p_dataset, t.loss FROM total t WHERE t.n > 0
        ON CONFLICT (caller, dataset_id) DO UPDATE
           SET spent = c.spent + EXCLUDED.spent, updated_at = now()
        RETURNING c.spent)
    SELECT s.version, s.created_at, s.spent, (SELECT ch.spent FROM charged ch) FROM state s;
END $$;
