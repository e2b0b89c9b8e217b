"""Dataset metadata for a GDI federation: the metadata file model, the catalogue record,
DCAT-AP / HealthDCAT-AP RDF both ways, FAIR Data Point documents, and the catalogue service's
store (its migrations in catalogue/migrations), holdings, search and harvest. A core: no
`node` import, no HTTP server code, no knowledge of the Beacon; it takes pools, client
sessions and its own small configuration objects (HarvestConfig, CatalogueIdentity) as
arguments."""
