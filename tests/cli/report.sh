#!/usr/bin/env bash
# tqplan report end to end: the SPM CSVs, GeoJSON and HTML agree with the dataset.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
"$T" generate -n 30000 -k 12 --seed 5 -o "$W/d.h5" -q
"$T" quota "$W/d.h5" --target 1000000 -q
"$T" report "$W/d.h5" -o "$W/rep" --json -q >"$W/r.json"
for f in report.html territories.geojson spm_territories.csv spm_assignments.csv; do
  [ -s "$W/rep/$f" ] || fail "$f missing"
done
ls "$W/rep" | grep -q tmp && fail "temporary file left"
/usr/bin/python3 - "$W" <<'PY'
import csv, json, sys
w = sys.argv[1]
r = json.load(open(f"{w}/r.json"))
assert r["source"] == "last year (prev_territory)" and r["territories"] == 12, r
rows = list(csv.DictReader(open(f"{w}/rep/spm_assignments.csv")))
assert len(rows) == 30000
assert len({x["account_id"] for x in rows}) == 30000
# last year's alignment shown: nothing moved
assert all(x["moved"] == "0" for x in rows)
terr = list(csv.DictReader(open(f"{w}/rep/spm_territories.csv")))
assert [t["territory_id"] for t in terr] == [f"T{j:04d}" for j in range(12)]
assigned = sum(1 for x in rows if x["territory_id"])
assert sum(int(t["accounts"]) for t in terr) == assigned
assert abs(sum(float(t["quota"]) for t in terr) - 1000000) < 1e-6
for t in terr:
    n = sum(1 for x in rows if x["territory_id"] == t["territory_id"])
    assert n == int(t["accounts"]), (t, n)
g = json.load(open(f"{w}/rep/territories.geojson"))
assert g["type"] == "FeatureCollection"
polys = [f for f in g["features"] if f["properties"]["kind"] == "territory"]
homes = [f for f in g["features"] if f["properties"]["kind"] == "home_base"]
assert len(polys) == 12 and len(homes) == 12
for f in polys:
    if f["geometry"]["type"] == "Polygon":
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) >= 4
        assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in ring)
html = open(f"{w}/rep/report.html").read()
assert html.count("<svg") >= 3 and "T0011" in html and "</html>" in html
assert "Propensity model" not in html   # no /model yet
PY
# with a model: its section, the strongest features as train printed them
"$T" train "$W/d.h5" --json >"$W/t.json" 2>/dev/null
"$T" report "$W/d.h5" -o "$W/rep3" -q
$PY - "$W" <<'PY'
import json, re, sys
w = sys.argv[1]
t = json.load(open(f"{w}/t.json"))
html = open(f"{w}/rep3/report.html").read()
assert "<h2>Propensity model</h2>" in html and "AUC %.3f" % t["metrics"]["auc"] in html
sec = html[html.index("<h2>Propensity model</h2>"):]
shown = re.findall(r"<tr><td>([^<]*)</td><td>([+-][0-9.]+)</td>", sec)
assert [f for f, _ in shown] == [d["feature"] for d in t["drivers"][:len(shown)]], (shown, t["drivers"])
assert len(shown) == min(8, len(t["drivers"]))
PY
# the period the alignment holds, for the SPM load: two columns in both CSVs
"$T" report "$W/d.h5" -o "$W/rep4" -q --effective-from 2027-01-01 --effective-to 2027-12-31
head -1 "$W/rep4/spm_assignments.csv" | grep -q ",locked,effective_start,effective_end\$" ||
  fail "effective columns in spm_assignments.csv"
[ "$(tail -n +2 "$W/rep4/spm_assignments.csv" | grep -vc ',2027-01-01,2027-12-31$')" = 0 ] ||
  fail "every assignment row carries the period"
[ "$(tail -n +2 "$W/rep4/spm_territories.csv" | grep -c ',2027-01-01,2027-12-31$')" = 12 ] ||
  fail "every territory row carries the period"
