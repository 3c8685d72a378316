package simulator

import (
	"strconv"
	"unicode/utf8"
)

// jw is a small streaming JSON writer. It is much faster than building maps for
// encoding/json and lets the generator control the exact bytes: key order,
// spacing, numbers served as strings, \u escapes for non-ASCII text.
// Callers must produce a well-formed sequence (keys only inside objects).
type jw struct {
	b        []byte
	spaced   bool   // ", " and ": " separators, like the vendor's documentation
	ascii    bool   // escape every non-ASCII rune as \uXXXX (surrogate pairs above the BMP)
	need     []bool // per open container: a separator is needed before the next item
	afterKey bool
}

func (w *jw) reset() {
	w.b = w.b[:0]
	w.need = w.need[:0]
	w.afterKey = false
	w.spaced = false
	w.ascii = false
}

// pre writes the separator needed before a value or a key.
func (w *jw) pre() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if n := len(w.need); n > 0 {
		if w.need[n-1] {
			w.b = append(w.b, ',')
			if w.spaced {
				w.b = append(w.b, ' ')
			}
		}
		w.need[n-1] = true
	}
}

func (w *jw) key(k string) {
	w.pre()
	w.b = appendJSONString(w.b, k, w.ascii)
	w.b = append(w.b, ':')
	if w.spaced {
		w.b = append(w.b, ' ')
	}
	w.afterKey = true
}

func (w *jw) beginObj() { w.pre(); w.b = append(w.b, '{'); w.need = append(w.need, false) }
func (w *jw) endObj()   { w.need = w.need[:len(w.need)-1]; w.b = append(w.b, '}') }
func (w *jw) beginArr() { w.pre(); w.b = append(w.b, '['); w.need = append(w.need, false) }
func (w *jw) endArr()   { w.need = w.need[:len(w.need)-1]; w.b = append(w.b, ']') }

func (w *jw) str(s string) { w.pre(); w.b = appendJSONString(w.b, s, w.ascii) }

// int writes v as a JSON number, or as a JSON string holding the number when quoted.
func (w *jw) int(v int64, quoted bool) {
	w.pre()
	if quoted {
		w.b = append(w.b, '"')
	}
	w.b = strconv.AppendInt(w.b, v, 10)
	if quoted {
		w.b = append(w.b, '"')
	}
}

func (w *jw) float(v float64, prec int) {
	w.pre()
	w.b = strconv.AppendFloat(w.b, v, 'f', prec, 64)
}

func (w *jw) bool(v bool) { w.pre(); w.b = strconv.AppendBool(w.b, v) }
func (w *jw) null()       { w.pre(); w.b = append(w.b, "null"...) }

// raw writes an already encoded JSON value.
func (w *jw) raw(v []byte) { w.pre(); w.b = append(w.b, v...) }

func (w *jw) kstr(k, v string)       { w.key(k); w.str(v) }
func (w *jw) kint(k string, v int64) { w.key(k); w.int(v, false) }

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. It escapes '"', '\\' and control
// characters (with the short forms \n \r \t \b \f where they exist), U+2028 and
// U+2029 (as encoding/json does), and, when ascii is set, every other non-ASCII
// rune. s must be valid UTF-8 (invalid bytes are replaced by U+FFFD).
func appendJSONString(b []byte, s string, ascii bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if ascii || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if r > 0xffff {
				r -= 0x10000
				b = appendU4(b, 0xd800+(r>>10))
				b = appendU4(b, 0xdc00+(r&0x3ff))
			} else {
				b = appendU4(b, r)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[(r>>12)&0xf], hexDigits[(r>>8)&0xf], hexDigits[(r>>4)&0xf], hexDigits[r&0xf])
}
