-- The people two datasets both hold, by sample id (individuals.id): where each of them is
-- in one dataset's version in place (`positions`, its sample indexes) and in the other's
-- (`other_positions`, in the same order), each a big-endian int4 after another (int4send),
-- which numpy reads as they are: as integer[], 10,000 of them took 1.6 ms to decode. A
-- caller's losses are kept per dataset, for the answers about that dataset, and a person's
-- standing with a caller is what all of them add up to (beacon/losses.py): one VCF loaded
-- as several datasets gave a caller a budget over each person in each copy. One row each
-- way; `individuals_store.replace` makes a dataset's again with each of its versions, and
-- removing either dataset removes them.
CREATE TABLE shared_people (
    dataset_id       text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    other_id         text COLLATE "C" NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    positions        bytea NOT NULL,
    other_positions  bytea NOT NULL,
    PRIMARY KEY (dataset_id, other_id)
);

-- Who holds a sample id, for the swap's `_share` to find the datasets sharing its people by
-- index rather than by reading every dataset's individuals, records and all (965 MB at a
-- million individuals: 0.3 s a swap, against 27 ms through this index; a probe).
CREATE INDEX individuals_id ON individuals (id) INCLUDE (dataset_id, sample_index);

-- The people the datasets loaded so far share. Their accounts, kept apart until now, add up
-- from here on: what each caller was charged in each copy counts in every copy.
INSERT INTO shared_people (dataset_id, other_id, positions, other_positions)
SELECT a.dataset_id, b.dataset_id,
       string_agg(int4send(a.sample_index), '' ORDER BY a.sample_index),
       string_agg(int4send(b.sample_index), '' ORDER BY a.sample_index)
  FROM individuals a JOIN individuals b ON b.id = a.id AND b.dataset_id <> a.dataset_id
 GROUP BY a.dataset_id, b.dataset_id;
