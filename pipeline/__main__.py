"""`python -m pipeline` runs the qualcode command."""

from .cli import main

main()
