-- A node the catalogue's configuration no longer admits (its credential removed, or its
-- registered URLs outside its credential's origins now), or one an operator removed
-- (`gdi-node catalogue retire`), is retired: kept, so that its withdrawn datasets still say
-- who published them, but not listed, harvested or offered as a peer. Registering again
-- (PUT /api/nodes/{id}, with a credential that admits it) ends the retirement.
ALTER TABLE nodes ADD COLUMN retired_at timestamptz;
