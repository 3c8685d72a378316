package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"
)

// Check asks whether registering text under subject would succeed, without
// registering it: the registry is reachable, the credentials are accepted,
// and the schema is compatible with the subject's latest version (a
// subject with no version yet accepts any schema). One attempt.
func (c *Client) Check(ctx context.Context, subject, text string) error {
	res, err := c.cl.CheckCompatibility(ctx, subject, -1, sr.Schema{Schema: text, Type: sr.TypeAvro})
	var re *sr.ResponseError
	if errors.As(err, &re) && (re.ErrorCode == 40401 || re.ErrorCode == 40402) {
		return nil // no such subject or version yet: the first registration creates it
	}
	if err != nil {
		return wrap(fmt.Sprintf("check compatibility under subject %q", subject), subject, err)
	}
	if !res.Is {
		return fmt.Errorf("schema registry: subject %q: the schema is not compatible with the latest version: %v", subject, res.Messages)
	}
	return nil
}
