package simulator

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// GenSpec describes a dataset for Generate.
type GenSpec struct {
	Seed       uint64
	Start, End time.Time // create_time in [Start, End)
	Count      int       // messages spread uniformly over the range (not counting bursts)
	Bursts     int       // number of distinct seconds holding a burst (capped to the seconds in the range)
	BurstSize  int       // messages in each burst second (e.g. 1500, i.e. > 1000)
	Users      int       // size of the user pool (0 = 200; at least 2)
	AppKey     string    // "our" app key in cross-app messages ("" = DefaultAppKey); give New the same key

	// Late is the fraction (0..1) of messages that arrive late: their VisibleAt
	// is CreateTime plus a delay drawn uniformly, in whole seconds, from
	// [LateMin, LateMax] (at least 1 s; LateMax below LateMin means LateMin;
	// both 0 means 1 to 10 minutes).
	Late             float64
	LateMin, LateMax time.Duration
	// Poison is the fraction (0..1) of messages served with a broken field
	// (Message.Poison, see PoisonFields).
	Poison float64
	// MediaMaxSize, when > 0, makes every media reference consistent with
	// the bytes WithMedia serves for it: its fsize is drawn below this
	// (at least 4 bytes) and its hash, when it has one, is the Qiniu etag of
	// those bytes (media_crc32 always matches: the served bytes are made to
	// have it). 0 keeps the pinned datasets as they always were.
	MediaMaxSize int64
	// MediaSize, when > 0, gives every media reference exactly this fsize
	// (and, like MediaMaxSize, a hash consistent with the bytes served):
	// for measuring memory against the size of the files.
	MediaSize int64
}

type genKey struct{ ct, mct, id int64 }

// Generate returns the dataset sorted ascending by (CreateTime, MsgCtime, MsgID).
// It is deterministic for a spec: the same spec gives identical messages and bytes.
//
// When the dataset holds at least len(MsgTypes) messages, its first messages
// (in order) cover every msg_type, so every type is always present.
//
// Late and Poison draw from random streams of their own: with both 0 the
// output is what it always was for the other fields, and changing one of them
// changes neither the messages nor which messages the other one picks.
func Generate(spec GenSpec) []Message {
	if spec.Users <= 0 {
		spec.Users = 200
	}
	spec.Users = max(spec.Users, 2)
	if spec.AppKey == "" {
		spec.AppKey = DefaultAppKey
	}
	s0, e0 := ceilSec(spec.Start), ceilSec(spec.End) // create_time in [s0, e0)
	if e0 <= s0 {
		return nil
	}
	span := e0 - s0
	count := max(spec.Count, 0)
	bursts, burstSize := max(spec.Bursts, 0), max(spec.BurstSize, 0)
	if burstSize == 0 {
		bursts = 0
	}
	if int64(bursts) > span {
		bursts = int(span)
	}

	r := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15))
	n := count + bursts*burstSize
	keys := make([]genKey, 0, n)
	for range count {
		keys = append(keys, genKey{ct: s0 + r.Int64N(span)})
	}
	if bursts > 0 {
		seconds := make(map[int64]struct{}, bursts)
		for len(seconds) < bursts {
			sec := s0 + r.Int64N(span)
			if _, dup := seconds[sec]; dup {
				continue
			}
			seconds[sec] = struct{}{}
			for range burstSize {
				keys = append(keys, genKey{ct: sec})
			}
		}
	}
	ids := make(map[int64]struct{}, n)
	for i := range keys {
		keys[i].mct = keys[i].ct*1000 + r.Int64N(1501)
		for {
			// Random 40-bit ids: unique, positive, unrelated to time.
			id := 1 + r.Int64N(1<<40-1)
			if _, dup := ids[id]; !dup {
				ids[id] = struct{}{}
				keys[i].id = id
				break
			}
		}
	}
	slices.SortFunc(keys, func(a, b genKey) int {
		return cmp.Or(cmp.Compare(a.ct, b.ct), cmp.Compare(a.mct, b.mct), cmp.Compare(a.id, b.id))
	})

	poison := poisonKinds(spec, len(keys))
	g := newGen(r, spec)
	msgs := make([]Message, len(keys))
	for i, k := range keys {
		typ := ""
		if len(keys) >= len(MsgTypes) && i < len(MsgTypes) {
			typ = MsgTypes[i]
		}
		var pk uint8
		if poison != nil {
			pk = poison[i]
		}
		msgs[i] = g.message(k, typ, pk)
	}
	setLate(spec, msgs)
	return msgs
}

