// Package callback receives JMessage's real-time message routing callbacks
// (the vendor's jmessage_callback): the vendor POSTs each message to a
// customer URL as it is sent, in the Report API's message format, and
// expects HTTP 200.
//
// # Requests
//
// A request must be a POST to Config.Path with `Authorization: Basic
// base64(appKey:masterSecret)` (compared in constant time), a JSON content
// type (`application/json`, any charset parameter but a non-UTF-8 one) and a
// body of at most Config.MaxBody bytes: `{"total":N,"messages":[{...}]}`.
// Each message is decoded by source.DecodeMessage, the poller's tolerant
// decoder; one whose msgid cannot be read makes the whole request a 400 (it
// can be neither deduplicated nor dead-lettered), one with another bad field
// is accepted and goes to the dead-letter topic. `total` is not checked.
//
// # Answers
//
//	200  every message is in Kafka (or was before) and deduplicated (Pusher.Push returned nil)
//	400  malformed body: not JSON, no messages array, a message without a usable msgid
//	401  missing or wrong credentials (with WWW-Authenticate)
//	404  another path
//	405  not a POST (with Allow: POST)
//	408  the body did not arrive within Config.ReadTimeout
//	413  body larger than Config.MaxBody
//	415  not a JSON content type
//	503  not published within Config.AckTimeout, publish failed, the
//	     pipeline is not running, or Config.MaxInFlight requests are already
//	     being handled (with Retry-After)
//
// Nothing is published for any answer but 200, except that after a 503 the
// batch may still be published later: sending it again publishes nothing
// twice. Every request is counted by Config.OnRequest with its outcome
// (Outcome*).
//
// # Slow clients
//
// Server returns an http.Server with bounded header (ReadHeaderTimeout),
// request (Config.ReadTimeout), response and idle times and a 16 KiB header
// limit, so a client that sends slowly or holds connections open costs a
// goroutine for a bounded time only.
package callback
