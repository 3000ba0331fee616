"""Shared ground for every stage: errors, atomic file writes, cell neutralising and version records.

The lowest layer: it imports nothing else from qualcode."""
