package pipeline

import (
	"log/slog"
	"reflect"
	"strings"
	"unicode"
)

// LogValue lists the counters under snake_case keys (ReadBacks becomes
// read_backs), so logs match the metric names; a field added to Stats is
// logged without further change.
func (s Stats) LogValue() slog.Value {
	v := reflect.ValueOf(s)
	t := v.Type()
	attrs := make([]slog.Attr, 0, t.NumField())
	for i := range t.NumField() {
		if !t.Field(i).IsExported() {
			continue
		}
		attrs = append(attrs, slog.Any(snakeCase(t.Field(i).Name), v.Field(i).Interface()))
	}
	return slog.GroupValue(attrs...)
}

// snakeCase turns a Go identifier into snake_case: DeadLettered ->
// dead_lettered, APIRequests -> api_requests.
func snakeCase(name string) string {
	r := []rune(name)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) {
			prevLower := i > 0 && !unicode.IsUpper(r[i-1])
			nextLower := i > 0 && i+1 < len(r) && unicode.IsLower(r[i+1])
			if i > 0 && (prevLower || nextLower) {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}
