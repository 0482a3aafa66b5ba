"""`python -m lbdeploy` runs the CLI."""

from lbdeploy.cli.app import main

main()
