package audit

import (
	"slices"

	"github.com/imreport/imreport/source"
)

// Member reports whether a message belongs to a stream, that is, whether the
// stream's endpoint serves it. The vendor documents this only by endpoint
// name, so the rules are the simulator's, which imreport assumes:
//
//   - messages: every message of the app;
//   - groups/<gid>: target_type "group" and target_id gid;
//   - chatrooms/<id>: target_type "chatroom" and target_id id;
//   - users/<name>: sent by name from this app (msg_level 0, or from_appkey
//     absent or this app), or a single chat to name in this app (msg_level
//     0, target_appkey this app, or target_appkey absent on a message from
//     another app).
//
// A dead letter whose deciding field is unreadable belongs to the stream it
// was fetched for (its imreport-stream header, fetchedFor).
func Member(s source.Stream, f Fields, appKey, fetchedFor string) bool {
	for _, bad := range f.Unreadable {
		switch bad {
		case "target_type", "target_id", "from_id", "msg_level", "from_appkey", "target_appkey":
			return s.Kind == source.KindMessages || fetchedFor == s.String()
		}
	}
	switch s.Kind {
	case source.KindMessages:
		return true
	case source.KindGroups:
		return f.TargetType == "group" && f.TargetID == s.Name
	case source.KindChatrooms:
		return f.TargetType == "chatroom" && f.TargetID == s.Name
	case source.KindUsers:
		from, target := "", ""
		if f.FromAppKey != nil {
			from = *f.FromAppKey
		}
		if f.TargetAppKey != nil {
			target = *f.TargetAppKey
		}
		senderLocal := f.MsgLevel == 0 || from == "" || from == appKey
		if senderLocal && f.FromID == s.Name {
			return true
		}
		targetLocal := f.MsgLevel == 0 || target == appKey || (target == "" && !senderLocal)
		return f.TargetType == "single" && f.TargetID == s.Name && targetLocal && (!senderLocal || f.TargetID != f.FromID)
	}
	return false
}

// membership returns a function listing the indexes of the streams a record
// belongs to.
func membership(streams []source.Stream, appKey string) func(Fields, string) []int {
	return func(f Fields, fetchedFor string) []int {
		var out []int
		for i, s := range streams {
			if Member(s, f, appKey, fetchedFor) {
				out = append(out, i)
			}
		}
		return slices.Clip(out)
	}
}
