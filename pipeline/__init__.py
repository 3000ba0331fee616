"""qualcode: code qualitative interviews against a YAML codebook and render a ToR findings matrix."""

__version__ = "0.1.0"
