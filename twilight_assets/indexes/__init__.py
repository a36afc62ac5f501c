"""Indices: daily bars, daily valuation, monthly constituent weights."""
