package pipeline

import (
	"time"

	"github.com/imreport/imreport/source"
)

// maxFuture is how far ahead of the clock an event time may be and still be
// written as a record's timestamp. Kafka 4's brokers reject records stamped
// more than an hour ahead (log.message.timestamp.after.max.ms); a msg_ctime
// that far in the future is a vendor error, not a time.
const maxFuture = 10 * time.Minute

// eventTime is the Kafka timestamp of m's record: its msg_ctime (the
// server's receive time, in milliseconds), else its create_time (the send
// time, in seconds), else zero (the time of publishing), whichever is the
// first that is positive and not after now + maxFuture (a zero now checks
// nothing).
func eventTime(m source.Message, now time.Time) time.Time {
	limit := now.Add(maxFuture)
	for _, t := range []int64{m.MsgCtime, m.CreateTime * 1000} {
		if t > 0 {
			if at := time.UnixMilli(t); now.IsZero() || !at.After(limit) {
				return at
			}
		}
	}
	return time.Time{}
}
