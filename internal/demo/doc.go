// Package demo is imreport demo: the whole pipeline on one machine with
// nothing to install.
//
// # What it runs
//
// Run starts the built-in Report API simulator on loopback (a deterministic
// generated history with every message type, non-ASCII text and bursts), an
// embedded Kafka broker (franz-go's kfake) and, for the Confluent format, an
// embedded Schema Registry (srfake). It then hands the configuration it
// built, as imreport run's environment variables, to a Runner: the command's
// real wiring, so the demo runs exactly what imreport run runs.
//
// # What it checks
//
// After the run it reads the topic back, decodes every record by its framing,
// compares the msgids with what the simulator generated, reads the
// dead-letter topic and the checkpoint, and prints a summary. Run returns an
// error unless every simulated message is in Kafka exactly once and the
// dead-letter topic holds exactly the untransformable ones.
//
// # Live traffic
//
// With Options.Live on, the simulated vendor also pushes live traffic to the
// run's message routing receiver while the run polls, and the summary gives
// the freshness of each path (Kafka ack - msg_ctime).
package demo
