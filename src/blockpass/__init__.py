"""blockpass: run an LLM task over every block of a document collection, cheaply."""

__version__ = "0.1.0"
