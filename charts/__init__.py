"""The code behind `make charts`: each chart's files that are generated rather than written (generate.py)."""
