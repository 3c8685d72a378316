package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/retry"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func asWriteError(t *testing.T, err error) *WriteError {
	t.Helper()
	var we *WriteError
	if !errors.As(err, &we) {
		t.Fatalf("error %T %v is not a *WriteError", err, err)
	}
	return we
}

// partitionsUsed is how many partitions of n the Java partitioner spreads
// recs over, hence how many produce requests one attempt takes.
func partitionsUsed(recs []Record, n int) int {
	used := map[int]bool{}
	for _, r := range recs {
		used[javaPartition([]byte(r.Key), n)] = true
	}
	return len(used)
}

func allIndexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// A leader change answered once: with kafka-go retrying inside MaxAttempts,
// Publish succeeds and every record is stored exactly once; with one attempt
// (writeAttempts), Publish fails with a temporary error for the pipeline to
// retry.
func TestPublishRetriesTransientProduceErrorOnce(t *testing.T) {
	for _, code := range []*kerr.Error{kerr.NotLeaderForPartition, kerr.LeaderNotAvailable} {
		t.Run(code.Message, func(t *testing.T) {
			c, w := clusterWriter(t, "transient")
			var mu sync.Mutex
			calls := 0
			c.ControlKey(int16(kmsg.Produce), produceError(code.Code, &calls, &mu))

			recs := records(1, 60, keyList(9), 100)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := w.Publish(ctx, recs); err != nil {
				// Allowed by the contract, but then it must be retryable.
				we := asWriteError(t, err)
				if !we.Temporary() || !retry.Temporary(err) {
					t.Fatalf("Publish = %v; a %s must be temporary", err, code.Message)
				}
				t.Logf("Publish returned a temporary error: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if calls != 1 {
				t.Fatalf("control answered %d produce requests, want 1", calls)
			}
			got := scanAll(t, w)
			seen := map[string]int{}
			for _, m := range got {
				seen[m.Headers[HeaderMsgID]]++
			}
			if len(got) != len(recs) || len(seen) != len(recs) {
				t.Fatalf("stored %d records (%d distinct), want %d exactly once", len(got), len(seen), len(recs))
			}
		})
	}
}

// A leader change that outlasts kafka-go's attempts comes back as a
// temporary *WriteError naming every record, so the pipeline retries.
func TestPublishPersistentLeaderErrorIsTemporary(t *testing.T) {
	_, recs, err, calls := publishAgainstProduceError(t, "leaderless", kerr.NotLeaderForPartition.Code)
	we := asWriteError(t, err)
	if !we.Temporary() || !retry.Temporary(err) {
		t.Errorf("Publish = %v: Temporary() %v, retry.Temporary %v; want both true", err, we.Temporary(), retry.Temporary(err))
	}
	if !errors.Is(err, kafka.NotLeaderForPartition) {
		t.Errorf("error %v does not wrap NotLeaderForPartition", err)
	}
	if !slices.Equal(we.Failed, allIndexes(len(recs))) {
		t.Errorf("Failed = %v, want all %d records", we.Failed, len(recs))
	}
	// One request per partition per attempt (writeAttempts inside kafka-go).
	if want := writeAttempts * partitionsUsed(recs, 3); calls() != want {
		t.Errorf("control answered %d produce requests, want %d (partitions x %d attempts)", calls(), want, writeAttempts)
	}
}

// Fatal broker answers: a *WriteError that is not temporary, and kafka-go
// does not retry them.
func TestPublishFatalProduceErrors(t *testing.T) {
	for _, tc := range []struct {
		code   *kerr.Error
		target error
		text   string
	}{
		{kerr.TopicAuthorizationFailed, kafka.TopicAuthorizationFailed, "authoriz"},
		{kerr.MessageTooLarge, kafka.MessageSizeTooLarge, "too large"},
	} {
		t.Run(tc.code.Message, func(t *testing.T) {
			c, recs, err, calls := publishAgainstProduceError(t, "fatal", tc.code.Code)
			we := asWriteError(t, err)
			if we.Temporary() || retry.Temporary(err) {
				t.Errorf("Publish = %v: Temporary() %v, retry.Temporary %v; want both false", err, we.Temporary(), retry.Temporary(err))
			}
			if !errors.Is(err, tc.target) {
				t.Errorf("error %v does not wrap %v", err, tc.target)
			}
			if !strings.Contains(strings.ToLower(err.Error()), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
			if !strings.HasPrefix(err.Error(), "kafka write: 30 record(s) failed") {
				t.Errorf("error %q does not count the failed records", err)
			}
			if !slices.Equal(we.Failed, allIndexes(len(recs))) {
				t.Errorf("Failed = %v, want all %d records", we.Failed, len(recs))
			}
			if want := partitionsUsed(recs, 3); calls() != want { // one per partition, no retries
				t.Errorf("control answered %d produce requests, want %d (no retry of a fatal error)", calls(), want)
			}
			if got := produced(t, c, "fatal"); !slices.Equal(got, []int64{0, 0, 0}) {
				t.Errorf("broker stored %v records per partition, want none", got)
			}
		})
	}
}

// When one partition fails, Failed names exactly the records routed to it.
func TestPublishPartialFailure(t *testing.T) {
	c, w := clusterWriter(t, "partial")
	const bad = 1
	answer := produceError(kerr.TopicAuthorizationFailed.Code, nil, nil)
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.ProduceRequest)
		var parts []int32
		for _, tp := range req.Topics {
			for _, p := range tp.Partitions {
				parts = append(parts, p.Partition)
			}
		}
		if !slices.Contains(parts, bad) {
			return nil, nil, false // the broker handles it
		}
		if len(parts) != 1 {
			t.Errorf("a produce request carried partitions %v; the test assumes one per request", parts)
		}
		return answer(r)
	})
	recs := records(1, 60, keyList(20), 50)
	var wantFailed []int
	for i, r := range recs {
		if javaPartition([]byte(r.Key), 3) == bad {
			wantFailed = append(wantFailed, i)
		}
	}
	if len(wantFailed) == 0 || len(wantFailed) == len(recs) {
		t.Fatalf("test keys do not split over partitions: %v", wantFailed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := w.Publish(ctx, recs)
	we := asWriteError(t, err)
	if !slices.Equal(we.Failed, wantFailed) {
		t.Errorf("Failed = %v, want %v", we.Failed, wantFailed)
	}
	if len(we.Errs) != len(we.Failed) {
		t.Errorf("%d errors for %d failed records", len(we.Errs), len(we.Failed))
	}
	if we.Temporary() {
		t.Errorf("authorization failure reported temporary")
	}
	if want := fmt.Sprintf("kafka write: %d record(s) failed", len(wantFailed)); !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want prefix %q", err, want)
	}
	// The other partitions were written.
	got := produced(t, c, "partial")
	if got[bad] != 0 || got[0]+got[2] != int64(len(recs)-len(wantFailed)) {
		t.Errorf("broker stored %v per partition; want %d outside partition %d and none in it",
			got, len(recs)-len(wantFailed), bad)
	}
}

