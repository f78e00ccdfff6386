#!/bin/sh
# Creates the namespace and registers the project's custom search attributes, once the server
# answers. Run by the one-shot `temporal-namespace` service of docker-compose.yml; the API and the
# worker start only after it succeeded, because a workflow that upserts an unregistered attribute
# fails its workflow task. (`journeys up` passes the same attributes to the dev server with
# --search-attribute instead.) Re-running is harmless: an existing namespace is kept as it is
# (retention included) and an attribute registered with the same type is skipped; one registered
# with another type fails the job.
#
#   SEARCH_ATTRIBUTES  NAME=TYPE words, e.g. "CustomerId=Keyword AtRisk=Bool"
#                      (tests/test_compose.py checks them against journeys/vocabulary/search_attributes.py)
set -eu

: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS (host:port of the frontend)}"
: "${NAMESPACE:?set NAMESPACE}"
: "${SEARCH_ATTRIBUTES:?set SEARCH_ATTRIBUTES (NAME=TYPE words)}"
RETENTION=${RETENTION:-168h}
ATTEMPTS=${ATTEMPTS:-30}

retry() { # retry COMMAND...: the server takes a while to serve, its namespace cache a while more
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
      echo "gave up after $ATTEMPTS attempts: $*" >&2
      return 1
    fi
    echo "not yet (attempt $attempt/$ATTEMPTS): $*"
    attempt=$((attempt + 1))
    sleep 2
  done
}

ensure_namespace() {
  temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" \
    >/dev/null 2>&1 ||
    temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$NAMESPACE" \
      --retention "$RETENTION"
}

retry temporal operator cluster health --address "$TEMPORAL_ADDRESS"
retry ensure_namespace
echo "namespace: $NAMESPACE"

for attribute in $SEARCH_ATTRIBUTES; do
  name=${attribute%%=*}
  type=${attribute#*=}
  if [ -z "$name" ] || [ "$name" = "$attribute" ] || [ -z "$type" ]; then
    echo "search attribute '$attribute': expected NAME=TYPE" >&2
    exit 1
  fi
  # One attribute per call: --type applies to every --name of a call.
  retry temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" \
    --namespace "$NAMESPACE" --name "$name" --type "$type"
  echo "search attribute: $name ($type)"
done
