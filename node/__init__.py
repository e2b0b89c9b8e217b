"""The service shell, the only package that wires and the one nothing imports: the settings
operators configure, the database pool and migration runner, every HTTP handler and the
middleware (node/http/), the network aggregator (node/federation/), the node's publication to
the catalogue (node/publication/), the servers of each role (app.py, catalogue_app.py, the
development AAI's in node/http/aai_api.py) and the `gdi-node` CLI (node/cli/)."""
