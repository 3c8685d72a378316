package source

import "encoding/json"

// A fast path for EachMember: a plain byte loop over the JSON that a
// message is made of, without jsontext's general machinery (a token state
// machine, a name stack, a buffer that can refill), which was most of what
// DecodeMessage spent. It accepts only what jsontext, with decodeOptions,
// accepts and reads identically; whatever it is not sure of (null, a
// top-level value that is not an object, an escaped member name, nesting
// past maxFastDepth, and every syntax error) it declines, and jsontext reads
// the input again, to the same result or the same error as before.

// maxFastDepth is how deeply nested a value the fast path reads (jsontext
// reads up to 10000).
const maxFastDepth = 64

// span is a member the fast path found: its name (between the quotes) and
// its value, subslices of the input.
type span struct{ name, value []byte }

// fastScan reads b from offset i.
type fastScan struct {
	b       []byte
	i       int
	members int // members of the top-level object read so far
}

// scanMembers appends to spans every member of the JSON object raw, in
// order, repeated names included, with ok true; or returns ok false when
// the fast path declines raw (see above).
func scanMembers(raw []byte, spans []span) (_ []span, ok bool) {
	s := fastScan{b: raw}
	if !s.begin() {
		return spans, false
	}
	for {
		name, done, ok := s.nextMember()
		if done || !ok {
			return spans, ok
		}
		v, ok := s.valueBytes(1)
		if !ok {
			return spans, false
		}
		spans = append(spans, span{name, v})
	}
}

// begin reads on past the '{' of the top-level object; false when the
// input does not start with one.
func (s *fastScan) begin() bool {
	s.ws()
	if !s.at('{') {
		return false
	}
	s.i++
	return true
}

// nextMember reads on to the value of the object's next member and returns
// its name, a subslice of the input, its capacity ending with it. After
// the last member, done is true, and ok reports whether the input ends
// there (whitespace aside). ok false is a decline. The caller reads each
// value (valueBytes, say) before it asks for the next member.
func (s *fastScan) nextMember() (name []byte, done, ok bool) {
	s.ws()
	switch {
	case s.at('}'):
		s.i++
		return nil, true, s.end()
	case s.members == 0:
	case s.at(','):
		s.i++
		s.ws()
	default:
		return nil, false, false
	}
	if !s.at('"') {
		return nil, false, false
	}
	n0 := s.i + 1
	if escaped, ok := s.str(); !ok || escaped {
		return nil, false, false // an escaped name is unescaped by jsontext
	}
	name = s.b[n0 : s.i-1 : s.i-1]
	s.ws()
	if !s.at(':') {
		return nil, false, false
	}
	s.i++
	s.ws()
	s.members++
	return name, false, true
}

// valueBytes reads one value nested depth deep and returns it, a subslice
// of the input, its capacity ending with it.
func (s *fastScan) valueBytes(depth int) ([]byte, bool) {
	v0 := s.i
	ok := s.value(depth)
	return s.b[v0:s.i:s.i], ok
}

// elements appends to into the elements of the array that is next, nested
// depth deep, as valueBytes returns them.
func (s *fastScan) elements(depth int, into []json.RawMessage) ([]json.RawMessage, bool) {
	s.i++ // '['
	s.ws()
	if s.at(']') {
		s.i++
		return into, true
	}
	for {
		v, ok := s.valueBytes(depth + 1)
		if !ok {
			return into, false
		}
		into = append(into, v)
		s.ws()
		switch {
		case s.at(','):
			s.i++
			s.ws()
		case s.at(']'):
			s.i++
			return into, true
		default:
			return into, false
		}
	}
}

// at reports whether the next byte is c.
func (s *fastScan) at(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

// end reports whether only whitespace is left.
func (s *fastScan) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// ws skips JSON whitespace.
func (s *fastScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value reads one JSON value nested depth deep; false when it declines.
func (s *fastScan) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		return depth < maxFastDepth && s.container(depth)
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// container reads an object or an array, whose opening byte is next.
func (s *fastScan) container(depth int) bool {
	obj := s.b[s.i] == '{'
	closing := byte(']')
	if obj {
		closing = '}'
	}
	s.i++
	s.ws()
	if s.at(closing) {
		s.i++
		return true
	}
	for {
		if obj {
			if !s.at('"') {
				return false
			}
			if _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if !s.at(':') {
				return false
			}
			s.i++
			s.ws()
		}
		if !s.value(depth + 1) {
			return false
		}
		s.ws()
		switch {
		case s.at(','):
			s.i++
			s.ws()
		case s.at(closing):
			s.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string, whose opening quote is next, as jsontext does when
// invalid UTF-8 is allowed: any byte but a control character, a quote or a
// backslash stands for itself, and an escape is one of JSON's (a \u escape
// of a lone surrogate included). escaped reports an escape.
func (s *fastScan) str() (escaped, ok bool) {
	b := s.b
	for i := s.i + 1; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !hex4(b[i+2:i+6]) {
					return false, false
				}
				i += 6
			default:
				return false, false
			}
		case c < ' ':
			return false, false
		default:
			i++
		}
	}
	return false, false
}

func hex4(b []byte) bool {
	for _, c := range b[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// literal reads true, false or null.
func (s *fastScan) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *fastScan) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

// digits returns the offset of the first byte at or after i that is not a
// decimal digit.
func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
