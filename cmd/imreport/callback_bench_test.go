package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imreport/imreport/internal/fake/simulator"
	"github.com/imreport/imreport/internal/testkit"
	"github.com/imreport/imreport/internal/testkit/harness"
	"github.com/imreport/imreport/pipeline"
)

// BenchmarkCallbackThroughput: 64 vendor connections POST one message per
// callback, as the vendor documents, to the receiver of a tailing run
// publishing to kfake over loopback (acks=all). It reports callbacks per
// second answered 200.
//
//	go test -run '^$' -bench BenchmarkCallbackThroughput -benchtime 20000x ./cmd/imreport
func BenchmarkCallbackThroughput(b *testing.B) {
	const conns = 64
	now := time.Now().UTC()
	msgs := simulator.Generate(simulator.GenSpec{Seed: 81, Start: now.Add(-time.Minute), End: now, Count: b.N})
	api := httptest.NewServer(simulator.New(simulator.Config{AppKey: harness.AppKey, MasterSecret: harness.Secret}, nil)) // no history: only callbacks
	defer api.Close()
	env := map[string]string{
		"IMREPORT_APP_KEY": harness.AppKey, "IMREPORT_MASTER_SECRET": harness.Secret, "IMREPORT_API_URL": api.URL,
		"IMREPORT_START": "-1m", "IMREPORT_KAFKA_BROKERS": strings.Join(testkit.Brokers(b), ","), "IMREPORT_KAFKA_PARTITIONS": "3",
		"IMREPORT_KAFKA_REPLICATION_FACTOR": "1", "IMREPORT_CHECKPOINT_PATH": b.TempDir() + "/imreport.db",
		"IMREPORT_HTTP_ADDR": "", "IMREPORT_LOG_LEVEL": "error", "IMREPORT_CALLBACK_ADDR": "127.0.0.1:0",
		"IMREPORT_SETTLE": "1s", "IMREPORT_POLL_INTERVAL": "1s",
	}
	cfg, err := loadConfig(context.Background(), mapLookup(env), now, true)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	var pipe *pipeline.Pipeline
	done := make(chan error, 1)
	go func() {
		done <- runPipeline(ctx, cfg, newLogger(new(testkit.Buffer), cfg.LogLevel), runHooks{
			OnCallback: func(a string) { addrc <- a },
			OnPipeline: func(x *pipeline.Pipeline) { pipe = x },
		})
	}()
	url := "http://" + <-addrc + "/callback"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		bodies[i] = append(append([]byte(`{"total":1,"messages":[`), m.JSON...), "]}"...)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(bodies)) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
				req.SetBasicAuth(harness.AppKey, harness.Secret)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body) // so the connection is reused
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(len(bodies))/b.Elapsed().Seconds(), "callbacks/s")
	s := pipe.Stats()
	b.ReportMetric(float64(s.CallbackRequests)/float64(max(1, s.CallbackWrites)), "callbacks/write")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
