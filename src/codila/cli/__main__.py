"""`python -m codila.cli` (and `torchrun -m codila.cli ...`)."""

from codila.cli import main

main()
