package harness

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
)

// Get fetches url and returns its status code and body.
func Get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// FreeLoopbackPort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// BuildBinary builds cmd/imreport into a temp dir (by import path: it
// works from any package of the module). With -short it skips the test.
func BuildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "imreport")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/imreport/imreport/cmd/imreport").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
