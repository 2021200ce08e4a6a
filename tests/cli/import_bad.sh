#!/usr/bin/env bash
# End-to-end: every bad-input case of tqplan import exits 1 with a
# FILE:ROW:COLUMN: message (value 'X') on stderr, leaves no output and no temporary
# file, and does not touch an existing output file; --max-errors bounds the report.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
D=${TQ_SRC:?}/tests/data

# An existing output must survive a failed import unchanged.
echo "previous dataset" >"$W/out.h5"
bad() {  # file territories-or-- expected-message
  local f=$1 t=$2 msg=$3 args=()
  [ "$t" != "--" ] && args=(--territories "$D/$t")
  set +e; "$T" import "$D/$f" "${args[@]}" -o "$W/out.h5" >"$W/stdout" 2>"$W/err"; local rc=$?; set -e
  [ "$rc" = 1 ] || { cat "$W/err"; fail "$f: exit $rc, want 1"; }
  grep -qF -- "$msg" "$W/err" || { cat "$W/err"; fail "$f: no '$msg'"; }
  grep -q "nothing written" "$W/err" || fail "$f: no summary"
  [ "$(cat "$W/out.h5")" = "previous dataset" ] || fail "$f: output overwritten"
  [ "$(ls "$W" | grep -c tmp || true)" = 0 ] || fail "$f: temporary file left"
}
bad bad_nan.csv -- "bad_nan.csv:3:lon: NaN or infinite value (value 'nan')"
bad bad_lat.csv -- "bad_lat.csv:2:lat: value outside [-90, 90] (value '90.5')"
bad bad_lon.csv -- "bad_lon.csv:2:lon: value outside [-180, 180] (value '180.01')"
bad bad_negative.csv -- "bad_negative.csv:3:value: negative value (value '-0.5')"
bad bad_dup_id.csv -- "bad_dup_id.csv:4:id: duplicate id, first on line 2 (value 'A1')"
bad bad_missing_col.csv -- "bad_missing_col.csv:1: missing required column 'lat'"
bad bad_field_count.csv -- "bad_field_count.csv:3: expected 3 fields as in the header, found 2"
bad empty.csv -- "empty.csv: empty file (no header row)"
bad header_only.csv -- "header_only.csv: no account rows after the header"
bad bad_utf8.csv -- "bad_utf8.csv:2:c_city: bytes that are not valid UTF-8"
bad bad_label.csv -- "bad_label.csv:4:label: label must be 0, 1 or blank (unknown) (value 'yes')"
bad bad_locked.csv -- "bad_locked.csv:2:locked: locked must be 0, 1, true, false or blank (value '2')"
bad bad_prev.csv territories_good.csv "bad_prev.csv:3:prev_territory: not among the territories of"
bad bad_prev.csv -- "bad_prev.csv:2:prev_territory: not a territory index"
bad bad_unknown_col.csv -- "bad_unknown_col.csv:1:segment: unknown column"
bad bad_number.csv -- "bad_number.csv:3:lat: not a number (value 'one')"
bad bad_quote.csv -- "bad_quote.csv:3: malformed CSV"
bad bad_unclosed.csv -- "bad_unclosed.csv:3: malformed CSV: quoted field not closed"
bad accounts_good.csv bad_territories.csv "bad_territories.csv:4:id: duplicate territory id, first on line 2 (value 'T1')"

# --max-errors: 30 bad rows, the default reports 20, --max-errors 5 reports 5
set +e
"$T" import "$D/bad_many.csv" -o "$W/out.h5" 2>"$W/err"; rc=$?
set -e
[ "$rc" = 1 ] || fail "bad_many exit $rc"
[ "$(grep -c ':lat: value outside' "$W/err")" = 20 ] || fail "default --max-errors 20"
grep -q "stopped at --max-errors" "$W/err" || fail "stop notice"
set +e
"$T" import "$D/bad_many.csv" --max-errors 5 -o "$W/out.h5" 2>"$W/err"
set -e
[ "$(grep -c ':lat: value outside' "$W/err")" = 5 ] || fail "--max-errors 5"
echo ok
