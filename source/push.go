package source

import "time"

// PushBatch is the content of one accepted callback request (a message
// routing callback pushed by the vendor), decoded.
type PushBatch struct {
	Endpoint   string    // the path the vendor posted to, e.g. /callback
	ReceivedAt time.Time // when the body was read
	// Messages are in the order of the body; each has a usable msgid.
	Messages []Message
	// Errs[i] is the decode error of Messages[i] (a *FieldError: the
	// message goes to the dead-letter topic), or nil.
	Errs []error
}
