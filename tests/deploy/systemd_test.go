// Package deploy tests the install recipes as an operator follows them:
// the systemd unit's install steps, run as written by root with init and
// register as the unprivileged service user, and the container image's
// contract (a static binary as uid 65532 on a read-only root), each against
// the Greenlight emulator. They need root (to switch users and to make
// mount namespaces), as in CI; elsewhere they skip.
package deploy

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gl-signerd/internal/glemu"
	"gl-signerd/internal/testbin"
)

const unitFile = "../../deploy/systemd/gl-signerd.service"

// mnemonic is the node's: any valid BIP39 words will do.
const mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

// needRoot skips a test that must switch users or make mount namespaces
// when not run as root, and fails it under CI, where it is meant to run.
func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (to switch users and make mount namespaces)"
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil && why == "" {
			why = fmt.Sprintf("needs %s: %v", tool, err)
		}
	}
	switch {
	case why == "":
	case os.Getenv("CI") != "":
		t.Fatalf("%s; CI is set, where this test must run", why)
	default:
		t.Skip(why)
	}
}

// recipe returns the unit header's install lines: those indented under
// "#   " up to the first systemctl, without the comment markers, skipping
// comment lines.
func recipe(t *testing.T) string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") {
			break // the header ends at the first section
		}
		cmd, ok := strings.CutPrefix(line, "#   ")
		if !ok || strings.HasPrefix(strings.TrimSpace(cmd), "#") {
			continue
		}
		if strings.Contains(cmd, "systemctl") {
			return b.String()
		}
		b.WriteString(cmd + "\n")
	}
	t.Fatalf("%s: no systemctl line ends the install steps", unitFile)
	return ""
}

// The install steps of the unit's header, as written, run by root in a
// private mount namespace (its own /etc copy for useradd, and fresh /run,
// /var/lib and /usr/local/bin, so the machine is not touched): every step
// exits 0, init and register run as the gl-signerd user, and the daemon
// then starts as the unit starts it (the user, $STATE_DIRECTORY, the
// passphrase as a credential) and answers the header's ctl status line.
func TestSystemdRecipe(t *testing.T) {
	needRoot(t, "unshare", "runuser", "useradd", "bash")
	t.Parallel()
	steps := recipe(t)
	for _, want := range []string{"useradd", "as_signer init", "as_signer register", "runuser -u gl-signerd"} {
		if !strings.Contains(steps, want) {
			t.Fatalf("the install steps lack %q:\n%s", want, steps)
		}
	}
	if strings.Contains(steps, "sudo -u") {
		t.Fatalf("the install steps use sudo -u, which cannot read root's passphrase file:\n%s", steps)
	}
	ctlLine := headerLine(t, "gl-signerd ctl status")

	bin, err := testbin.Path()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	emu, err := glemu.Start(context.Background(), glemu.Options{AutoSchedule: true})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()

	// The operator's working directory: the binary and Greenlight's files.
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, bin, filepath.Join(work, "gl-signerd"), 0o755)
	for _, name := range []string{"ca.pem", "nobody.crt", "nobody-key.pem"} {
		copyFile(t, filepath.Join(emu.Dir(), name), filepath.Join(work, name), 0o600)
	}
	etc := filepath.Join(dir, "etc")
	if out, err := exec.Command("cp", "-a", "/etc/.", etc+"/").CombinedOutput(); err != nil {
		t.Fatalf("copying /etc: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "recipe.sh"), []byte("set -eu\n"+steps), 0o600); err != nil {
		t.Fatal(err)
	}

	// Then the service as systemd would start it: LoadCredential= copies
	// the passphrase into a directory of the service user's, and the
	// daemon runs as gl-signerd with $STATE_DIRECTORY.
	driver := `set -eu
mount --bind "$ETC_COPY" /etc
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mount -t tmpfs -o mode=0755 tmpfs /usr/local/bin
cd "$WORK"
bash -x "$RECIPE"
echo "recipe: done"
test "$(stat -c %U /var/lib/gl-signerd/seed.enc)" = gl-signerd
test "$(stat -c %U /var/lib/gl-signerd/device.crt)" = gl-signerd
creds=/run/credentials/gl-signerd.service
install -d -m 0700 -o gl-signerd "$creds"
install -m 0400 -o gl-signerd /etc/gl-signerd/passphrase "$creds/passphrase"
runuser -u gl-signerd -- env STATE_DIRECTORY=/var/lib/gl-signerd CREDENTIALS_DIRECTORY="$creds" /usr/local/bin/gl-signerd run >/run/run.log 2>&1 &
daemon=$!
for i in $(seq 600); do
	if ` + ctlLine + ` >/run/ctl.out 2>&1 && grep -q 'streaming from' /run/ctl.out; then break; fi
	if ! kill -0 "$daemon" 2>/dev/null; then echo "the daemon exited:"; cat /run/run.log; exit 1; fi
	sleep 0.2
done
cat /run/ctl.out
grep -q 'streaming from' /run/ctl.out || { echo "the daemon never streamed:"; cat /run/run.log; exit 1; }
runuser -u gl-signerd -- /usr/local/bin/gl-signerd ctl shutdown --state-dir /var/lib/gl-signerd
wait "$daemon"
echo "daemon: exit $?"
`
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "bash", "-c", driver)
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"ETC_COPY=" + etc, "WORK=" + work, "RECIPE=" + filepath.Join(dir, "recipe.sh"),
		// Not Greenlight's scheduler but the emulator's.
		glemu.EnvSchedulerURI + "=" + emu.SchedulerURI(),
	}
	cmd.Stdin = strings.NewReader(mnemonic + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the recipe failed: %v\n%s", err, out)
	}
	for _, want := range []string{"recipe: done", "registered node", "daemon: exit 0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	if len(emu.Nodes()) != 1 {
		t.Errorf("the emulator knows %d nodes, want the one registered", len(emu.Nodes()))
	}
	if _, err := exec.Command("id", "gl-signerd").Output(); err == nil {
		t.Error("the user gl-signerd exists outside the test's namespace: the recipe touched the machine")
	}
}

// headerLine returns the unit header's example command containing what.
func headerLine(t *testing.T, what string) string {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if cmd, ok := strings.CutPrefix(line, "#   "); ok && strings.Contains(cmd, what) {
			cmd, _, _ = strings.Cut(cmd, " #")
			return strings.TrimSpace(cmd)
		}
	}
	t.Fatalf("%s: no example command with %q", unitFile, what)
	return ""
}

// The unit's sandbox keeps systemd's exposure score at 2.0 or below
// (systemd-analyze security, offline: the unit file alone).
func TestSystemdExposure(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("systemd-analyze: %v; CI is set, where this test must run", err)
		}
		t.Skip("systemd-analyze is not installed")
	}
	t.Parallel()
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", unitFile).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for gl-signerd\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure level in:\n%s", out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exposure %.1f", score)
	if score > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0:\n%s", score, out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
