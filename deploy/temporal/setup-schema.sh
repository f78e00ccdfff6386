#!/bin/sh
# Creates Temporal's two PostgreSQL databases (the default store and SQL visibility) if missing and
# migrates both to the schema of this admin-tools image's server version. Run by the one-shot
# `temporal-schema` service of docker-compose.yml before the server starts; every step is a no-op
# on a database that is already current, so running it on each `docker compose up` is harmless.
# The steps are those of temporalio/samples-server's compose/scripts/setup-postgres.sh.
set -eu

: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS (the PostgreSQL host)}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${POSTGRES_PWD:?set POSTGRES_PWD}"
PLUGIN=${DB:-postgres12}
PORT=${DB_PORT:-5432}
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12 # shipped in the admin-tools image

export SQL_PASSWORD="$POSTGRES_PWD" # read by temporal-sql-tool: kept off the command line

sql_tool() { # sql_tool DATABASE COMMAND [ARGS...]
  database=$1
  shift
  temporal-sql-tool --plugin "$PLUGIN" --endpoint "$POSTGRES_SEEDS" --port "$PORT" \
    --user "$POSTGRES_USER" --database "$database" "$@"
}

for store in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  database=${store%%:*}
  schema=${store#*:}
  echo "schema: $database ($schema)"
  sql_tool "$database" create-database # an existing database is left as it is
  sql_tool "$database" setup-schema -v 0.0 # the version table only; update-schema does the rest
  sql_tool "$database" update-schema -d "$SCHEMA_DIR/$schema/versioned"
done
echo "schema: done"
