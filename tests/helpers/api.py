"""The admin key the API tests configure, and the header that sends it."""

ADMIN_KEY = "admin-secret"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
