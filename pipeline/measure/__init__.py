"""Measuring agreement: coder files, agreement statistics, and grouped cross-validated evaluation against people.

Above `outputs` (its HTML uses the shared jinja environment) and below `review`."""
