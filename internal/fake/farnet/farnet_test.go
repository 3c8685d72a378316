package farnet

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// An echo server behind Listen answers no sooner than the delay, in order,
// and what it wrote before closing still arrives.
func TestDelayedInOrder(t *testing.T) {
	const delay = 100 * time.Millisecond
	l, err := Listen("tcp", "127.0.0.1:0", delay)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		r := bufio.NewReader(c)
		for i := 0; i < 3; i++ {
			line, err := r.ReadString('\n')
			if err != nil {
				break
			}
			_, _ = c.Write([]byte(line))
		}
		_, _ = c.Write([]byte("bye\n"))
		_ = c.Close()
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	for _, want := range []string{"a\n", "b\n", "c\n"} {
		sent := time.Now()
		if _, err := c.Write([]byte(want)); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("echo %q, want %q", got, want)
		}
		if rt := time.Since(sent); rt < delay {
			t.Fatalf("answer after %s, before the delay %s", rt, delay)
		}
	}
	if got, err := r.ReadString('\n'); err != nil || got != "bye\n" {
		t.Fatalf("last line before close: %q, %v", got, err)
	}
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection still open after the server closed it")
	}
}

// Wrap with no delay returns the listener as it is.
func TestZeroDelay(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if Wrap(l, 0) != l {
		t.Fatal("Wrap(l, 0) wrapped l")
	}
}