// Seeds of the random streams of Late and Poison, apart from the main one.
const (
	lateStream   = 0x6c617465_00000001
	poisonStream = 0x706f6973_00000002
)

// frac clamps a fraction to [0, 1] (NaN is 0).
func frac(p float64) float64 {
	if !(p > 0) {
		return 0
	}
	return min(p, 1)
}

// poisonKinds returns, per message, 0 or the quirks.poison value; nil when
// spec.Poison is 0. Two draws per message, whatever the outcome.
func poisonKinds(spec GenSpec, n int) []uint8 {
	p := frac(spec.Poison)
	if p == 0 {
		return nil
	}
	r := rand.New(rand.NewPCG(spec.Seed, poisonStream))
	out := make([]uint8, n)
	for i := range out {
		hit := r.Float64() < p
		kind := uint8(1 + r.IntN(len(PoisonFields)))
		if hit {
			out[i] = kind
		}
	}
	return out
}

// setLate sets VisibleAt on a spec.Late fraction of msgs. Two draws per
// message, whatever the outcome.
func setLate(spec GenSpec, msgs []Message) {
	p := frac(spec.Late)
	if p == 0 {
		return
	}
	lo, hi := lateRange(spec.LateMin, spec.LateMax)
	r := rand.New(rand.NewPCG(spec.Seed, lateStream))
	for i := range msgs {
		hit := r.Float64() < p
		d := lo + r.Int64N(hi-lo+1)
		if hit {
			msgs[i].VisibleAt = satAdd(msgs[i].CreateTime, d)
		}
	}
}

// lateRange returns the delay range of late messages in whole seconds.
func lateRange(minD, maxD time.Duration) (lo, hi int64) {
	if minD <= 0 && maxD <= 0 {
		return 60, 600
	}
	lo = int64(minD / time.Second)
	if minD%time.Second > 0 {
		lo++
	}
	lo = max(1, lo)
	hi = max(lo, int64(maxD/time.Second))
	return lo, hi
}

