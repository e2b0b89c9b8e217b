-- The catalogue's own database: registered nodes and the dataset records they publish.

CREATE TABLE nodes (
    id            text COLLATE "C" PRIMARY KEY,     -- the node's id (its Beacon id)
    name          text NOT NULL,
    country       text CHECK (country ~ '^[A-Z]{2}$'),
    beacon_url    text NOT NULL,
    fdp_url       text NOT NULL,                    -- every dataset IRI must be under it
    registered_at timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz,                      -- last push or successful harvest
    healthy       boolean,                          -- NULL = never harvested
    last_error    text                              -- what the last harvest reported
);

-- One row per dataset identifier (DOMAIN.md §1: one primary key). A dataset gone from its
-- node's snapshot is withdrawn, not deleted, so the catalogue can say it existed.
CREATE TABLE datasets (
    identifier   text COLLATE "C" PRIMARY KEY,
    node_id      text COLLATE "C" NOT NULL REFERENCES nodes (id),
    record       jsonb NOT NULL,                    -- CatalogueRecord JSON (by alias)
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'withdrawn')),
    withdrawn_at timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    search       tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(record ->> 'title', '')), 'A')
        || setweight(jsonb_to_tsvector('english', coalesce(record -> 'keywords', '[]'),
                                       '["string"]'), 'A')
        || setweight(to_tsvector('english', coalesce(record ->> 'description', '')), 'B')
    ) STORED
);

CREATE INDEX datasets_search ON datasets USING gin (search);
CREATE INDEX datasets_node ON datasets (node_id, status);
