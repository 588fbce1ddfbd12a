#!/usr/bin/env bash
# Ferry on the embedded default, on one machine: a local block pool (`ferry pool`, which speaks the PowerFlex
# gateway API over HTTPS) and the CSI driver (`ferry driver`) using it. Ctrl-C stops both.
# Settings: FERRY_LOCAL_DIR (state, default /tmp/ferry-local), FERRY_LOCAL_PORT (pool, default 8443),
# FERRY_LOCAL_METRICS (driver metrics, default 127.0.0.1:9808).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${FERRY_LOCAL_DIR:-/tmp/ferry-local}
port=${FERRY_LOCAL_PORT:-8443}
metrics=${FERRY_LOCAL_METRICS:-127.0.0.1:9808}
cli="$root/dist/cli.js"
[ -f "$cli" ] || (cd "$root" && npm run build >/dev/null)

mkdir -p "$dir"
chmod 700 "$dir"
# The password lives in a file both sides read: it never appears on a command line or in a log.
[ -s "$dir/password" ] || (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$dir/password")
# This host's SDC GUID in the pool (kept, so restarts find their volumes mapped to the same host).
[ -s "$dir/sdc-guid" ] || cat /proc/sys/kernel/random/uuid | tr a-z A-Z > "$dir/sdc-guid"
guid=$(cat "$dir/sdc-guid")

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap cleanup EXIT INT TERM

node "$cli" pool --data-dir "$dir/pool" --listen "127.0.0.1:$port" --password-file "$dir/password" --host "$(hostname)=$guid" &
pids+=($!)
for _ in $(seq 1 100); do
  [ -s "$dir/pool/tls/cert.pem" ] && curl -fsS --cacert "$dir/pool/tls/cert.pem" "https://127.0.0.1:$port/api/version" >/dev/null 2>&1 && break
  sleep 0.1
done

cat > "$dir/ferry.yaml" <<YAML
backends:
  - name: pool
    type: powerflex
    endpoint: https://127.0.0.1:$port
    username: admin
    passwordFile: $dir/password
    caFile: $dir/pool/tls/cert.pem
    storagePool: pool1
node:
  sdcGuid: $guid
  deviceDir: $dir/pool/hosts/$guid/by-id
  stateDir: $dir/node-state
YAML

node "$cli" driver --endpoint "unix://$dir/csi.sock" --config "$dir/ferry.yaml" --node-id "$(hostname)" --metrics-address "$metrics" &
pids+=($!)
echo "ferry: CSI on unix://$dir/csi.sock, metrics on http://$metrics/metrics, pool on https://127.0.0.1:$port (CA $dir/pool/tls/cert.pem)" >&2
wait -n
