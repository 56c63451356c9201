#!/usr/bin/env bash
# Install the real tools the checks and tests use (promtool, amtool, the Alertmanager
# server, docker-compose, node and npm) when they are missing and apt can install them.
set -euo pipefail

missing=()
need() {  # need PACKAGE COMMAND...: the package, unless one of the commands is already on PATH
  local package=$1; shift
  for command in "$@"; do command -v "$command" >/dev/null && return; done
  [[ " ${missing[*]-} " == *" $package "* ]] || missing+=("$package")
}
need prometheus prometheus
need prometheus promtool
need prometheus-alertmanager prometheus-alertmanager alertmanager
need prometheus-alertmanager amtool
need docker-compose docker-compose
# node and npm build Grafana's dashboard schema from the pinned npm package.
need nodejs node
need npm npm
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
if command -v apt-get >/dev/null && { [ -z "$sudo" ] || $sudo true 2>/dev/null; }; then
  echo "installing ${missing[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "missing: ${missing[*]}" >&2
echo "  Debian/Ubuntu: sudo apt-get install ${missing[*]}" >&2
echo "  macOS: brew install prometheus alertmanager docker-compose" >&2
exit 1
