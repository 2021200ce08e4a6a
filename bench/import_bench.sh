#!/usr/bin/env bash
# Import benchmark: a synthetic N-row accounts CSV (bench/make_accounts_csv.py) imported
# by tqplan and by a Python peer (bench/import_peer.py) in the same run; wall time and
# peak RSS from /usr/bin/time -v, and the ratios. Usage: bench/import_bench.sh [N] [BIN]
set -euo pipefail
N=${1:-1000000}
BIN=${2:-build/tqplan}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
/usr/bin/python3 "$HERE/make_accounts_csv.py" "$N" "$W/acc.csv"
BYTES=$(stat -c %s "$W/acc.csv")
measure() {  # label command... ; prints "label wall-seconds cpu-seconds MB"
  local label=$1; shift
  /usr/bin/time -v "$@" >"$W/out" 2>"$W/time" || { cat "$W/time"; exit 1; }
  local wall rss cpu
  wall=$(grep "Elapsed (wall clock)" "$W/time" | awk '{print $NF}' |
         awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  cpu=$(grep -E "(User|System) time" "$W/time" | awk '{s += $NF} END {print s}')
  rss=$(grep "Maximum resident" "$W/time" | awk '{print $NF}')
  echo "$label $wall $cpu $((rss / 1024))"
}
cat /dev/null >"$W/res"
for rep in 1 2; do
  measure tqplan "$BIN" import "$W/acc.csv" -q -o "$W/t.h5" >>"$W/res"
  measure python "$HERE/import_peer.py" "$W/acc.csv" "$W/p.h5" >>"$W/res"
done
"$BIN" import "$W/acc.csv" --json -o "$W/t.h5" >"$W/json" 2>/dev/null
uptime
/usr/bin/python3 - "$W/res" "$W/json" "$N" "$BYTES" <<'PY'
import json, sys
res = {}
for line in open(sys.argv[1]):
    k, t, c, m = line.split()
    res.setdefault(k, []).append((float(t), float(c), int(m)))
n, size = int(sys.argv[3]), int(sys.argv[4])
best = {k: min(v) for k, v in res.items()}
j = json.load(open(sys.argv[2]))
print(f"rows {n}, CSV {size / 1e6:.1f} MB; best of 2 runs each")
print("| importer | wall s | rows/s (wall) | CPU s (user+sys) | peak RSS MB |")
print("| --- | --- | --- | --- | --- |")
for k, (t, c, m) in best.items():
    print(f"| {k} | {t:.2f} | {n / t:,.0f} | {c:.2f} | {m} |")
tq, py = best["tqplan"], best["python"]
print(f"ratio python/tqplan: wall {py[0] / tq[0]:.1f}x, CPU {py[1] / tq[1]:.1f}x, "
      f"memory {py[2] / tq[2]:.1f}x")
print(f"tqplan phases (--json run, wall): scan {j['time']['scan']:.2f} s "
      f"({n / j['time']['scan']:,.0f} rows/s), finish (ids, commit) {j['time']['finish']:.2f} s")
PY
