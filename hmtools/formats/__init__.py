"""Converters between the mask store and external formats, one module per format (pure functions)."""
