package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// decodeOptions read JSON the way encoding/json does: a member that appears
// twice is allowed (the last one counts), invalid UTF-8 inside strings is
// allowed (encoding/json replaces it with U+FFFD where it unquotes).
var decodeOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// scanner is a reusable jsontext.Decoder over a byte slice.
type scanner struct {
	buf  bytes.Buffer
	dec  jsontext.Decoder
	name []byte
}

var scanners = sync.Pool{New: func() any { return new(scanner) }}

// newScanner returns a pooled scanner reading raw in place: a bytes.Buffer
// over raw, which jsontext parses without copying and, unlike any other
// reader, never writes into. Give it back with release.
func newScanner(raw []byte) *scanner {
	s := scanners.Get().(*scanner)
	s.buf = *bytes.NewBuffer(raw)
	s.dec.Reset(&s.buf, decodeOptions...)
	return s
}

// release drops the scanner's reference to raw and pools it again.
func (s *scanner) release() {
	s.buf = bytes.Buffer{}
	s.dec.Reset(&s.buf)
	scanners.Put(s)
}

// errNotObject is returned by eachMember for valid JSON that is not an
// object (nor null).
var errNotObject = errors.New("not a JSON object")

// EachMember calls fn with the name (unescaped, as encoding/json unescapes
// it) and the value (a subslice of raw, exactly as written) of every member
// of the JSON object raw, in order, repeated names included. raw must be
// exactly one valid JSON object, or null (then null is true and fn is not
// called); anything else is an error. Invalid UTF-8 inside strings is
// accepted, as encoding/json accepts it. name is valid only during the call.
//
// The common shapes are read by a byte loop (fastscan.go), fn called once
// the whole object has been read; jsontext reads the rest, to the same
// members or error.
func EachMember(raw []byte, fn func(name, value []byte)) (null bool, err error) {
	var found [32]span
	if spans, ok := scanMembers(raw, found[:0]); ok {
		for _, m := range spans {
			fn(m.name, m.value)
		}
		return false, nil
	}
	return walkObject(raw, func(name []byte, d *jsontext.Decoder) error {
		v, err := readValue(raw, d)
		if err != nil {
			return err
		}
		fn(name, v)
		return nil
	})
}

// walkObject is EachMember with the value left to member: it is called with
// the decoder just before the member's value, and must read the value whole
// (readValue, say). An error from member stops the walk and is returned.
func walkObject(raw []byte, member func(name []byte, d *jsontext.Decoder) error) (null bool, err error) {
	s := newScanner(raw)
	defer s.release()
	d := &s.dec
	tok, err := d.ReadToken()
	if err != nil {
		return false, err
	}
	switch tok.Kind() {
	case '{':
	case 'n':
		return true, atEOF(d)
	default:
		if tok.Kind() == '[' {
			err = d.SkipValue() // report a syntax error first, as encoding/json does
		}
		if err == nil {
			err = atEOF(d)
		}
		if err == nil {
			err = errNotObject
		}
		return false, err
	}
	for d.PeekKind() == '"' {
		if err := s.readName(); err != nil {
			return false, err
		}
		if err := member(s.name, d); err != nil {
			return false, err
		}
	}
	if _, err := d.ReadToken(); err != nil { // '}'
		return false, err
	}
	return false, atEOF(d)
}

// readName reads a member name into s.name, unescaped as encoding/json
// unescapes it.
func (s *scanner) readName() error {
	n, err := s.dec.ReadValue()
	if err != nil {
		return err
	}
	if bytes.IndexByte(n, '\\') < 0 {
		s.name = append(s.name[:0], n[1:len(n)-1]...)
		return nil
	}
	if s.name, err = jsontext.AppendUnquote(s.name[:0], n); err != nil {
		// A lone surrogate, say: encoding/json replaces it.
		var name string
		if err := json.Unmarshal(n, &name); err != nil {
			return err
		}
		s.name = append(s.name[:0], name...)
	}
	return nil
}

// readValue reads the next value of d, which reads raw, and returns it as
// the subslice of raw it was read from, its capacity ending with it.
func readValue(raw []byte, d *jsontext.Decoder) ([]byte, error) {
	v, err := d.ReadValue()
	if err != nil {
		return nil, err
	}
	end := int(d.InputOffset())
	if end < len(v) || end > len(raw) {
		return nil, fmt.Errorf("value at offset %d out of range", end)
	}
	return raw[end-len(v) : end : end], nil
}

// atEOF fails unless only whitespace follows the value just read.
func atEOF(d *jsontext.Decoder) error {
	_, err := d.ReadToken()
	switch {
	case err == io.EOF:
		return nil
	case err == nil:
		return errors.New("data after the top-level value")
	}
	return err
}
