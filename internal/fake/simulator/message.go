package simulator

import (
	"cmp"
	"strconv"
)

// Default credentials and app keys. Generate uses DefaultAppKey as "our" app key
// for cross-app messages unless GenSpec.AppKey is set; New uses DefaultAppKey and
// DefaultMasterSecret when Config leaves them empty.
const (
	DefaultAppKey       = "4f7aef34fb361292c566a1cd"
	DefaultMasterSecret = "0f1e2d3c4b5a69788796a5b4"
)

// ForeignAppKeys are the app keys of the "other" applications that cross-app
// (msg_level 1) messages come from or go to.
var ForeignAppKeys = []string{"9c1f3a5e7b2d4c6e8f0a1b2c", "e5d4c3b2a1f0e9d8c7b6a5f4"}

// MsgTypes lists every msg_type Generate produces: the seven documented types
// followed by the undocumented ones.
var MsgTypes = []string{"text", "image", "voice", "file", "location", "video", "custom", "event", "prompt"}

// Message is one generated vendor message.
//
// The typed fields hold the true values; JSON holds the message object exactly as
// /v1/messages serves it, which may differ in form (numbers as strings, extra
// undocumented fields, escapes, spacing, key order) but not in meaning.
type Message struct {
	MsgID        int64
	MsgType      string // text image voice file location video custom, plus unknown types "event", "prompt"
	MsgLevel     int32  // 0 in-app, 1 cross-app
	Version      int32  // 1
	TargetType   string // single group chatroom
	TargetID     string
	TargetName   string
	TargetAppKey string // "" = field absent from JSON, unless TargetAppKeyEmpty
	// TargetAppKeyEmpty reports that target_appkey is served present but empty
	// (`"target_appkey":""`). Only meaningful when TargetAppKey is "".
	TargetAppKeyEmpty bool
	FromType          string // user admin robot
	FromID            string
	FromName          string
	FromPlatform      string // a i w web
	FromAppKey        string // "" = field absent from JSON
	CreateTime        int64  // Unix seconds (send time)
	MsgCtime          int64  // Unix milliseconds (server receive time), CreateTime*1000 + 0..1500 ms
	Body              []byte // msg_body JSON, exactly the bytes served (a sub-slice of JSON)
	JSON              []byte // the whole message object exactly as served by /v1/messages

	// VisibleAt is when the API starts serving the message (Unix seconds): a late
	// arrival, indexed after it was sent. 0 (or anything <= CreateTime) means
	// visible from CreateTime. The message is served, counted in totals and
	// returned by Visible and Matching only once Config.Now() >= VisibleAt.
	VisibleAt int64
	// Poison marks a message served with a field a consumer must reject (see
	// PoisonFields): its JSON keeps a readable msgid, but one of create_time,
	// msg_ctime, msg_type or target_id has the wrong kind. The typed fields keep
	// the true values.
	Poison bool
}

// PoisonFields lists the fields a poisoned message is served with, broken: one
// of them per message. create_time is served as the string "not a time",
// msg_ctime as {}, msg_type as an array, target_id as an object. Each makes
// source.DecodeMessage fail with a *source.FieldError naming the field.
var PoisonFields = []string{"create_time", "msg_ctime", "msg_type", "target_id"}

// Poisoned returns the msgids of the poisoned messages of msgs, in their order.
func Poisoned(msgs []Message) []int64 {
	var out []int64
	for i := range msgs {
		if msgs[i].Poison {
			out = append(out, msgs[i].MsgID)
		}
	}
	return out
}

// poisonKind returns the quirks.poison value of a hand-made poisoned message:
// chosen from its msgid, so that Encode stays deterministic.
func poisonKind(m *Message) uint8 {
	if !m.Poison {
		return 0
	}
	return 1 + uint8(uint64(m.MsgID)%uint64(len(PoisonFields)))
}

// Less reports whether a sorts before b in the API's order: ascending by
// (CreateTime, MsgCtime, MsgID).
func Less(a, b *Message) bool { return compareMsg(a, b) < 0 }

func compareMsg(a, b *Message) int {
	if c := cmp.Compare(a.CreateTime, b.CreateTime); c != 0 {
		return c
	}
	if c := cmp.Compare(a.MsgCtime, b.MsgCtime); c != 0 {
		return c
	}
	return cmp.Compare(a.MsgID, b.MsgID)
}

// UserPool returns the usernames Generate draws senders and single-chat targets
// from for GenSpec.Users == n: "user0000", "user0001", ...
func UserPool(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = userName(i)
	}
	return out
}

func userName(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 4 {
		s = "0" + s
	}
	return "user" + s
}