// ceilSec returns the first whole Unix second at or after t.
func ceilSec(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

type named struct{ id, name string }

type gen struct {
	r       *rand.Rand
	appKey  string
	users   []named
	foreign []named
	groups  []named
	rooms   []named
	bw, mw  jw
	slab    []byte // arena the message JSON is cut from

	mediaMax int64  // GenSpec.MediaMaxSize
	mediaFix int64  // GenSpec.MediaSize
	lastID   string // the media reference being written: id, crc, size
	lastCRC  uint32
	lastSize int64
}

var (
	nickNames = []string{
		"张伟", "王芳", "李娜", "刘洋", "陈静", "小明🐱", "阿狸🦊", "علي", "فاطمة الزهراء", "דוד",
		"Émilie", "O'Brien", `Bob "the builder"`, `back\slash`, "tab\there", "Ølaf", "김민준", "さくら",
		"Иван", "😀😃😄", "Zoë 👩🏽‍💻", "line\nbreak",
	}
	groupNames = []string{
		"技术交流群", "家庭群👨‍👩‍👧", `Project "Apollo"`, "مجموعة العمل", "周末徒步🥾", `Dev\Ops`, "",
		"קבוצת חברים", "Café society", "产品 & 运营 <内部>",
	}
	roomNames = []string{"直播间 001", "Live 🎤 Room", "聊天室", "غرفة الدردشة", "", "Lobby"}
	texts     = []string{
		"hello", "你好，世界", "今天下午三点开会 📅", "👍🏽👨‍👩‍👧‍👦🎉", "مرحبا بالعالم", "שלום עולם",
		`He said "hi" \o/`, "line1\nline2\r\n\tindented", `C:\Users\admin\file.txt`,
		"</script><script>alert(1)</script> & ampersand", "\x01control\x1fchars\x7f",
		"mixed 中文 English العربية 😀", "\u2028line separator\u2029", "zero\u200bwidth", "ok",
		"𠜎𠜱 rare CJK (astral)", "Ünïcödé façade naïve", "{\"not\":\"json object, just text\"}", "收到",
		"   spaces   ", "%20 + %2B &amp;",
	}
	labels = []string{
		"北京市朝阳区建国路88号", "Times Square, New York, NY", "東京都渋谷区", "شارع الملك فهد، الرياض",
		`上海市"外滩"观景台`, "", "Zürich HB 🚉",
	}
	fileNames = []string{
		"报告 2024.pdf", "notes.txt", `photo "final".zip`, "résumé.docx", `数据\备份.tar.gz`, "README",
		"تقرير.xlsx", "🎵 song.mp3",
	}
	extraKeys = []string{
		"ref", "count", "ratio", "flag", "nothing", "meta", "tags", "来源", "emoji😀", "key with space",
		`quote"key`, "nested",
	}
	shortStrings = []string{"", "v", "值", "🙂", "a\"b", "x\\y", "line\nfeed", "123", "true", "null", "שלום"}
	admins       = []named{{"admin", "系统管理员"}, {"admin_ops", "Ops Admin"}}
	robots       = []named{{"robot_news", "新闻机器人🤖"}, {"robot_helper", "Helper Bot"}}
	platforms    = []string{"a", "a", "a", "a", "i", "i", "i", "web", "web", "w"}
	imageFormats = []string{"jpg", "png", "gif", "webp"}
	voiceFormats = []string{"amr", "mp3", "m4a"}
	eventTypes   = []string{"group_member_added", "group_member_removed", "group_info_updated", "msg_retract", "friend_invitation"}
)

func newGen(r *rand.Rand, spec GenSpec) *gen {
	g := &gen{r: r, appKey: spec.AppKey, mediaMax: spec.MediaMaxSize, mediaFix: spec.MediaSize}
	nick := func(id string) string {
		switch p := r.IntN(10); {
		case p == 0:
			return ""
		case p == 1:
			return id
		default:
			return nickNames[r.IntN(len(nickNames))]
		}
	}
	for i := range spec.Users {
		id := userName(i)
		g.users = append(g.users, named{id, nick(id)})
	}
	for i := range 20 {
		id := "ext_" + strconv.Itoa(1000+i)
		g.foreign = append(g.foreign, named{id, nick(id)})
	}
	for i := range 40 {
		g.groups = append(g.groups, named{strconv.Itoa(10000000 + i*7919 + r.IntN(7919)), groupNames[r.IntN(len(groupNames))]})
	}
	for i := range 6 {
		g.rooms = append(g.rooms, named{strconv.Itoa(5000 + i), roomNames[i]})
	}
	return g
}

func (g *gen) pct(p int) bool { return g.r.IntN(100) < p }

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func (g *gen) pickType() string {
	switch p := g.r.IntN(100); {
	case p < 55:
		return "text"
	case p < 67:
		return "image"
	case p < 73:
		return "voice"
	case p < 77:
		return "file"
	case p < 81:
		return "location"
	case p < 85:
		return "video"
	case p < 94:
		return "custom"
	case p < 98:
		return "event"
	default:
		return "prompt"
	}
}

// message builds one message; typ forces the msg_type when not ""; poison (a
// quirks.poison value) breaks a field. poison draws nothing from g.r, so the
// other messages are unchanged by it.
func (g *gen) message(k genKey, typ string, poison uint8) Message {
	r := g.r
	if typ == "" {
		typ = g.pickType()
	}
	m := Message{MsgID: k.id, MsgType: typ, Version: 1, CreateTime: k.ct, MsgCtime: k.mct}

	// Sender.
	senderIdx := -1
	switch p := r.IntN(100); {
	case p < 88:
		senderIdx = r.IntN(len(g.users))
		u := g.users[senderIdx]
		m.FromType, m.FromID, m.FromName, m.FromPlatform = "user", u.id, u.name, pick(r, platforms)
	case p < 96:
		a := pick(r, admins)
		m.FromType, m.FromID, m.FromName, m.FromPlatform = "admin", a.id, a.name, "web"
	default:
		b := pick(r, robots)
		m.FromType, m.FromID, m.FromName, m.FromPlatform = "robot", b.id, b.name, "web"
	}

	// Target.
	switch p := r.IntN(100); {
	case p < 55 && typ != "event":
		j := r.IntN(len(g.users))
		if j == senderIdx {
			j = (j + 1) % len(g.users)
		}
		m.TargetType, m.TargetID, m.TargetName = "single", g.users[j].id, g.users[j].name
	case p < 90 || typ == "event":
		t := pick(r, g.groups)
		m.TargetType, m.TargetID, m.TargetName = "group", t.id, t.name
	default:
		t := pick(r, g.rooms)
		m.TargetType, m.TargetID, m.TargetName = "chatroom", t.id, t.name
	}

	// Cross-app: only user-to-user single chats.
	if m.FromType == "user" && m.TargetType == "single" && g.pct(8) {
		m.MsgLevel = 1
		f := pick(r, g.foreign)
		fkey := pick(r, ForeignAppKeys)
		if g.pct(50) { // ours -> foreign user
			m.FromAppKey = g.appKey
			m.TargetID, m.TargetName = f.id, f.name
			switch p := r.IntN(100); {
			case p < 70:
				m.TargetAppKey = fkey
			case p < 85:
				m.TargetAppKeyEmpty = true
			}
		} else { // foreign user -> ours
			m.FromID, m.FromName, m.FromAppKey = f.id, f.name, fkey
			switch p := r.IntN(100); {
			case p < 80:
				m.TargetAppKey = g.appKey
			case p < 90:
				m.TargetAppKeyEmpty = true
			}
		}
	}

	// Serving quirks.
	var q quirks
	if r.IntN(1000) < 20 {
		q.strNum = uint8(1 + r.IntN(31))
	}
	if r.IntN(1000) < 20 {
		q.extra = 1 + r.IntN(len(extraFields))
	}
	q.spaced = r.IntN(1000) < 10
	q.ascii = r.IntN(1000) < 20
	q.nullTName = m.TargetName == "" && g.pct(20)
	if r.IntN(1000) < 10 {
		q.order = slices.Clone(canonicalOrder)
		r.Shuffle(len(q.order), func(i, j int) { q.order[i], q.order[j] = q.order[j], q.order[i] })
	}

	q.poison = poison
	m.Poison = poison != 0

	// Body.
	g.bw.reset()
	g.bw.spaced, g.bw.ascii = q.spaced, q.ascii
	g.body(&m)

	off := encodeEnvelope(&g.mw, &m, g.bw.b, q)
	js := g.alloc(len(g.mw.b))
	copy(js, g.mw.b)
	m.JSON = js
	m.Body = js[off : off+len(g.bw.b) : off+len(g.bw.b)]
	return m
}

// alloc returns n bytes (with cap n) cut from a shared arena.
func (g *gen) alloc(n int) []byte {
	if len(g.slab)+n > cap(g.slab) {
		g.slab = make([]byte, 0, max(1<<20, n))
	}
	a := len(g.slab)
	g.slab = g.slab[:a+n]
	return g.slab[a : a+n : a+n]
}

func (g *gen) hex(n int) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

func (g *gen) qiniuHash() string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, 28)
	b[0], b[1] = 'F', 'l'
	for i := 2; i < len(b); i++ {
		b[i] = alpha[g.r.IntN(len(alpha))]
	}
	return string(b)
}

