"""Test helpers shared across test packages (import as ``helpers.<module>``; tests/ is on sys.path via tests/conftest.py)."""
