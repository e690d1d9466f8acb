#!/usr/bin/env bash
# Generates the code made from types: deepcopy functions of our own API types
# (pkg/apis/...) with k8s.io/code-generator's deepcopy-gen, then
# pkg/generated/openapi from them, the served k8s.io/api groups, apiextensions and apimachinery with
# k8s.io/kube-openapi's openapi-gen (both tools of go.mod, so their versions
# are pinned). With --verify, generates into a temporary directory and fails
# if the committed code differs.
set -euo pipefail
cd "$(dirname "$0")/.."

verify=false
[[ "${1:-}" == "--verify" ]] && verify=true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Our API packages: each gets zz_generated.deepcopy.go beside its types
# (deepcopy-gen writes into the package); --verify compares and restores.
api_pkgs=(github.com/mini-apiserver/mini-apiserver/pkg/apis/auditregistration/v1alpha1)
for pkg in "${api_pkgs[@]}"; do
  file=${pkg#github.com/mini-apiserver/mini-apiserver/}/zz_generated.deepcopy.go
  $verify && cp "$file" "$tmp/committed.go"
  go tool deepcopy-gen --go-header-file hack/boilerplate.go.txt --output-file zz_generated.deepcopy.go "$pkg"
  if $verify; then
    if ! diff -u "$tmp/committed.go" "$file" >/dev/null; then
      cp "$tmp/committed.go" "$file"
      echo "$file is out of date: run 'make generate'" >&2
      exit 1
    fi
  fi
done

# openapi-gen also writes zz_generated.model_name.go into our API packages:
# kube's model names (io.k8s.api.auditregistration.v1alpha1.AuditSink).
models=()
for pkg in "${api_pkgs[@]}"; do
  file=${pkg#github.com/mini-apiserver/mini-apiserver/}/zz_generated.model_name.go
  models+=("$file")
  $verify && [[ -f "$file" ]] && cp "$file" "$tmp/$(echo "$file" | tr / _)"
done
readonly=()
for pkg in k8s.io/api/core/v1 k8s.io/api/authentication/v1 k8s.io/api/authorization/v1 k8s.io/api/rbac/v1 k8s.io/api/coordination/v1 \
  k8s.io/api/policy/v1 k8s.io/api/apps/v1 k8s.io/api/autoscaling/v1 k8s.io/api/events/v1 k8s.io/api/admissionregistration/v1 \
  k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1 k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1 \
  k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/apimachinery/pkg/runtime k8s.io/apimachinery/pkg/version \
  k8s.io/apimachinery/pkg/api/resource k8s.io/apimachinery/pkg/util/intstr; do
  readonly+=(--readonly-pkg "$pkg")
done

out=pkg/generated/openapi
$verify && out=$tmp/openapi
go tool openapi-gen \
  --output-model-name-file zz_generated.model_name.go "${readonly[@]}" \
  --output-file zz_generated.openapi.go \
  --output-dir "$out" \
  --output-pkg github.com/mini-apiserver/mini-apiserver/pkg/generated/openapi \
  --go-header-file hack/boilerplate.go.txt \
  --report-filename "$tmp/report" \
  k8s.io/api/core/v1 \
  k8s.io/api/authentication/v1 \
  k8s.io/api/authorization/v1 \
  k8s.io/api/rbac/v1 \
  k8s.io/api/coordination/v1 \
  k8s.io/api/policy/v1 \
  k8s.io/api/apps/v1 \
  k8s.io/api/autoscaling/v1 \
  k8s.io/api/events/v1 \
  k8s.io/api/admissionregistration/v1 \
  k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1 \
  k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1 \
  "${api_pkgs[@]}" \
  k8s.io/apimachinery/pkg/apis/meta/v1 \
  k8s.io/apimachinery/pkg/runtime \
  k8s.io/apimachinery/pkg/version \
  k8s.io/apimachinery/pkg/api/resource \
  k8s.io/apimachinery/pkg/util/intstr

if $verify; then
  for file in "${models[@]}"; do
    saved=$tmp/$(echo "$file" | tr / _)
    if [[ ! -f "$saved" ]] || ! diff -u "$saved" "$file" >/dev/null; then
      [[ -f "$saved" ]] && cp "$saved" "$file"
      echo "$file is out of date: run 'make generate'" >&2
      exit 1
    fi
  done
  if ! diff -u pkg/generated/openapi/zz_generated.openapi.go "$out/zz_generated.openapi.go" >/dev/null; then
    echo "pkg/generated/openapi is out of date: run 'make generate'" >&2
    exit 1
  fi
  echo "generated code is up to date"
fi
