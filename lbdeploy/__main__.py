"""`python -m lbdeploy` runs the CLI."""

from lbdeploy.cli import main

main()
