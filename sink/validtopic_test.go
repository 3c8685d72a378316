package sink

import (
	"strings"
	"testing"
)

func TestValidTopic(t *testing.T) {
	for _, c := range []struct {
		topic string
		want  bool
	}{
		{"imreport.messages", true},
		{"a_b-C.9", true},
		{strings.Repeat("x", 249), true},
		{strings.Repeat("x", 250), false},
		{"", false},
		{".", false},
		{"..", false},
		{"has space", false},
		{"slash/no", false},
		{"ünicode", false},
	} {
		if got := ValidTopic(c.topic); got != c.want {
			t.Errorf("ValidTopic(%q) = %v, want %v", c.topic, got, c.want)
		}
	}
}
