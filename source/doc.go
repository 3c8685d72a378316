// Package source reads chat history from the JMessage IM REST Report API.
//
// # Windows and bounds
//
// Callers ask for a half-open window [From, To) of send time, in whole seconds.
// The API takes `yyyy-MM-dd HH:mm:ss` strings in its own time zone, with bounds
// that are inclusive on /v1/messages and documented as strict on
// /v1/users/{username}/messages. QueryBounds turns the window into strings that
// cover it under either reading and across a zone's offset change, so the API
// may return a few messages just outside the window but never fewer than those
// inside it. Callers deduplicate by msgid.
//
// # Paging
//
// Fetch walks a window page by page (start/count on v1) and hands each page to
// a callback, in order. A page holds the raw message objects exactly as served;
// DecodeMessage decodes one tolerantly.
//
// # Errors
//
// Every failed request becomes an *APIError (the API answered with an error) or
// a *TransportError (no usable answer: network failure, timeout, truncated or
// malformed body). Both say whether they are Temporary; Fetch retries temporary
// ones with the client's retry.Policy, honouring Retry-After, and returns the
// others at once. Authentication failures wrap ErrAuth. No error, and nothing the
// client logs, contains the master secret or the Authorization header.
//
// # Rate limiting
//
// Every request, retries included, first waits on the client's rate.Limiter.
package source