// kafka-go refuses a record bigger than BatchBytes before sending anything.
func TestPublishRecordTooLargeForBatch(t *testing.T) {
	_, w := clusterWriter(t, "huge")
	recs := records(1, 3, keyList(3), 10)
	recs[1].Value = make([]byte, maxBatchBytes+1)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := w.Publish(ctx, recs)
	we := asWriteError(t, err)
	if we.Temporary() || retry.Temporary(err) {
		t.Errorf("oversized record: %v reported temporary", err)
	}
	if !errors.Is(err, kafka.MessageSizeTooLarge) {
		t.Errorf("error %v does not wrap MessageSizeTooLarge", err)
	}
}

// The broker goes away: Publish fails and retry.Temporary says to keep
// trying, both with warm connections and for a writer that never connected.
func TestPublishBrokerDown(t *testing.T) {
	c, w := clusterWriter(t, "outage")
	cold := newWriter(t, testConfig(c, "outage"))
	publish(t, w, records(1, 10, keyList(5), 50))

	c.Close()

	for name, w := range map[string]*Writer{"warm": w, "cold": cold} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			recs := records(100, 10, keyList(5), 50)
			err := w.Publish(ctx, recs)
			if err == nil {
				t.Fatal("Publish to a closed cluster succeeded")
			}
			t.Logf("Publish: %v", err)
			we := asWriteError(t, err)
			if !retry.Temporary(err) || !we.Temporary() {
				t.Errorf("outage error %v: retry.Temporary %v, Temporary() %v; want both true",
					err, retry.Temporary(err), we.Temporary())
			}
			if !retry.Temporary(fmt.Errorf("pipeline: page 3: %w", err)) {
				t.Errorf("wrapping lost the class of %v", err)
			}
			if !slices.Equal(we.Failed, allIndexes(len(recs))) {
				t.Errorf("Failed = %v, want every record", we.Failed)
			}
		})
	}
}

