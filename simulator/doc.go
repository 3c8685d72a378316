// Package simulator is a deterministic, in-process fake of the JMessage (JPush
// IM) "IM REST Report API" v1, used by the tests, `imreport demo` and
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
//
// About 2% of messages are served with deviations a tolerant client must
// accept: numeric fields as JSON strings ("msgid":"123"), undocumented fields
// (set_from_name, msg_ext, 未知字段 ...), every non-ASCII rune \u-escaped,
// spaces after ':' and ',', a shuffled key order, or target_name null. The typed
// fields of Message always hold the true values; Message.JSON holds the exact
// bytes served and Message.Body the exact bytes of its msg_body.
//
// # Server
//
// Server implements GET /v1/messages and GET /v1/users/{username}/messages as
// the vendor documents them: HTTP Basic auth with appKey:masterSecret, required
// start (>= 0) and count (1..1000), optional begin_time/end_time formatted
// "2006-01-02 15:04:05" in Config.Location (Asia/Shanghai by default), bounds
// inclusive for /v1/messages and strict for /v1/users, results ascending by
// (create_time, msg_ctime, msgid), offset paging over the filtered list, and a
// body {"total":N,"start":S,"count":n,"messages":[...]}.
//
// Only messages with create_time <= Config.Now() and not older than
// Config.Retention (60 days) are visible, so a dataset reaching into the future
// turns into live traffic as the injected clock advances, and old messages age
// out. Add inserts messages later (for example a late arrival inside a range a
// client already paged, which shifts later offsets). Config.Fault injects
// failures (429, 5xx, garbage bodies).
//
// Errors use the vendor's body {"error":{"code":N,"message":"..."}}: 401 with
// 899007 (no Authorization header) or 899008 (bad credentials), 400 with 899003
// (invalid parameter; the message names it) or 899002 (unknown user), and 404 or
// 405 with 899000.
//
// /v1/messages serves Message.JSON verbatim; /v1/users serves Server.UserJSON,
// which appends from_appkey and/or target_appkey (the server's app key) to
// messages lacking them, as the vendor's example shows.
//
// Visible and Matching give tests the expected results without going through
// HTTP. Requests counts requests. Page requests use binary search over the
// sorted dataset and a per-user index, so their cost does not grow with the
// dataset; the server is safe for concurrent use.
package simulator
