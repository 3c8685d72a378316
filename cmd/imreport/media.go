package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/sethvargo/go-envconfig"

	"github.com/imreport/imreport/internal/media"
	"github.com/imreport/imreport/schema/registry"
)

const mediaUsage = `imreport media

Archives the media of the chat history: reads the messages topic as a member
of a Kafka consumer group (IMREPORT_MEDIA_GROUP; replicas share the
partitions), resolves each image, voice, file and video (and its thumbnail)
through the IM API (IMREPORT_IM_API_URL, GET /v1/resource), downloads it
streamed to a spool file, checks its size, CRC-32 and hash against the
message, stores it content-addressed (IMREPORT_MEDIA_URL: file:///dir or
s3://bucket/prefix) and publishes one record per media reference, exactly
once, to the media topic (IMREPORT_MEDIA_TOPIC, default <topic>.media). Runs
until SIGINT or SIGTERM. Read the media topic with
"imreport read --topic <topic>.media". See docs/media.md.

Uses run's variables for the API credentials, Kafka and the registry, and the
IMREPORT_MEDIA_* ones (run --help lists them all).

Exit codes: 0 stopped cleanly, 1 failed, 2 bad configuration.
`

func cmdMedia(ctx context.Context, args []string, stdout, stderr io.Writer, lookup envconfig.Lookuper) int {
	cfg, code, done := commandConfig(ctx, "media", mediaUsage, args, stdout, stderr, lookup)
	if done {
		return code
	}
	logger := newLogger(stderr, cfg.LogLevel)
	logger.Info("starting imreport media", "version", buildVersion(), "config", cfg)
	if err := serveMedia(ctx, cfg, logger, nil); err != nil {
		logger.Error("imreport media failed", "error", err)
		return exitFailed
	}
	return exitOK
}

// serveMedia runs imreport media with cfg until ctx ends; onMetrics (nil =
// none) is given its metrics.
func serveMedia(ctx context.Context, cfg Config, logger *slog.Logger, onMetrics func(*media.Metrics)) error {
	opts := mediaOptions(cfg, logger)
	opts.OnMetrics = onMetrics
	dec, err := registry.Decoder(cfg.Registry)
	if err != nil {
		return err
	}
	opts.Decoder = dec
	opts.Codec, err = registry.MediaCodec(ctx, cfg.ValueFormat, cfg.Registry, cfg.Media.Subject, logger)
	if err != nil {
		return err
	}
	return media.Serve(ctx, opts)
}

// mediaOptions is imreport media's configuration of cfg (without the
// decoder and codec, which need the registry).
func mediaOptions(cfg Config, logger *slog.Logger) media.Options {
	return media.Options{
		Kafka: sinkConfig(cfg, logger), MediaTopic: cfg.Media.Topic, Group: cfg.Media.Group, SessionTimeout: cfg.Media.SessionTimeout,
		APIURL: cfg.Media.APIURL, AppKey: cfg.AppKey, MasterSecret: cfg.MasterSecret, APITimeout: cfg.APITimeout,
		StoreURL: cfg.Media.StoreURL, RateLimit: cfg.Media.RateLimit, Concurrency: cfg.Media.Concurrency,
		MaxSize: int64(cfg.Media.MaxSize), MaxAttempts: cfg.Media.MaxAttempts, DownloadTimeout: cfg.Media.DownloadTimeout,
		SpoolDir: cfg.Media.SpoolDir, HTTPAddr: cfg.HTTPAddr, ProgressEvery: cfg.ProgressEvery, Logger: logger,
	}
}
