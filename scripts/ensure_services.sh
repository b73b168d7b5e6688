#!/usr/bin/env bash
# Make sure the Redis and PostgreSQL the integration tests use are answering; start them if not.
set -euo pipefail
REDIS_HOST=127.0.0.1 REDIS_PORT=6379

redis_up() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

# the fault tests start and kill a Redis server of their own: the binary must be here
if ! command -v redis-server >/dev/null; then
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi
# tests/ops checks the Prometheus/Alertmanager assets in docker/ with promtool and amtool; the
# packages' init scripts may start the daemons on install: stop what this install started
if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager </dev/null >/dev/null
  for svc in prometheus prometheus-alertmanager; do
    if [ -x "/etc/init.d/$svc" ]; then "/etc/init.d/$svc" stop </dev/null >/dev/null 2>&1 || true; fi
  done
fi
# the console's browser test drives Debian's Chromium (Playwright, no browser download)
if ! command -v chromium >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium </dev/null >/dev/null
fi
# the fleet test (tests/fleet) puts scoring instances behind an HAProxy process of its own; the
# package's init script may start the system's haproxy on install: stop what this install started
if ! command -v haproxy >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy </dev/null >/dev/null
  if [ -x /etc/init.d/haproxy ]; then /etc/init.d/haproxy stop </dev/null >/dev/null 2>&1 || true; fi
fi
if ! redis_up; then
  echo "starting redis-server on $REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
  for _ in $(seq 50); do redis_up && break; sleep 0.1; done
fi
redis_up || { echo "Redis is not answering on $REDIS_HOST:$REDIS_PORT" >&2; exit 1; }

if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null; then
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 100); do pg_up && break; sleep 0.2; done
fi
pg_up || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
echo "services: redis and postgresql answering"
