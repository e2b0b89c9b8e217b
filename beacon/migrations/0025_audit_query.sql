-- The question each audit entry answered, as the node read it (what the answer's
-- meta.receivedRequestSummary says it asked of the data, beacon/audit.py ASKED; JSON as text
-- like `datasets`): the trail named the endpoint alone, so a caller asking about one variant
-- after another left entries that differed only by the count told, and the operator could
-- not say who asked what. NULL in entries written before.
ALTER TABLE audit_trail ADD COLUMN query text;