// A canceled context (shutdown) is not an outage: the pipeline must stop.
// The broker holds the produce request until after the test has canceled,
// so Publish can only fail through the cancellation; it returns only once the
// request it had in flight is finished (fencing).
func TestPublishCanceledIsNotTemporary(t *testing.T) {
	c, w := clusterWriter(t, "cancel")
	hold := holdFirstProduce(c)
	defer hold.release() // before the writer's Close
	err := publishCancelledWhileHeld(t, w, hold, records(1, 10, []string{"one-key"}, 50))
	if err == nil {
		t.Fatal("Publish with a canceled context succeeded")
	}
	if !errors.Is(err, context.Canceled) || retry.Temporary(err) {
		t.Errorf("Publish = %v: want context.Canceled, not temporary", err)
	}
	var we *WriteError
	if errors.As(err, &we) && we.Temporary() {
		t.Errorf("WriteError %v says Temporary", we)
	}
}

func TestWriteErrorClassification(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092},
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for _, tc := range []struct {
		name string
		errs []error
		temp bool
	}{
		{"not leader", []error{kafka.NotLeaderForPartition}, true},
		{"leader not available", []error{kafka.LeaderNotAvailable}, true},
		{"request timed out", []error{kafka.RequestTimedOut}, true},
		{"not enough replicas", []error{kafka.NotEnoughReplicas}, true},
		{"not enough replicas after append", []error{kafka.NotEnoughReplicasAfterAppend}, true},
		{"network exception", []error{kafka.NetworkException}, true},
		{"topic authorization", []error{kafka.TopicAuthorizationFailed}, false},
		{"cluster authorization", []error{kafka.ClusterAuthorizationFailed}, false},
		{"sasl authentication", []error{kafka.SASLAuthenticationFailed}, false},
		{"message too large", []error{kafka.MessageSizeTooLarge}, false},
		{"client-side too large", []error{kafka.MessageTooLargeError{}}, false},
		{"record list too large", []error{kafka.RecordListTooLarge}, false},
		{"invalid required acks", []error{kafka.InvalidRequiredAcks}, false},
		{"connection refused", []error{refused}, true},
		{"connection reset", []error{reset}, true},
		{"unexpected EOF", []error{io.ErrUnexpectedEOF}, true},
		{"EOF", []error{io.EOF}, true},
		{"deadline", []error{context.DeadlineExceeded}, true},
		{"canceled", []error{context.Canceled}, false},
		{"plain error", []error{errors.New("boom")}, false},
		{"all temporary", []error{kafka.NotLeaderForPartition, refused, io.ErrUnexpectedEOF}, true},
		{"one fatal spoils the lot", []error{kafka.NotLeaderForPartition, kafka.TopicAuthorizationFailed, refused}, false},
		{"wrapped inside", []error{fmt.Errorf("partition 2: %w", kafka.LeaderNotAvailable)}, true},
		{"wrapped fatal inside", []error{fmt.Errorf("partition 2: %w", kafka.TopicAuthorizationFailed)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			we := &WriteError{Failed: allIndexes(len(tc.errs)), Errs: tc.errs}
			if got := we.Temporary(); got != tc.temp {
				t.Errorf("Temporary() = %v, want %v", got, tc.temp)
			}
			if got := retry.Temporary(we); got != tc.temp {
				t.Errorf("retry.Temporary = %v, want %v", got, tc.temp)
			}
			wrapped := fmt.Errorf("publish page 7: %w", we)
			twice := fmt.Errorf("pipeline: %w", wrapped)
			for _, err := range []error{wrapped, twice} {
				if got := retry.Temporary(err); got != tc.temp {
					t.Errorf("retry.Temporary(%q) = %v, want %v", err, got, tc.temp)
				}
				var back *WriteError
				if !errors.As(err, &back) || back != we {
					t.Errorf("errors.As lost the *WriteError in %q", err)
				}
			}
			for _, e := range tc.errs {
				if !reflect.TypeOf(e).Comparable() {
					continue // errors.Is cannot match it by value
				}
				if !errors.Is(we, e) {
					t.Errorf("errors.Is(WriteError, %v) = false", e)
				}
			}
		})
	}
}

