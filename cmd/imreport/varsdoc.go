package main

import (
	"strings"
)

// shownDefault is the README's default column for v.
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

// readmeRow is v's row in README.md's configuration table.
func (v variable) readmeRow() string {
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

// plain drops Markdown code marks.
func plain(s string) string { return strings.ReplaceAll(s, "`", "") }

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