for bad in "--effective-from 2027-02-29" "--effective-from 2027-1-1" \
           "--effective-from 2027-03-01 --effective-to 2027-02-01"; do
  set +e
  # shellcheck disable=SC2086
  "$T" report "$W/d.h5" -o "$W/rep5" $bad 2>"$W/err"; rc=$?
  set -e
  [ $rc = 1 ] || fail "report $bad: exit $rc"
  grep -q "effective" "$W/err" || { cat "$W/err"; fail "report $bad: message"; }
  [ ! -e "$W/rep5" ] || fail "report $bad: output written"
done
# a territory across the antimeridian (Fiji, Tonga, Samoa): its outline is cut at 180
# degrees into two polygons (RFC 7946 3.1.9), not a band around the world
$PY - "$W" <<'PY'
import random, sys
random.seed(3)
w = sys.argv[1]
with open(f"{w}/pacific.csv", "w") as f:
    f.write("id,lat,lon,prev_territory\n")
    for i in range(80):
        lon = random.uniform(174, 188)
        lon = lon - 360 if lon > 180 else lon
        f.write(f"p{i},{random.uniform(-22, -13):.4f},{lon:.4f},{i % 2}\n")
PY
"$T" import "$W/pacific.csv" -o "$W/pac.h5" -q
"$T" report "$W/pac.h5" -o "$W/pac" -q
$PY - "$W" <<'PY'
import json, re, sys
w = sys.argv[1]
g = json.load(open(f"{w}/pac/territories.geojson"))
terr = [f for f in g["features"] if f["properties"]["kind"] == "territory"]
assert len(terr) == 2
for f in terr:
    gm = f["geometry"]
    assert gm["type"] == "MultiPolygon", gm["type"]
    assert len(gm["coordinates"]) == 2
    xs = []
    for poly in gm["coordinates"]:
        ring = poly[0]
        assert ring[0] == ring[-1] and len(ring) >= 4
        xs += [p[0] for p in ring]
    assert all(-180 <= x <= 180 for x in xs) and 180 in xs and -180 in xs, xs
html = open(f"{w}/pac/report.html").read()
# the map is centred on the islands: each outline one polygon, every point on the map
polys = re.findall(r'<polygon points="([^"]*)"', html)
assert len(polys) == 2, len(polys)
svg = html[html.index("<svg"):html.index("</svg>")]
vb = [float(v) for v in re.search(r'viewBox="([^"]*)"', svg).group(1).split()]
xs = [float(x) for x in re.findall(r'<circle cx="([-0-9.]+)"', svg)]
assert len(xs) >= 80 and all(-1 <= x <= vb[2] + 1 for x in xs), (min(xs), max(xs), vb)
xs.sort()
# not split to the two edges of a world map: no empty band of half the width
assert max(b - a for a, b in zip(xs, xs[1:])) < vb[2] / 2, xs
for p in polys:
    px = [float(v.split(",")[0]) for v in p.split()]
    assert min(px) >= xs[0] - 2 and max(px) <= xs[-1] + 2, (min(px), max(px), xs[0], xs[-1])
PY
# errors
set +e
"$T" report "$W/none.h5" -o "$W/rep2" 2>"$W/err"; rc=$?
set -e
[ $rc = 1 ] || fail "missing dataset: exit $rc"
grep -q "none.h5" "$W/err" || fail "message names the file"
[ ! -e "$W/rep2" ] || fail "output directory created on error"
# clusters edited by other means: the bad row named, nothing written
"$T" generate -n 2000 -k 0 --seed 2 -o "$W/c.h5" -q
"$T" cluster "$W/c.h5" -k 5 -q
$PY -c "import h5py, sys; f = h5py.File(sys.argv[1], 'a'); d = f['clusters/label']; a = d[:]; a[99] = -2; d[:] = a" "$W/c.h5"
set +e
"$T" report "$W/c.h5" -o "$W/repc" 2>"$W/err"
rc=$?
set -e
[ $rc = 1 ] || fail "bad cluster label: exit $rc"
grep -q "/clusters/label row 100: value -2 is not a cluster index" "$W/err" || { cat "$W/err"; fail "bad cluster label: message"; }
[ ! -e "$W/repc" ] || fail "output directory created on error"
echo "report: ok"
