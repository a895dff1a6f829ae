"""Shared pytest set-up.

pytest puts this file's folder (``tests/``) on ``sys.path``, so tests import shared helpers as
``from helpers.<module> import ...`` (see ``tests/helpers/``).
"""
