"""Reference tables: the calendar, the stock list, the index list."""
