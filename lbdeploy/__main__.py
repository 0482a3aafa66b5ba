"""`python -m lbdeploy` runs the CLI."""

from lbdeploy.cli import app

app(prog_name="lbdeploy")
