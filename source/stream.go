package source

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Kind is the kind of a stream: which endpoint family it reads.
type Kind string

const (
	// KindMessages reads every message of the app: /messages.
	KindMessages Kind = "messages"
	// KindUsers reads one user's messages: /users/{username}/messages.
	KindUsers Kind = "users"
	// KindGroups reads one group's messages: /v2/groups/{gid}/messages (v2 only).
	KindGroups Kind = "groups"
	// KindChatrooms reads one chatroom's messages:
	// /v2/chatrooms/{chatroomid}/messages (v2 only).
	KindChatrooms Kind = "chatrooms"
)

// ErrUnsupported is wrapped by the error returned for a stream that the
// configured API version does not serve (groups and chatrooms on v1).
var ErrUnsupported = errors.New("stream not served by this report api version")

// Stream is one sequence of messages the API serves: the whole app, one user,
// one group or one chatroom. Each stream has its own cursor in the checkpoint.
type Stream struct {
	Kind Kind
	Name string // user name, group id or chatroom id; empty for KindMessages
}

// Messages is the stream of every message of the app.
var Messages = Stream{Kind: KindMessages}

// User is the stream of one user's messages.
func User(name string) Stream { return Stream{Kind: KindUsers, Name: name} }

// Group is the stream of one group's messages (API v2 only).
func Group(gid string) Stream { return Stream{Kind: KindGroups, Name: gid} }

// Chatroom is the stream of one chatroom's messages (API v2 only).
func Chatroom(id string) Stream { return Stream{Kind: KindChatrooms, Name: id} }

// String returns the stream's checkpoint key: "messages", "users/<name>",
// "groups/<gid>" or "chatrooms/<id>".
func (s Stream) String() string {
	if s.Kind == KindMessages {
		return string(KindMessages)
	}
	return string(s.Kind) + "/" + s.Name
}

// Streams lists a user stream per name, a group stream per gid and a
// chatroom stream per id, in that order; with none, the whole app's
// Messages.
func Streams(users, groups, chatrooms []string) []Stream {
	var streams []Stream
	for _, u := range users {
		streams = append(streams, User(u))
	}
	for _, g := range groups {
		streams = append(streams, Group(g))
	}
	for _, c := range chatrooms {
		streams = append(streams, Chatroom(c))
	}
	if len(streams) == 0 {
		streams = append(streams, Messages)
	}
	return streams
}

// ParseStream is the inverse of Stream.String.
func ParseStream(key string) (Stream, error) {
	if key == string(KindMessages) {
		return Messages, nil
	}
	kind, name, ok := strings.Cut(key, "/")
	if ok && name != "" {
		switch Kind(kind) {
		case KindUsers, KindGroups, KindChatrooms:
			return Stream{Kind: Kind(kind), Name: name}, nil
		}
	}
	return Stream{}, fmt.Errorf("unknown stream %q", key)
}

// Supported returns nil if the Report API version ("v1" or "v2"; "" = "v2")
// serves s, and otherwise an error saying why: an unknown version, an unknown
// kind, a missing name, or a group or chatroom on v1 (wrapping ErrUnsupported).
func (s Stream) Supported(version string) error {
	if version == "" {
		version = "v2"
	}
	if version != "v1" && version != "v2" {
		return fmt.Errorf("api version %q is not v1 or v2", version)
	}
	switch s.Kind {
	case KindMessages:
		if s.Name != "" {
			return fmt.Errorf("stream %q: the messages stream takes no name", s.Name)
		}
	case KindUsers, KindGroups, KindChatrooms:
		if s.Name == "" {
			return fmt.Errorf("stream %s: empty name", s)
		}
	default:
		return fmt.Errorf("stream %s: unknown kind %q", s, s.Kind)
	}
	if version == "v1" && (s.Kind == KindGroups || s.Kind == KindChatrooms) {
		return fmt.Errorf("stream %s: report api v1 has no %s endpoint (only v2 serves /v2/%s/{id}/messages): %w", s, s.Kind, s.Kind, ErrUnsupported)
	}
	return nil
}

// Endpoint is the path the stream is read from with the API version ("v1"
// or "v2"), as errors name it (APIError.Endpoint, TransportError.Endpoint).
func (s Stream) Endpoint(version string) string { return s.path(version) }

func (s Stream) path(version string) string {
	switch s.Kind {
	case KindUsers, KindGroups, KindChatrooms:
		return "/" + version + "/" + string(s.Kind) + "/" + url.PathEscape(s.Name) + "/messages"
	}
	return "/" + version + "/messages"
}

// bounds says how the stream's endpoint reads begin_time and end_time. Only
// /messages is documented inclusive everywhere; /v1/users is documented
// strict, and /v2/users, /v2/groups and /v2/chatrooms strict in the Chinese
// documentation but inclusive in the English one, so they are all queried as
// strict, which covers the window under either reading.
func (s Stream) bounds() Bounds {
	if s.Kind == KindMessages {
		return Inclusive
	}
	return Strict
}
