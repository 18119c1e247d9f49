#!/bin/sh
# First start: initialise $PGDATA from POSTGRES_* variables.  Then exec postgres as PID 1.
set -eu

if [ "${1:-}" != "postgres" ]; then
    exec "$@"  # e.g. `docker run ... psql`
fi

if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
fi
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres: POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) must be set to initialise $PGDATA" >&2
        exit 1
    fi
    if [ ! -w "$PGDATA" ]; then
        echo "postgres: $PGDATA is not writable by $(id -un) (uid $(id -u)); fix the volume's owner" >&2
        exit 1
    fi
    echo "postgres: initialising $PGDATA (database '$POSTGRES_DB', owner '$POSTGRES_USER')"
    # The password goes through a private file, never the command line or the log.
    pwfile=$(mktemp)
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    # POSTGRES_INITDB_ARGS is split into words, as in the official image (e.g. --no-sync).
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 --no-instructions ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    trap - EXIT
    # Containers reach the server over the project's network, so listen everywhere and
    # require a password from every remote client.
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"

    if [ "$POSTGRES_DB" != "postgres" ]; then
        # A socket-only bootstrap server; psql's :"name" quoting makes any name safe.
        pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
        psql -v ON_ERROR_STOP=1 -q --username="$POSTGRES_USER" --dbname=postgres \
            -v db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
        pg_ctl -D "$PGDATA" -m fast -w -s stop
    fi
    echo "postgres: initialisation complete"
fi

exec "$@"
