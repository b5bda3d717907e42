#!/usr/bin/env python3
"""Benchmark data for mimidns vs NSD and Knot (deterministic).

Usage: gen.py OUTDIR [N=1000000] [NX_FRACTION=0.5]

Writes, for N phone-number identifiers with 1 or 2 mappings each:
  OUTDIR/zones/bench.test.zone   apex, NS, glue and endpoint hosts (mimidns's zone file)
  OUTDIR/full/bench.test.zone    the same plus every identifier's TXT and SVCB,
                                 byte-for-byte what mimidns publishes (for NSD/Knot)
  OUTDIR/import.ndjson           the identifiers, plaintext, for `mimidns admin import`
  OUTDIR/queries.txt             dnsperf input: existing names (TXT and SVCB) and
                                 names that do not exist, shuffled

Hashing follows docs/PROFILE.md: base32hex(SHA-256("tel:+E164")), lower-case, unpadded.
"""
import base64
import hashlib
import json
import os
import random
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
nx_fraction = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
zone = "bench.test"
label = "_mimi"


def hashed(canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def phone(i: int) -> str:
    return f"+4930{i:09d}"


def mappings(i: int):
    first = {"provider": f"p{i % 50}.example", "ssi": f"mimi://p{i % 50}.example/u/{i}",
             "target": f"msg.{zone}", "port": 8443, "alpn": ["h2", "h3"], "priority": 10}
    if i % 3 == 0:
        second = {"provider": "alt.example", "ssi": f"u{i}", "target": f"alt.{zone}",
                  "alpn": ["h2"], "priority": 20}
        return [first, second]
    return [first]


def txt(m) -> str:
    strings = ["v=mimi1", f"pri={m['priority']}", f"provider={m['provider']}",
               f"ssi={m['ssi']}", f"target={m['target']}"]
    return " ".join(f'"{s}"' for s in strings)


def svcb(m) -> str:
    port = f" port={m['port']}" if "port" in m else ""
    return f"{m['priority']} {m['target']}. alpn=\"{','.join(m['alpn'])}\"{port}"


os.makedirs(f"{out}/zones", exist_ok=True)
os.makedirs(f"{out}/full", exist_ok=True)
apex = f"""$ORIGIN {zone}.
$TTL 300
@ IN SOA ns1.{zone}. hostmaster.{zone}. 2026010101 3600 600 86400 300
@ IN NS ns1.{zone}.
ns1 IN A 127.0.0.1
msg IN A 192.0.2.10
msg IN AAAA 2001:db8::10
alt IN A 192.0.2.20
"""
with open(f"{out}/zones/{zone}.zone", "w") as f:
    f.write(apex)
names = []
with open(f"{out}/full/{zone}.zone", "w") as full, open(f"{out}/import.ndjson", "w") as ndjson:
    full.write(apex)
    for i in range(n):
        owner = hashed("tel:" + phone(i))
        names.append(owner)
        ms = mappings(i)
        ndjson.write(json.dumps({"identifier": phone(i), "mappings": ms}) + "\n")
        for m in ms:
            full.write(f"{owner}.{label} IN TXT {txt(m)}\n")
        for m in ms:
            full.write(f"{owner}.{label} IN SVCB {svcb(m)}\n")

rng = random.Random(42)
n_nx = int(round(n * nx_fraction / (1 - nx_fraction))) if nx_fraction < 1 else n
queries = [f"{name}.{label}.{zone} {'TXT' if k % 2 == 0 else 'SVCB'}" for k, name in enumerate(names)]
queries += [f"{hashed('tel:+4931' + str(i).zfill(9))}.{label}.{zone} TXT" for i in range(n_nx)]
rng.shuffle(queries)
with open(f"{out}/queries.txt", "w") as q:
    q.write("\n".join(queries) + "\n")
print(f"{n} identifiers, {len(queries)} queries ({n} existing, {n_nx} NXDOMAIN) in {out}")
