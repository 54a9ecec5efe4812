"""Telemetry: live ring buffers, the batched store writer with rollups and retention, export/import in the
spec's telemetry schema, anomaly detectors, hard rules, alerts and the material monitor."""
