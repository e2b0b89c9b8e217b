"""GA4GH Beacon v2: variant store, VCF ingest and the Beacon API."""
