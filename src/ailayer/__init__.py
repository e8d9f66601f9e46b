"""ailayer: the AI layer of a SaaS product."""

__version__ = "0.1.0"
