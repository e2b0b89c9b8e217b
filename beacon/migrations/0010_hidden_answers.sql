-- The variants near the floor a caller was answered "hidden" about (beacon/losses.py). Each
-- such answer charges its carriers the loss it realised, once: a caller's view only gets
-- stricter, so a variant hidden from it stays hidden, and asking again reveals nothing more.
ALTER TABLE disclosure_losses ADD COLUMN hidden text[] NOT NULL DEFAULT '{}';
