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
"$T" info --json "$W/d.h5" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; assert [x["group"] for x in r]==["quotas"], r'
echo "quota: ok"
