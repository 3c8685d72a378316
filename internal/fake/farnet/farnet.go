// Package farnet makes a server far away: a net.Listener whose connections
// deliver everything the server writes a fixed delay late, as a network
// round trip would, without limiting throughput. Tests and `imreport bench
// --kafka-latency` start kfake on it (kfake.ListenFn) to play a Kafka
// cluster in another region, or a broker slow to answer.
//
// # Delay
//
// Each Write is copied and returns at once; the bytes reach the peer Delay
// after the Write, in order. A Close is delivered after the bytes written
// before it. Reads are not delayed: a request arrives at once and its
// answer Delay late, so a client sees a round trip of Delay plus the
// server's own time.
package farnet

import (
	"net"
	"sync"
	"time"
)

// Listen listens on network and address (as net.Listen) and delays what the
// accepted connections write by delay; 0 delays nothing.
func Listen(network, address string, delay time.Duration) (net.Listener, error) {
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return Wrap(l, delay), nil
}

// ListenFn returns a function with net.Listen's signature (for
// kfake.ListenFn) whose listeners delay what they write by delay.
func ListenFn(delay time.Duration) func(network, address string) (net.Listener, error) {
	return func(network, address string) (net.Listener, error) { return Listen(network, address, delay) }
}

// Wrap returns l with every accepted connection's writes delayed by delay.
func Wrap(l net.Listener, delay time.Duration) net.Listener {
	if delay <= 0 {
		return l
	}
	return &listener{Listener: l, delay: delay}
}

type listener struct {
	net.Listener
	delay time.Duration
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newConn(c, l.delay), nil
}

// conn delays its writes: Write queues a copy with its due time, and one
// goroutine writes them out in order when due.
type conn struct {
	net.Conn
	delay time.Duration

	mu      sync.Mutex
	queue   []chunk
	wake    chan struct{} // buffered 1: the queue changed
	closing bool
	err     error // the first error of the underlying Write
	done    chan struct{}
}

type chunk struct {
	due time.Time
	b   []byte
}

func newConn(c net.Conn, delay time.Duration) *conn {
	dc := &conn{Conn: c, delay: delay, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go dc.send()
	return dc
}

// Write queues b to be written delay from now.
func (c *conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.closing {
		return 0, net.ErrClosed
	}
	c.queue = append(c.queue, chunk{due: time.Now().Add(c.delay), b: append([]byte(nil), b...)})
	c.signal()
	return len(b), nil
}

// Close closes the connection once what was written before is delivered.
func (c *conn) Close() error {
	c.mu.Lock()
	c.closing = true
	c.signal()
	c.mu.Unlock()
	<-c.done
	return nil
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// send writes the queued chunks when due, and closes the connection once
// closing and the queue is empty (or a write failed).
func (c *conn) send() {
	defer close(c.done)
	defer c.Conn.Close()
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			closing := c.closing
			c.mu.Unlock()
			if closing {
				return
			}
			<-c.wake
			continue
		}
		next := c.queue[0]
		c.mu.Unlock()
		if wait := time.Until(next.due); wait > 0 {
			time.Sleep(wait)
		}
		_, err := c.Conn.Write(next.b)
		c.mu.Lock()
		c.queue[0] = chunk{}
		c.queue = c.queue[1:]
		if err != nil {
			c.err = err
			c.queue = nil
			c.closing = true
		}
		c.mu.Unlock()
	}
}
