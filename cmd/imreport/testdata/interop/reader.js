// Independent reader (Node): kafkajs 2.2.4 consumes the topic,
// @kafkajs/confluent-schema-registry 3.9.0 fetches each writer schema from
// the registry by the id in the value and decodes it with avsc 5.7.9.
// Usage: node reader.js BROKERS REGISTRY_URL TOPIC TRUTH.jsonl
// Prints one summary line; exits 0 only if every message of the ground
// truth was read exactly once and matched field by field.
'use strict';
const fs = require('fs');
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');
CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');
const { SchemaRegistry } = require('@kafkajs/confluent-schema-registry');

const [brokers, registryUrl, topic, truthPath] = process.argv.slice(2);
const truth = new Map();
for (const line of fs.readFileSync(truthPath, 'utf8').split('\n')) {
  if (line.trim() !== '') {
    const t = JSON.parse(line);
    truth.set(t.msgid, t);
  }
}
const registry = new SchemaRegistry({ host: registryUrl });
const kafka = new Kafka({ brokers: brokers.split(','), clientId: 'imreport-interop-node', logLevel: logLevel.ERROR });
const consumer = kafka.consumer({ groupId: 'imreport-interop-node-' + process.pid });

const seen = new Map();
const problems = [];
let records = 0;

function check(key, value, timestamp) {
  const id = String(value.msgid);
  const t = truth.get(id);
  seen.set(id, (seen.get(id) || 0) + 1);
  if (!t) { problems.push(`unexpected msgid ${id}`); return; }
  const got = {
    msgid: id, msg_type: value.msg_type, msg_ctime: Number(value.msg_ctime), create_time: Number(value.create_time),
    from_id: value.from_id, target_id: value.target_id, conversation_id: value.conversation_id,
    text: value.text === undefined ? null : value.text, msg_body: value.msg_body, app_key: value.source.app_key,
    key: key, timestamp: Number(timestamp),
  };
  for (const f of Object.keys(got)) {
    const want = f === 'key' ? t.conversation_id : f === 'timestamp' ? t.msg_ctime : t[f];
    if (got[f] !== want) problems.push(`msgid ${id} ${f}: got ${JSON.stringify(got[f])}, want ${JSON.stringify(want)}`);
  }
}

async function main() {
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after 90s with ${records} of ${truth.size} records`)), 90000);
    consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value[0] !== 0) { problems.push(`value does not start with 00: ${message.value.slice(0, 5).toString('hex')}`); }
        const value = await registry.decode(message.value);
        records++;
        check(message.key.toString('utf8'), value, message.timestamp);
        if (records >= truth.size) { clearTimeout(timer); resolve(); }
      },
    }).catch(reject);
  });
  await done;
  await consumer.disconnect();
  for (const [id] of truth) {
    const n = seen.get(id) || 0;
    if (n !== 1) problems.push(`msgid ${id} read ${n} times`);
  }
  console.log(`node kafkajs+confluent-schema-registry: ${records} records, ${truth.size} expected, ${problems.length} problems`);
  for (const p of problems.slice(0, 10)) console.log('  ' + p);
  process.exit(problems.length === 0 && records === truth.size ? 0 : 1);
}
main().catch((e) => { console.error(e); process.exit(1); });