// Encode returns m with JSON (and Body, when nil) built from its typed fields in
// the vendor's canonical layout, as New does for messages whose JSON is nil. It is
// meant for tests that hand-craft messages (late arrivals, duplicates). A nil
// Body becomes {}; a non-nil Body is embedded as is, valid JSON or not. A
// message with Poison set is encoded with one field broken (see PoisonFields),
// chosen from its msgid.
func Encode(m Message) Message {
	body := m.Body
	if body == nil {
		body = []byte("{}")
	}
	var w jw
	off := encodeEnvelope(&w, &m, body, quirks{poison: poisonKind(&m)})
	js := append([]byte(nil), w.b...)
	m.JSON = js
	m.Body = js[off : off+len(body) : off+len(body)]
	return m
}

// quirks are the deviations from the canonical encoding applied to a message.
type quirks struct {
	strNum    uint8 // bit set: serve as a JSON string: 1 msgid, 2 create_time, 4 msg_ctime, 8 msg_level, 16 version
	extra     int   // 0 none; otherwise 1 + index into extraFields
	spaced    bool
	ascii     bool
	nullTName bool  // serve an empty target_name as null
	order     []int // field order; nil = canonical
	poison    uint8 // 0 none; otherwise 1 + index into PoisonFields: that field is served broken
}

// quirks.poison values, matching PoisonFields.
const (
	poisonCreateTime = 1 + iota
	poisonMsgCtime
	poisonMsgType
	poisonTargetID
)

const (
	fTargetType = iota
	fMsgType
	fTargetName
	fTargetID
	fFromID
	fFromName
	fFromType
	fFromPlatform
	fFromAppKey
	fTargetAppKey
	fMsgBody
	fCreateTime
	fVersion
	fMsgID
	fMsgLevel
	fMsgCtime
	fExtra
	numFields
)

var canonicalOrder = func() []int {
	o := make([]int, numFields)
	for i := range o {
		o[i] = i
	}
	return o
}()

// extraFields are undocumented fields added to a few messages: set_from_name
// (seen in the wild) and made-up future fields. Each is a key and its raw JSON.
var extraFields = [][2]string{
	{"set_from_name", `0`},
	{"set_from_name", `1`},
	{"set_from_name", `"1"`},
	{"msg_ext", `{"a":1,"b":[true,null]}`},
	{"sensitive", `false`},
	{"target_extras", `null`},
	{"msg_seq", `12345678901`},
	{"未知字段", `"值"`},
}

// encodeEnvelope writes the message object into w (which it resets) and returns
// the offset of msg_body inside w.b.
func encodeEnvelope(w *jw, m *Message, body []byte, q quirks) int {
	w.reset()
	w.spaced = q.spaced
	w.ascii = q.ascii
	order := q.order
	if order == nil {
		order = canonicalOrder
	}
	off := -1
	w.beginObj()
	for _, f := range order {
		switch f {
		case fTargetType:
			w.kstr("target_type", m.TargetType)
		case fMsgType:
			if q.poison == poisonMsgType {
				w.key("msg_type")
				w.beginArr()
				w.str(m.MsgType)
				w.endArr()
			} else {
				w.kstr("msg_type", m.MsgType)
			}
		case fTargetName:
			w.key("target_name")
			if q.nullTName && m.TargetName == "" {
				w.null()
			} else {
				w.str(m.TargetName)
			}
		case fTargetID:
			if q.poison == poisonTargetID {
				w.key("target_id")
				w.beginObj()
				w.kstr("id", m.TargetID)
				w.endObj()
			} else {
				w.kstr("target_id", m.TargetID)
			}
		case fFromID:
			w.kstr("from_id", m.FromID)
		case fFromName:
			w.kstr("from_name", m.FromName)
		case fFromType:
			w.kstr("from_type", m.FromType)
		case fFromPlatform:
			w.kstr("from_platform", m.FromPlatform)
		case fFromAppKey:
			if m.FromAppKey != "" {
				w.kstr("from_appkey", m.FromAppKey)
			}
		case fTargetAppKey:
			if m.TargetAppKey != "" || m.TargetAppKeyEmpty {
				w.kstr("target_appkey", m.TargetAppKey)
			}
		case fMsgBody:
			w.key("msg_body")
			w.pre()
			off = len(w.b)
			w.b = append(w.b, body...)
		case fCreateTime:
			w.key("create_time")
			if q.poison == poisonCreateTime {
				w.str("not a time")
			} else {
				w.int(m.CreateTime, q.strNum&2 != 0)
			}
		case fVersion:
			w.key("version")
			w.int(int64(m.Version), q.strNum&16 != 0)
		case fMsgID:
			w.key("msgid")
			w.int(m.MsgID, q.strNum&1 != 0)
		case fMsgLevel:
			w.key("msg_level")
			w.int(int64(m.MsgLevel), q.strNum&8 != 0)
		case fMsgCtime:
			w.key("msg_ctime")
			if q.poison == poisonMsgCtime {
				w.beginObj()
				w.endObj()
			} else {
				w.int(m.MsgCtime, q.strNum&4 != 0)
			}
		case fExtra:
			if q.extra > 0 {
				e := extraFields[q.extra-1]
				w.key(e[0])
				w.raw([]byte(e[1]))
			}
		}
	}
	w.endObj()
	return off
}
