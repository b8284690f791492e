#!/usr/bin/env bash
# CI check: regenerating src/gen/ from proto/ must change nothing. Fails when someone edited a .proto file
# without regenerating, or edited generated code by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/gen-proto.sh
if ! git diff --exit-code --stat -- src/gen; then
  echo "check-gen: src/gen/ is stale; run 'npm run gen:proto' and commit the result" >&2
  exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- src/gen)
if [ -n "$untracked" ]; then
  echo "check-gen: generated files not committed:" >&2
  echo "$untracked" >&2
  exit 1
fi
echo "check-gen: src/gen/ is up to date"
