package source

import (
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
)

// Stream is one sequence of messages the API serves: the whole app, or one user.
// Each stream has its own cursor in the checkpoint.
type Stream struct {
	Kind Kind
	Name string // user name for KindUsers; empty for KindMessages
}

// Messages is the stream of every message of the app.
var Messages = Stream{Kind: KindMessages}

// User is the stream of one user's messages.
func User(name string) Stream { return Stream{Kind: KindUsers, Name: name} }

// String returns the stream's checkpoint key: "messages" or "users/<name>".
func (s Stream) String() string {
	if s.Kind == KindMessages {
		return string(KindMessages)
	}
	return string(s.Kind) + "/" + s.Name
}

// ParseStream is the inverse of Stream.String.
func ParseStream(key string) (Stream, error) {
	if key == string(KindMessages) {
		return Messages, nil
	}
	kind, name, ok := strings.Cut(key, "/")
	if ok && Kind(kind) == KindUsers && name != "" {
		return User(name), nil
	}
	return Stream{}, fmt.Errorf("unknown stream %q", key)
}

func (s Stream) path(version string) string {
	if s.Kind == KindUsers {
		return "/" + version + "/users/" + url.PathEscape(s.Name) + "/messages"
	}
	return "/" + version + "/messages"
}

func (s Stream) bounds() Bounds {
	if s.Kind == KindUsers {
		return Strict
	}
	return Inclusive
}