func (g *gen) media(kind string) {
	w := &g.bw
	g.lastID = "qiniu/" + kind + "/j/" + g.hex(32)
	g.lastCRC = g.r.Uint32()
	w.kstr("media_id", g.lastID)
	w.kint("media_crc32", int64(g.lastCRC))
}

// fsize writes the size drawn (as drawn, or below GenSpec.MediaMaxSize).
func (g *gen) fsize(drawn int64) {
	switch {
	case g.mediaFix > 0:
		drawn = g.mediaFix
	case g.mediaMax > 0:
		drawn = 4 + drawn%max(1, g.mediaMax-4)
	}
	g.lastSize = drawn
	g.bw.kint("fsize", drawn)
}

// hash writes a drawn hash, or the real etag of the served bytes.
func (g *gen) hash(drawn string) {
	if g.mediaMax > 0 || g.mediaFix > 0 {
		drawn = QiniuEtag(MediaBytes(g.lastID, g.lastSize, g.lastCRC))
	}
	g.bw.kstr("hash", drawn)
}

func (g *gen) body(m *Message) {
	r, w := g.r, &g.bw
	w.beginObj()
	extrasEmpty, extrasFull := 30, 20
	switch m.MsgType {
	case "text":
		var s string
		switch p := r.IntN(100); {
		case p < 60:
			s = pick(r, texts)
		case p < 95:
			s = pick(r, texts) + " " + strconv.Itoa(r.IntN(10000)) + " " + pick(r, texts)
		default: // long text, still well under the 4096-byte body limit
			for len(s) < 900 {
				s += pick(r, texts) + " "
			}
		}
		w.kstr("text", s)
		extrasEmpty, extrasFull = 70, 15
	case "image":
		g.media("image")
		w.kint("width", int64(16+r.IntN(4000)))
		w.kint("height", int64(16+r.IntN(4000)))
		w.kstr("format", pick(r, imageFormats))
		g.fsize(int64(1000 + r.IntN(10<<20)))
		if g.pct(60) {
			g.hash(g.qiniuHash())
		}
	case "voice":
		g.media("voice")
		w.kint("duration", int64(1+r.IntN(60)))
		w.kstr("format", pick(r, voiceFormats))
		g.fsize(int64(500 + r.IntN(500000)))
		if g.pct(60) {
			g.hash(g.qiniuHash())
		}
	case "file":
		g.media("file")
		g.fsize(int64(r.IntN(100 << 20)))
		w.kstr("fname", pick(r, fileNames))
	case "location":
		w.key("latitude")
		w.float(18+r.Float64()*35, 6)
		w.key("longitude")
		w.float(73+r.Float64()*62, 6)
		w.kint("scale", int64(1+r.IntN(20)))
		if g.pct(20) {
			w.kstr("lable", pick(r, labels)) // the vendor's misspelling, seen in the wild
		} else {
			w.kstr("label", pick(r, labels))
		}
	case "video":
		w.key("video")
		w.beginObj()
		g.media("video")
		g.fsize(int64(10000 + r.IntN(50<<20)))
		w.kstr("fname", "VID_"+strconv.Itoa(20200101+r.IntN(50000))+".mp4")
		w.endObj()
		w.kint("duration", int64(1+r.IntN(600)))
		if g.pct(70) {
			w.key("thumb")
			w.beginObj()
			g.media("image")
			w.kint("width", int64(64+r.IntN(1000)))
			w.kint("height", int64(64+r.IntN(1000)))
			w.kstr("format", "jpg")
			g.fsize(int64(1000 + r.IntN(200000)))
			w.endObj()
		}
	case "custom":
		g.custom()
	case "event":
		w.kstr("event_type", pick(r, eventTypes))
		w.kint("event_id", int64(1+r.IntN(60)))
		w.key("gid")
		if id, err := strconv.ParseInt(m.TargetID, 10, 64); err == nil {
			w.int(id, false)
		} else {
			w.str(m.TargetID)
		}
		w.kstr("from_username", g.users[r.IntN(len(g.users))].id)
		w.key("to_usernames")
		w.beginArr()
		for range 1 + r.IntN(3) {
			w.str(g.users[r.IntN(len(g.users))].id)
		}
		w.endArr()
		w.kstr("description", pick(r, []string{"邀请你加入群聊", "member left", "群名称已修改为 “新群名”", ""}))
		extrasEmpty, extrasFull = 10, 10
	case "prompt":
		w.kstr("prompt_text", pick(r, []string{"对方已开启好友验证，你还不是他（她）的好友。", "消息已发出，但被对方拒收了。", "This message was recalled"}))
		w.kint("prompt_type", int64(r.IntN(4)))
		extrasEmpty, extrasFull = 10, 5
	}
	switch p := r.IntN(100); {
	case p < extrasEmpty:
		w.key("extras")
		w.beginObj()
		w.endObj()
	case p < extrasEmpty+extrasFull:
		w.key("extras")
		g.object(0)
	}
	w.endObj()
}

