package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// UnmarshalJSON reads a page body as decodePage does; a vendor error in it
// is an error.
func (e *envelope) UnmarshalJSON(b []byte) error {
	env, vendor, err := decodePage(b)
	if err != nil {
		return err
	}
	if vendor != nil {
		return fmt.Errorf("vendor error %s: %s", vendor.Code, vendor.Message)
	}
	*e = env
	return nil
}

// decodePage reads a 200 response body in one pass: the page envelope, and
// the vendor's error object if the body carries one instead (then vendor is
// set and the envelope is not looked at). Member names match
// case-insensitively and the last of a repeated member counts, as
// encoding/json decodes into a struct; a body that is null is an empty page.
// Messages are subslices of body, exactly as served.
func decodePage(body []byte) (env envelope, vendor *vendorErrorBody, err error) {
	var total, cursor, count, errObj json.RawMessage
	var messages []json.RawMessage
	var msgErr error
	_, err = EachMember(body, func(name, value []byte) {
		switch {
		case bytes.EqualFold(name, []byte("total")):
			total = value
		case bytes.EqualFold(name, []byte("cursor")):
			cursor = value
		case bytes.EqualFold(name, []byte("count")):
			count = value
		case bytes.EqualFold(name, []byte("error")):
			errObj = value
		case bytes.EqualFold(name, []byte("messages")):
			messages, msgErr = splitArray(value)
		}
	})
	if err != nil {
		return envelope{}, nil, err
	}
	if !isNull(errObj) {
		// As encoding/json: any error member but null makes it a vendor
		// error, with what of it has the right type.
		vendor = new(vendorErrorBody)
		_ = json.Unmarshal(errObj, vendor)
		return envelope{}, vendor, nil
	}
	if msgErr != nil {
		return envelope{}, nil, fmt.Errorf("messages: %w", msgErr)
	}
	t, err := parseInt(total) // nil for a missing, null or "" total
	if err != nil {
		return envelope{}, nil, fmt.Errorf("total: %w", err)
	}
	n, err := parseInt(count)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("count: %w", err)
	}
	c, err := stringValue(cursor)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("cursor: %w", err)
	}
	env = envelope{Messages: messages, Total: math.MaxInt} // without a total, page until the end
	if t != nil {
		env.Total, env.HasTotal = int(*t), true
	}
	if n != nil {
		env.Count, env.HasCount = int(*n), true
	}
	if c != nil {
		env.Cursor = *c
	}
	return env, nil, nil
}

// splitArray returns the elements of the JSON array value (already
// validated), as subslices of it; nil for null.
func splitArray(value []byte) ([]json.RawMessage, error) {
	if isNull(value) {
		return nil, nil
	}
	if value[0] != '[' {
		return nil, fmt.Errorf("not an array")
	}
	s := scanners.Get().(*scanner)
	defer func() {
		s.buf.Reset()
		s.dec.Reset(&s.buf)
		scanners.Put(s)
	}()
	s.buf.Reset()
	s.buf.Write(value)
	s.dec.Reset(&s.buf, decodeOptions...)
	d := &s.dec
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, 16)
	for d.PeekKind() != ']' {
		v, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		end := int(d.InputOffset())
		if end < len(v) || end > len(value) {
			return nil, fmt.Errorf("element at offset %d out of range", end)
		}
		out = append(out, value[end-len(v):end:end])
	}
	return out, nil
}
