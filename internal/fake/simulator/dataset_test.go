package simulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// datasetHash hashes every typed field and the served bytes of msgs (but not
// VisibleAt and Poison, which older datasets lack).
func datasetHash(msgs []Message) string {
	h := sha256.New()
	for _, m := range msgs {
		fmt.Fprintf(h, "%d|%d|%d|%s|%s|%s|%s|%s|%d|%s|%t|%s|%d\n", m.MsgID, m.CreateTime, m.MsgCtime, m.MsgType, m.TargetType,
			m.TargetID, m.FromID, m.FromAppKey, m.MsgLevel, m.TargetAppKey, m.TargetAppKeyEmpty, m.FromName, m.Version)
		h.Write(m.JSON)
		h.Write(m.Body)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func hashSpec2() GenSpec {
	return GenSpec{Seed: 7, Start: genStart, End: genStart.Add(24 * time.Hour), Count: 5000, Bursts: 1, BurstSize: 1200, Users: 5, AppKey: "appkey0001"}
}

// The bytes of existing specs are pinned: golden data and other packages' tests
// depend on them. These hashes were taken before Late and Poison existed.
func TestGenerateBytesUnchanged(t *testing.T) {
	for _, c := range []struct {
		spec GenSpec
		want string
	}{
		{smallSpec(), "60239ca749d81bd6c9ba5846f86ef4f4f1d41bb52cb204d0e90d1d2eec2a45ee"},
		{hashSpec2(), "ce683b63fa4ca8b42b0a0ce575207ceacbc1e561cae6f675a9f9b3ffbcc66b3a"},
	} {
		msgs := Generate(c.spec)
		if got := datasetHash(msgs); got != c.want {
			t.Errorf("seed %d: dataset hash %s, want %s", c.spec.Seed, got, c.want)
		}
		for i := range msgs {
			if msgs[i].VisibleAt != 0 || msgs[i].Poison {
				t.Fatalf("message %d late or poisoned without Late/Poison", i)
			}
		}
	}
}

// Late and Poison change nothing else, and neither changes the other's picks.
func TestGenerateLateAndPoisonAreSeparateStreams(t *testing.T) {
	base := Generate(smallSpec())
	spec := smallSpec()
	spec.Late, spec.LateMin, spec.LateMax = 0.2, time.Minute, 30*time.Minute
	late := Generate(spec)
	spec.Poison = 0.05
	both := Generate(spec)
	spec.Late = 0
	poison := Generate(spec)

	if datasetHash(late) != datasetHash(base) {
		t.Fatal("Late changed the messages")
	}
	for i := range base {
		if late[i].VisibleAt != both[i].VisibleAt {
			t.Fatalf("message %d: Poison changed VisibleAt", i)
		}
		if both[i].Poison != poison[i].Poison || !bytes.Equal(both[i].JSON, poison[i].JSON) {
			t.Fatalf("message %d: Late changed the poisoning", i)
		}
		if !poison[i].Poison && !bytes.Equal(poison[i].JSON, base[i].JSON) {
			t.Fatalf("message %d: not poisoned but served differently", i)
		}
		p, b := poison[i], base[i]
		p.JSON, p.Body, b.JSON, b.Body, p.Poison = nil, nil, nil, nil, false
		if fmt.Sprint(p) != fmt.Sprint(b) {
			t.Fatalf("message %d: typed fields changed by Poison", i)
		}
	}
	// Deterministic.
	again := Generate(spec)
	for i := range poison {
		if !bytes.Equal(again[i].JSON, poison[i].JSON) || again[i].Poison != poison[i].Poison {
			t.Fatalf("message %d differs between two runs", i)
		}
	}
}

func TestGenerateLate(t *testing.T) {
	for _, c := range []struct {
		name             string
		late             float64
		lateMin, lateMax time.Duration
		lo, hi           int64 // expected delay range, seconds
	}{
		{"range", 0.25, 2 * time.Minute, 20 * time.Minute, 120, 1200},
		{"defaults", 0.25, 0, 0, 60, 600},
		{"max below min", 0.25, 5 * time.Minute, time.Minute, 300, 300},
		{"sub-second min", 0.25, time.Millisecond, 3 * time.Second, 1, 3},
		{"all", 1, time.Second, time.Hour, 1, 3600},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := smallSpec()
			spec.Late, spec.LateMin, spec.LateMax = c.late, c.lateMin, c.lateMax
			msgs := Generate(spec)
			n := 0
			lo, hi := int64(math.MaxInt64), int64(0)
			for _, m := range msgs {
				if m.VisibleAt == 0 {
					continue
				}
				n++
				d := m.VisibleAt - m.CreateTime
				lo, hi = min(lo, d), max(hi, d)
			}
			if d := lo; d < c.lo || hi > c.hi {
				t.Fatalf("delays in [%d, %d] s, want within [%d, %d]", d, hi, c.lo, c.hi)
			}
			want := c.late * float64(len(msgs))
			if math.Abs(float64(n)-want) > 5*math.Sqrt(want)+1 {
				t.Fatalf("%d late of %d, want about %.0f", n, len(msgs), want)
			}
		})
	}
}