// custom writes the fields of an arbitrary, nested custom body.
func (g *gen) custom() {
	r, w := g.r, &g.bw
	switch r.IntN(5) {
	case 0:
		w.kstr("type", "order")
		w.key("order")
		w.beginObj()
		w.kstr("id", "ORD-"+g.hex(10))
		w.key("amount")
		w.float(float64(r.IntN(100000))/100, 2)
		w.kstr("currency", "CNY")
		w.key("items")
		w.beginArr()
		for range 1 + r.IntN(3) {
			w.beginObj()
			w.kstr("sku", "SKU-"+strconv.Itoa(r.IntN(1000)))
			w.kint("qty", int64(1+r.IntN(5)))
			w.key("price")
			w.float(float64(r.IntN(10000))/100, 2)
			w.endObj()
		}
		w.endArr()
		w.key("paid")
		w.bool(g.pct(50))
		w.key("coupon")
		w.null()
		w.endObj()
	case 1:
		w.key("card")
		w.beginObj()
		w.kstr("title", pick(r, texts))
		w.kstr("desc", pick(r, groupNames))
		w.kstr("url", "https://example.com/p?a=1&b=2&q=%E4%B8%AD")
		w.key("buttons")
		w.beginArr()
		w.beginObj()
		w.kstr("text", "确定")
		w.kstr("action", "ok")
		w.endObj()
		w.beginObj()
		w.kstr("text", "Cancel ❌")
		w.key("action")
		w.null()
		w.endObj()
		w.endArr()
		w.endObj()
		w.kint("version", 2)
	case 2:
		w.key("recall")
		w.beginObj()
		w.kint("msgid", 1+r.Int64N(1<<40-1))
		w.kstr("by", g.users[r.IntN(len(g.users))].id)
		w.endObj()
	case 3:
		w.kstr("k1", pick(r, shortStrings))
		w.key("nested")
		w.beginObj()
		w.key("deep")
		w.beginObj()
		w.key("deeper")
		w.beginObj()
		w.key("value")
		w.beginArr()
		w.int(1, false)
		w.int(2, false)
		w.beginArr()
		w.int(3, false)
		w.float(4.5, 1)
		w.beginObj()
		w.key("x")
		w.null()
		w.endObj()
		w.endArr()
		w.endArr()
		w.endObj()
		w.endObj()
		w.endObj()
	default:
		// An arbitrary object of random values (possibly empty).
		if g.pct(80) {
			n := 1 + r.IntN(4)
			start := r.IntN(len(extraKeys))
			for i := range n {
				w.key("c_" + extraKeys[(start+i)%len(extraKeys)])
				g.value(0)
			}
		}
	}
}

