package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the repository, seen from this package's directory.
var repoRoot = filepath.Join("..", "..")

// The commands README.md opens with, exactly: what works on a fresh
// machine.
var readmeCommands = []string{"go run ./cmd/imreport demo", "go test -race ./..."}

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// docFiles are the Markdown files whose links and commands are checked:
// README.md, CHANGELOG.md and docs/*.md.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "CHANGELOG.md"}
	more, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range more {
		files = append(files, filepath.ToSlash(filepath.Join("docs", filepath.Base(f))))
	}
	if len(files) < 8 {
		t.Fatalf("only %d documents found: wrong directory?", len(files))
	}
	return files
}

// splitCode returns doc's fenced code blocks (their lines) and the rest
// (prose, one string per line, with fenced lines left out).
func splitCode(doc string) (code, prose []string) {
	fenced := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			code = append(code, line)
		} else {
			prose = append(prose, line)
		}
	}
	return code, prose
}

// README.md opens with a code block whose first two commands are the demo
// and the test command, exactly.
func TestReadmeFirstCommands(t *testing.T) {
	code, _ := splitCode(readDoc(t, "README.md"))
	var got []string
	for _, line := range code {
		cmd, _, _ := strings.Cut(line, "#")
		if cmd = strings.TrimSpace(cmd); cmd != "" {
			got = append(got, cmd)
		}
		if len(got) == len(readmeCommands) {
			break
		}
	}
	if !slices.Equal(got, readmeCommands) {
		t.Errorf("README.md's first commands are %q, want %q", got, readmeCommands)
	}
	// The README must open with them: nothing but the title before.
	doc := readDoc(t, "README.md")
	if i := strings.Index(doc, readmeCommands[0]); i < 0 || strings.Count(doc[:i], "\n") > 3 {
		t.Errorf("README.md does not start with %q", readmeCommands[0])
	}
}

var (
	codeSpan  = regexp.MustCompile("`[^`\n]+`")
	subcmdUse = regexp.MustCompile(`(?:^|[\s(/])imreport ([a-z][a-z0-9-]*)`)
)

// Every `imreport <subcommand>` in README.md, CHANGELOG.md and docs/ (in
// code spans and code blocks) is a command imreport has.
func TestDocCommandsExist(t *testing.T) {
	known := map[string]bool{}
	for _, c := range commands() {
		known[c.name] = true
	}
	for _, f := range docFiles(t) {
		code, prose := splitCode(readDoc(t, f))
		texts := code
		for _, line := range prose {
			texts = append(texts, codeSpan.FindAllString(line, -1)...)
		}
		for _, text := range texts {
			for _, m := range subcmdUse.FindAllStringSubmatch(strings.Trim(text, "`"), -1) {
				if !known[m[1]] {
					t.Errorf("%s mentions `imreport %s`, which is not a command: %s", f, m[1], strings.TrimSpace(text))
				}
			}
		}
	}
}

// README.md's command table lists every command once, in the order of the
// command table, and nothing else.
func TestReadmeCommandTable(t *testing.T) {
	row := regexp.MustCompile("^\\| `imreport ([a-z0-9-]+)` \\|")
	var listed, want []string
	for _, line := range strings.Split(readDoc(t, "README.md"), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			listed = append(listed, m[1])
		}
	}
	for _, c := range commands() {
		want = append(want, c.name)
	}
	if !slices.Equal(listed, want) {
		t.Errorf("README.md's command table lists %q, want %q", listed, want)
	}
}

var mdLinkTarget = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// anchors returns the GitHub anchors of doc's headings.
func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	_, prose := splitCode(doc)
	for _, line := range prose {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// Every relative link in README.md, CHANGELOG.md and docs/*.md points to a
// file that exists and, with a #fragment, to a heading it has.
func TestDocLinks(t *testing.T) {
	for _, f := range docFiles(t) {
		doc := readDoc(t, f)
		_, prose := splitCode(doc)
		for _, line := range prose {
			for _, m := range mdLinkTarget.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, frag, _ := strings.Cut(target, "#")
				file := f
				if path != "" {
					file = filepath.ToSlash(filepath.Join(filepath.Dir(f), path))
				}
				st, err := os.Stat(filepath.Join(repoRoot, file))
				if err != nil {
					t.Errorf("%s links to %s, which does not exist", f, target)
					continue
				}
				if frag == "" {
					continue
				}
				if st.IsDir() || !strings.HasSuffix(file, ".md") {
					t.Errorf("%s links to %s: a #fragment on something not Markdown", f, target)
					continue
				}
				if !anchors(readDoc(t, file))[frag] {
					t.Errorf("%s links to %s, but %s has no heading #%s", f, target, file, frag)
				}
			}
		}
	}
}

// The anchors are GitHub's.
func TestDocAnchors(t *testing.T) {
	got := anchors("# imreport\n## Flink SQL (`avro-confluent`)\n```\n# not a heading\n```\n## Nothing twice, across a crash\n## A\n## A\n")
	for _, want := range []string{"imreport", "flink-sql-avro-confluent", "nothing-twice-across-a-crash", "a", "a-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("a comment in a code block was taken for a heading")
	}
}
