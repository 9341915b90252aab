"""`python -m mass_outreach`: the same command line as `mass-outreach`."""

from .cli import cli

if __name__ == "__main__":
    cli(prog_name="mass-outreach")
