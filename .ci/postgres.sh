#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on a local port and print its SQLAlchemy URL.
# Usage: eval "$(.ci/postgres.sh)"   → exports COMMSTAT_TEST_POSTGRES_URL, and sets (not exports)
#        COMMSTAT_TEST_POSTGRES_STARTED to the cluster's folder when this call started it (empty
#        when it was already running), so the caller knows whether to stop it afterwards.
#        .ci/postgres.sh stop            → stops the cluster and deletes its folder.
# PGPORT_TEST (default 54329) and PGDATA_TEST (default /tmp/commstat-pg-$PORT) choose another one.
# Installs Debian's postgresql when no server binaries are found. Runs the server as the
# `postgres` user when started as root (initdb refuses to run as root).
set -euo pipefail
PORT="${PGPORT_TEST:-54329}"
DIR="${PGDATA_TEST:-/tmp/commstat-pg-$PORT}"

find_bin() {
  local name=$1 found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$found" ] && [ -x "$found/$name" ]; then echo "$found/$name"; return; fi
  command -v "$name" 2>/dev/null || true
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "${1:-}" = stop ]; then
  PG_CTL=$(find_bin pg_ctl)
  [ -n "$PG_CTL" ] && [ -f "$DIR/PG_VERSION" ] || { echo "No PostgreSQL cluster in $DIR" >&2; exit 0; }
  if as_pg "$PG_CTL" -D "$DIR" status >/dev/null 2>&1; then
    # fast: roll back what is open and disconnect (the tests are over); -w: until it is down.
    as_pg "$PG_CTL" -D "$DIR" -m fast -w stop >/dev/null ||
      { echo "PostgreSQL in $DIR did not stop; its folder is kept" >&2; exit 1; }
  fi
  rm -rf "$DIR"  # a cluster this script made (it holds PG_VERSION), now stopped
  echo "PostgreSQL in $DIR stopped and removed" >&2
  exit 0
fi

if [ -z "$(find_bin pg_ctl)" ]; then
  [ "$(id -u)" = 0 ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
  echo "PostgreSQL not found; installing it with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) >&2
fi
INITDB=$(find_bin initdb); PG_CTL=$(find_bin pg_ctl)
[ -n "$INITDB" ] && [ -n "$PG_CTL" ] || { echo "PostgreSQL binaries are missing" >&2; exit 1; }

started=""
if [ -f "$DIR/postmaster.pid" ] && as_pg "$PG_CTL" -D "$DIR" status >/dev/null 2>&1; then
  echo "PostgreSQL already running in $DIR" >&2
else
  rm -rf "$DIR"; mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres; chown postgres "$DIR"; }
  as_pg "$INITDB" -D "$DIR" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
  as_pg "$PG_CTL" -D "$DIR" -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    -l "$DIR/server.log" -w start >&2
  started=$DIR
fi
echo "export COMMSTAT_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
echo "COMMSTAT_TEST_POSTGRES_STARTED=$started"
