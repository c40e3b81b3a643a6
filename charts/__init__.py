"""The code behind `make charts`: generate.py writes each chart's generated files, from values.yaml as
values.py reads it and from the dashboards dashboards.py builds."""
