-- Disclosure control's state (beacon/disclosure.py): query budgets and the audit trail.
-- Kept here, not in a process, so they hold across worker processes and restarts.

-- Budget units spent per caller and dataset, in minute buckets: a sliding window sums the
-- buckets it covers (a bucket partly inside counts whole: the window errs towards refusing).
CREATE TABLE budget_spent (
    caller     text COLLATE "C" NOT NULL,       -- 'token issuer sub' or 'address 192.0.2.1'
    dataset_id text COLLATE "C" NOT NULL,
    minute     timestamptz NOT NULL,
    units      integer NOT NULL CHECK (units > 0),
    PRIMARY KEY (caller, dataset_id, minute)
);

-- Take up to `wanted` units (at least `needed`) for a caller and dataset, atomically across
-- sessions; `force` records them whatever is left (a rare hit's extra cost, already answered).
-- Returns the units taken (0 = refused), what the window and the day have left afterwards,
-- and, when refused, the seconds until enough of the window expires or the day ends.
CREATE FUNCTION budget_take(p_caller text, p_dataset text, wanted integer, needed integer,
                            force boolean, window_seconds integer, window_limit integer,
                            day_limit integer,
                            OUT taken integer, OUT window_left integer, OUT day_left integer,
                            OUT retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
    at            timestamptz := clock_timestamp();
    window_start  timestamptz := at - make_interval(secs => window_seconds);
    day_start     timestamptz := date_trunc('day', at, 'UTC');
    in_window     integer;
    in_day        integer;
    room          integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_caller || chr(31) || p_dataset, 11));
    SELECT coalesce(sum(units) FILTER (WHERE minute > window_start - interval '1 minute'), 0),
           coalesce(sum(units) FILTER (WHERE minute >= day_start), 0)
      INTO in_window, in_day
      FROM budget_spent
     WHERE caller = p_caller AND dataset_id = p_dataset
       AND minute > least(window_start - interval '1 minute', day_start - interval '1 minute');
    room := 2147483647;
    IF window_limit > 0 THEN room := least(room, window_limit - in_window); END IF;
    IF day_limit > 0 THEN room := least(room, day_limit - in_day); END IF;
    IF force THEN
        taken := wanted;
    ELSIF room >= needed THEN
        taken := least(wanted, room);
    ELSE
        taken := 0;
    END IF;
    IF taken > 0 THEN
        INSERT INTO budget_spent VALUES (p_caller, p_dataset, date_trunc('minute', at), taken)
        ON CONFLICT (caller, dataset_id, minute)
        DO UPDATE SET units = budget_spent.units + EXCLUDED.units;
    END IF;
    window_left := CASE WHEN window_limit > 0 THEN window_limit - in_window - taken END;
    day_left := CASE WHEN day_limit > 0 THEN day_limit - in_day - taken END;
    retry_after := NULL;
    IF taken = 0 THEN
        IF day_limit > 0 AND day_limit - in_day < needed THEN
            retry_after := ceil(extract(epoch FROM day_start + interval '1 day' - at));
        ELSE     -- the oldest bucket still in the window leaves it first
            SELECT ceil(extract(epoch FROM min(minute) + interval '1 minute'
                                             + make_interval(secs => window_seconds) - at))
              INTO retry_after
              FROM budget_spent
             WHERE caller = p_caller AND dataset_id = p_dataset
               AND minute > window_start - interval '1 minute';
        END IF;
        retry_after := greatest(coalesce(retry_after, 1), 1);
    END IF;
END $$;

-- One row per answered request that disclosed anything: who, what, how much (never a token).
-- Written thousands of times a second under load, so as cheaply as a row can be: no key, the
-- JSON kept as text (parsed when an operator reads it), a BRIN index on the time it grows by.
CREATE TABLE audit_trail (
    at          timestamptz NOT NULL,
    request_id  text NOT NULL,
    caller      text COLLATE "C" NOT NULL,      -- as in budget_spent
    endpoint    text NOT NULL,                  -- the route, e.g. /api/g_variants
    datasets    text NOT NULL                   -- JSON {id: {tier, granularity, count?, exists, spent}}
);
CREATE INDEX audit_trail_at ON audit_trail USING brin (at);
