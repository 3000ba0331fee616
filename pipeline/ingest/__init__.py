"""Stage 1, ingest: files -> transcripts with metadata and speaker turns at exact character offsets.

Imports only `core`; every later stage reads `Transcript`s made here."""
