package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

func TestSimulateServesTheAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	env := envconfig.MapLookuper(map[string]string{"IMREPORT_APP_KEY": "k", "IMREPORT_MASTER_SECRET": "sim-secret"})
	go func() {
		done <- Main(ctx, []string{"simulate", "--addr", "127.0.0.1:0", "--messages", "500", "--hours", "2"}, pw, io.Discard, env)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	addr := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`).FindString(line)
	if addr == "" {
		t.Fatalf("no address in %q", line)
	}
	req, _ := http.NewRequest("GET", addr+"/v1/messages?start=0&count=10", nil)
	req.SetBasicAuth("k", "sim-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"total":`) {
		t.Fatalf("GET /v1/messages: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(line, "sim-secret") {
		t.Fatalf("simulate printed the secret: %q", line)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("simulate exited %d", code)
	}
}