// The retry policy the pipeline uses keeps retrying a temporary WriteError and
// stops at once on a fatal one.
func TestWriteErrorDrivesRetryPolicy(t *testing.T) {
	noSleep := func(context.Context, time.Duration) error { return nil }
	for _, tc := range []struct {
		cause    error
		attempts int
	}{
		{kafka.NotLeaderForPartition, 4},
		{kafka.TopicAuthorizationFailed, 1},
	} {
		n := 0
		err := retry.Policy{MaxAttempts: 4, Sleep: noSleep}.Do(context.Background(), func(context.Context) error {
			n++
			return &WriteError{Failed: []int{0}, Errs: []error{tc.cause}}
		})
		if n != tc.attempts || !errors.Is(err, tc.cause) {
			t.Errorf("%v: %d attempts, err %v; want %d attempts", tc.cause, n, err, tc.attempts)
		}
	}
}

func TestWriteErrorText(t *testing.T) {
	we := &WriteError{
		Failed: allIndexes(6),
		Errs: []error{
			kafka.NotLeaderForPartition, kafka.NotLeaderForPartition, io.ErrUnexpectedEOF,
			kafka.RequestTimedOut, kafka.TopicAuthorizationFailed, kafka.NotLeaderForPartition,
		},
	}
	s := we.Error()
	if !strings.HasPrefix(s, "kafka write: 6 record(s) failed: ") {
		t.Errorf("Error() = %q", s)
	}
	if n := strings.Count(s, kafka.NotLeaderForPartition.Error()); n != 1 {
		t.Errorf("Error() repeats a cause %d times: %q", n, s)
	}
	// At most three distinct causes are spelled out.
	if strings.Contains(s, kafka.TopicAuthorizationFailed.Error()) {
		t.Errorf("Error() lists more than 3 causes: %q", s)
	}
}

// publishAgainstProduceError publishes 30 records to topic while the broker
// answers every produce request with code; calls reports how many produce
// requests the broker answered.
func publishAgainstProduceError(t *testing.T, topic string, code int16) (c *kfake.Cluster, recs []Record, err error, calls func() int) {
	t.Helper()
	c, w := clusterWriter(t, topic)
	var mu sync.Mutex
	n := 0
	answer := produceError(code, &n, &mu)
	c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return answer(r)
	})
	recs = records(1, 30, keyList(20), 100)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err = w.Publish(ctx, recs)
	return c, recs, err, func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

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

// Cancellation and Close: a canceled Publish fences (waits for its held
// produce requests), a closed Writer refuses to publish but still reads, and
// reads run safely alongside both.

// A Publish whose context is canceled while a produce request is held in
// the broker does not return until that request is finished: once it has
// returned its error, the topics' end offsets no longer move, and a
// read-back from the marks before it tells exactly what landed.
func TestPublishFencesOnCancel(t *testing.T) {
	for _, tc := range []struct {
		name string
		recs func() []Record
	}{
		{"main", func() []Record { return records(100, 30, keyList(9), 40) }},
		{"dead letters", func() []Record { return deadLetters(100, 12) }},
		{"mixed", func() []Record { return append(records(100, 30, keyList(9), 40), deadLetters(500, 12)...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, w := clusterWriter(t, "fence")
			publish(t, w, append(records(1, 20, keyList(9), 40), deadLetters(50, 4)...)) // warm connections
			before := mustMarks(t, w)

			hold := holdFirstProduce(c)
			defer hold.release()
			recs := tc.recs()
			err := publishCancelledWhileHeld(t, w, hold, recs)
			we := asWriteError(t, err)
			if !errors.Is(err, context.Canceled) || retry.Temporary(err) {
				t.Errorf("Publish = %v, want context.Canceled, not temporary", err)
			}
			checkFailedUnacknowledged(t, tc.name == "mixed", recs, we.Failed)

			after := clusterMarks(t, c, "fence", "fence.dlq")
			time.Sleep(500 * time.Millisecond)
			if now := clusterMarks(t, c, "fence", "fence.dlq"); !maps.EqualFunc(now, after, maps.Equal) {
				t.Fatalf("end offsets moved after Publish returned: %v -> %v", after, now)
			}
			// What landed did so before Publish returned (the marks above
			// stand still), the held request included, each record at most
			// once. Requests that kafka-go had not sent when the context
			// ended (the other group's, in "mixed") may never land: Publish
			// promises only that nothing lands after it returns.
			found, ends := readBack(t, w, before)
			got, want := foundIDs(found), recordIDs(recs)
			if len(got) == 0 {
				t.Errorf("read-back found nothing; the held request should have landed")
			}
			if len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("read-back found a record twice: %v", got)
			}
			for _, id := range got {
				if _, ok := slices.BinarySearch(want, id); !ok {
					t.Errorf("read-back found msgid %d, which was not published", id)
				}
			}
			equalMarks(t, ends, after)

			// The writer was replaced and works.
			publish(t, w, records(9000, 5, keyList(3), 10))
		})
	}
}

