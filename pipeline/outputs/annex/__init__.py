"""The findings annex: consultant statements, evidence strength, representative quotes, redaction, and its
Word, Excel, HTML and Markdown renderers."""
