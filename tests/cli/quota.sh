#!/usr/bin/env bash
# tqplan quota end to end: quotas sum exactly to the target, fairness bounds hold,
# identical for 1 and 2 threads, clear errors for bad requests.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
"$T" generate -n 60000 -k 25 --seed 3 -o "$W/d.h5" -q
"$T" quota "$W/d.h5" --target 123456789 --beta 0.7 --fairness 5% --threads 1 --json -q >"$W/q1.json"
"$T" quota "$W/d.h5" --target 123456789 --beta 0.7 --fairness 5% --threads 2 --json -q >"$W/q2.json"
/usr/bin/python3 - "$W/q1.json" "$W/q2.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["quota"] == b["quota"], "thread count changed the quotas"
assert sum(a["quota"]) == 123456789 and a["total"] == 123456789, sum(a["quota"])
assert all(q == int(q) for q in a["quota"])
assert a["territories"] == 25 and a["source"] == "prev_territory"
r = a["ratio_max"] / a["ratio_min"]
assert r <= 1.05 / 0.95 + 1e-6, r
PY
# the manifest is there
h5dump -a /quotas/command "$W/d.h5" | grep -q '"quota"' || fail "manifest command"
h5dump -a /quotas/parameters "$W/d.h5" | grep -q 'fairness' || fail "manifest parameters"
# errors: exit 1 with a message, previous result kept
set +e
"$T" quota "$W/d.h5" 2>"$W/err"; rc=$?
set -e
[ $rc = 1 ] || fail "missing target: exit $rc"
grep -q "target" "$W/err" || fail "missing target message"
set +e
"$T" quota "$W/d.h5" --target 5 --from alignment 2>"$W/err"; rc=$?
set -e
[ $rc = 1 ] || fail "--from alignment without alignment: exit $rc"
grep -q "no /alignment/territory" "$W/err" || fail "alignment message"
# a dataset edited by other means: the bad row named, exit 1, nothing written
bad_copy() {  # name python-statement (f = the h5py file)
  cp "$W/d.h5" "$W/$1.h5"
  $PY -c "import h5py, numpy as np, sys; f = h5py.File(sys.argv[1], 'a'); $2" "$W/$1.h5"
}
refused() {  # name message quota-options...
  local name=$1 msg=$2; shift 2
  set +e; "$T" quota "$W/$name.h5" --target 1e6 "$@" 2>"$W/err"; local rc=$?; set -e
  [ $rc = 1 ] || fail "$name: exit $rc"
  grep -q "$msg" "$W/err" || { cat "$W/err"; fail "$name: message"; }
}
bad_copy v "d = f['accounts/value']; a = d[:]; a[41] = np.nan; d[:] = a"
refused v "row 42, column value: value nan is not finite and >= 0"
bad_copy p "d = f['accounts/prev_territory']; a = d[:]; a[9] = 25; d[:] = a"
refused p "row 10, column prev_territory: value 25 is not -1 or a territory index (0 .. 24)"
bad_copy a "t = f['accounts/prev_territory'][:]; t[t < 0] = 0; t[77] = 31; f['alignment/territory'] = t"
refused a "/alignment/territory row 78: value 31 is not a territory index (0 .. 24)"
bad_copy s "t = f['accounts/prev_territory'][:]; f['alignment/territory'] = t[:-1]"
refused s "/alignment/territory does not have a row for each of the 60000 accounts"
"$T" info --json "$W/d.h5" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; assert [x["group"] for x in r]==["quotas"], r'
echo "quota: ok"
