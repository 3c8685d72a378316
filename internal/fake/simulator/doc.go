// Package simulator is a deterministic, in-process fake of the JMessage (JPush
// IM) "IM REST Report API" v1 and v2, used by the tests, `imreport demo` and
// `imreport simulate`.
//
// # Data
//
// Generate builds a dataset from a GenSpec: messages spread uniformly over a
// time range plus "burst" seconds holding more messages than one page (count is
// at most 1000). The output is sorted by (create_time, msg_ctime, msgid) and is
// identical, byte for byte, for the same spec. Message ids are random 40-bit
// values, unique and unrelated to time.
//
// Every documented msg_type is generated (text, image, voice, file, location
// with `label` or the misspelt `lable`, video, custom) plus the undocumented
// "event" and "prompt"; any body may carry `extras` whose values are strings,
// numbers (some beyond 2^53, some in exponent form), booleans, null, nested
// objects and arrays. Names and texts include Chinese, emoji, RTL scripts,
// quotes, backslashes and control characters. Senders are pool users
// ("user0000"... see UserPool), admins ("admin", "admin_ops") and robots
// ("robot_news", "robot_helper"); targets are single users, groups (numeric
// ids) and chatrooms. Cross-app messages (msg_level 1) go between pool users and
// foreign users ("ext_1000"...) of ForeignAppKeys. They always carry
// from_appkey; target_appkey is usually the target's app key, sometimes present
// but empty (Message.TargetAppKeyEmpty), sometimes absent. Give the Server the
// same app key as GenSpec.AppKey, or the users of the two apps get mixed up.
// About 35% of messages go to groups and 10% to chatrooms; their senders are
// mostly the same pool users who also chat one to one, so a user's stream and
// a group's stream share messages.
//
// GenSpec.Late makes a fraction of messages late arrivals: Message.VisibleAt
// is CreateTime plus a delay in [LateMin, LateMax], and the server serves the
// message only from then on. GenSpec.Poison makes a fraction of messages
// untransformable (Message.Poison): the served JSON stays valid with a readable
// msgid, but one of PoisonFields has the wrong kind ("create_time":"not a
// time", "msg_ctime":{}, msg_type an array, target_id an object), so a consumer
// must reject it (source.DecodeMessage returns a *source.FieldError); the typed
// fields keep the true values, and Poisoned lists the msgids. Both draw from
// random streams of their own: with both 0 a spec generates the same bytes as
// before they existed.
//
// About 2% of messages are served with deviations a tolerant client must
// accept: numeric fields as JSON strings ("msgid":"123"), undocumented fields
// (set_from_name, msg_ext, 未知字段 ...), every non-ASCII rune \u-escaped,
// spaces after ':' and ',', a shuffled key order, or target_name null. The typed
// fields of Message always hold the true values; Message.JSON holds the exact
// bytes served and Message.Body the exact bytes of its msg_body.
//
// # Server: v1
//
// Server implements GET /v1/messages and GET /v1/users/{username}/messages as
// the vendor documents them: HTTP Basic auth with appKey:masterSecret, required
// start (>= 0) and count (1..1000), optional begin_time/end_time formatted
// "2006-01-02 15:04:05" in Config.Location (Asia/Shanghai by default), bounds
// inclusive for /v1/messages and strict for /v1/users, results ascending by
// (create_time, msg_ctime, msgid), offset paging over the filtered list, and a
// body {"total":N,"start":S,"count":n,"messages":[...]}.
//
// Only messages with create_time <= Config.Now(), not older than
// Config.Retention (60 days) and with VisibleAt <= Config.Now() are visible, in
// pages, totals, Visible and Matching alike, so a dataset reaching into the
// future turns into live traffic as the injected clock advances, late messages
// appear inside ranges already read, and old messages age out. Add inserts
// messages later (for example a late arrival inside a range a client already
// paged, which shifts later offsets).
//
// # Server: v2
//
// GET /v2/messages, /v2/users/{username}/messages, /v2/groups/{gid}/messages and
// /v2/chatrooms/{chatroomid}/messages walk a range with a cursor. The first
// request needs count (1..1000), begin_time and end_time (begin <= end, at most
// 7 days apart); every next one is ?cursor=X alone (any other parameter is a
// 400). The body is {"total":N,"cursor":"X","count":n,"messages":[...]}, total
// being the number of visible messages in the bounds at the time of the
// request. The walk is keyset based: a cursor remembers the endpoint, the
// bounds, the count and the key (create_time, msg_ctime, msgid) of the last
// message served, and the next page holds the visible messages after that key,
// so a late message behind the cursor is missed by the walk and one ahead of it
// is served. Each page gets a new cursor; a cursor is immutable, so asking it
// again serves the same page again (a retry is safe). A cursor lives
// CursorLifetime (120 s) on Config.Now() from its issue: after that it is a 400
// 899003 "cursor expired"; an unknown cursor, or one given to another endpoint,
// is a 400 899003 "cursor invalid".
//
// The last page is signalled as Config.V2End says: V2EndOmit (no cursor field;
// the default), V2EndEmpty ("cursor":""), or V2EndEmptyPage (every page with
// messages has a cursor; the walk ends with a page of 0 messages and no cursor);
// Config.V2EndMixed picks one per walk. /v2/messages bounds are inclusive; the
// other three are inclusive unless Config.V2EntityStrict (strict), as the
// vendor's English and Chinese docs disagree. Users are known as in v1; group
// ids from group messages and Config.Groups (unknown: 400 899006), chatroom ids
// from chatroom messages and Config.Chatrooms (unknown: 400 899081).
// /v2/users serves UserJSON, the others Message.JSON.
//
// # Errors and faults
//
// Errors use the vendor's body {"error":{"code":N,"message":"..."}}: 401 with
// 899007 (no Authorization header) or 899008 (bad credentials), 400 with 899003
// (invalid parameter; the message names it), 899002 (unknown user), 899006
// (unknown group) or 899081 (unknown chatroom), and 404 or 405 with 899000.
//
// Config.Fault is a hook that replaces any response. Config.Faults injects
// seeded random faults in every authenticated endpoint request, v1 and v2: 5xx
// (some with 899030 "server timeout"), 429 with and without Retry-After, slow
// answers, connections closed without or in the middle of a response head,
// bodies cut short, totals off by up to 3, v2 cursors expired early, and a token
// bucket per app key. The vendor's rate-limit answer is undocumented: the
// simulator uses 429 with code 2002 (as JPush's Push API) and X-Rate-Limit-*
// headers. FaultCounts counts what was injected.
//
// /v1/messages serves Message.JSON verbatim; /v1/users serves Server.UserJSON,
// which appends from_appkey and/or target_appkey (the server's app key) to
// messages lacking them, as the vendor's example shows.
//
// Visible, Matching and MatchingV2 give tests the expected results without
// going through HTTP; Users, Groups and Chatrooms list the known entities.
// Requests counts requests. Page requests use binary search over the sorted
// dataset and per-entity indexes, and only look at late messages recent enough
// to be still hidden, so their cost does not grow with the dataset; the server
// is safe for concurrent use, and deterministic for a seed (fault draws and
// cursor strings follow the order of requests).
//
// # Standalone
//
// Standalone is the whole simulator as imreport simulate serves it on an
// address: a history around now, the bad day's faults and, with a PushSpec,
// the vendor's message routing pushing the live messages (LiveOnly).
package simulator
