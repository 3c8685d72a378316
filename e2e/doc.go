// Package e2e tests the built imreport binary from outside: chaos
// (kill -9 over a long backfill, with and without callbacks), signals, the
// terminal (pty) and the defaults. The tests build cmd/imreport
// themselves (harness.BuildBinary) and use only its command line, its
// environment variables and the exported APIs of the module.
//
// Tests that need identifiers of package main (the in-process Main, its
// configuration loader, its run hooks) stay in cmd/imreport.
package e2e
