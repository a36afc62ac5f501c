"""Financial statements (T3) and the disclosure calendar that drives their refresh."""
