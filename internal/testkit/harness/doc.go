// Package harness is what tests of imreport's commands share, in process
// (cmd/imreport) and against the built binary (e2e): a history the Report
// API simulator serves, the configuration of a run over it, the topic read
// back and decoded, and the exactly-once checks of what a run published.
//
// Only tests import it.
package harness
