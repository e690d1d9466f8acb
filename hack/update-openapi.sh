#!/usr/bin/env bash
# Generates pkg/generated/openapi from the core/v1 and apimachinery types with
# k8s.io/kube-openapi's openapi-gen (a tool of go.mod, so its version is pinned).
# With --verify, generates into a temporary directory and fails if the
# committed code differs.
set -euo pipefail
cd "$(dirname "$0")/.."

out=pkg/generated/openapi
if [[ "${1:-}" == "--verify" ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
report=$(mktemp)
trap 'rm -f "$report"' RETURN
go tool openapi-gen \
  --output-file zz_generated.openapi.go \
  --output-dir "$out" \
  --output-pkg github.com/mini-apiserver/mini-apiserver/pkg/generated/openapi \
  --go-header-file hack/boilerplate.go.txt \
  --report-filename "$report" \
  k8s.io/api/core/v1 \
  k8s.io/api/authentication/v1 \
  k8s.io/api/authorization/v1 \
  k8s.io/api/rbac/v1 \
  k8s.io/apimachinery/pkg/apis/meta/v1 \
  k8s.io/apimachinery/pkg/runtime \
  k8s.io/apimachinery/pkg/version \
  k8s.io/apimachinery/pkg/api/resource \
  k8s.io/apimachinery/pkg/util/intstr

if [[ "${1:-}" == "--verify" ]]; then
  if ! diff -u pkg/generated/openapi/zz_generated.openapi.go "$out/zz_generated.openapi.go" >/dev/null; then
    echo "pkg/generated/openapi is out of date: run 'make generate'" >&2
    exit 1
  fi
  echo "pkg/generated/openapi is up to date"
fi
