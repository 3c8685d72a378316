// Package audit proves completeness from outside the pipeline: for every
// bucket of every stream it compares the Report API's own total with what
// the topic and the dead-letter topic hold, and repairs what is missing.
//
// # What is compared
//
// The range [From, To) of send time is cut into buckets (Buckets; 1h by
// default, the last one possibly shorter). For each stream and bucket the
// API is asked for its total: one count=1 request with exactly the bounds
// the poller uses (source.Client.Count, source.QueryBounds). The topic side
// is the number of distinct msgids of this app (app_key header) whose
// create_time falls in the seconds that total covers, in the main topic
// (InTopic) or only in the dead-letter topic (DeadLettered). The difference
// is API - InTopic - DeadLettered: above 0 the topics lack messages
// (StatusMissing), below 0 they hold messages the API no longer serves
// (StatusExtra). The vendor does not promise a stable total, so a total
// that differs is asked for again until one value has come back three
// times (at most seven answers, else their median; BucketReport.Asked
// lists them): one drifting answer makes no finding, and a real gap costs
// two more requests. A bucket whose counts match but which holds a msgid more
// than once, in either topic or across both, is StatusDuplicates. The audit
// is clean when every bucket is StatusOK.
//
// # Exact comparison and the bounds
//
// /messages is documented inclusive and queried [from, to-1s]; the
// per-entity endpoints are documented strict in Chinese and inclusive in
// English and queried (from-1s, to), which covers the window under either
// reading. So their totals are exact for [from, to) only if the server
// reads them strictly; read inclusively they also count the second before
// the bucket and the second at its end. Rather than guess, the audit asks:
// ProbeBounds sends begin_time = end_time = a second the topics hold
// messages of the stream in (one request per stream); a strict server
// answers 0, an inclusive one more. The topic side is then counted over
// exactly the seconds the total covers (Coverage): [from, to) for a
// matching reading, [from-1s, to+1s) for an inclusive reading of strict
// bounds, [from+1s, to-1s) for a strict reading of inclusive ones (which
// would mean the poller misses the edges of its windows: the audit logs a
// warning). Adjacent buckets of an inclusive reading then share their edge
// seconds; each bucket is still exact. Across a daylight-saving change in
// the API's zone the poller widens its strings; Coverage reads them back
// at the zone's offset, so the comparison stays exact for zones without
// ambiguous wall times (Asia/Shanghai has none). A stream whose messages
// the topics do not hold at all is not probed (every reading then counts
// the same zero).
//
// # Reading Kafka
//
// Both topics are read with sink's ReadBack from the first offset of every
// partition whose record timestamp is at or after From-Margin (1h by
// default) to the partitions' ends when the read starts. Timestamps are the
// messages' msg_ctime (the vendor's receive time, at or just after the
// send time), else their create_time, or, for records of older versions
// and messages with neither readable, the time of publishing, which is
// later still; Kafka's ListOffsets by time returns
// the first offset stamped at or after the time, and every record before it
// is stamped earlier, so no record of the range is skipped however out of
// order they were written. There is no safe upper bound by timestamp (a
// repair, a rewind or a stream added later appends old messages at the
// end), so the read goes to the end: its cost is what was published since
// the range began. Main-topic values are decoded by their framing
// (Config.Decode: single-object, or Confluent through the registry); dead
// letters are the vendor's JSON (source.DecodeMessage). A record is placed
// by its create_time; a dead letter whose create_time is unreadable by its
// msg_ctime's second, and a value that does not decode at all by its
// Kafka timestamp (Summary.Placed counts both). Memory is a map entry per
// msgid (about 120 bytes: BenchmarkTallyMemory).
//
// # Streams
//
// A record belongs to the streams whose endpoint serves it (Member): every
// record to /messages; target_type and target_id to a group or chatroom;
// sender or single-chat target, on this app, to a user. The vendor does not
// document the per-entity selection; these are the simulator's rules. A
// dead letter whose deciding field is unreadable belongs to the stream it
// was fetched for (its imreport-stream header).
//
// # A live deployment
//
// The audit only reads: the API with its own rate limiter (a share of the
// app key's limit next to the pipeline's), Kafka with its own connections.
// It asks the API first and reads Kafka second, so a message the API
// counted had the whole read to be published. Buckets the pipeline has not
// reached yet (after its cursor minus the lookback) naturally show as
// missing: audit ranges behind it.
//
// # Statistics witness
//
// With Config.Statistics the statistics API (GET /v2/statistic/messages,
// VIP plans only) is asked for every bucket the vendor allows that lies
// wholly in the range (StatQueries): HOUR for ended hours of the current
// day, DAY (60 per request), MONTH (2 per request), in the API's zone
// (the vendor does not say which zone its buckets use; the audit assumes
// the API's and says so). Its single_send_msg and group_send_msg are
// compared with the topics' distinct single and group messages sent in the
// bucket (chatrooms are not counted by the statistics). Only an audit of
// the whole app (/messages) compares. A 403 (not a VIP plan) is reported in
// StatReport.Unavailable and is not a failure; a differing bucket is.
//
// # Repair
//
// Repair publishes what the topics lack for the missing buckets, exactly
// once, through the path of `imreport checkpoint rewind`: with the
// checkpoint's lock held (the pipeline is stopped), for each run of
// missing buckets of a stream it moves the stream's cursor back to the
// run's start, runs the pipeline bounded to its end, and moves the cursor
// forward to where it was. The pipeline then reads back from Kafka
// everything published since an hour before the run and publishes only the
// msgids Kafka does not hold. The checkpoint's dedupe set is not trusted
// there (it may hold exactly the msgids the topic lost): the repair's
// pipeline sees it empty and pruned everywhere, so Kafka alone decides.
// Buckets with more in the topics than the API serves, or with duplicates,
// cannot be mended by publishing and are named in RepairReport.Notes.
//
// # Errors
//
// Run returns an error when the audit itself fails (a Kafka or API failure
// after the client's retries, bad configuration); findings are never
// errors, they are in the Report.
package audit
