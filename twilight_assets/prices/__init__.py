"""Stock prices: daily bars, adjustment factors, daily valuation, weekly and monthly bars."""
