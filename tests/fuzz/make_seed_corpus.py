#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

pgoutput: the byte vectors of tests/unit/pg/{pgoutput,replication_protocol}_test.cpp and
tests/unit/pipeline/transaction_assembler_test.cpp, each wrapped the way pgoutput_fuzzer.cpp reads its input (a
configuration byte, then length-prefixed CopyData frames), plus whole transactions as the
relay sees them.

config: the example configurations, every YAML text and environment pair found in
tests/unit/config/*_test.cpp, and a few environment-only inputs.

Re-run after adding unit test vectors worth seeding:  tests/fuzz/make_seed_corpus.py
The output is deterministic; files are named <what>-<sha1 prefix>.
"""

import codecs
import hashlib
import json
import pathlib
import re
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"

# ---- pgoutput ---------------------------------------------------------------------------------

FINAL_LSN = 0x0000_0016_B374_D848
END_LSN = 0x0000_0016_B374_D880
COMMIT_TIME = 757_382_400_123_456  # 2024-01-01 00:00:00.123456 UTC


def u8(v): return struct.pack(">B", v)
def u16(v): return struct.pack(">H", v)
def u32(v): return struct.pack(">I", v)
def u64(v): return struct.pack(">Q", v)
def cstr(s): return s.encode() + b"\0"


def begin(final_lsn=FINAL_LSN, xid=731):
    return b"B" + u64(final_lsn) + u64(COMMIT_TIME) + u32(xid)


def commit(commit_lsn=FINAL_LSN, end_lsn=END_LSN):
    return b"C" + u8(0) + u64(commit_lsn) + u64(end_lsn) + u64(COMMIT_TIME)


def relation(oid, schema, name, columns, identity=b"d"):
    out = b"R" + u32(oid) + cstr(schema) + cstr(name) + identity + u16(len(columns))
    for column in columns:
        out += u8(1 if column == "id" else 0) + cstr(column) + u32(25) + u32(0xFFFF_FFFF)
    return out


def insert(oid, cells):
    """cells: text values, None for NULL, or (kind, bytes) for 'u' / 'b'."""
    out = b"I" + u32(oid) + b"N" + u16(len(cells))
    for cell in cells:
        if cell is None:
            out += b"n"
        elif isinstance(cell, tuple):
            kind, data = cell
            out += kind + (u32(len(data)) + data if kind in (b"t", b"b") else b"")
        else:
            data = cell.encode()
            out += b"t" + u32(len(data)) + data
    return out


def message(prefix, content, transactional=True, lsn=FINAL_LSN):
    return b"M" + u8(1 if transactional else 0) + u64(lsn) + cstr(prefix) + u32(len(content)) + content


def xlog(payload, wal_start=FINAL_LSN, wal_end=END_LSN):
    return b"w" + u64(wal_start) + u64(wal_end) + u64(COMMIT_TIME) + payload


def keepalive(wal_end=END_LSN, reply=0):
    return b"k" + u64(wal_end) + u64(COMMIT_TIME) + u8(reply)


def frames(selector, *copy_data):
    return u8(selector) + b"".join(u16(len(frame)) + frame for frame in copy_data)


OUTBOX_OID = 16_400
OTHER_OID = 16_500
OUTBOX_COLUMNS = ["id", "aggregatetype", "aggregateid", "type", "payload", "headers", "created_at"]


def outbox_row(aggregate_type="Order", aggregate_id="order-1", headers='{"a": "x", "n": 5}',
               payload='{"total": 12}'):
    return ["7", aggregate_type, aggregate_id, "OrderCreated", payload, headers,
            "2024-01-01 00:00:00.123456+00"]


def transaction(*payloads, final_lsn=FINAL_LSN):
    return [xlog(begin(final_lsn))] + [xlog(p) for p in payloads] + [xlog(commit(final_lsn))]


def publish_message(**fields):
    body = {"id": "9", "aggregatetype": "Order", "aggregateid": "order-9", "type": "OrderPaid",
            "payload": {"total": 3}, "headers": {"trace": "t-1"}}
    body.update(fields)
    return json.dumps(body).encode()


def pgoutput_seeds():
    outbox_relation = relation(OUTBOX_OID, "outbox", "outbox", OUTBOX_COLUMNS)
    single = {
        # tests/unit/pg/pgoutput_test.cpp, one message each
        "begin": begin(xid=0xDEAD_BEEF),
        "commit": commit(),
        "origin": b"O" + u64(FINAL_LSN) + cstr("pg_16390"),
        "relation": b"R" + u32(16_390) + cstr("public") + cstr("outbox") + b"f" + u16(3)
        + u8(1) + cstr("id") + u32(20) + u32(0xFFFF_FFFF)
        + u8(0) + cstr("topic") + u32(1043) + u32(259)
        + u8(0) + cstr("payload") + u32(3802) + u32(0xFFFF_FFFF),
        "relation-pg-class": b"R" + u32(1259) + cstr("") + cstr("pg_class") + b"n" + u16(0),
        "type": b"Y" + u32(16_401) + cstr("public") + cstr("mood"),
        "insert-kinds": b"I" + u32(16_390) + b"N" + u16(4) + b"n" + b"u" + b"t" + u32(5) + b"hello"
        + b"b" + u32(3) + b"\x00\x01\xff",
        "message-transactional": message("outbox", b"a\0b\n"),
        "message-plain": message("outbox", b"a\0b\n", transactional=False),
        "update": b"U" + u32(16_390) + b"anything",
        "delete": b"D",
        "truncate": b"T",
        "huge-length": b"I" + u32(1) + b"N" + u16(1) + b"b" + u32(0x7FFF_FFFF) + b"xy",
        "negative-count": b"R" + u32(1) + cstr("s") + cstr("t") + b"d" + u16(0x8000),
    }
    seeds = {name: frames(0, xlog(payload)) for name, payload in single.items()}
    # tests/unit/pg/replication_protocol_test.cpp: keepalives and an empty XLogData.
    seeds["keepalive"] = frames(0, keepalive(reply=1), keepalive())
    seeds["xlog-empty"] = frames(0, xlog(b""))

    # tests/unit/pipeline/transaction_assembler_test.cpp: whole transactions, in several configs
    # (the selector byte: capture mode, format, routing rule; see pgoutput_fuzzer.cpp).
    row_transaction = [xlog(outbox_relation)] + transaction(insert(OUTBOX_OID, outbox_row()))
    for selector, what in [(0, "payload"), (6, "both-envelope"), (10, "both-ce-binary"),
                           (14, "both-ce-structured")]:
        seeds[f"row-{what}"] = frames(selector, *row_transaction)
    seeds["row-audit-route"] = frames(
        16, xlog(outbox_relation),
        *transaction(insert(OUTBOX_OID, outbox_row(aggregate_type="Audit")),
                     insert(OUTBOX_OID, outbox_row())))
    seeds["two-tables"] = frames(
        2, xlog(outbox_relation),
        xlog(relation(OTHER_OID, "public", "events", OUTBOX_COLUMNS[:4] + ["payload"])),
        xlog(relation(16_600, "public", "customers", ["id", "name"])),
        *transaction(insert(OUTBOX_OID, outbox_row()),
                     insert(OTHER_OID, ["8", "Invoice", "inv-1", "InvoicePaid", '{"x": []}']),
                     insert(16_600, ["1", "Ada"])),
        keepalive(reply=1))
    seeds["messages"] = frames(
        1, *transaction(message("outbox", publish_message()),
                        message("audit", publish_message(aggregatetype="Audit", payload=None)),
                        message("other", b"{}"),
                        message("outbox-relay.heartbeat", b"2024-01-01 00:00:00+00")))
    # Rows the relay must refuse: NULL aggregate id, headers not an object, unchanged TOAST,
    # binary values, too few values, an insert before its relation, a non-transactional message.
    poison = {
        "null-aggregate-id": insert(OUTBOX_OID, outbox_row()[:2] + [None] + outbox_row()[3:]),
        "bad-headers": insert(OUTBOX_OID, outbox_row(headers="[1, 2]")),
        "unchanged-toast": insert(OUTBOX_OID, outbox_row()[:4] + [(b"u", b"")] + outbox_row()[5:]),
        "binary-value": insert(OUTBOX_OID, outbox_row()[:4] + [(b"b", b"\x01{}")] + outbox_row()[5:]),
        "short-row": insert(OUTBOX_OID, outbox_row()[:3]),
    }
    for name, payload in poison.items():
        seeds[f"poison-{name}"] = frames(0, xlog(outbox_relation), *transaction(payload))
    seeds["poison-unknown-relation"] = frames(0, *transaction(insert(OTHER_OID, outbox_row())))
    seeds["poison-message-not-transactional"] = frames(
        1, xlog(message("outbox", publish_message(), transactional=False)))
    seeds["poison-message-not-object"] = frames(1, *transaction(message("outbox", b"[]")))
    seeds["missing-column"] = frames(
        0, xlog(relation(OUTBOX_OID, "outbox", "outbox", ["id", "aggregatetype", "type"])))
    return seeds


# ---- config -----------------------------------------------------------------------------------

MINIMAL = "source:\n  dsn: host=db dbname=app\n"
C_STRING = r'"((?:[^"\\]|\\.)*)"'


def c_unescape(literal):
    return codecs.decode(literal, "unicode_escape")


def config_seeds():
    seeds = {}
    for path in [*sorted((ROOT / "config" / "examples").glob("*.yaml")),
                 ROOT / "examples" / "flight-booking" / "relay.yaml"]:
        seeds[f"example-{path.stem}"] = path.read_bytes()

    env_pairs = []
    for path in sorted((ROOT / "tests" / "unit" / "config").glob("*_test.cpp")):
        if path.name == "logging_test.cpp":
            continue  # its raw strings are regular expressions, not configurations
        source = path.read_text()
        texts = [c_unescape(m) for m in re.findall(r"WithDsn\(" + C_STRING + r"\)", source)]
        texts = [MINIMAL + text for text in texts]
        texts += re.findall(r'R"\((.*?)\)"', source, re.S)
        for index, text in enumerate(texts):
            seeds[f"unit-{path.stem}-{index}"] = text.encode()
        env_pairs += [(name, c_unescape(value)) for name, value in
                      re.findall(r'\{"(OUTBOX_RELAY_[A-Z0-9_]+)",\s*' + C_STRING + r"\}", source)]

    # The environment follows the YAML after a NUL, entries NUL-separated (config_fuzzer.cpp).
    def with_env(yaml, pairs):
        return yaml.encode() + b"\0" + b"\0".join(f"{n}={v}".encode() for n, v in pairs)

    for index, (name, value) in enumerate(sorted(set(env_pairs))):
        seeds[f"env-{index}-{name.lower()}"] = with_env(MINIMAL, [(name, value)])
    seeds["env-only"] = with_env("", [("OUTBOX_RELAY_SOURCE_DSN", "host=db"),
                                      ("OUTBOX_RELAY_SINK_TYPE", "kafka"),
                                      ("OUTBOX_RELAY_KAFKA_BOOTSTRAP_SERVERS", "k:9092"),
                                      ("OUTBOX_RELAY_OUTBOX_TABLES", "a.outbox,b.outbox")])
    seeds["empty"] = b""
    return seeds


def write(target, seeds):
    directory = CORPUS / target
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, data in seeds.items():
        digest = hashlib.sha1(data).hexdigest()[:12]
        (directory / f"{name}-{digest}").write_bytes(data)
    print(f"{directory.relative_to(ROOT)}: {len(seeds)} seeds")


def main():
    write("pgoutput", pgoutput_seeds())
    write("config", config_seeds())


if __name__ == "__main__":
    main()
