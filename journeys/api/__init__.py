"""The HTTP API: the factory (app.py), dependencies (deps.py), one router per resource
(routes/, gathered in router.py), and ingestion, auth and the error shape beside them."""
