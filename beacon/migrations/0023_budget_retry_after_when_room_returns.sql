-- budget_take (0022) with a Retry-After that keeps its promise: the first moment at which
-- the question refused would be answered, counting every take made so far and none more.
-- It was the moment the oldest minute's units left the window, however few they were (a
-- question needing 5 units behind a minute of 1 was refused again then), or, with the day
-- spent, midnight UTC, whatever the window still held then and whatever the last two
-- minutes of the day had taken, which count into the next day (0022): a caller spending
-- the day's budget at 23:59 was told to come back at midnight and refused again for a day.
-- Both limits only ever free room as time passes (no take is counted), so the moment is
-- the later of the two at which each alone has room: for the window, the expiry of the
-- oldest minutes whose units, once gone, leave room enough; for the day, the next midnight,
-- or the one after if what counts into the next day leaves too little. A question needing
-- more than a limit's whole budget is told the moment everything counted has gone.
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
    free_at       timestamptz;
    still         bigint;
    bucket        record;
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
        free_at := at;
        IF window_limit > 0 AND window_limit - in_window < needed THEN
            -- a minute's units count until two minutes past the window after it
            still := in_window;
            FOR bucket IN SELECT minute, units FROM budget_spent
                           WHERE caller = p_caller AND dataset_id = p_dataset
                             AND minute > window_start - interval '2 minutes'
                           ORDER BY minute LOOP
                still := still - bucket.units;
                free_at := bucket.minute + interval '2 minutes'
                           + make_interval(secs => window_seconds);
                EXIT WHEN window_limit - still >= needed;
            END LOOP;
        END IF;
        IF day_limit > 0 AND day_limit - in_day < needed THEN
            -- the next day counts the takes of this day's last two minutes
            SELECT coalesce(sum(units), 0) INTO still FROM budget_spent
             WHERE caller = p_caller AND dataset_id = p_dataset
               AND minute >= day_start + interval '1 day' - interval '2 minutes';
            free_at := greatest(free_at, day_start + CASE WHEN day_limit - still >= needed
                                                          THEN interval '1 day'
                                                          ELSE interval '2 days' END);
        END IF;
        retry_after := greatest(ceil(extract(epoch FROM free_at - at)), 1);
    END IF;
END $$;
