"""One module per schema revision, oldest first: 0001 is the 0.1 schema (the baseline)."""
