#!/usr/bin/env bash
# Checks that generated code is current, code is gofmt'ed and go vet is clean.
set -euo pipefail
cd "$(dirname "$0")/.."

./hack/update-generated.sh --verify

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))
if [[ -n "$unformatted" ]]; then
  echo "not gofmt'ed (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
(cd hack/tools && go vet ./...)
(cd docs/examples/widget-controller && go vet ./...)
echo "verify: ok"
