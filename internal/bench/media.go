package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// MediaSpec configures the media part of a measurement (Spec.Media): while
// the run publishes, imreport media runs in a process of its own against the
// same simulator (whose /v1/resource answers Latency late) and broker, until
// it has published Items records.
type MediaSpec struct {
	Command []string      // how to start imreport media: the binary and "media"
	Items   int           // records to wait for; 0 = 100
	Latency time.Duration // of every /v1/resource answer
	Rate    float64       // IMREPORT_MEDIA_RATE_LIMIT
	MaxSize int64         // media sizes below this (GenSpec.MediaMaxSize); 0 = 16 KiB
	Timeout time.Duration // for the whole media measurement; 0 = 10 minutes
}

// MediaResult is what the media process did.
type MediaResult struct {
	Items     int64         // records published when measured
	Counted   int64         // of them, published during Elapsed
	Elapsed   time.Duration // from its first tenth of Items to Items
	Rate      float64       // IMREPORT_MEDIA_RATE_LIMIT
	Latency   time.Duration
	Requests  int64 // /v1/resource requests the simulator answered
	Archived  int64
	Published int64
}

// PerSec is records per second in the steady state: Counted over Elapsed.
func (m MediaResult) PerSec() float64 {
	if m.Elapsed <= 0 {
		return 0
	}
	return float64(m.Counted) / m.Elapsed.Seconds()
}

// Fraction is PerSec over the rate limit.
func (m MediaResult) Fraction() float64 { return m.PerSec() / m.Rate }

// mediaProc is imreport media as a child process, its /metrics polled.
type mediaProc struct {
	cmd     *exec.Cmd
	metrics string
	done    chan error
	log     *os.File
}

// startMedia starts imreport media with env (and the child's own
// IMREPORT_HTTP_ADDR) once the messages topic exists.
func startMedia(ctx context.Context, spec MediaSpec, env map[string]string, dir string) (*mediaProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: media port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := waitTopic(ctx, env["IMREPORT_KAFKA_BROKERS"], "imreport.messages"); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "media.log"))
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cmd := exec.Command(spec.Command[0], spec.Command[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "IMREPORT_HTTP_ADDR="+addr, "IMREPORT_LOG_LEVEL=warn",
		"IMREPORT_MEDIA_URL=file://"+filepath.Join(dir, "media"), "IMREPORT_MEDIA_SESSION_TIMEOUT=6s",
		"IMREPORT_MEDIA_RATE_LIMIT="+strconv.FormatFloat(spec.Rate, 'f', -1, 64))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("bench: start imreport media: %w", err)
	}
	p := &mediaProc{cmd: cmd, metrics: "http://" + addr + "/metrics", done: make(chan error, 1), log: logf}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

// measure waits until the process has published items records and returns
// how many it published from the moment it had published a tenth of them
// (its start-up, the group's join and its writer's first connection left
// out) to then, and the time that took.
func (p *mediaProc) measure(ctx context.Context, items int) (n, counted int64, elapsed time.Duration, err error) {
	var first time.Time
	var atFirst int64
	from := max(1, int64(items)/10)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return n, 0, 0, fmt.Errorf("bench: imreport media published %d of %d records: %w", n, items, ctx.Err())
		case err := <-p.done:
			p.done <- err
			return n, 0, 0, fmt.Errorf("bench: imreport media exited: %v (see %s)", err, p.log.Name())
		case <-t.C:
		}
		got, err := p.records()
		if err != nil {
			continue // not serving yet
		}
		now := time.Now()
		if got >= from && first.IsZero() {
			first, atFirst = now, got
		}
		if got >= int64(items) {
			return got, got - atFirst, now.Sub(first), nil
		}
		n = got
	}
}

// records sums imreport_media_records_total.
func (p *mediaProc) records() (int64, error) {
	resp, err := http.Get(p.metrics) //nolint:noctx // local, short
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "imreport_media_records_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return int64(sum), sc.Err()
}

// stop interrupts the process and waits for it.
func (p *mediaProc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// waitTopic waits until topic exists (the run creates it at its start).
func waitTopic(ctx context.Context, brokers, topic string) error {
	client := &kafka.Client{Addr: kafka.TCP(strings.Split(brokers, ",")...), Timeout: 5 * time.Second}
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil {
			for _, t := range md.Topics {
				if t.Name == topic && t.Error == nil && len(t.Partitions) > 0 {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: topic %s never appeared: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
