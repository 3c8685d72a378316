package callback

import (
	"context"
	"time"

	"github.com/imreport/imreport/source"
)

// Batch is the content of one accepted callback request, decoded.
type Batch struct {
	Endpoint   string    // the path the vendor posted to, e.g. /callback
	ReceivedAt time.Time // when the body was read
	// Messages are in the order of the body; each has a usable msgid.
	Messages []source.Message
	// Errs[i] is the decode error of Messages[i] (a *source.FieldError: the
	// message goes to the dead-letter topic), or nil.
	Errs []error
}

// Pusher publishes a batch. It returns nil only once every message of the
// batch is acknowledged by Kafka (or was published before) and will not be
// published again; any error makes the receiver answer 5xx, so that the
// vendor may send the request again.
type Pusher interface {
	Push(ctx context.Context, b Batch) error
}
