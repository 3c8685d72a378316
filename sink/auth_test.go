package sink

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/imreport/imreport/internal/retry"
)

const (
	saslUser     = "svc-imreport"
	saslPassword = "Corr3ct-Horse-Battery"
	badPassword  = "Wr0ng-Staple-Guess"
)

func TestSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c := newCluster(t, kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, saslUser, saslPassword))

			t.Run("right credentials", func(t *testing.T) {
				var logs logBuffer
				cfg := loggedConfig(c, "secured", &logs)
				cfg.SASLMechanism, cfg.SASLUsername, cfg.SASLPassword = mech, saslUser, saslPassword
				w := readyWriter(t, cfg, 3)
				recs := records(1, 20, keyList(5), 40)
				publish(t, w, recs)
				// Scan authenticates its own readers.
				if got := scanAll(t, w); len(got) != len(recs) {
					t.Fatalf("Scan over SASL returned %d records, want %d", len(got), len(recs))
				}
				if strings.Contains(logs.String(), saslPassword) {
					t.Errorf("password logged: %s", logs.String())
				}
			})

			t.Run("wrong password", func(t *testing.T) {
				var logs logBuffer
				cfg := loggedConfig(c, "secured", &logs)
				cfg.SASLMechanism, cfg.SASLUsername, cfg.SASLPassword = mech, saslUser, badPassword
				w := newWriter(t, cfg)
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()

				_, ensureErr := w.EnsureTopic(ctx)
				pubErr := w.Publish(ctx, records(1, 5, keyList(5), 40))
				scanErr := w.Scan(ctx, func(Message) error { return nil })
				for name, err := range map[string]error{"EnsureTopic": ensureErr, "Publish": pubErr, "Scan": scanErr} {
					if err == nil {
						t.Errorf("%s with a wrong password succeeded", name)
						continue
					}
					t.Logf("%s: %v (retry.Temporary %v)", name, err, retry.Temporary(err))
					for _, pw := range []string{badPassword, saslPassword} {
						if strings.Contains(err.Error(), pw) {
							t.Errorf("%s error leaks a password: %v", name, err)
						}
					}
				}
				// kfake closes the connection on a failed authentication, so
				// the client sees an EOF, not SASL_AUTHENTICATION_FAILED.
				if pubErr != nil && !strings.Contains(pubErr.Error(), "EOF") {
					t.Errorf("Publish error %q is not the EOF kfake's rejection produces", pubErr)
				}
				var we *WriteError
				if !errors.As(pubErr, &we) {
					t.Errorf("Publish error %T is not a *WriteError", pubErr)
				}
				if l := logs.String(); strings.Contains(l, badPassword) || strings.Contains(l, saslPassword) {
					t.Errorf("password logged: %s", l)
				}
			})
		})
	}
}

// testCA returns a self-signed CA certificate (PEM) and a server certificate
// for 127.0.0.1 signed by it.
func testCA(t testing.TB) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "imreport test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kfake"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
}

func TestTLS(t *testing.T) {
	caPEM, srvCert := testCA(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	otherPEM, _ := testCA(t)
	otherFile := filepath.Join(dir, "other-ca.pem")
	if err := os.WriteFile(otherFile, otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{srvCert}, MinVersion: tls.VersionTLS12}))

	t.Run("trusted CA", func(t *testing.T) {
		cfg := testConfig(c, "tls")
		cfg.TLS, cfg.TLSCAFile = true, caFile
		w := readyWriter(t, cfg, 3)
		recs := records(1, 15, keyList(5), 40)
		publish(t, w, recs)
		if got := scanAll(t, w); len(got) != len(recs) {
			t.Fatalf("Scan over TLS returned %d records, want %d", len(got), len(recs))
		}
	})

	t.Run("untrusted CA", func(t *testing.T) {
		cfg := testConfig(c, "tls")
		cfg.TLS, cfg.TLSCAFile = true, otherFile
		w := newWriter(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		err := w.Publish(ctx, records(1, 5, keyList(5), 40))
		if err == nil {
			t.Fatal("Publish to a broker with an untrusted certificate succeeded")
		}
		t.Logf("Publish: %v", err)
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error %q does not mention the certificate", err)
		}
		// A trust failure will not heal by retrying.
		if retry.Temporary(err) {
			t.Errorf("certificate error %v classified temporary", err)
		}
	})
}
