"""kdcvg: knowledge-driven creative video generation for advertising (KD-CVG)."""

__version__ = "0.1.0"
