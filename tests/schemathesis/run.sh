#!/usr/bin/env bash
# Bad input over HTTP (issue 7): schemathesis generates requests from rulebox's own OpenAPI
# document — valid, boundary and invalid bodies, paths and headers — and checks that no
# answer is a 5xx and every answer matches its documented schema. Brand routes run with a
# brand key, admin routes with the admin key.
#
# Usage: tests/schemathesis/run.sh DATA_DIR [EXAMPLES]   (DATA_DIR holds the demo brand
# demo-tea, e.g. after `rulebox demo`; the server must not be running on it.)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=$1
examples=${2:-30}
admin=schemathesis-admin-key-$RANDOM$RANDOM-0123456789
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port

RULEBOX_ADMIN_KEY=$admin target/debug/rulebox serve --data-dir "$data" --listen "127.0.0.1:$port" 2> "$data/schemathesis-server.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
until curl -fsS "$base/v1/ready" > /dev/null 2>&1; do sleep 0.2; done

RULEBOX_KEY=$(curl -fsS -X POST "$base/v1/brands/demo-tea/keys" -H "Authorization: Bearer $admin" \
  -H 'content-type: application/json' -d '{"scopes": ["events", "members", "plugins"], "label": "schemathesis"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
export RULEBOX_KEY

checks=not_a_server_error,response_schema_conformance
st() { schemathesis --config-file tests/schemathesis/schemathesis.toml run "$base/v1/openapi.json" \
  -c "$checks" -n "$examples" --generation-deterministic "$@"; }
st --exclude-tag admin
RULEBOX_KEY=$admin st --include-tag admin

# The server survived all of it and still answers.
curl -fsS "$base/v1/ready"
kill -TERM $server && wait $server
! grep -q "rbx_" "$data/schemathesis-server.log" || { echo "an API key appeared in the server log" >&2; exit 1; }
echo "schemathesis: no 5xx, every answer as documented"
