package sink

import (
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Record is one message to publish.
type Record struct {
	// Key is the conversation id. For a dead letter it may be empty: the
	// decimal MsgID is used then.
	Key string
	// Value is the Avro record in single-object encoding or the Confluent
	// wire format (ContentType says which); for a dead letter, the vendor's
	// raw JSON of the message.
	Value   []byte
	MsgID   int64
	MsgType string // may be empty for a dead letter
	// Time is the event time (the message's msg_ctime), written as the
	// Kafka record's timestamp; zero = the time of publishing.
	Time time.Time
	// ContentType is written in the content-type header of a main-topic
	// record; "" = ContentType (single-object). A dead letter's is always
	// DeadLetterContentType.
	ContentType string
	// DeadLetter, if set, sends the record to the dead-letter topic instead
	// of the main topic; nil is a normal record.
	DeadLetter *DeadLetter

	// Topic, Partition and Offset are set by Publish on every record Kafka
	// acknowledged: where it landed. Ignored when publishing.
	Topic     string
	Partition int
	Offset    int64
}

// DeadLetter says why a message went to the dead-letter topic. Each field is
// written in a header (HeaderStage, HeaderError, HeaderStream,
// HeaderEndpoint), as given.
type DeadLetter struct {
	Stage    string // where it failed: "decode", "transform", "encode", ...
	Reason   string // the error text
	Stream   string // the stream it was fetched for, e.g. "messages"
	Endpoint string // the API endpoint it was fetched from
}

// Header names. HeaderMsgID, HeaderAppKey, HeaderMsgType and
// HeaderContentType are written on every record, the others on dead letters
// only.
const (
	HeaderMsgID       = "msgid"
	HeaderAppKey      = "app_key"
	HeaderMsgType     = "msg_type"
	HeaderContentType = "content-type"
	HeaderStage       = "imreport-stage"    // DeadLetter.Stage
	HeaderError       = "imreport-error"    // DeadLetter.Reason
	HeaderStream      = "imreport-stream"   // DeadLetter.Stream
	HeaderEndpoint    = "imreport-endpoint" // DeadLetter.Endpoint

	// ContentType says how the value of a main-topic record is encoded,
	// unless Record.ContentType says otherwise (schema.Encoder.ContentType).
	ContentType = "application/vnd.imreport.message.v1+avro; encoding=single-object"
	// DeadLetterContentType is the content type of a dead letter's value:
	// the vendor's JSON as received.
	DeadLetterContentType = "application/json"
)

// arena holds the headers and small values of the messages of one write,
// allocated together: kafka-go only reads them, until the write returns.
type arena struct {
	headers []kafka.Header
	bytes   []byte
	appKey  []byte
	types   map[string][]byte // msg_type and content-type values, shared
}

// newArena returns an arena for n main-topic messages (a dead letter takes
// more headers; the arena grows).
func (w *Writer) newArena(n int) *arena {
	return &arena{headers: make([]kafka.Header, 0, 4*n), bytes: make([]byte, 0, 20*n),
		appKey: []byte(w.cfg.AppKey), types: map[string][]byte{}}
}

// take returns the next k headers of a.
func (a *arena) take(k int) []kafka.Header {
	if len(a.headers)+k > cap(a.headers) {
		a.headers = make([]kafka.Header, 0, max(k, 2*cap(a.headers)))
	}
	h := a.headers[len(a.headers) : len(a.headers)+k : len(a.headers)+k]
	a.headers = a.headers[:len(a.headers)+k]
	return h
}

// id returns msgid in decimal, in a.
func (a *arena) id(msgid int64) []byte {
	if len(a.bytes)+20 > cap(a.bytes) {
		a.bytes = make([]byte, 0, max(20, 2*cap(a.bytes)))
	}
	n := len(a.bytes)
	a.bytes = strconv.AppendInt(a.bytes, msgid, 10)
	return a.bytes[n:len(a.bytes):len(a.bytes)]
}

// shared returns s as bytes, one copy per distinct s in a.
func (a *arena) shared(s string) []byte {
	b, ok := a.types[s]
	if !ok {
		b = []byte(s)
		a.types[s] = b
	}
	return b
}

// messageIn builds the Kafka message of r with its headers in a.
func (w *Writer) messageIn(a *arena, r Record) kafka.Message {
	id := a.id(r.MsgID)
	if r.DeadLetter == nil {
		ct := r.ContentType
		if ct == "" {
			ct = ContentType
		}
		h := a.take(4)
		h[0] = kafka.Header{Key: HeaderMsgID, Value: id}
		h[1] = kafka.Header{Key: HeaderAppKey, Value: a.appKey}
		h[2] = kafka.Header{Key: HeaderMsgType, Value: a.shared(r.MsgType)}
		h[3] = kafka.Header{Key: HeaderContentType, Value: a.shared(ct)}
		return kafka.Message{Key: []byte(r.Key), Value: r.Value, Time: r.Time, Headers: h}
	}
	key := []byte(r.Key)
	if len(key) == 0 {
		key = id
	}
	dl := r.DeadLetter
	h := a.take(8)
	h[0] = kafka.Header{Key: HeaderMsgID, Value: id}
	h[1] = kafka.Header{Key: HeaderAppKey, Value: a.appKey}
	h[2] = kafka.Header{Key: HeaderMsgType, Value: []byte(r.MsgType)}
	h[3] = kafka.Header{Key: HeaderContentType, Value: []byte(DeadLetterContentType)}
	h[4] = kafka.Header{Key: HeaderStage, Value: []byte(dl.Stage)}
	h[5] = kafka.Header{Key: HeaderError, Value: []byte(dl.Reason)}
	h[6] = kafka.Header{Key: HeaderStream, Value: []byte(dl.Stream)}
	h[7] = kafka.Header{Key: HeaderEndpoint, Value: []byte(dl.Endpoint)}
	return kafka.Message{Key: key, Value: r.Value, Time: r.Time, Headers: h}
}
