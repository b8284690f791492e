#!/usr/bin/env bash
# Regenerates src/gen/ from proto/ with buf and the local protoc-gen-es (offline: no remote plugins, no BSR).
# The one way to produce src/gen/; never edit it by hand. `npm run gen:proto` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
command -v buf >/dev/null || { echo "gen-proto: buf not found; run npm ci first" >&2; exit 1; }
command -v protoc-gen-es >/dev/null || { echo "gen-proto: protoc-gen-es not found; run npm ci first" >&2; exit 1; }
buf lint
buf generate
echo "gen-proto: regenerated src/gen/ from proto/"
