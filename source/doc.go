// Package source reads chat history from the JMessage IM REST Report API, v1
// or v2 (Config.APIVersion; v2 by default).
//
// # Streams
//
// A Stream is the whole app (/messages), one user (/users/{username}/messages),
// one group (/v2/groups/{gid}/messages) or one chatroom
// (/v2/chatrooms/{chatroomid}/messages); names are path-escaped. v1 has no
// group or chatroom endpoint: Stream.Supported reports it (wrapping
// ErrUnsupported) so configuration can be rejected upfront, and Fetch and
// Count fail on such a stream without a request.
//
// # Windows and bounds
//
// Callers ask for a half-open window [From, To) of send time, in whole seconds.
// The API takes `yyyy-MM-dd HH:mm:ss` strings in its own time zone. /messages
// is documented inclusive on v1 and v2; /v1/users is documented strict, and
// /v2/users, /v2/groups and /v2/chatrooms strict in the Chinese documentation
// but inclusive in the English one, so all but /messages are queried as strict,
// which covers the window under either reading. QueryBounds turns the window
// into strings that cover it under either reading and across a zone's offset
// change, so the API may return a few messages just outside the window but
// never fewer than those inside it. Callers deduplicate by msgid.
//
// # Paging on v1
//
// Fetch walks a window page by page (start/count) and hands each page to a
// callback, in order. A page holds the raw message objects exactly as served;
// DecodeMessage decodes one tolerantly.
//
// The walk ends at an empty page, or at a short page (fewer messages than
// asked) whose start+len reaches the total it reports. A full page never ends
// it, whatever the total says (the total may be off by a few), and a short page
// below the total is followed by the next one.
//
// Offsets shift when a message appears inside a range already paged, so a
// page whose total differs from the one the walk's first page reported
// restarts the walk at start=0 (that page is not delivered). After 5 such
// restarts in one window the walk finishes without restarting and logs a
// warning; the pipeline's lookback rescans catch what shifted.
//
// # Paging on v2
//
// The first request of a walk is count=C&begin_time=B&end_time=E; the next
// ones are cursor=X alone. The walk ends when a response has no cursor (missing,
// null or ""), no messages, or count 0 (its messages, if any, are delivered).
//
// One request may span at most MaxQuerySpan (7 days) from begin_time to
// end_time, measured on the strings after QueryBounds' widening, on the wall
// clock and under every offset the zone has at either string. A longer window
// is split into consecutive parts, each walked in turn; Page.Part names the
// part. The bounds of consecutive parts of a strict endpoint overlap by a
// second or two (deduplicated by the caller).
//
// A cursor lives CursorTTL (120 s). Each is stamped with Config.Now when
// received; before every attempt to use it (after the callback returned, and
// between retries) a cursor CursorTTL-10s old or older is dropped and the walk
// of the part restarts from its first request. So does a cursor request
// answered with a non-temporary 400, 404 or 410 (or a permanent vendor error in
// a 200), but not an authentication failure: the vendor does not document its
// answer to an expired cursor. Temporary failures of a cursor request (429,
// 5xx, cut or malformed bodies) are retried with the same cursor.
//
// A cursor coming back that the walk already received restarts the walk too;
// the fourth time in one window Fetch fails with a *RestartError (not
// temporary) naming the endpoint and the part. A restart after a walk that got
// further than every earlier walk of the part (a slow callback, a cursor
// expiring on the way) is always allowed; the 51st restart without such
// progress in one window fails with a *RestartError as well. No part of a
// window is ever skipped.
//
// # Restarts
//
// A restarted walk delivers its pages again (Page.Walk counts the restarts of
// the Fetch so far): callers deduplicate by msgid, and should do so without
// waiting on anything slow, or every redelivered page costs the cursor more of
// its life. Config.OnRestart is called with the endpoint kind and the reason
// (RestartTotalChanged, RestartCursorStale, RestartCursorRejected,
// RestartCursorRepeated) for each restart.
//
// # Count
//
// Count asks for one message (count=1, start=0 on v1) with the bounds Fetch
// would use and returns the total the API reports (summed over the parts of a
// split v2 window). The total covers the query's bounds, which may reach a
// second or, across an offset change, an hour beyond the window.
//
// # Errors
//
// Every failed request becomes an *APIError (the API answered with an error) or
// a *TransportError (no usable answer: network failure, timeout, truncated or
// malformed body, a 200 included). Both say whether they are Temporary; Fetch
// and Count retry temporary ones with the client's retry.Policy, honouring
// Retry-After, and return the others at once. Authentication failures wrap
// ErrAuth. No error, and nothing the client logs, contains the master secret or
// the Authorization header.
//
// # Rate limiting
//
// Every request, retries included, first waits on the client's rate.Limiter.
package source
