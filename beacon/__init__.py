"""GA4GH Beacon v2 over VCFs in PostgreSQL: the request model and its parsing, query building
and the variant store (its migrations in beacon/migrations), count batching, answering a query
per dataset, the response envelopes, the informational documents, VCF reading and loading. A
core: no `node` import, no HTTP server code; it takes pools, connections and its own small
configuration objects (BeaconIdentity) as arguments."""
