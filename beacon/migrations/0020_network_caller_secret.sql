-- The key the network node (node/federation/network.py) hashes an anonymous caller's budget
-- key with, to name that caller to its peers (X-Beacon-Network-Caller) without telling them
-- the caller's address: made once, from the server's strong random source, the same for
-- every worker process and across restarts (a pseudonym that changed would be a fresh budget
-- at every peer), and apart from disclosure_secret, whose draws must not move if this one
-- is ever replaced.
CREATE TABLE network_caller_secret (secret text NOT NULL);
-- one row at most: with two, each worker process could read a different one
CREATE UNIQUE INDEX network_caller_secret_one_row ON network_caller_secret ((true));
INSERT INTO network_caller_secret VALUES (gen_random_uuid()::text || gen_random_uuid()::text);
