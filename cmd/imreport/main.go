// Command imreport copies chat history from the JMessage IM REST Report API
// into a Kafka topic as Avro, exactly once.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sethvargo/go-envconfig"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr, envconfig.OsLookuper())
	stop()
	os.Exit(code)
}
