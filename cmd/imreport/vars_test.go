package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

// envTags returns the variables of the struct go-envconfig decodes into
// and their tag defaults.
func envTags(t *testing.T) map[string]string {
	t.Helper()
	tags := map[string]string{}
	typ := envStruct()
	for i := range typ.NumField() {
		tag, ok := typ.Field(i).Tag.Lookup("env")
		if !ok {
			t.Fatalf("env.%s has no env tag", typ.Field(i).Name)
		}
		name, opts, _ := strings.Cut(tag, ",")
		def := ""
		if _, after, found := strings.Cut(opts, "default="); found {
			def = after // default= is the tag's last option
		}
		if _, dup := tags[name]; dup {
			t.Errorf("%s is read by two env fields", name)
		}
		tags[strings.TrimSpace(name)] = def
	}
	return tags
}

// The table agrees with the env struct: the same names, both ways, and the
// same defaults.
func TestVariablesMatchEnvStruct(t *testing.T) {
	tags := envTags(t)
	listed := map[string]bool{}
	for _, v := range variables {
		if listed[v.Name] {
			t.Errorf("%s is listed twice", v.Name)
		}
		listed[v.Name] = true
		def, ok := tags[v.Name]
		switch {
		case !ok:
			t.Errorf("%s is listed but no env field reads it", v.Name)
		case def != v.Default:
			t.Errorf("%s: listed default %q, env tag default %q", v.Name, v.Default, def)
		}
		if v.Default != "" && v.Shown != "" {
			t.Errorf("%s: Shown is only for variables without a default", v.Name)
		}
		if strings.TrimSpace(v.Meaning) == "" || strings.Contains(v.Meaning, "|") || strings.Contains(v.Meaning, "\n") {
			t.Errorf("%s: the meaning must be one non-empty line without |", v.Name)
		}
	}
	for name := range tags {
		if !listed[name] {
			t.Errorf("env field reads %s but variables does not list it; add {Name: %q, ...} to vars.go", name, name)
		}
	}
}

// docs/configuration.md's table (once README.md's) holds exactly the rows
// the table renders, in the same order: nothing missing, nothing extra,
// nothing reworded.
func TestVariablesMatchConfigurationDoc(t *testing.T) {
	readme, err := os.ReadFile(configurationDocPath)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `IMREPORT_") {
			rows = append(rows, strings.TrimSpace(line))
		}
	}
	var want []string
	for _, v := range variables {
		want = append(want, v.docRow())
	}
	for _, w := range want {
		if !slices.Contains(rows, w) {
			t.Errorf("docs/configuration.md lacks the row (or has it reworded):\n%s", w)
		}
	}
	for _, r := range rows {
		if !slices.Contains(want, r) {
			t.Errorf("docs/configuration.md has a row no variable renders (remove it or fix vars.go):\n%s", r)
		}
	}
	if !t.Failed() && !slices.Equal(rows, want) {
		t.Errorf("docs/configuration.md lists the variables in another order than vars.go")
	}
}

// `run --help` prints its text once, on stdout, followed by every variable
// with its default and meaning.
func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"run", "--help"}, &stdout, &stderr, envconfig.MapLookuper(nil)); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	out := stdout.String()
	if stderr.Len() != 0 {
		t.Errorf("stderr: %q", stderr.String())
	}
	if n := strings.Count(out, "Runs the pipeline"); n != 1 {
		t.Errorf("help text printed %d times", n)
	}
	for _, v := range variables {
		i := strings.Index(out, "\n  "+v.Name+" ("+plain(v.shownDefault())+")\n")
		if i < 0 {
			t.Errorf("help lacks %s with its default", v.Name)
			continue
		}
		// The meaning follows, wrapped; compare it without the line breaks.
		rest := out[i+1:]
		rest = rest[strings.Index(rest, "\n")+1:]
		if end := strings.Index(rest, "\n\n"); end >= 0 {
			rest = rest[:end]
		}
		if got := strings.Join(strings.Fields(rest), " "); got != strings.Join(strings.Fields(plain(v.Meaning)), " ") {
			t.Errorf("%s: help says %q, want %q", v.Name, got, plain(v.Meaning))
		}
	}
}

// Every command's --help prints once, on stdout; a bad flag prints the
// error and the usage once, on stderr, and exits 2.
func TestHelpOnce(t *testing.T) {
	for _, c := range commands() {
		var stdout, stderr bytes.Buffer
		if code := Main(context.Background(), []string{c.name, "--help"}, &stdout, &stderr, envconfig.MapLookuper(nil)); code != exitOK {
			t.Errorf("%s --help: exit %d", c.name, code)
		}
		first, _, _ := strings.Cut(c.usage, "\n")
		if n := strings.Count(stdout.String(), first+"\n"); n != 1 || stderr.Len() != 0 {
			t.Errorf("%s --help: usage %d times on stdout, stderr %q", c.name, n, stderr.String())
		}
		stdout.Reset()
		stderr.Reset()
		if code := Main(context.Background(), []string{c.name, "--no-such-flag"}, &stdout, &stderr, envconfig.MapLookuper(nil)); code != exitUsage {
			t.Errorf("%s --no-such-flag: exit %d", c.name, code)
		}
		if n := strings.Count(stderr.String(), first+"\n"); n != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "no-such-flag") {
			t.Errorf("%s --no-such-flag: usage %d times on stderr, stdout %q", c.name, n, stdout.String())
		}
	}
}

var varName = regexp.MustCompile(`IMREPORT_[A-Z0-9_]*[A-Z0-9]`)

// Every IMREPORT_* name the deployment files (kustomize, Helm chart,
// Dockerfile) use is a variable imreport reads: a typo there would be
// ignored silently at run time.
func TestDeployNamesAreVariables(t *testing.T) {
	known := map[string]bool{}
	for _, v := range variables {
		known[v.Name] = true
	}
	var files []string
	err := filepath.WalkDir(filepath.Join("..", "..", "deploy"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml", ".tpl", ".txt", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "..", "Dockerfile"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range varName.FindAllString(string(b), -1) {
			if !known[name] {
				t.Errorf("%s names %s, which is not a configuration variable", f, name)
			}
		}
	}
	if len(files) < 5 {
		t.Errorf("only %d deployment files found: wrong directory?", len(files))
	}
}
