package source

import (
	"slices"
	"testing"
)

func TestStreams(t *testing.T) {
	got := Streams([]string{"alice", "bob"}, []string{"10"}, []string{"77"})
	want := []Stream{User("alice"), User("bob"), Group("10"), Chatroom("77")}
	if !slices.Equal(got, want) {
		t.Errorf("Streams = %v, want %v", got, want)
	}
	if got := Streams(nil, nil, nil); !slices.Equal(got, []Stream{Messages}) {
		t.Errorf("Streams() = %v, want only %v", got, Messages)
	}
}
