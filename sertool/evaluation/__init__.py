"""Metrics (WA, UA, per-class recall, confusion) and score reports (JSON, tables, plots)."""
