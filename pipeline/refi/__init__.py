"""REFI-QDA exchange (.qdpx projects and .qdc codebooks) with NVivo, ATLAS.ti, MAXQDA and QualCoder.

Reads and writes the tags table and transcripts; independent of `measure` and `review`."""
