"""Where stages meet: run (code a project and write reports), train, regenerate, and the review app wiring.

The CLI calls these; nothing below imports them."""
