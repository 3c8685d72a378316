package sink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/imreport/imreport/internal/retry"
)

// checkClass asserts that Publish's error, also wrapped the way the
// pipeline wraps it, is classified temporary or not by retry.Temporary, and
// keeps its *WriteError.
func checkClass(t *testing.T, err error, temporary bool) {
	t.Helper()
	if err == nil {
		t.Fatal("Publish succeeded; want a failure")
	}
	t.Logf("Publish: %v", err)
	wrapped := fmt.Errorf("pipeline: publish window 12:00-12:05: %w", err)
	twice := fmt.Errorf("pipeline: %w", wrapped)
	for _, e := range []error{err, wrapped, twice} {
		if got := retry.Temporary(e); got != temporary {
			t.Errorf("retry.Temporary(%q) = %v, want %v", e, got, temporary)
		}
		var we *WriteError
		if !errors.As(e, &we) {
			t.Fatalf("%q holds no *WriteError", e)
		}
		if we.Temporary() != temporary {
			t.Errorf("WriteError.Temporary() = %v, want %v", we.Temporary(), temporary)
		}
	}
}

func classifyWriter(t *testing.T, c *kfake.Cluster, topic string) *Writer {
	t.Helper()
	cfg := testConfig(c, topic)
	cfg.WriteTimeout = 300 * time.Millisecond
	return readyWriter(t, cfg, 3)
}

// Every produce request is answered with a Kafka error code: the class of
// the resulting error follows kafka-go's kafka.Error, through any wrapping.
func TestPublishErrorClassByCode(t *testing.T) {
	for _, tc := range []struct {
		code   *kerr.Error
		target kafka.Error
		temp   bool
	}{
		{kerr.NotLeaderForPartition, kafka.NotLeaderForPartition, true},
		{kerr.LeaderNotAvailable, kafka.LeaderNotAvailable, true},
		{kerr.UnknownTopicOrPartition, kafka.UnknownTopicOrPartition, true}, // a broker restarting
		{kerr.RequestTimedOut, kafka.RequestTimedOut, true},
		{kerr.NotEnoughReplicas, kafka.NotEnoughReplicas, true},
		{kerr.NetworkException, kafka.NetworkException, true},
		{kerr.TopicAuthorizationFailed, kafka.TopicAuthorizationFailed, false},
		{kerr.ClusterAuthorizationFailed, kafka.ClusterAuthorizationFailed, false},
		{kerr.MessageTooLarge, kafka.MessageSizeTooLarge, false},
		{kerr.SaslAuthenticationFailed, kafka.SASLAuthenticationFailed, false},
	} {
		t.Run(tc.code.Message, func(t *testing.T) {
			c := newCluster(t, kfake.NumBrokers(1))
			w := classifyWriter(t, c, "codes")
			answer := produceError(tc.code.Code, nil, nil)
			c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				return answer(r)
			})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			err := w.Publish(ctx, append(records(1, 12, keyList(6), 30), deadLetters(100, 3)...))
			checkClass(t, err, tc.temp)
			if !errors.Is(err, tc.target) {
				t.Errorf("error %v does not wrap %v", err, tc.target)
			}
		})
	}
}

// A broker that is down, hangs or cuts connections: temporary.
func TestPublishErrorClassBrokerDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	t.Run("connection cut (EOF)", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(1))
		w := classifyWriter(t, c, "cut")
		c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			return nil, errors.New("drop the connection"), true
		})
		err := w.Publish(ctx, records(1, 10, keyList(4), 30))
		checkClass(t, err, true)
		if !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
			t.Errorf("error %q: expected an EOF or reset", err)
		}
	})

	t.Run("no answer (i/o timeout)", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(1))
		w := classifyWriter(t, c, "mute")
		c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			return nil, nil, true // handled, never answered
		})
		err := w.Publish(ctx, records(1, 10, keyList(4), 30))
		checkClass(t, err, true)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v is neither a net timeout nor a deadline", err)
			}
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(1))
		w := classifyWriter(t, c, "refused")
		publish(t, w, records(1, 3, keyList(3), 30))
		c.Close()
		err := w.Publish(ctx, records(10, 10, keyList(4), 30))
		checkClass(t, err, true)
	})

	t.Run("dial timeout", func(t *testing.T) {
		c := newCluster(t, kfake.NumBrokers(1))
		cfg := testConfig(c, "dial")
		cfg.CreateTopic = false
		w := newWriter(t, cfg)
		// What a dial that runs out of time returns (a *net.OpError whose
		// cause is an i/o timeout), from the real dialer.
		w.transport.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Deadline: time.Now().Add(-time.Second)}
			return d.DialContext(ctx, network, addr)
		}
		err := w.Publish(ctx, records(1, 3, keyList(3), 30))
		checkClass(t, err, true)
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" || !oe.Timeout() {
			t.Errorf("error %v: want a dial timeout", err)
		}
	})
}

// A broker refusing the credentials with SASL_AUTHENTICATION_FAILED (what a
// real broker answers; kfake itself just closes the connection) is fatal.
func TestPublishErrorClassSASLFailed(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", saslUser, saslPassword))
	cfg := testConfig(c, "sasl-class")
	cfg.SASLMechanism, cfg.SASLUsername, cfg.SASLPassword = "PLAIN", saslUser, saslPassword
	w := readyWriter(t, cfg, 3)
	w.transport.CloseIdleConnections() // authenticate again on the next request
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := kr.(*kmsg.SASLAuthenticateRequest).ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed: Invalid username or password"
		resp.ErrorMessage = &msg
		return resp, nil, true
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := w.Publish(ctx, records(1, 5, keyList(3), 30))
	checkClass(t, err, false)
	if !errors.Is(err, kafka.SASLAuthenticationFailed) {
		t.Errorf("error %v does not wrap SASLAuthenticationFailed", err)
	}
}
