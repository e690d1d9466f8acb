#!/usr/bin/env bash
# Writes, to standard output, a kubeconfig for another user of a running
# mini-apiserver: the server and CA of the admin kubeconfig, with a token
# (from --token-auth-file) or a client certificate (signed by a CA given in
# --client-ca-file).
#
#   hack/user-kubeconfig.sh ADMIN_KUBECONFIG USER --token TOKEN
#   hack/user-kubeconfig.sh ADMIN_KUBECONFIG USER --cert CERT_FILE KEY_FILE
set -euo pipefail
if [[ $# -lt 4 ]]; then
  sed -n '2,9p' "$0" >&2
  exit 2
fi
admin=$1 user=$2 kind=$3
kubectl=${KUBECTL:-$(dirname "$0")/../bin/kubectl}
view() { "$kubectl" --kubeconfig "$admin" config view --raw --minify -o jsonpath="$1"; }
server=$(view '{.clusters[0].cluster.server}')
ca=$(view '{.clusters[0].cluster.certificate-authority-data}')
case "$kind" in
  --token) credentials="    token: $4" ;;
  --cert)
    [[ $# -eq 5 ]] || { echo "--cert needs CERT_FILE KEY_FILE" >&2; exit 2; }
    credentials="    client-certificate-data: $(base64 -w0 "$4")
    client-key-data: $(base64 -w0 "$5")" ;;
  *) echo "unknown credential kind $kind (want --token or --cert)" >&2; exit 2 ;;
esac
cat <<YAML
apiVersion: v1
kind: Config
clusters:
- name: mini-apiserver
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: $user
  user:
$credentials
contexts:
- name: $user
  context:
    cluster: mini-apiserver
    user: $user
current-context: $user
YAML
