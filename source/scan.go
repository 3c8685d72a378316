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

// errNotObject is returned by eachMember for valid JSON that is not an
// object (nor null).
var errNotObject = errors.New("not a JSON object")

// EachMember calls fn with the name (unescaped, as encoding/json unescapes
// it) and the value (a subslice of raw, exactly as written) of every member
// of the JSON object raw, in order, repeated names included. raw must be
// exactly one valid JSON object, or null (then null is true and fn is not
// called); anything else is an error. Invalid UTF-8 inside strings is
// accepted, as encoding/json accepts it. name is valid only during the call.
func EachMember(raw []byte, fn func(name, value []byte)) (null bool, err error) {
	s := scanners.Get().(*scanner)
	defer func() {
		s.buf.Reset()
		s.dec.Reset(&s.buf) // drop the reference to raw
		scanners.Put(s)
	}()
	s.buf.Reset()
	s.buf.Write(raw) // bytes.Buffer: jsontext reads it without another copy
	s.dec.Reset(&s.buf, decodeOptions...)
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
		n, err := d.ReadValue()
		if err != nil {
			return false, err
		}
		if bytes.IndexByte(n, '\\') >= 0 {
			if s.name, err = jsontext.AppendUnquote(s.name[:0], n); err != nil {
				// A lone surrogate, say: encoding/json replaces it.
				var name string
				if err := json.Unmarshal(n, &name); err != nil {
					return false, err
				}
				s.name = append(s.name[:0], name...)
			}
		} else {
			s.name = append(s.name[:0], n[1:len(n)-1]...)
		}
		v, err := d.ReadValue()
		if err != nil {
			return false, err
		}
		end := int(d.InputOffset())
		if end < len(v) || end > len(raw) {
			return false, fmt.Errorf("value at offset %d out of range", end)
		}
		fn(s.name, raw[end-len(v):end])
	}
	if _, err := d.ReadToken(); err != nil { // '}'
		return false, err
	}
	return false, atEOF(d)
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
