package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/go-json-experiment/json/jsontext"
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
	var f pageMembers
	if !f.fastRead(body) {
		f = pageMembers{}
		if _, err := walkObject(body, func(name []byte, d *jsontext.Decoder) error { return f.read(body, name, d) }); err != nil {
			return envelope{}, nil, err
		}
	}
	if !isNull(f.errObj) {
		// As encoding/json: any error member but null makes it a vendor
		// error, with what of it has the right type.
		vendor = new(vendorErrorBody)
		_ = json.Unmarshal(f.errObj, vendor)
		return envelope{}, vendor, nil
	}
	if f.msgErr != nil {
		return envelope{}, nil, fmt.Errorf("messages: %w", f.msgErr)
	}
	t, err := parseInt(f.total) // nil for a missing, null or "" total
	if err != nil {
		return envelope{}, nil, fmt.Errorf("total: %w", err)
	}
	n, err := parseInt(f.count)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("count: %w", err)
	}
	c, err := stringValue(f.cursor)
	if err != nil {
		return envelope{}, nil, fmt.Errorf("cursor: %w", err)
	}
	env = envelope{Messages: f.messages, Total: math.MaxInt} // without a total, page until the end
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

// pageMembers are the members of a page envelope, as read: the raw values
// (nil when absent) and the messages, or why they are not an array.
type pageMembers struct {
	total, cursor, count, errObj json.RawMessage
	messages                     []json.RawMessage
	msgErr                       error
}

// messagesName is the member that holds the messages.
var messagesName = []byte("messages")

// errNotArray: messages that are neither an array nor null.
var errNotArray = errors.New("not an array")

// fastRead reads the envelope as read does, on the fast path (fastscan.go):
// false when that declines body, and then f is to be dropped.
func (f *pageMembers) fastRead(body []byte) bool {
	s := fastScan{b: body}
	if !s.begin() {
		return false
	}
	for {
		name, done, ok := s.nextMember()
		if done || !ok {
			return ok
		}
		if !bytes.EqualFold(name, messagesName) {
			v, ok := s.valueBytes(1)
			if !ok {
				return false
			}
			f.set(name, v)
			continue
		}
		f.messages = nil // a type error of an earlier one stays, as in encoding/json
		switch {
		case s.at('['):
			if f.messages, ok = s.elements(1, make([]json.RawMessage, 0, f.sizeHint(len(body)))); !ok {
				return false
			}
		case s.at('n'):
			if !s.literal("null") {
				return false
			}
		default:
			if !s.value(1) {
				return false
			}
			f.msgErr = errNotArray
		}
	}
}

// read reads the value of the member name of body from d: the messages
// array element by element, so that the page is tokenised once, any other
// member whole. A repeated member replaces what the earlier one set, but a
// messages member that was not an array stays an error (encoding/json
// reports the first type error after reading the whole object).
func (f *pageMembers) read(body, name []byte, d *jsontext.Decoder) error {
	if !bytes.EqualFold(name, messagesName) {
		v, err := readValue(body, d)
		if err == nil {
			f.set(name, v)
		}
		return err
	}
	f.messages = nil // a type error of an earlier one stays, as in encoding/json
	switch d.PeekKind() {
	case '[':
	case 'n':
		_, err := d.ReadToken()
		return err
	default:
		if _, err := d.ReadValue(); err != nil {
			return err // invalid JSON first, as anywhere else
		}
		f.msgErr = errNotArray
		return nil
	}
	if _, err := d.ReadToken(); err != nil { // '['
		return err
	}
	f.messages = make([]json.RawMessage, 0, f.sizeHint(len(body)))
	for d.PeekKind() != ']' {
		v, err := readValue(body, d)
		if err != nil {
			return err
		}
		f.messages = append(f.messages, v)
	}
	_, err := d.ReadToken() // ']'
	return err
}

// set keeps the value v of a member other than messages, if decodePage
// reads it.
func (f *pageMembers) set(name, v []byte) {
	switch {
	case bytes.EqualFold(name, []byte("total")):
		f.total = v
	case bytes.EqualFold(name, []byte("cursor")):
		f.cursor = v
	case bytes.EqualFold(name, []byte("count")):
		f.count = v
	case bytes.EqualFold(name, []byte("error")):
		f.errObj = v
	}
}

// sizeHint is the capacity for the messages: the page's count when it came
// before them and is plausible for a body of n bytes (an element and its
// comma take two bytes at least), else a small start.
func (f *pageMembers) sizeHint(n int) int {
	if c, ok := plainInt(f.count); ok && c <= int64(n/2+1) {
		return int(c)
	}
	return 16
}
