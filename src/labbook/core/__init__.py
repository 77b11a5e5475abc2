"""Pure computation: statistics, scoring, configs, dates, the query languages. No I/O, no store."""
