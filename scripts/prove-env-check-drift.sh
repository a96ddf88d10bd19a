#!/usr/bin/env bash
# Proves the acceptance of issue 7 through the real plugin path: `swift package
# clusterkit-env --check` passes, fails after a variable is added to the declaration
# (ClusterSettings.all) without regenerating the files, and passes again once the
# declaration is restored. Edits Sources/ClusterKit/Configuration/Setting.swift in place and
# always restores it; refuses to run if that file has uncommitted changes. Costs two
# incremental rebuilds of clusterkit, so `make test` does not run it (the CLI tests prove the
# same logic on edited copies of the files, and `make test` runs the plugin's --check).
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
declaration=Sources/ClusterKit/Configuration/Setting.swift
anchor='workerIDAdapter, workerIDRedisURL, workerIDMax, workerIDLeaseTTL,'

git diff --quiet -- "$declaration" || { echo "error: $declaration has uncommitted changes" >&2; exit 2; }
grep -qF "$anchor" "$declaration" || { echo "error: cannot find the end of ClusterSettings.all in $declaration" >&2; exit 2; }

echo "== 1. clean tree: --check must pass"
$SWIFT package clusterkit-env --check </dev/null

backup=$(mktemp)
cp "$declaration" "$backup"
trap 'cp "$backup" "$declaration"; rm -f "$backup"' EXIT
sed -i "s|$anchor|$anchor Setting(\"CLUSTERKIT_DRIFT_PROBE\", kind: .text, default: \"x\", primitive: nil, \"Added by prove-env-check-drift.sh.\"),|" "$declaration"

echo "== 2. a variable added to the declaration, files not regenerated: --check must fail"
if $SWIFT package clusterkit-env --check </dev/null; then
    echo "FAILED: --check passed although CLUSTERKIT_DRIFT_PROBE is declared but not in the files" >&2
    exit 1
fi

cp "$backup" "$declaration"
echo "== 3. declaration restored: --check must pass again"
$SWIFT package clusterkit-env --check </dev/null
echo "OK: clusterkit-env --check passes on a clean tree and fails on an undeclared-in-files variable"
