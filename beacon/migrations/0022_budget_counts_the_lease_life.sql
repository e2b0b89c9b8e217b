-- budget_take (0016) counting each take for a lease's life longer. A process spends the
-- units it took for up to 60 s (beacon/budget.py LEASE_SECONDS), and a take is filed under
-- its minute: counted for the window and one minute more, a take late in its minute had its
-- last units answered after it had left the count, and a caller got one lease more than
-- its budget within a window (419 answers in 60 s on a budget of 400, a probe of
-- 2026-12-03); a lease taken at 23:59 was spent after midnight on top of the new day's
-- whole budget. Each take now counts for the window and two minutes (its minute's rounding
-- and the lease's life), and for the day from two minutes before it: what is answered
-- within any window, or any UTC day, never exceeds its budget. The cost: a caller's units
-- come back up to a minute later, and a day's budget can be short by what the last two
-- minutes of the day before took.
CREATE OR REPLACE FUNCTION budget_take(p_caller text, p_dataset text, wanted integer,
                                       needed integer, force boolean, window_seconds integer,
                                       window_limit integer, day_limit integer,
                                       OUT taken integer, OUT window_left integer,
                                       OUT day_left integer, OUT retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
    at            timestamptz := clock_timestamp();
    window_start  timestamptz := at - make_interval(secs => window_seconds);
    day_start     timestamptz := date_trunc('day', at, 'UTC');
    in_window     bigint;
    in_day        bigint;
    room          bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_caller || chr(31) || p_dataset, 11));
    SELECT coalesce(sum(units) FILTER (WHERE minute > window_start - interval '2 minutes'), 0),
           coalesce(sum(units) FILTER (WHERE minute >= day_start - interval '2 minutes'), 0)
      INTO in_window, in_day
      FROM budget_spent
     WHERE caller = p_caller AND dataset_id = p_dataset
       AND minute > least(window_start - interval '2 minutes', day_start - interval '3 minutes');
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
        DO UPDATE SET units = least(budget_spent.units::bigint + EXCLUDED.units, 2147483647);
    END IF;
    window_left := CASE WHEN window_limit > 0
                        THEN greatest(window_limit - in_window - taken, -2147483648) END;
    day_left := CASE WHEN day_limit > 0
                     THEN greatest(day_limit - in_day - taken, -2147483648) END;
    retry_after := NULL;
    IF taken = 0 THEN
        IF day_limit > 0 AND day_limit - in_day < needed THEN
            retry_after := ceil(extract(epoch FROM day_start + interval '1 day' - at));
        ELSE     -- the oldest bucket still in the window leaves it first
            SELECT ceil(extract(epoch FROM min(minute) + interval '2 minutes'
                                             + make_interval(secs => window_seconds) - at))
              INTO retry_after
              FROM budget_spent
             WHERE caller = p_caller AND dataset_id = p_dataset
               AND minute > window_start - interval '2 minutes';
        END IF;
        retry_after := greatest(coalesce(retry_after, 1), 1);
    END IF;
END $$;
