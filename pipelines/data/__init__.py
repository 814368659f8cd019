"""Telemetry files: the synthetic generator and the readers of real and generated CSVs."""
