"""`python -m franz` is the `franz` command; the supervisor of `franz up` starts services this way."""

from franz.cli import main

raise SystemExit(main())
