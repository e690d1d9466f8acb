#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, if missing. Go itself
# comes with the machine (see go.mod for the version); kubectl and etcd are
# built from Go modules by `make tools`. logrotate is what the audit log
# tests rotate the log with; chromium is the headless browser the console's
# tests drive (through the DevTools protocol, with chromedp).
set -euo pipefail
need=()
for cmd in make git diff curl logrotate chromium; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
if ((${#need[@]} > 0)); then
  pkgs=()
  for cmd in "${need[@]}"; do
    case "$cmd" in
      diff) pkgs+=(diffutils) ;;
      *) pkgs+=("$cmd") ;;
    esac
  done
  echo "install-deps: installing ${pkgs[*]}"
  sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root (or sudo) to install ${pkgs[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${pkgs[@]}"
fi
go version >/dev/null
