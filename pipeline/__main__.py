"""`python -m pipeline` runs the qualcode command."""

from pipeline.cli import main

main()
