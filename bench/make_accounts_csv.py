#!/usr/bin/python3
"""Write a synthetic accounts CSV in the import format (docs/formats.md), for the
import benchmark: python3 bench/make_accounts_csv.py N OUT.csv [K]

Columns: id, lat, lon, workload, value, prev_territory, locked, label, 4 numeric
features f_*, one categorical c_industry. Deterministic (seed 1)."""
import sys

import numpy as np

n = int(float(sys.argv[1]))
out = sys.argv[2]
k = int(sys.argv[3]) if len(sys.argv) > 3 else 50
rng = np.random.default_rng(1)
industries = np.array(["retail", "health", "finance", "energy", "public", "tech",
                       "manufacturing", "logistics"])
with open(out, "w") as f:
    f.write("id,lat,lon,workload,value,prev_territory,locked,label,"
            "f_size,f_age,f_visits,f_growth,c_industry\n")
    step = 100000
    for lo in range(0, n, step):
        m = min(step, n - lo)
        lat = rng.uniform(25, 49, m)
        lon = rng.uniform(-124, -67, m)
        work = rng.lognormal(3, 1, m)
        val = rng.lognormal(10, 1.5, m)
        prev = rng.integers(0, k, m)
        locked = (rng.random(m) < 0.02).astype(int)
        label = rng.integers(0, 2, m)
        feats = rng.normal(size=(m, 4))
        ind = industries[rng.integers(0, len(industries), m)]
        rows = [f"A{lo + i:08d},{lat[i]:.5f},{lon[i]:.5f},{work[i]:.2f},{val[i]:.2f},"
                f"{prev[i]},{locked[i]},{label[i]},{feats[i, 0]:.4f},{feats[i, 1]:.4f},"
                f"{feats[i, 2]:.4f},{feats[i, 3]:.4f},{ind[i]}\n" for i in range(m)]
        f.writelines(rows)
