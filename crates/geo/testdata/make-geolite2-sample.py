#!/usr/bin/env python3
"""Writes geolite2-sample.mmdb: a tiny MaxMind DB with GeoLite2-Country-shaped records.

The records are invented test fixtures (documentation ranges plus two well-known public
addresses), not real GeoLite2 data. They exercise the shapes a reader must handle:
country.iso_code, the registered_country fallback, and a record with no country at all.

Needs the PyPI packages mmdb-writer and netaddr, e.g. in a throw-away venv:
    python3 -m venv /tmp/mmdb && /tmp/mmdb/bin/pip install mmdb-writer netaddr
    /tmp/mmdb/bin/python make-geolite2-sample.py
"""
import os

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def country(iso, geoname_id, name):
    return {"geoname_id": geoname_id, "iso_code": iso, "names": {"en": name}}


US = country("US", 6252001, "United States")
GB = country("GB", 2635167, "United Kingdom")
JP = country("JP", 1861060, "Japan")
DE = country("DE", 2921044, "Germany")

RECORDS = [
    # Full GeoLite2-Country shape.
    ("8.8.8.0/24", {"continent": {"code": "NA", "geoname_id": 6255149,
                                  "names": {"en": "North America"}},
                    "country": US, "registered_country": US}),
    ("81.2.69.0/24", {"continent": {"code": "EU", "geoname_id": 6255148,
                                    "names": {"en": "Europe"}},
                      "country": GB, "registered_country": GB}),
    # IPv6 documentation range.
    ("2001:db8:1::/48", {"country": JP, "registered_country": JP}),
    # Only registered_country (as for some anycast/satellite ranges): falls back to DE.
    ("192.0.2.0/24", {"registered_country": DE}),
    # Continent only, no country: no answer.
    ("198.51.100.0/24", {"continent": {"code": "EU", "geoname_id": 6255148}}),
]


class FixedEpochWriter(MMDBWriter):
    # A fixed build time keeps the output byte-for-byte reproducible.
    def _build_meta(self):
        meta = super()._build_meta()
        meta["build_epoch"] = 1_700_000_000
        return meta


def main():
    w = FixedEpochWriter(ip_version=6, ipv4_compatible=True,
                         database_type="GeoLite2-Country", languages=["en"],
                         description="Regionless test fixture (invented records)")
    for net, record in RECORDS:
        w.insert_network(IPSet([net]), record)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "geolite2-sample.mmdb")
    w.to_db_file(out)
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
