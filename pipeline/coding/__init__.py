"""Stage 2, coding: transcripts -> segments (spaCy) -> rule tags, and the tidy tags table they travel in.

Uses `ingest`, `codebook` and `nlp`; never the classifier (a model joins through a tagger hook)."""
