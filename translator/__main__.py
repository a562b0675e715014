"""`python -m translator` runs the keras2torch command line."""

from .cli import entry

entry()
