#!/usr/bin/python3
"""Peer for the import benchmark: the same CSV -> HDF5 job as a short Python script
would do it (csv module, numpy, h5py; chunked columns with shuffle + deflate level 1
as tqplan writes them, features uncompressed). It checks much less than tqplan import
(float() parsing and lat/lon ranges only: no UTF-8, duplicate-id or field-count
checks, no line numbers). Usage: import_peer.py IN.csv OUT.h5 [K]"""
import csv
import sys
import zlib

import h5py
import numpy as np

src, out = sys.argv[1], sys.argv[2]
slots = 32
with open(src, newline="", encoding="utf-8") as f:
    rd = csv.reader(f)
    head = next(rd)
    col = {h: i for i, h in enumerate(head)}
    fcols = [i for i, h in enumerate(head) if h.startswith("f_")]
    ccols = [i for i, h in enumerate(head) if h.startswith("c_")]
    ids, lat, lon, work, val, prev, locked, label, feats = ([] for _ in range(9))
    for r in rd:
        ids.append(r[col["id"]].encode())
        la, lo = float(r[col["lat"]]), float(r[col["lon"]])
        if not (-90 <= la <= 90 and -180 <= lo <= 180):
            sys.exit(f"{src}: lat/lon out of range")
        lat.append(la)
        lon.append(lo)
        work.append(float(r[col["workload"]]))
        val.append(float(r[col["value"]]))
        prev.append(int(r[col["prev_territory"]]))
        locked.append(int(r[col["locked"]]))
        label.append(int(r[col["label"]]))
        fv = [float(r[i]) for i in fcols] + [0.0] * slots
        for i in ccols:
            h = zlib.crc32((head[i][2:] + "=" + r[i]).encode())
            fv[len(fcols) + h % slots] += 1.0 if h & 1 else -1.0
        feats.append(fv)
kw = dict(chunks=True, shuffle=True, compression="gzip", compression_opts=1)
with h5py.File(out, "w") as h:
    g = h.create_group("accounts")
    g.create_dataset("id", data=np.array(ids), **kw)
    g.create_dataset("lat", data=np.array(lat), **kw)
    g.create_dataset("lon", data=np.array(lon), **kw)
    g.create_dataset("workload", data=np.array(work, np.float32), **kw)
    g.create_dataset("value", data=np.array(val, np.float32), **kw)
    g.create_dataset("prev_territory", data=np.array(prev, np.int32), **kw)
    g.create_dataset("locked", data=np.array(locked, np.uint8), **kw)
    g.create_dataset("label", data=np.array(label, np.int8), **kw)
    g.create_dataset("features", data=np.array(feats, np.float32), chunks=True)