// checkFailedUnacknowledged checks a canceled Publish's Failed: every
// record, when one group was written (kafka-go returns the context's error
// for the whole call). In a mixed Publish the group whose request was not
// held may have been acknowledged before the cancellation: there Failed must
// not be empty, and every record it leaves out must have been acknowledged
// (its landing place set).
func checkFailedUnacknowledged(t *testing.T, mixed bool, recs []Record, failed []int) {
	t.Helper()
	if !mixed {
		if !slices.Equal(failed, allIndexes(len(recs))) {
			t.Errorf("Failed = %v, want every record (their fate is unknown to kafka-go)", failed)
		}
		return
	}
	if len(failed) == 0 {
		t.Errorf("Failed is empty, want at least the held request's records")
	}
	for i, r := range recs {
		if _, ok := slices.BinarySearch(failed, i); !ok && r.Topic == "" {
			t.Errorf("record %d is neither in Failed nor acknowledged", i)
		}
	}
}

func TestPublishAfterClose(t *testing.T) {
	_, w := clusterWriter(t, "closed")
	publish(t, w, records(1, 5, keyList(3), 10))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	err := w.Publish(context.Background(), records(10, 3, keyList(3), 10))
	we := asWriteError(t, err)
	if !errors.Is(err, ErrClosed) || retry.Temporary(err) || !slices.Equal(we.Failed, []int{0, 1, 2}) {
		t.Errorf("Publish after Close = %v (Failed %v): want ErrClosed for all, not temporary", err, we.Failed)
	}
	// Reading still works.
	if m := mustMarks(t, w); m["closed"] == nil {
		t.Errorf("Marks after Close = %v", m)
	}
	if n := len(scanAll(t, w)); n != 5 {
		t.Errorf("Scan after Close: %d records, want 5", n)
	}
}

// Marks, ReadBack and Scan run while Publish does, and while it fences
// (the race detector checks the writer's state).
func TestReadWhilePublishing(t *testing.T) {
	_, w := clusterWriter(t, "busy")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	stop := make(chan struct{})
	readers := make(chan error, 1)
	go func() {
		defer close(readers)
		for {
			select {
			case <-stop:
				return
			default:
			}
			m, err := w.Marks(ctx, time.Time{})
			if err == nil {
				_, err = w.ReadBack(ctx, m, func(Found) error { return nil })
			}
			if err == nil {
				err = w.Scan(ctx, func(Message) error { return nil })
			}
			if err != nil {
				readers <- err
				return
			}
		}
	}()
	for i := range 10 {
		recs := append(records(int64(i*100), 20, keyList(5), 20), deadLetters(int64(i*100+50), 2)...)
		if i%3 == 2 { // a canceled Publish, fenced
			cctx, ccancel := context.WithCancel(ctx)
			ccancel()
			_ = w.Publish(cctx, recs)
			continue
		}
		publish(t, w, recs)
	}
	close(stop)
	if err := <-readers; err != nil {
		t.Fatalf("reader: %v", err)
	}
}

func TestMergeErrors(t *testing.T) {
	e1, e2, e3 := errors.New("a"), errors.New("b"), errors.New("c")
	got := mergeErrors(&WriteError{Failed: []int{0, 4}, Errs: []error{e1, e1}}, &WriteError{Failed: []int{1, 3}, Errs: []error{e2, e3}})
	if !slices.Equal(got.Failed, []int{0, 1, 3, 4}) || !slices.Equal(got.Errs, []error{e1, e2, e3, e1}) {
		t.Errorf("record by record: %v %v", got.Failed, got.Errs)
	}
	got = mergeErrors(&WriteError{Failed: []int{0, 2, 5}, Errs: []error{e1}}, &WriteError{Failed: []int{1, 4}, Errs: []error{e2, e3}})
	if !slices.Equal(got.Failed, []int{0, 1, 2, 4, 5}) || !slices.Equal(got.Errs, []error{e1, e2, e3}) {
		t.Errorf("whole group: %v %v", got.Failed, got.Errs)
	}
}
