package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Bucket statuses.
const (
	StatusOK         = "ok"         // the API's total equals the distinct msgids held, no duplicates
	StatusMissing    = "missing"    // the API serves more than the topics hold
	StatusExtra      = "extra"      // the topics hold more than the API serves now
	StatusDuplicates = "duplicates" // the counts match but some msgid is held more than once
)

// Report is the result of an audit.
type Report struct {
	From      time.Time      `json:"from"`
	To        time.Time      `json:"to"`
	Bucket    Duration       `json:"bucket"`
	Topic     string         `json:"topic"`
	DLQTopic  string         `json:"dlq_topic"`
	Streams   []StreamReport `json:"streams"`
	Statistic *StatReport    `json:"statistics,omitempty"`
	Summary   Summary        `json:"summary"`
}

// StreamReport is the audit of one stream.
type StreamReport struct {
	Stream string `json:"stream"`
	// Queried is how the poller's bounds are built for the endpoint
	// ("inclusive" [from, to-1s] or "strict" (from-1s, to)); Read is how the
	// server was found to read them (one probe request), or "unprobed" when
	// the topics hold no message of the stream to probe with (every count
	// is then compared over [from, to)).
	Queried string         `json:"queried_bounds"`
	Read    string         `json:"read_bounds"`
	Buckets []BucketReport `json:"buckets"`
}

// BucketReport compares one bucket of one stream.
type BucketReport struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// CoverFrom and CoverTo are the send seconds [CoverFrom, CoverTo) the
	// API's total covers (see Coverage); the topic side is counted over the
	// same seconds.
	CoverFrom time.Time `json:"cover_from"`
	CoverTo   time.Time `json:"cover_to"`
	API       int64     `json:"api_total"`
	// Asked lists every total the API gave when the first one differed
	// from the topics (asked again until one comes back three times, at
	// most seven answers; the median when none does).
	Asked        []int64 `json:"api_totals_asked,omitempty"`
	InTopic      int64   `json:"in_topic"`
	DeadLettered int64   `json:"dead_lettered"`
	Duplicates   int64   `json:"duplicates"`
	Difference   int64   `json:"difference"` // API - InTopic - DeadLettered: > 0 missing, < 0 extra
	Status       string  `json:"status"`
}

// Summary totals an audit.
type Summary struct {
	Clean      bool `json:"clean"` // every bucket ok (and every statistics bucket, when asked)
	Buckets    int  `json:"buckets"`
	Mismatched int  `json:"mismatched"`
	// Missing and Extra sum the positive and negative differences.
	Missing    int64 `json:"missing"`
	Extra      int64 `json:"extra"`
	Duplicates int64 `json:"duplicates"`
	// Records is how many records of this app were read from the two
	// topics; Undecodable how many main-topic values did not decode;
	// Placed how many were placed other than by create_time.
	Records        int64            `json:"records_read"`
	Undecodable    int64            `json:"undecodable"`
	Placed         map[string]int64 `json:"placed_by,omitempty"`
	Requests       int64            `json:"api_requests"`
	KafkaTime      Duration         `json:"kafka_elapsed"`
	APITime        Duration         `json:"api_elapsed"`
	Elapsed        Duration         `json:"elapsed"`
	StatMismatched int              `json:"statistics_mismatched,omitempty"`
}

// Duration marshals as "1h0m0s".
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Mismatched returns, per stream, the buckets that are not ok.
func (r *Report) Mismatched() map[string][]BucketReport {
	out := map[string][]BucketReport{}
	for _, s := range r.Streams {
		for _, b := range s.Buckets {
			if b.Status != StatusOK {
				out[s.Stream] = append(out[s.Stream], b)
			}
		}
	}
	return out
}