// object writes a JSON object of 1-4 random values.
func (g *gen) object(depth int) {
	r, w := g.r, &g.bw
	w.beginObj()
	n := 1 + r.IntN(4)
	start := r.IntN(len(extraKeys))
	for i := range n {
		w.key(extraKeys[(start+i)%len(extraKeys)])
		g.value(depth + 1)
	}
	w.endObj()
}

// value writes a random JSON value: strings, integers (some beyond 2^53),
// floats, booleans, null, numeric strings, and (shallow) objects and arrays.
func (g *gen) value(depth int) {
	r, w := g.r, &g.bw
	switch r.IntN(9) {
	case 0, 1:
		w.str(pick(r, shortStrings))
	case 2:
		switch p := r.IntN(10); {
		case p == 0:
			w.int(1<<60+r.Int64N(1<<40), false) // beyond float64 precision
		case p == 1:
			w.int(-r.Int64N(1000), false)
		default:
			w.int(r.Int64N(100000), false)
		}
	case 3:
		if g.pct(20) {
			w.pre()
			w.b = strconv.AppendFloat(w.b, r.Float64()*1e-6, 'g', -1, 64) // exponent form
		} else {
			w.float(r.Float64()*1000, 3)
		}
	case 4:
		w.bool(g.pct(50))
	case 5:
		w.null()
	case 6:
		if depth < 3 {
			g.object(depth)
		} else {
			w.str(pick(r, shortStrings))
		}
	case 7:
		if depth < 3 {
			w.beginArr()
			for range r.IntN(4) {
				g.value(depth + 1)
			}
			w.endArr()
		} else {
			w.int(int64(r.IntN(10)), false)
		}
	default:
		w.int(r.Int64N(1000000), true) // a number served as a string
	}
}
