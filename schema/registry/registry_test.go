package registry

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/imreport/imreport/internal/retry"
)

const testSchema = `{"type":"record","name":"Message","namespace":"io.imreport","doc":"kept","fields":[{"name":"msgid","type":"long","doc":"kept too"}]}`

func TestSubject(t *testing.T) {
	for _, c := range []struct{ strategy, want string }{
		{"", "im-value"}, {"topic", "im-value"}, {"record", "io.imreport.Message"}, {"topic_record", "im-io.imreport.Message"},
	} {
		got, err := Subject(c.strategy, "im", "io.imreport.Message")
		if err != nil || got != c.want {
			t.Errorf("Subject(%q) = %q, %v; want %q", c.strategy, got, err, c.want)
		}
	}
	if _, err := Subject("TopicNameStrategy", "im", "x"); err == nil {
		t.Error("unknown strategy accepted")
	}
}

// TestRegisterAndLookUp: the text is registered as given (docs kept), the
// same text again returns the same id, and the id resolves to the text.
func TestRegisterAndLookUp(t *testing.T) {
	reg := srfake.New(srfake.WithAuth("Basic dTpwYXNz")) // u:pass
	defer reg.Close()
	c, err := New(Config{URLs: []string{reg.URL()}, Username: "u", Password: "pass"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := c.Register(ctx, "im-value", testSchema)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Register(ctx, "im-value", testSchema)
	if err != nil || again != id {
		t.Fatalf("second registration: %d, %v; want %d", again, err, id)
	}
	text, err := c.SchemaText(ctx, id)
	if err != nil || text != testSchema {
		t.Fatalf("SchemaText(%d) = %q, %v", id, text, err)
	}
	_, err = c.SchemaText(ctx, id+100)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusNotFound || retry.Temporary(err) {
		t.Fatalf("unknown id: %v (want a 404 *Error, not temporary)", err)
	}
}

// TestErrorsClassified: the registry's answers become *Error with the
// subject, status, code and message; 409, 422, 401 and 403 are fatal, 5xx
// and 429 temporary, a refused connection temporary; credentials appear in
// no error.
func TestErrorsClassified(t *testing.T) {
	cases := []struct {
		status, code int
		msg          string
		temporary    bool
	}{
		{409, 409, "Schema being registered is incompatible with an earlier schema for subject \"im-value\"", false},
		{422, 42201, "Either the input schema or one its references is invalid", false},
		{401, 401, "Unauthorized", false},
		{403, 40301, "User is denied operation Write on Subject: im-value", false},
		{500, 50001, "Error in the backend data store", true},
		{503, 0, "", true},
		{429, 429, "slow down", true},
	}
	for _, tc := range cases {
		reg := srfake.New()
		reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			if tc.msg != "" {
				fmt.Fprintf(w, `{"error_code":%d,"message":%q}`, tc.code, tc.msg)
			}
			return true
		})
		c, err := New(Config{URLs: []string{reg.URL()}, Username: "svc", Password: "hunter2-secret"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Register(context.Background(), "im-value", testSchema)
		reg.Close()
		var e *Error
		if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code || e.Subject != "im-value" {
			t.Errorf("%d: %v (%+v)", tc.status, err, e)
			continue
		}
		if retry.Temporary(err) != tc.temporary {
			t.Errorf("%d: temporary %v, want %v", tc.status, retry.Temporary(err), tc.temporary)
		}
		s := err.Error()
		if !strings.Contains(s, `"im-value"`) || !strings.Contains(s, fmt.Sprint(tc.status)) || (tc.msg != "" && !strings.Contains(s, tc.msg)) {
			t.Errorf("%d: message %q lacks the subject, status or registry message", tc.status, s)
		}
		if strings.Contains(s, "hunter2") {
			t.Errorf("%d: the password leaked: %s", tc.status, s)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := New(Config{URLs: []string{"http://" + addr}, BearerToken: "tok-secret-123"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Register(context.Background(), "im-value", testSchema)
	if err == nil || !retry.Temporary(err) || strings.Contains(err.Error(), "tok-secret") {
		t.Errorf("refused connection: %v (temporary %v), want temporary without the token", err, retry.Temporary(err))
	}
}

func TestNewListsEveryProblem(t *testing.T) {
	_, err := New(Config{
		URLs:        []string{"https://user:s3cret-pw@registry:8081", "ftp://x", "http://"},
		Password:    "p",
		BearerToken: "t",
		TLSCAFile:   "/nonexistent/ca.pem",
	})
	if err == nil {
		t.Fatal("accepted")
	}
	s := err.Error()
	for _, want := range []string{"carries credentials", "not http:// or https://", "has no host", "password without a username", "TLS CA file"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in %s", want, s)
		}
	}
	if strings.Contains(s, "s3cret") {
		t.Errorf("password in the error: %s", s)
	}
	if _, err := New(Config{URLs: []string{"http://r:8081"}, Username: "u", BearerToken: "t"}); err == nil {
		t.Error("basic auth and bearer token together accepted")
	}
}

// TestTLSCAFile: an https registry with a private CA is trusted through
// TLSCAFile; without it the certificate is refused, and not retried.
func TestTLSCAFile(t *testing.T) {
	ts := httptest.NewTLSServer(srfake.NewRegistry().Handler())
	defer ts.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{URLs: []string{ts.URL}, TLSCAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(context.Background(), "im-value", testSchema); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	c, err = New(Config{URLs: []string{ts.URL}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Register(context.Background(), "im-value", testSchema)
	if err == nil || !strings.Contains(err.Error(), "certificate") || retry.Temporary(err) {
		t.Fatalf("without the CA: %v (temporary %v), want a certificate error, not temporary", err, retry.Temporary(err))
	}
}
