#!/usr/bin/env bash
# The README's test command (`npm test`): services up, build, lint, every suite; ends with the plain
# line "tests: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh || exit 1
npx tsc -b || exit 1
npx tsc -p tsconfig.test.json || exit 1 # the tests type-check too (vitest only strips types)
npx biome check . || exit 1
report=$(mktemp -t slotwise-vitest-XXXXXX.json)
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
node scripts/test-summary.mjs "$report" "$status"
