"""hmtools: make, correct, store and count human-centric foreground masks for sports videos."""

__version__ = "0.1.0"
