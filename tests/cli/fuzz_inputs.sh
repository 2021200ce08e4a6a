#!/usr/bin/env bash
# Mutation fuzzing of user inputs (account and territories CSVs, model JSON, scenario
# files): documented exit status, an error message on failure, no output on failure,
# no sanitizer report (tests/fuzz/fuzz_inputs.py). TQ_FUZZ_ITERS sets the iterations
# (default 60 here; the fuzzer found the quota and plan bugs of the 27th session at a
# few thousand).
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
$PY "$TQ_SRC/tests/fuzz/fuzz_inputs.py" "$T" "$TQ_SRC/tests/data" "$W" "${TQ_FUZZ_ITERS:-60}" 1 ||
  { ls "$W/failed"; fail "fuzzed inputs"; }
