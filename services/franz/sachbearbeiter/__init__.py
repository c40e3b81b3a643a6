"""sachbearbeiter ("case worker"): the ticket lifecycle, event sourcing and ticket analytics."""
