// Package status keeps what a running imreport reports about itself on
// GET /status (JSON) and GET /readyz.
//
// # Readiness
//
// Ready means the process can do its work now: the pipeline is running
// (the checkpoint is open, the topics are ready), no shutdown has begun,
// and Kafka answered the last time it was used: a publish, a read-back or
// the Board's own probe (a ListOffsets request, every probe interval, so
// that an idle tailing run notices an outage too). From the first failed
// Kafka request until the next one that succeeds, /readyz answers 503
// with the reason.
//
// Why not ready during a Kafka outage: a pod that cannot publish cannot do
// its job, and readiness is how Kubernetes and people see that (0/1 in
// kubectl get pods, the endpoints of the Service, which the callback
// receiver is reached through). Liveness (/healthz) stays 200: the run
// waits for the broker with everything in memory and resumes by itself; a
// restart would only cost a read-back. A Report API outage does not make
// the pod unready: it retries, and nothing it holds is at risk.
//
// # Status
//
// Status is one JSON object: readiness and its reason, each stream's
// cursor, lag (now minus the cursor), remaining range, ETA, published
// count and last API error, and the state of Kafka (brokers, topics, last
// success, failing since, last error) and of the Schema Registry (URLs,
// subject, schema id, value format). It never holds a secret: errors are
// the ones imreport logs, which are scrubbed of credentials.
package status
