#!/usr/bin/env bash
# A real Redis Cluster on loopback, for tests, benchmarks and trying the product sharded:
#   scripts/redis_cluster.sh start   # 3 masters + 3 replicas on ports 7000-7005
#   scripts/redis_cluster.sh status
#   scripts/redis_cluster.sh stop    # shuts the nodes down and removes their directory
# Settings (environment): CLUSTER_PORT (first port, 7000), CLUSTER_MASTERS (3),
# CLUSTER_REPLICAS (replicas per master, 1), CLUSTER_NODE_TIMEOUT_MS (2000: a failover within a
# few seconds; production uses 15000), CLUSTER_DIR (/tmp/fraudops-cluster-$CLUSTER_PORT).
# Only the slots of a failed master stop answering (cluster-require-full-coverage no): payments of
# the other shards are scored as usual during a failover.
set -euo pipefail

PORT=${CLUSTER_PORT:-7000}
MASTERS=${CLUSTER_MASTERS:-3}
REPLICAS=${CLUSTER_REPLICAS:-1}
TIMEOUT_MS=${CLUSTER_NODE_TIMEOUT_MS:-2000}
DIR=${CLUSTER_DIR:-/tmp/fraudops-cluster-$PORT}
NODES=$((MASTERS * (REPLICAS + 1)))
LAST=$((PORT + NODES - 1))

ports() { seq "$PORT" "$LAST"; }

answers() { redis-cli -p "$1" ping >/dev/null 2>&1; }

start() {
  if [ "$MASTERS" -lt 3 ]; then
    echo "redis_cluster: a cluster needs at least 3 masters (CLUSTER_MASTERS=$MASTERS)" >&2
    exit 2
  fi
  for p in $(ports); do
    if answers "$p"; then
      echo "redis_cluster: port $p is taken (run stop first, or set CLUSTER_PORT)" >&2
      exit 1
    fi
  done
  mkdir -p "$DIR"
  for p in $(ports); do
    mkdir -p "$DIR/$p"
    redis-server --port "$p" --bind 127.0.0.1 --daemonize yes \
      --dir "$DIR/$p" --pidfile "$DIR/$p/redis.pid" --logfile "$DIR/$p/redis.log" \
      --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout "$TIMEOUT_MS" --cluster-require-full-coverage no \
      --cluster-replica-validity-factor 0 --save "" --appendonly no
  done
  for p in $(ports); do
    for _ in $(seq 100); do answers "$p" && break; sleep 0.05; done
    answers "$p" || { echo "redis_cluster: node $p did not start (see $DIR/$p/redis.log)" >&2; exit 1; }
  done
  redis-cli --cluster create $(for p in $(ports); do printf '127.0.0.1:%s ' "$p"; done) \
    --cluster-replicas "$REPLICAS" --cluster-yes >"$DIR/create.log"
  wait_ok
  echo "redis_cluster: $MASTERS masters + $((MASTERS * REPLICAS)) replicas on 127.0.0.1:$PORT-$LAST"
  echo "REDIS_URL=redis://127.0.0.1:$PORT/0 FRAUDOPS_REDIS_CLUSTER=true"
}

# every node agrees the cluster is up and knows all nodes (replicas attached)
wait_ok() {
  for _ in $(seq 200); do
    local ok=1
    for p in $(ports); do
      redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=0
      [ "$(redis-cli -p "$p" cluster nodes 2>/dev/null | grep -vc fail)" -ge "$NODES" ] || ok=0
    done
    [ "$ok" = 1 ] && return 0
    sleep 0.1
  done
  echo "redis_cluster: the cluster did not reach cluster_state:ok (see $DIR)" >&2
  exit 1
}

stop() {
  for p in $(ports); do
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
    if [ -f "$DIR/$p/redis.pid" ]; then kill -9 "$(cat "$DIR/$p/redis.pid")" 2>/dev/null || true; fi
  done
  rm -rf "$DIR"
}

status() {
  for p in $(ports); do
    if answers "$p"; then
      printf '%s %s\n' "$p" "$(redis-cli -p "$p" role | head -1)"
    else
      printf '%s down\n' "$p"
    fi
  done
  redis-cli -p "$PORT" cluster info 2>/dev/null | grep -E '^cluster_(state|known_nodes|size)' || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  wait) wait_ok ;;
  *) echo "usage: $0 start|stop|status|wait" >&2; exit 2 ;;
esac
