package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/imreport/imreport/internal/testkit/harness"
)

// openPTY returns a pseudo-terminal's controller and terminal ends, the
// terminal sized cols x 40.
func openPTY(t *testing.T, cols int) (ctl, tty *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ctl.Close() })
	fd := int(ctl.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the terminal end: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: uint16(cols)}); err != nil {
		t.Fatalf("set the window size: %v", err)
	}
	return ctl, tty
}

// On a terminal, the demo (the real binary, its stderr on a
// pseudo-terminal) draws a live progress bar that ends full, and no JSON
// progress lines; with stderr not a terminal it draws none.
func TestDemoDrawsAProgressBarOnATerminal(t *testing.T) {
	bin := harness.BuildBinary(t)
	ctl, tty := openPTY(t, 200)
	cmd := exec.Command(bin, "demo", "--messages", "3000", "--bursts", "0", "--hours", "3", "--window", "10m")
	cmd.Env = childEnv(nil)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child holds it now: EOF on ctl once it exits
	var drawn bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&drawn, ctl) // ends with EIO once the terminal closes
		close(copied)
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nterminal:\n%s", err, stdout.String(), drawn.String())
	}
	<-copied
	screen := regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`).ReplaceAllString(drawn.String(), "")
	if !regexp.MustCompile(`messages\s+\[=+\]\s+100\.0%  cursor \S+ \S+  3000 published`).MatchString(screen) {
		t.Errorf("no full progress bar on the terminal:\n%s", screen)
	}
	if strings.Contains(screen, `"msg":"progress"`) {
		t.Errorf("JSON progress lines on a terminal:\n%s", screen)
	}
	if !strings.Contains(stdout.String(), "exactly once") {
		t.Errorf("demo summary:\n%s", stdout.String())
	}

	// Not a terminal: no bar.
	var plain bytes.Buffer
	cmd = exec.Command(bin, "demo", "--messages", "300", "--bursts", "0", "--hours", "1")
	cmd.Env = childEnv(nil)
	cmd.Stdout, cmd.Stderr = io.Discard, &plain
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\n%s", err, plain.String())
	}
	if strings.Contains(plain.String(), "[=") {
		t.Errorf("a bar drawn on a pipe:\n%s", plain.String())
	}
}
