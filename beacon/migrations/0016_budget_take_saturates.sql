-- budget_take (0002) with its arithmetic in bigint, and what it stores and returns held
-- within integer. With a dataset's rules at their largest (beacon/disclosure.py RULE_MAX,
-- 2^31 - 1 units a window, a rare hit costing 2^31 - 1), the forced cost of a rare hit
-- overflowed its minute's bucket: "integer out of range", a 500 for a query already
-- answered. A bucket now stops at 2^31 - 1 units, beyond any budget a rule can set, so
-- nothing that was refused is let through; what is left may be that far below zero.
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
