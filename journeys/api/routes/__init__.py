"""One router per resource; api/router.py includes them all."""
