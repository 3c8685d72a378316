package audit

import (
	"context"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/imreport/imreport/schema"
	"github.com/imreport/imreport/sink"
	"github.com/imreport/imreport/source"
)

// Fields are what the audit needs of a record's value.
type Fields struct {
	MsgID        int64
	CreateTime   int64 // send time, Unix seconds; 0 when unreadable
	MsgCtime     int64 // receive time, Unix milliseconds; 0 when unreadable
	MsgLevel     int32
	TargetType   string
	TargetID     string
	FromID       string
	FromAppKey   *string
	TargetAppKey *string
	// Unreadable names the fields that could not be read (a dead letter's
	// broken field): they do not take part in deciding the stream.
	Unreadable []string
}

// Decoder decodes a main-topic record value.
type Decoder func(ctx context.Context, value []byte) (Fields, error)

// SchemaDecoder decodes values by their own framing (single-object with the
// embedded schema, or Confluent through the decoder's registry).
func SchemaDecoder(d *schema.Decoder) Decoder {
	return func(ctx context.Context, value []byte) (Fields, error) {
		dec, err := d.Decode(ctx, value)
		if err != nil {
			return Fields{}, err
		}
		return FieldsOf(dec.Record), nil
	}
}

// FieldsOf reads Fields from a record decoded with the schema (goavro's
// native form: unions as single-entry maps, timestamps as time.Time).
func FieldsOf(rec map[string]any) Fields {
	str := func(k string) string { s, _ := rec[k].(string); return s }
	opt := func(k string) *string {
		switch v := rec[k].(type) {
		case map[string]any:
			if s, ok := v["string"].(string); ok {
				return &s
			}
		case string:
			return &v
		}
		return nil
	}
	var f Fields
	f.MsgID, _ = rec["msgid"].(int64)
	if t, ok := rec["create_time"].(time.Time); ok {
		f.CreateTime = t.Unix()
	}
	if t, ok := rec["msg_ctime"].(time.Time); ok {
		f.MsgCtime = t.UnixMilli()
	}
	f.MsgLevel, _ = rec["msg_level"].(int32)
	f.TargetType, f.TargetID, f.FromID = str("target_type"), str("target_id"), str("from_id")
	f.FromAppKey, f.TargetAppKey = opt("from_appkey"), opt("target_appkey")
	return f
}

// deadFields decodes a dead letter: the vendor's JSON as served.
func deadFields(value []byte) (Fields, error) {
	m, err := source.DecodeMessage(value)
	var fe *source.FieldError
	if err != nil && !errors.As(err, &fe) {
		return Fields{}, err
	}
	f := Fields{MsgID: m.MsgID, CreateTime: m.CreateTime, MsgCtime: m.MsgCtime, MsgLevel: m.MsgLevel,
		TargetType: m.TargetType, TargetID: m.TargetID, FromID: m.FromID, FromAppKey: m.FromAppKey, TargetAppKey: m.TargetAppKey}
	if fe != nil {
		f.Unreadable = []string{fe.Field}
		switch fe.Field {
		case "create_time":
			f.CreateTime = 0
		case "msg_ctime":
			f.MsgCtime = 0
		}
	}
	return f, nil
}

// Placement says which field a record's send second was taken from.
const (
	PlacedByCreateTime = "create_time"
	PlacedByMsgCtime   = "msg_ctime"       // create_time unreadable: the receive time's second
	PlacedByTimestamp  = "kafka_timestamp" // neither readable: the record's Kafka timestamp
)

// entry is what the topics hold for one msgid.
type entry struct {
	sec     int64  // send second the record is placed at
	main    int32  // copies in the main topic
	dead    int32  // copies in the dead-letter topic
	streams []int  // indexes into the audited streams it belongs to
	kind    string // target_type, for the statistics witness
}

// tally is what the audit read from Kafka.
type tally struct {
	ids         map[int64]*entry
	records     int64
	undecodable int64            // main-topic values that did not decode (placed by timestamp)
	placed      map[string]int64 // records placed other than by create_time, by how
}

func newTally() *tally {
	return &tally{ids: map[int64]*entry{}, placed: map[string]int64{}}
}

// add records one record read from Kafka.
func (t *tally) add(f sink.Found, fields Fields, decodeErr error, member func(Fields, string) []int) {
	t.records++
	e := t.ids[f.MsgID]
	if e == nil {
		e = &entry{}
		t.ids[f.MsgID] = e
		switch {
		case decodeErr == nil && fields.CreateTime > 0:
			e.sec = fields.CreateTime
		case decodeErr == nil && fields.MsgCtime > 0:
			e.sec = fields.MsgCtime / 1000
			t.placed[PlacedByMsgCtime]++
		default:
			e.sec = f.Time.Unix()
			t.placed[PlacedByTimestamp]++
		}
		e.streams = member(fields, f.Stream)
		e.kind = fields.TargetType
	}
	if f.DeadLetter {
		e.dead++
	} else {
		e.main++
	}
	if decodeErr != nil && !f.DeadLetter {
		t.undecodable++
	}
}

// series is one stream's distinct msgids by send second, for range sums.
type series struct {
	secs             []int64 // ascending distinct seconds
	main, dead, dups []int64 // prefix sums: counts at secs[:i]
}

// seriesOf builds the series of stream i (all of them when i < 0).
func (t *tally) seriesOf(i int) series {
	type c struct{ main, dead, dups int64 }
	by := map[int64]*c{}
	for _, e := range t.ids {
		if i >= 0 && !slices.Contains(e.streams, i) {
			continue
		}
		x := by[e.sec]
		if x == nil {
			x = &c{}
			by[e.sec] = x
		}
		if e.main > 0 {
			x.main++
		} else {
			x.dead++
		}
		x.dups += int64(e.main + e.dead - 1)
	}
	s := series{secs: make([]int64, 0, len(by))}
	for sec := range by {
		s.secs = append(s.secs, sec)
	}
	slices.Sort(s.secs)
	s.main, s.dead, s.dups = make([]int64, len(s.secs)+1), make([]int64, len(s.secs)+1), make([]int64, len(s.secs)+1)
	for k, sec := range s.secs {
		x := by[sec]
		s.main[k+1], s.dead[k+1], s.dups[k+1] = s.main[k]+x.main, s.dead[k]+x.dead, s.dups[k]+x.dups
	}
	return s
}

// sum returns the distinct msgids placed in [a, b): in the main topic, only
// in the dead-letter topic, and the extra copies of them.
func (s series) sum(a, b time.Time) (main, dead, dups int64) {
	i := sort.Search(len(s.secs), func(k int) bool { return s.secs[k] >= a.Unix() })
	j := sort.Search(len(s.secs), func(k int) bool { return s.secs[k] >= b.Unix() })
	return s.main[j] - s.main[i], s.dead[j] - s.dead[i], s.dups[j] - s.dups[i]
}

// busiest returns the second in [a, b) holding the most msgids of the
// series; ok is false when it holds none.
func (s series) busiest(a, b time.Time) (sec int64, ok bool) {
	var most int64
	for k, x := range s.secs {
		if x < a.Unix() || x >= b.Unix() {
			continue
		}
		if n := s.main[k+1] - s.main[k] + s.dead[k+1] - s.dead[k]; n > most {
			sec, most, ok = x, n, true
		}
	}
	return sec, ok
}

// defaultDecoder decodes single-object values (no registry: a
// Confluent-framed value is undecodable, and placed by its timestamp).
func defaultDecoder() (Decoder, error) {
	c, err := schema.NewCodec()
	if err != nil {
		return nil, err
	}
	return SchemaDecoder(schema.NewDecoder(c, nil)), nil
}
