"""aufbereitung ("preparation"): normalises raw Discord intake into formatted tickets; invalid input → DLQ."""
