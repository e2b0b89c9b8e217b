-- What the smooth floor's accounting (beacon/losses.py) keeps per caller and dataset: the
-- privacy loss each person's presence has realised in the answers that caller was given (a
-- float4 per sample, in sample order), and the variants near the floor it was shown (kept
-- shown: a person dropped later must not be told apart by a variant turning hidden). A new
-- version of the dataset orders its samples anew: its losses start again (`version`).
CREATE TABLE disclosure_losses (
    caller      text NOT NULL,
    dataset_id  text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    version     integer NOT NULL,
    charged     bytea NOT NULL,
    shown       text[] NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, dataset_id)
);
