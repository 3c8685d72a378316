#!/usr/bin/python3
"""Decode imreport Avro single-object encoded values with the Apache Avro Python library.

Usage: decode_avro.py SCHEMA.avsc FILE.avro...

For each file: checks the C3 01 magic and that the 8-byte fingerprint is the
CRC-64-AVRO (Rabin) of the schema's Parsing Canonical Form, computed here
independently as the Avro specification and the Java reference implementation
define it (logical types reduce to their primitive name), decodes the rest with
avro.io.DatumReader, checks nothing is left over, and prints one JSON line:
{"file": PATH, "fingerprint": HEX, "record": {...}}. Timestamps print as ISO 8601
with milliseconds. Exits 1 on the first bad file.

Needs Debian's python3-avro (apt-get install python3-avro).
"""

import datetime
import io
import json
import struct
import sys

import avro.io
import avro.schema

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def full_name(name, space, enclosing):
    if "." in name:
        return name
    space = space or enclosing
    return space + "." + name if space else name


def canonical(s, ns, seen):
    """Parsing Canonical Form of a schema parsed with json.load."""
    if isinstance(s, str):
        if s in PRIMITIVES:
            return json.dumps(s)
        full = full_name(s, None, ns)
        if full not in seen:
            raise ValueError("unknown type %r" % full)
        return json.dumps(full)
    if isinstance(s, list):
        return "[" + ",".join(canonical(x, ns, seen) for x in s) + "]"
    if not isinstance(s, dict):
        raise ValueError("unexpected schema element %r" % (s,))
    t = s["type"]
    if not isinstance(t, str):
        return canonical(t, ns, seen)
    if t in ("record", "error", "enum", "fixed"):
        full = full_name(s["name"], s.get("namespace"), ns)
        if full in seen:
            return json.dumps(full)
        seen.add(full)
        out = '{"name":%s,"type":%s' % (json.dumps(full), json.dumps(t))
        if t == "enum":
            out += ',"symbols":[' + ",".join(json.dumps(x) for x in s["symbols"]) + "]"
        elif t == "fixed":
            out += ',"size":%d' % int(s["size"])
        else:
            inner = full.rpartition(".")[0]
            out += ',"fields":[' + ",".join(
                '{"name":%s,"type":%s}' % (json.dumps(f["name"]), canonical(f["type"], inner, seen))
                for f in s["fields"]) + "]"
        return out + "}"
    if t == "array":
        return '{"type":"array","items":%s}' % canonical(s["items"], ns, seen)
    if t == "map":
        return '{"type":"map","values":%s}' % canonical(s["values"], ns, seen)
    return canonical(t, ns, seen)  # a primitive with attributes (logicalType...) or a name


EMPTY = 0xC15D213AA4D7A795


def _table():
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp & 0xFFFFFFFFFFFFFFFF)
    return table


TABLE = _table()


def rabin(data):
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ TABLE[(fp ^ b) & 0xFF]
    return fp


def to_json(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(v, bytes):
        return v.hex()
    raise TypeError("cannot render %r" % (v,))


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        text = f.read()
    schema = avro.schema.parse(text)
    pcf = canonical(json.loads(text), "", set())
    want = struct.pack("<Q", rabin(pcf.encode("utf-8")))
    reader = avro.io.DatumReader(schema)
    for path in argv[2:]:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) < 10 or data[:2] != b"\xc3\x01":
            sys.stderr.write("%s: not single-object encoded\n" % path)
            return 1
        if data[2:10] != want:
            sys.stderr.write("%s: fingerprint %s, schema's is %s\n" % (path, data[2:10].hex(), want.hex()))
            return 1
        buf = io.BytesIO(data[10:])
        record = reader.read(avro.io.BinaryDecoder(buf))
        if buf.tell() != len(data) - 10:
            sys.stderr.write("%s: %d bytes after the record\n" % (path, len(data) - 10 - buf.tell()))
            return 1
        print(json.dumps({"file": path, "fingerprint": want.hex(), "record": record},
                         default=to_json, ensure_ascii=False, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
