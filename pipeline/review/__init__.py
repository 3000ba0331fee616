"""Reviewing tags: the append-only decision log, applying decisions, the review queue and the Flask app.

Above `outputs` and `measure`; regeneration is injected by `workflows`, so review never imports it."""