// WriteTable writes the report for people: one table per stream (all
// buckets), the statistics table, and the summary.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	stamp := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }
	for _, s := range r.Streams {
		fmt.Fprintf(tw, "\nstream %s (bounds queried %s, read %s by the server)\n", s.Stream, s.Queried, s.Read)
		fmt.Fprintln(tw, "bucket (UTC)\tapi total\tin topic\tdead-lettered\tduplicates\tdifference\tstatus\t")
		for _, b := range s.Buckets {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%+d\t%s\t\n", stamp(b.From), b.API, b.InTopic, b.DeadLettered, b.Duplicates, b.Difference, b.Status)
		}
	}
	if st := r.Statistic; st != nil {
		fmt.Fprintln(tw, "\nstatistics witness (/v2/statistic/messages; buckets in "+st.Zone+", assumed: the vendor does not say)")
		switch {
		case st.Unavailable != "":
			fmt.Fprintln(tw, "  not available: "+st.Unavailable)
		default:
			for _, n := range st.Notes {
				fmt.Fprintln(tw, "  "+n)
			}
			if len(st.Buckets) > 0 {
				fmt.Fprintln(tw, "unit\tbucket\tstat single\ttopic single\tstat group\ttopic group\tstatus\t")
			}
			for _, b := range st.Buckets {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t\n", b.Unit, b.Time, b.StatSingle, b.TopicSingle, b.StatGroup, b.TopicGroup, b.Status)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	sm := r.Summary
	verdict := "CLEAN: every bucket matches"
	if !sm.Clean {
		verdict = fmt.Sprintf("NOT CLEAN: %d of %d buckets differ", sm.Mismatched, sm.Buckets)
		if sm.StatMismatched > 0 {
			verdict += fmt.Sprintf(", %d statistics buckets differ", sm.StatMismatched)
		}
	}
	var placed []string
	for how, n := range sm.Placed {
		placed = append(placed, fmt.Sprintf("%d by %s", n, how))
	}
	fmt.Fprintf(w, "\naudit of [%s, %s) in %s buckets, topics %s and %s\n", stamp(r.From), stamp(r.To), time.Duration(r.Bucket), r.Topic, r.DLQTopic)
	fmt.Fprintf(w, "%s; missing %d, extra %d, duplicates %d\n", verdict, sm.Missing, sm.Extra, sm.Duplicates)
	fmt.Fprintf(w, "read %d records from Kafka in %s (%d undecodable%s); %d API requests in %s; %s in all\n",
		sm.Records, time.Duration(sm.KafkaTime).Round(time.Millisecond), sm.Undecodable, prefixed("; placed ", strings.Join(placed, ", ")),
		sm.Requests, time.Duration(sm.APITime).Round(time.Millisecond), time.Duration(sm.Elapsed).Round(time.Millisecond))
	return nil
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// Outcome is an audit, with the repair and the audit after it when one
// was made.
type Outcome struct {
	Before *Report       `json:"before"`
	Repair *RepairReport `json:"repair,omitempty"`
	After  *Report       `json:"after,omitempty"`
}

// Clean reports whether the last audit is clean.
func (o Outcome) Clean() bool {
	if o.After != nil {
		return o.After.Summary.Clean
	}
	return o.Before != nil && o.Before.Summary.Clean
}

// WriteJSON writes the report alone when no repair was made, else the
// whole outcome.
func (o Outcome) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if o.Repair == nil {
		return enc.Encode(o.Before)
	}
	return enc.Encode(o)
}

// WriteTable writes the audit, the repair and the audit after it.
func (o Outcome) WriteTable(w io.Writer) error {
	if err := o.Before.WriteTable(w); err != nil {
		return err
	}
	if rr := o.Repair; rr != nil {
		fmt.Fprintf(w, "\nrepair: %d messages published, %d dead-lettered, in %d range(s)\n", rr.Published, rr.DeadLettered, len(rr.Ranges))
		for _, r := range rr.Ranges {
			fmt.Fprintf(w, "  %s [%s, %s): %d published, %d dead-lettered, %d already in Kafka\n", r.Stream,
				r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339), r.Published, r.DeadLettered, r.Duplicates)
		}
		for _, n := range rr.Notes {
			fmt.Fprintln(w, "  not repaired: "+n)
		}
	}
	if o.After == nil {
		return nil
	}
	fmt.Fprintln(w, "\naudit after the repair:")
	return o.After.WriteTable(w)
}
