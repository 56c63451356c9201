#!/usr/bin/env bash
# Generate Grafana's JSON Schemas from the pinned @grafana/schema package, one file per type
# (separate runs: the panel packages all name their types Options and FieldConfig).
# Output directory: build/grafana-schema/ (Dashboard.json, StatOptions.json, ...).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(realpath -m "${1:-$here/../../build/grafana-schema}")"
cd "$here"
version=$(node -p 'require("./package.json").devDependencies["@grafana/schema"]')
if [ -f "$out/VERSION" ] && [ "$(cat "$out/VERSION")" = "$version" ]; then
  exit 0
fi
if [ ! -d node_modules/@grafana/schema ] || [ "$(node -p 'require("@grafana/schema/package.json").version')" != "$version" ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
mkdir -p "$out"
types=$(sed -n 's/^export type Grafana\([A-Za-z]*\) = .*/\1/p' entry.ts)
for type in $types; do
  npx --no-install ts-json-schema-generator --path entry.ts --tsconfig tsconfig.json --type "Grafana$type" \
    --no-type-check --jsDoc none -o "$out/$type.json.tmp" &
done
wait
for type in $types; do mv "$out/$type.json.tmp" "$out/$type.json"; done
echo "$version" > "$out/VERSION"
echo "wrote Grafana $version schemas to $out" >&2
