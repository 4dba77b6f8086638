#!/usr/bin/env bash
# Brings up what the tests need on loopback: PostgreSQL on 127.0.0.1:5432 and NATS with JetStream on
# 127.0.0.1:4222. Starts each one that is down (installing Debian's package when it is missing) and fails,
# loudly, when a service still cannot be reached. Used by `npm test` and by .ci/run alike.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 NATS_HOST=127.0.0.1 NATS_PORT=4222

say() { printf 'services: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq >/dev/null; apt_updated=1; fi
  say "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # name host port seconds
  local i
  for ((i = 0; i < $4 * 10; i++)); do port_open "$2" "$3" && return 0; sleep 0.1; done
  say "$1 is not reachable on $2:$3 after $4 s"
  return 1
}

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then return 0; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then apt_install postgresql; fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL "$PG_HOST" "$PG_PORT" 30
  for ((i = 0; i < 100; i++)); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && break; sleep 0.2; done
  pg_isready -h "$PG_HOST" -p "$PG_PORT" >/dev/null || { say "PostgreSQL does not accept connections"; return 1; }
  # The tests use the `test` database with trust auth for `postgres` over TCP.
  if ! psql -h "$PG_HOST" -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
    as_root su postgres -c "psql -q -c 'create database test'" >/dev/null 2>&1 || true
  fi
  psql -h "$PG_HOST" -U postgres -d test -c 'select 1' >/dev/null || {
    say "cannot connect to postgres://postgres@$PG_HOST:$PG_PORT/test (trust auth expected)"
    return 1
  }
}

ensure_nats() {
  if port_open "$NATS_HOST" "$NATS_PORT"; then return 0; fi
  [ -x /usr/sbin/nats-server ] || apt_install nats-server
  say "starting nats-server with JetStream"
  as_root mkdir -p /var/lib/nats-server
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a "$NATS_HOST" -p "$NATS_PORT" -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_for NATS "$NATS_HOST" "$NATS_PORT" 30
}

ensure_postgres
ensure_nats
say "PostgreSQL on $PG_HOST:$PG_PORT and NATS on $NATS_HOST:$NATS_PORT are up"
