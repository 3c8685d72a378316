package status

import (
	"net/url"

	"github.com/imreport/imreport/schema"
)

// RegistryOf describes a configured Schema Registry (urls empty = none)
// and, once codec registered the value schema, its id; the URLs without
// any user info.
func RegistryOf(urls []string, subject string, format schema.Framing, codec *schema.Codec) Registry {
	r := Registry{State: "not configured", ValueFormat: format.String()}
	if len(urls) == 0 {
		return r
	}
	r.State, r.Subject = "configured", subject
	for _, u := range urls {
		if p, err := url.Parse(u); err == nil {
			p.User = nil
			u = p.String()
		}
		r.URLs = append(r.URLs, u)
	}
	if codec != nil && codec.Framing() == schema.Confluent {
		r.State, r.SchemaID = "registered", codec.SchemaID()
	}
	return r
}
