package ownership

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/imreport/imreport/internal/testkit"
)

// member is one Run in the test, reporting each lease it is given.
type member struct {
	name   string
	cancel context.CancelFunc
	leases chan *Lease
	done   chan error
}

func startMember(t *testing.T, name string, brokers []string, topic string) *member {
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, cancel: cancel, leases: make(chan *Lease, 4), done: make(chan error, 1)}
	cfg := Config{GroupID: "owners", Brokers: brokers, Dialer: &kafka.Dialer{Timeout: 10 * time.Second}, Topic: topic,
		SessionTimeout: 6 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go func() {
		m.done <- Run(ctx, cfg, func(ctx context.Context, l *Lease) error {
			m.leases <- l
			<-ctx.Done()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-m.done
	})
	return m
}

// TestOneOwnerAndATakeover: of two members one owns the state partition and
// the other stands by; when the owner leaves, the other is given it, and
// the old lease no longer passes Check.
func TestOneOwnerAndATakeover(t *testing.T) {
	brokers := testkit.Brokers(t)
	const topic = "own.state"
	conn, err := kafka.Dial("tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.CreateTopics(kafka.TopicConfig{Topic: topic, NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	a := startMember(t, "a", brokers, topic)
	var owner, other *member
	var lease *Lease
	select {
	case lease = <-a.leases:
		owner = a
	case <-time.After(time.Minute):
		t.Fatal("the only member was not given the ownership within a minute")
	}
	if err := lease.Check(t.Context()); err != nil {
		t.Fatalf("Check of the owner: %v", err)
	}
	b := startMember(t, "b", brokers, topic)
	other = b
	// b joining makes a rebalance: a may lose and win again, but never
	// both own at once, and one of them ends up the owner.
	deadline := time.After(time.Minute)
	settled := time.After(15 * time.Second)
wait:
	for {
		select {
		case l := <-a.leases:
			owner, other, lease = a, b, l
		case l := <-b.leases:
			owner, other, lease = b, a, l
		case <-settled:
			break wait
		case <-deadline:
			t.Fatal("no owner settled")
		}
	}
	if err := lease.Check(t.Context()); err != nil {
		t.Fatalf("Check of the owner %s after the rebalance: %v", owner.name, err)
	}
	t.Logf("%s owns generation %d, %s stands by", owner.name, lease.Generation, other.name)

	owner.cancel()
	if err := <-owner.done; err != nil {
		t.Fatalf("the owner's Run: %v", err)
	}
	owner.done <- nil // for the cleanup
	began := time.Now()
	select {
	case l := <-other.leases:
		t.Logf("%s took over (generation %d) %v after the owner left", other.name, l.Generation, time.Since(began).Round(time.Millisecond))
		if err := l.Check(t.Context()); err != nil {
			t.Fatalf("Check of the new owner: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the standby was not given the ownership within a minute")
	}
	lease.fresh = 0 // ask the coordinator, whatever the time
	if err := lease.Check(t.Context()); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Check of the old lease = %v, want ErrNotOwner", err)
	}
}

// TestStickyAssignment: the state partition goes to the most recent
// holder, whoever joins; without one, to the lowest member id.
func TestStickyAssignment(t *testing.T) {
	parts := []kafka.Partition{{Topic: "s", ID: 0}}
	got := newSticky().AssignGroups([]kafka.GroupMember{
		{ID: "b", UserData: []byte("-1")}, {ID: "c", UserData: []byte("7")}, {ID: "a", UserData: []byte("3")},
	}, parts)
	if len(got["c"]["s"]) != 1 || len(got["a"]["s"]) != 0 || len(got["b"]["s"]) != 0 {
		t.Fatalf("assignment %v, want the partition for c (held it in generation 7)", got)
	}
	got = newSticky().AssignGroups([]kafka.GroupMember{{ID: "b"}, {ID: "a", UserData: []byte("x")}}, parts)
	if len(got["a"]["s"]) != 1 {
		t.Fatalf("assignment %v, want the partition for a (lowest id, no holder)", got)
	}
}
