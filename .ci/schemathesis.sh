#!/usr/bin/env bash
# Schemathesis over the served OpenAPI description, with two peer users (object-level
# authorization) and the admin key, bounded in time. Fails on any failure it reports.
# The clock is left alone: advancing it would expire the peers' tokens mid-run, and so is
# resetting the sandbox (it ends every token); their own tests are in tests/. The operator API
# takes the operator key as its bearer token, which the peers' Authorization header occupies;
# tests/api/sandboxes.rs drives it. Adding fault rules is left out too: a rule answers errors,
# cuts connections and ends tokens on purpose (tests/api/faults.rs drives them); listing and
# deleting rules stay in. Restoring a snapshot is left out here: it rewinds the sandbox, so
# whatever was created after the snapshot is gone, and the stateful phase reports that as
# "created resource not found" (a rule created, a restore, then its DELETE answering 404);
# tests/api/sandboxes.rs and tests/api/faults.rs drive restores. Stopping the bank, suspending a client
# or user, capacity policies, maintenance windows and changing or deleting a client are left out
# for the same reason as fault rules: they refuse the peers' calls (or remove their client) on
# purpose for the rest of the run; tests/api/capacity.rs drives them. One worker keeps the seeded run's
# order reproducible; on two cores it generates as many cases as two.
# Usage: .ci/schemathesis.sh [seconds]   (needs target/release/sandbank and `st` on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-150}
port=18181
admin=schemathesis-admin
data=$(mktemp -d)
./target/release/sandbank --port "$port" --data-dir "$data/data" --admin-key "$admin" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

token() { # user client scopes-json
  curl -sf -X POST "$base/sandbox/v1/grants" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"clientId\":\"$2\",\"scopes\":$3}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"]["access_token"])'
}
scopes='["openid","accounts:read","transactions:read","transfers:own","transfers:any"]'
tanaka=$(token tanaka demo-pay "$scopes")
suzuki=$(token suzuki demo-pay "$scopes")
cat >"$data/peers.json" <<JSON
{"auth": [
  {"name": "tanaka", "fixedHeaders": [{"name": "Authorization", "value": "Bearer $tanaka"}]},
  {"name": "suzuki", "fixedHeaders": [{"name": "Authorization", "value": "Bearer $suzuki"}]}
]}
JSON
st --config-file .ci/schemathesis.toml run "$base/openapi.json" \
  --auth-wfc "$data/peers.json" \
  --exclude-path /sandbox/v1/clock/advance \
  --exclude-path /sandbox/v1/reset \
  --exclude-path-regex '^/operator/' \
  --exclude-name 'POST /sandbox/v1/faults' \
  --exclude-name 'POST /sandbox/v1/snapshots/{name}/restore' \
  --exclude-name 'POST /sandbox/v1/emergency-stop' \
  --exclude-name 'POST /sandbox/v1/clients/{client_id}/suspension' \
  --exclude-name 'POST /sandbox/v1/users/{username}/suspension' \
  --exclude-name 'PUT /sandbox/v1/capacity' \
  --exclude-name 'PUT /sandbox/v1/clients/{client_id}/capacity' \
  --exclude-name 'POST /sandbox/v1/maintenance' \
  --exclude-name 'PATCH /sandbox/v1/clients/{client_id}' \
  --exclude-name 'DELETE /sandbox/v1/clients/{client_id}' \
  -H "x-sandbox-admin-key: $admin" \
  --checks all \
  --max-time "$seconds" \
  --workers 1 \
  --suppress-health-check all \
  --seed 20261122 \
  --no-color
