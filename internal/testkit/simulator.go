package testkit

import (
	"net/http/httptest"
	"testing"

	"github.com/imreport/imreport/internal/fake/simulator"
)

// Simulator serves the Report API simulator with cfg over msgs on loopback
// until the test ends, and returns it with its base URL.
func Simulator(t testing.TB, cfg simulator.Config, msgs []simulator.Message) (*simulator.Server, string) {
	t.Helper()
	srv := simulator.New(cfg, msgs)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts.URL
}
