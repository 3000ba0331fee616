"""Stage 4, outputs: the findings matrix (pandas pivots), jinja2 reports and the findings annex.

Renders the tags table; it never codes or trains."""
