package checkpoint

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestBind(t *testing.T) {
	s := openT(t, Options{Path: tempPath(t)})
	if err := s.Bind(testID); err != nil {
		t.Fatalf("first Bind: %v", err)
	}
	if err := s.Bind(testID); err != nil {
		t.Errorf("Bind of the same identity = %v, want nil", err)
	}
	if got := mustLoad(t, s).Identity; got != testID {
		t.Errorf("Load().Identity = %+v, want %+v", got, testID)
	}

	other := Identity{AppKey: testID.AppKey, Topic: "im.other"}
	err := s.Bind(other)
	if !errors.Is(err, ErrIdentityMismatch) {
		t.Fatalf("Bind(%+v) = %v, want ErrIdentityMismatch", other, err)
	}
	msg := err.Error()
	for _, want := range []string{"checkpoint bind: ", s.Path(), testID.Topic, other.Topic, testID.AppKey} {
		if !strings.Contains(msg, want) {
			t.Errorf("mismatch error %q does not contain %q", msg, want)
		}
	}
	if got := mustLoad(t, s).Identity; got != testID {
		t.Errorf("identity changed after a mismatching Bind: %+v", got)
	}
}

func TestBindRejectsEmptyIdentity(t *testing.T) {
	s := openT(t, Options{Path: tempPath(t)})
	for _, id := range []Identity{{}, {AppKey: "a"}, {Topic: "t"}} {
		if err := s.Bind(id); err == nil {
			t.Errorf("Bind(%+v) succeeded", id)
		}
	}
	if got := mustLoad(t, s).Identity; got != (Identity{}) {
		t.Errorf("an invalid Bind stored %+v", got)
	}
}

func TestBindRace(t *testing.T) {
	s := openT(t, Options{Path: tempPath(t)})
	ids := []Identity{{"a", "t"}, {"b", "t"}, {"c", "t"}, {"d", "t"}}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { errs[i] = s.Bind(id) })
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, ErrIdentityMismatch):
			t.Errorf("Bind(%+v) = %v", ids[i], err)
		}
	}
	if winners != 1 {
		t.Errorf("%d concurrent Binds succeeded, want exactly 1", winners)
	}
}
