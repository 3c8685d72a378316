package main

import (
	"regexp"
	"strings"
)

// shownDefault is the documented default of v (Markdown).
func (v variable) shownDefault() string {
	switch {
	case v.Default != "":
		return "`" + v.Default + "`"
	case v.Shown != "":
		return v.Shown
	default:
		return "empty"
	}
}

// docRow is v's row in docs/configuration.md's table.
func (v variable) docRow() string {
	return "| `" + v.Name + "` | " + v.shownDefault() + " | " + v.Meaning + " |"
}

// variablesHelp renders the variables for a terminal: name and default on
// one line, the meaning wrapped and indented below, Markdown backticks
// dropped.
func variablesHelp() string {
	var b strings.Builder
	b.WriteString("\nEnvironment variables (default: meaning):\n")
	for _, v := range variables {
		b.WriteString("\n  " + v.Name + " (" + plain(v.shownDefault()) + ")\n")
		for _, line := range wrap(plain(v.Meaning), 72) {
			b.WriteString("      " + line + "\n")
		}
	}
	return b.String()
}

// mdLink is a Markdown link, [text](target).
var mdLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// plain drops Markdown code marks and keeps only the text of links.
func plain(s string) string {
	return strings.ReplaceAll(mdLink.ReplaceAllString(s, "$1"), "`", "")
}

// logKey is v's key in the start-up log.
func (v variable) logKey() string {
	if v.LogKey != "" {
		return v.LogKey
	}
	return strings.ToLower(strings.TrimPrefix(v.Name, "IMREPORT_"))
}

// logged is what the start-up log shows for v: the effective value, or for
// a secret only whether it is set.
func (v variable) logged(c *Config) any {
	val := v.Log(c)
	if !v.Secret {
		return val
	}
	if s, _ := val.(string); s != "" {
		return "(set)"
	}
	return "(unset)"
}

// secretNames lists the secret variables, each in code marks, joined for
// a sentence.
func secretNames() string {
	var names []string
	for _, v := range variables {
		if v.Secret {
			names = append(names, "`"+v.Name+"`")
		}
	}
	switch len(names) {
	case 0:
		return "none"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// configurationDoc renders docs/configuration.md.
func configurationDoc() string {
	var b strings.Builder
	b.WriteString(`<!-- Generated from cmd/imreport/vars.go by "go generate ./cmd/imreport"; do not edit. -->

# Configuration

imreport is configured by environment variables only; ` + "`imreport run --help`" + ` prints the same
list. All problems are reported at once, and ` + "`run`" + ` exits 2 on any. Only
` + "`IMREPORT_APP_KEY`, `IMREPORT_MASTER_SECRET` and `IMREPORT_KAFKA_BROKERS`" + ` are required to start;
` + "`doctor`, `audit` and `read`" + ` take the same variables (` + "`read`" + ` needs no app key).

Secrets (` + secretNames() + `) never appear in logs or errors: the start-up log line
(` + "`starting imreport`" + `) lists the effective configuration, one key per variable, and shows
them as ` + "`(set)` or `(unset)`" + `.

To add a variable, add its entry to ` + "`variables`" + ` in [cmd/imreport/vars.go](../cmd/imreport/vars.go)
and use it in ` + "`loadConfig`" + ` ([cmd/imreport/config.go](../cmd/imreport/config.go)); then regenerate
this file with ` + "`go generate ./cmd/imreport`" + ` (a test fails while it is stale).

| variable | default | meaning |
|---|---|---|
`)
	for _, v := range variables {
		b.WriteString(v.docRow() + "\n")
	}
	return b.String()
}

// wrap breaks s into lines of at most width runes where it can (a longer
// word gets a line of its own).
func wrap(s string, width int) []string {
	var lines []string
	var cur strings.Builder
	for _, w := range strings.Fields(s) {
		if cur.Len() > 0 && len([]rune(cur.String()))+1+len([]rune(w)) > width {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(w)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
