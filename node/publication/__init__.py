"""The node's own publication to the catalogue: its datasets as catalogue records and FAIR
Data Point site (records.py), pushed to the catalogue service with backoff (push.py)."""
