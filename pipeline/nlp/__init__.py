"""spaCy components and the pipeline qualcode tokenises with (registrations only in `nlp.factories`).

Knows nothing of transcripts or themes; `coding` builds on it."""
