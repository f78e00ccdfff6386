"""Product recommenders: pure algorithms (numpy/scipy, no I/O). Each kind has `fit(...)` → a
`Model` (JSON-able, stored versioned by store/recommendations.py) and `recommend(model, ...)`;
`serving.recommend` adds exclusions and the cold-start fallback chain."""