func TestGeneratePoison(t *testing.T) {
	spec := smallSpec()
	spec.Poison = 0.03
	msgs := Generate(spec)
	poisoned := Poisoned(msgs)
	want := spec.Poison * float64(len(msgs))
	if math.Abs(float64(len(poisoned))-want) > 5*math.Sqrt(want) {
		t.Fatalf("%d poisoned of %d, want about %.0f", len(poisoned), len(msgs), want)
	}
	broken := map[string]int{}
	k := 0
	for i := range msgs {
		m := &msgs[i]
		if !m.Poison {
			continue
		}
		if poisoned[k] != m.MsgID {
			t.Fatalf("Poisoned()[%d] = %d, want %d", k, poisoned[k], m.MsgID)
		}
		k++
		if !json.Valid(m.JSON) {
			t.Fatalf("poisoned message is not valid JSON: %s", m.JSON)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(m.JSON, &obj); err != nil {
			t.Fatal(err)
		}
		if id, _ := tolerantInt(t, obj["msgid"]); id != m.MsgID {
			t.Fatalf("msgid %d served as %s", m.MsgID, obj["msgid"])
		}
		var raw json.RawMessage
		if !bytes.Equal(m.Body, []byte(obj["msg_body"])) {
			t.Fatalf("Body is not the served msg_body: %s", m.JSON)
		}
		for _, f := range PoisonFields {
			raw = obj[f]
			switch {
			case f == "create_time" && string(raw) == `"not a time"`,
				f == "msg_ctime" && string(raw) == `{}`,
				f == "msg_type" && len(raw) > 0 && raw[0] == '[',
				f == "target_id" && len(raw) > 0 && raw[0] == '{':
				broken[f]++
			}
		}
	}
	for _, f := range PoisonFields {
		if broken[f] == 0 {
			t.Errorf("no message with a broken %s: %v", f, broken)
		}
	}
	total := 0
	for _, n := range broken {
		total += n
	}
	if total != len(poisoned) {
		t.Fatalf("%d broken fields in %d poisoned messages", total, len(poisoned))
	}

	// Encode of a hand-made poisoned message.
	m := Encode(Message{MsgID: 77, MsgType: "text", TargetType: "single", TargetID: "a", FromType: "user", FromID: "b",
		CreateTime: 1700000000, MsgCtime: 1700000000123, Poison: true})
	if !json.Valid(m.JSON) || bytes.Equal(m.JSON, Encode(Message{MsgID: 77, MsgType: "text", TargetType: "single",
		TargetID: "a", FromType: "user", FromID: "b", CreateTime: 1700000000, MsgCtime: 1700000000123}).JSON) {
		t.Fatalf("Encode ignored Poison: %s", m.JSON)
	}
	if got := Poisoned([]Message{{MsgID: 1}, m}); !slices.Equal(got, []int64{77}) {
		t.Fatalf("Poisoned = %v", got)
	}
}

// Generate produces group and chatroom messages, and pool users send both
// single-chat and group messages, so user and group streams share messages.
func TestGenerateGroupsAndChatrooms(t *testing.T) {
	msgs := Generate(recentSpec())
	s := New(Config{AppKey: DefaultAppKey, Now: newClock(testNow).Now}, msgs)
	byType := map[string]int{}
	for _, m := range msgs {
		byType[m.TargetType]++
	}
	if byType["single"] == 0 || byType["group"] < len(msgs)/5 || byType["chatroom"] < len(msgs)/20 {
		t.Fatalf("target types %v", byType)
	}
	groups, rooms := s.Groups(), s.Chatrooms()
	if len(groups) < 20 || len(rooms) < 3 || !slices.IsSorted(groups) || !slices.IsSorted(rooms) {
		t.Fatalf("groups %v, chatrooms %v", groups, rooms)
	}
	shared := 0
	for _, g := range groups {
		inGroup, err := s.MatchingV2(ScopeGroups, g, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range inGroup {
			if m.FromType != "user" {
				continue
			}
			mine, err := s.MatchingV2(ScopeUsers, m.FromID, time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			single := false
			for _, x := range mine {
				single = single || x.TargetType == "single"
			}
			if single && slices.ContainsFunc(mine, func(x Message) bool { return x.MsgID == m.MsgID }) {
				shared++
			}
		}
		if shared > 10 {
			break
		}
	}
	if shared <= 10 {
		t.Fatalf("only %d group messages also in a single-chatting user's stream", shared)
	}
}
