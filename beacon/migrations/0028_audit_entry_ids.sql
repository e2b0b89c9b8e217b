-- Each audit entry's id, made by the node when it records the entry (beacon/audit.py): a
-- batch whose write the server committed but whose client saw it fail (the connection lost
-- before the acknowledgement, the watchdog ending the write as the server finished it) was
-- put back and written again, every entry twice, and `gdi-node audit summary` counted those
-- requests twice. A batch now skips the entries already there. Unique with `at`: 63 random
-- bits alone would likely collide somewhere among the billions of entries a busy node keeps
-- over years, dropping an entry; within one microsecond they never do. Not the request id,
-- which a client may set (X-Request-ID): a unique one would have let a client keep its own
-- entries out. NULL in entries written before (a unique index holds any number of NULLs).
ALTER TABLE audit_trail ADD COLUMN entry_id bigint;
CREATE UNIQUE INDEX audit_trail_entry ON audit_trail (entry_id, at);
