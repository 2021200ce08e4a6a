#!/usr/bin/env bash
# End-to-end: tqplan --help/--version, generate (deterministic for any thread count,
# atomic output), info (text and --json), and usage errors with their exit codes.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
expect_rc() {  # expected-rc command...
  local want=$1; shift
  set +e; "$@" >"$W/out" 2>"$W/err"; local rc=$?; set -e
  [ "$rc" = "$want" ] || { cat "$W/out" "$W/err"; fail "exit $rc, want $want: $*"; }
}

"$T" --help | grep -q "generate" || fail "--help lists subcommands"
"$T" --version | grep -Eq "^tqplan [0-9]+\.[0-9]+" || fail "--version"
"$T" generate --help | grep -q -- "--features" || fail "generate --help"

# same seed: bit-identical files for 1 and 2 threads; another seed differs
"$T" generate -n 50000 -k 20 --features 4 --seed 7 --threads 1 -o "$W/a.h5" -q
"$T" generate -n 50000 -k 20 --features 4 --seed 7 --threads 2 -o "$W/b.h5" -q
cmp "$W/a.h5" "$W/b.h5" || fail "generate differs between 1 and 2 threads"
"$T" generate -n 50000 -k 20 --features 4 --seed 8 -o "$W/c.h5" -q
cmp -s "$W/a.h5" "$W/c.h5" && fail "different seeds gave the same file"
ls "$W" | grep -q tmp && fail "temporary file left behind"

# info: text and json
"$T" info "$W/a.h5" >"$W/info.txt"
grep -q "accounts: 50000   territories: 20   features: 4" "$W/info.txt" || { cat "$W/info.txt"; fail "info counts"; }
grep -q "schema version 1" "$W/info.txt" || fail "info schema version"
grep -Eq "workload +min .* total" "$W/info.txt" || fail "info workload total"
"$T" info --json "$W/a.h5" >"$W/info.json"
/usr/bin/python3 - "$W/info.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["accounts"] == 50000 and j["territories"] == 20 and j["features"] == 4, j
assert -90 <= j["columns"]["lat"]["min"] <= j["columns"]["lat"]["max"] <= 90
assert j["columns"]["workload"]["min"] >= 0 and j["columns"]["value"]["total"] > 0
assert j["label_positive"] + j["label_negative"] + j["label_unknown"] == 50000
assert j["locked"] > 0 and j["prev_territory_none"] > 0
PY
"$T" generate -n 1000 -k 5 -o "$W/j.h5" --json -q | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["accounts"]==1000'

# --drift: last year's territories fitted on workload before a regional change of
# exp(+-x); with no change they are balanced up to sampling (CV of today's loads lower)
"$T" generate -n 50000 -k 20 --features 0 --drift 0 -o "$W/d0.h5" -q
"$T" generate -n 50000 -k 20 --features 0 -o "$W/d3.h5" -q
"$T" generate -n 50000 -k 20 --features 0 --drift 0.6 -o "$W/d6.h5" -q
/usr/bin/python3 - "$W/d0.h5" "$W/d6.h5" "$W/d3.h5" <<'PY'
import sys, h5py, numpy as np
def cv(f):
    a = h5py.File(f, "r")["accounts"]
    p, w = a["prev_territory"][:], a["workload"][:].astype(float)
    l = np.bincount(p[p >= 0], weights=w[p >= 0], minlength=20)
    return l.std() / l.mean()
c0, c6, c3 = cv(sys.argv[1]), cv(sys.argv[2]), cv(sys.argv[3])
assert c0 < c3 < c6, (c0, c3, c6)
PY
expect_rc 1 "$T" generate -n 10 -k 2 --drift -1 -o "$W/x.h5"
grep -q -- "--drift" "$W/err" || fail "bad --drift message"

# another country, and no territories
"$T" generate -n 2000 -k 0 --country DE -o "$W/de.h5" -q
"$T" info --json "$W/de.h5" | /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); c=j["columns"]; assert 47<c["lat"]["min"] and c["lat"]["max"]<56 and 5<c["lon"]["min"] and c["lon"]["max"]<16, c; assert j["territories"]==0'

# usage errors -> exit 1, clear message, nothing written
expect_rc 1 "$T" nosuch
grep -q "unknown subcommand 'nosuch'" "$W/err" || fail "unknown subcommand message"
expect_rc 1 "$T" generate -n abc -o "$W/x.h5"
grep -q "'abc' is not an integer" "$W/err" || fail "bad -n message"
expect_rc 1 "$T" generate -n 10 -o "$W/x.h5" --country ZZ
grep -q "no places for country 'ZZ'" "$W/err" || fail "bad country message"
[ ! -e "$W/x.h5" ] || fail "output written after an error"
expect_rc 1 "$T" info "$W/missing.h5"
grep -q "missing.h5" "$W/err" || fail "info names the missing file"
echo "id,lat" >"$W/notdata.h5"
expect_rc 1 "$T" info "$W/notdata.h5"
grep -q "not an HDF5 file" "$W/err" || fail "info on a non-HDF5 file"
# info checks every value a stage would refuse: none in a generated file; in an edited
# one the first, named (text and --json)
grep -q "^check: every value in range$" "$W/info.txt" || { cat "$W/info.txt"; fail "info check line"; }
cp "$W/a.h5" "$W/e.h5"
$PY -c "import h5py, numpy as np, sys; f = h5py.File(sys.argv[1], 'a'); d = f['accounts/features']; a = d[:]; a[4321, 2] = np.inf; d[:] = a" "$W/e.h5"
"$T" info "$W/e.h5" | grep -q "^check: .*e.h5: /accounts row 4322, feature column 3: value inf is not finite$" ||
  { "$T" info "$W/e.h5"; fail "info names a bad feature"; }
"$T" info "$W/e.h5" --json | $PY -c "import json, sys; p = json.load(sys.stdin)['problem']; assert 'row 4322, feature column 3' in p, p"
"$T" info "$W/a.h5" --json | $PY -c "import json, sys; assert json.load(sys.stdin)['problem'] is None"
echo "generate_info: ok"
