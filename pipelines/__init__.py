"""tokenledger: meter AI inference usage and attribute its cost."""

__version__ = "0.1.0"
