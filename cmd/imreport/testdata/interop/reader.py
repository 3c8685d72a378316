"""Independent reader (Python): Debian's python3-confluent-kafka (librdkafka)
consumes the topic with a plain Consumer; its legacy confluent_kafka.avro
MessageSerializer fetches each writer schema from the registry by the id in
the value and decodes it with python3-avro (the Apache implementation).

Usage: /usr/bin/python3 reader.py BROKERS REGISTRY_URL TOPIC TRUTH.jsonl
Prints one summary line; exits 0 only if every message of the ground truth
was read exactly once and matched field by field.
"""
import datetime
import json
import os
import sys
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.avro.cached_schema_registry_client import CachedSchemaRegistryClient
from confluent_kafka.avro.serializer.message_serializer import MessageSerializer

brokers, registry_url, topic, truth_path = sys.argv[1:5]
truth = {}
with open(truth_path, encoding="utf-8") as f:
    for line in f:
        if line.strip():
            t = json.loads(line)
            truth[t["msgid"]] = t

serializer = MessageSerializer(CachedSchemaRegistryClient({"url": registry_url}))
consumer = Consumer({
    "bootstrap.servers": brokers,
    "group.id": "imreport-interop-python-%d" % os.getpid(),
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
})
consumer.subscribe([topic])


def millis(v):
    if isinstance(v, datetime.datetime):
        return int(round(v.timestamp() * 1000))
    return int(v)


seen, problems, records = {}, [], 0
deadline = time.time() + 90
while records < len(truth) and time.time() < deadline:
    msg = consumer.poll(1.0)
    if msg is None:
        continue
    if msg.error():
        problems.append("consumer error: %s" % msg.error())
        break
    raw = msg.value()
    if raw[:1] != b"\x00":
        problems.append("value does not start with 00: %s" % raw[:5].hex())
    value = serializer.decode_message(raw)
    records += 1
    mid = str(value["msgid"])
    seen[mid] = seen.get(mid, 0) + 1
    t = truth.get(mid)
    if t is None:
        problems.append("unexpected msgid %s" % mid)
        continue
    got = {
        "msgid": mid, "msg_type": value["msg_type"], "msg_ctime": millis(value["msg_ctime"]),
        "create_time": millis(value["create_time"]), "from_id": value["from_id"], "target_id": value["target_id"],
        "conversation_id": value["conversation_id"], "text": value["text"], "msg_body": value["msg_body"],
        "app_key": value["source"]["app_key"],
    }
    for k, v in got.items():
        if v != t[k]:
            problems.append("msgid %s %s: got %r, want %r" % (mid, k, v, t[k]))
    if msg.key().decode("utf-8") != t["conversation_id"]:
        problems.append("msgid %s key %r" % (mid, msg.key()))
    if msg.timestamp()[1] != t["msg_ctime"]:
        problems.append("msgid %s timestamp %r, want msg_ctime %d" % (mid, msg.timestamp(), t["msg_ctime"]))
consumer.close()
for mid in truth:
    if seen.get(mid, 0) != 1:
        problems.append("msgid %s read %d times" % (mid, seen.get(mid, 0)))
print("python confluent_kafka.avro: %d records, %d expected, %d problems" % (records, len(truth), len(problems)))
for p in problems[:10]:
    print("  " + p)
sys.exit(0 if not problems and records == len(truth) else 1)
