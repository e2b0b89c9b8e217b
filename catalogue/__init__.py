"""Dataset metadata: the records a node publishes (DCAT-AP / HealthDCAT-AP comes later)."""
