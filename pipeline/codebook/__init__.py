"""The codebook as data: pydantic models, loading with located errors, and compilation to spaCy patterns.

Beside `ingest` at the bottom of the data flow; imports only `core`."""
