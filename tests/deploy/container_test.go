package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gl-signerd/internal/glemu"
	"gl-signerd/internal/testbin"
)

const (
	dockerfile  = "../../Dockerfile"
	composeFile = "../../deploy/docker/compose.yaml"
)

// image is what the Dockerfile promises about the container, read from it.
type image struct {
	entrypoint, cmd, healthcheck []string
	user                         string
	env                          map[string]string
}

// readDockerfile reads the final stage's ENTRYPOINT, CMD, HEALTHCHECK
// (exec forms, as JSON arrays), USER and ENV.
func readDockerfile(t *testing.T) image {
	t.Helper()
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	img := image{env: map[string]string{}}
	execForm := func(line, after string) []string {
		i := strings.Index(line, after)
		var v []string
		if i < 0 || json.Unmarshal([]byte(strings.TrimSpace(line[i+len(after):])), &v) != nil || len(v) == 0 {
			t.Fatalf("%s: %q is not in exec form (a JSON array after %q)", dockerfile, line, after)
		}
		return v
	}
	for _, line := range strings.Split(text, "\n") {
		word, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch word {
		case "FROM":
			img = image{env: map[string]string{}} // the last stage is the image
		case "ENTRYPOINT":
			img.entrypoint = execForm(line, "ENTRYPOINT")
		case "CMD":
			img.cmd = execForm(line, "CMD")
		case "HEALTHCHECK":
			img.healthcheck = execForm(line, " CMD ")
		case "USER":
			img.user = strings.TrimSpace(rest)
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				img.env[k] = v
			}
		}
	}
	if img.entrypoint == nil || img.cmd == nil || img.healthcheck == nil || img.user == "" {
		t.Fatalf("%s: the image lacks an ENTRYPOINT, CMD, HEALTHCHECK or USER: %+v", dockerfile, img)
	}
	return img
}

// composeValue returns the value of the first "key: value" line of the
// compose file with that key.
func composeValue(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(key) + `:\s*(\S.*?)\s*$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no %s", composeFile, key)
	}
	return string(m[1])
}

// sandbox is one container started from the image: the static binary as
// the image's user on an empty, read-only root, with only the given
// directories mounted (writable unless their target is under /run/secrets)
// and only the image's environment plus env.
type sandbox struct {
	img    image
	bin    string
	mounts map[string]string // target in the container: directory or file on the host
}

func (s sandbox) command(ctx context.Context, env map[string]string, args ...string) *exec.Cmd {
	uid, gid, _ := strings.Cut(s.img.user, ":")
	a := []string{"--reuid=" + uid, "--regid=" + gid, "--clear-groups",
		"bwrap", "--unshare-all", "--share-net", "--die-with-parent", "--as-pid-1",
		"--ro-bind", s.bin, s.img.entrypoint[0], "--dev", "/dev", "--proc", "/proc"}
	for target, source := range s.mounts {
		if strings.HasPrefix(target, "/run/secrets") {
			a = append(a, "--ro-bind", source, target)
		} else {
			a = append(a, "--bind", source, target)
		}
	}
	a = append(a, "--remount-ro", "/", "--clearenv")
	for k, v := range s.img.env {
		a = append(a, "--setenv", k, v)
	}
	for k, v := range env {
		a = append(a, "--setenv", k, v)
	}
	a = append(append(a, "--"), args...)
	cmd := exec.CommandContext(ctx, "setpriv", a...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// The container contract of the Dockerfile and compose.yaml, without a
// container engine: the static binary (built as the Dockerfile builds it,
// version stamped by -X main.version) runs as uid 65532 on a read-only
// root where only the state volume (and the control socket's volume) may
// be written. init (words on stdin) → register → run, the image's default
// command, against the emulator → the HEALTHCHECK command → ctl status from
// an application sandbox that has only the control socket's directory →
// SIGTERM, as docker stop sends it: each step exits 0.
func TestContainerContract(t *testing.T) {
	needRoot(t, "bwrap", "setpriv")
	t.Parallel()
	img := readDockerfile(t)
	if img.user != "65532:65532" {
		t.Fatalf("the image runs as %q, want the distroless nonroot user 65532:65532", img.user)
	}
	stateDir, credDir := img.env["STATE_DIRECTORY"], img.env["CREDENTIALS_DIRECTORY"]
	if stateDir == "" || credDir == "" {
		t.Fatalf("the image's ENV lacks STATE_DIRECTORY or CREDENTIALS_DIRECTORY: %v", img.env)
	}
	socket := composeValue(t, "GL_SIGNERD_CONTROL_SOCKET")
	controlDir := filepath.Dir(socket)
	if !strings.Contains(mustRead(t, composeFile), "control:"+controlDir) {
		t.Fatalf("%s does not mount the control volume at %s, the socket's directory", composeFile, controlDir)
	}

	bin, err := testbin.Path()
	if err != nil {
		t.Fatal(err)
	}
	emu, err := glemu.Start(context.Background(), glemu.Options{AutoSchedule: true})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()

	// The host side: volumes owned by the image's user, the passphrase as
	// a Compose secret (uid 65532, mode 0400). The user must reach them.
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	uid, gid := 65532, 65532
	state, control, secrets := filepath.Join(dir, "state"), filepath.Join(dir, "control"), filepath.Join(dir, "secrets")
	for _, d := range []string{state, control} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(secrets, 0o755); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(secrets, "passphrase")
	if err := os.WriteFile(pass, []byte("the container's passphrase\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(pass, uid, gid); err != nil {
		t.Fatal(err)
	}

	signer := sandbox{img: img, bin: bin, mounts: map[string]string{
		stateDir: state, controlDir: control, credDir + "/passphrase": pass}}
	app := sandbox{img: img, bin: bin, mounts: map[string]string{controlDir: control}}
	composeEnv := map[string]string{"GL_SIGNERD_CONTROL_SOCKET": socket}
	greenlight := map[string]string{glemu.EnvSchedulerURI: emu.SchedulerURI()}
	for k, path := range map[string]string{glemu.EnvCACert: emu.CAPath(), glemu.EnvNobodyCert: emu.NobodyCertPath(), glemu.EnvNobodyKey: emu.NobodyKeyPath()} {
		greenlight[k] = mustRead(t, path) // the PEM text, as the Dockerfile's header passes it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	step := func(name string, cmd *exec.Cmd, stdin string) string {
		t.Helper()
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}

	// -X main.version reaches --version (docker run IMAGE --version).
	if out := step("--version", signer.command(ctx, nil, img.entrypoint[0], "--version"), ""); !strings.HasPrefix(out, "gl-signerd "+testbin.Version+"\n") {
		t.Errorf("--version printed %q, want a first line %q (from -X main.version)", out, "gl-signerd "+testbin.Version)
	}

	out := step("init", signer.command(ctx, nil, img.entrypoint[0], "init", "--recover", "--network", "regtest"), mnemonic+"\n")
	if !strings.Contains(out, "node id:") {
		t.Fatalf("init printed no node id:\n%s", out)
	}
	step("register", signer.command(ctx, greenlight, img.entrypoint[0], "register"), "")

	// The daemon: the image's default command.
	runEnv := map[string]string{glemu.EnvSchedulerURI: emu.SchedulerURI()}
	for k, v := range composeEnv {
		runEnv[k] = v
	}
	daemon := signer.command(ctx, runEnv, append([]string{img.entrypoint[0]}, img.cmd...)...)
	var daemonOut bytes.Buffer
	daemon.Stdout, daemon.Stderr = &daemonOut, &daemonOut
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- daemon.Wait() }()
	defer func() {
		daemon.Process.Kill()
		<-done
	}()

	// The health check, run in the signer's container as Docker runs it,
	// until it passes with the daemon streaming.
	var health string
	for deadline := time.Now().Add(2 * time.Minute); ; {
		b, err := signer.command(ctx, composeEnv, img.healthcheck...).CombinedOutput()
		health = string(b)
		if err == nil && strings.Contains(health, "streaming from") {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the daemon exited (%v) before the health check passed:\n%s", err, daemonOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the health check never passed; last: %v\n%s\nthe daemon:\n%s", err, health, daemonOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The running daemon reports the same version.
	var status struct {
		Version string `json:"version"`
	}
	if b := step("ctl status --json", signer.command(ctx, composeEnv, img.entrypoint[0], "ctl", "status", "--json"), ""); json.Unmarshal([]byte(b), &status) != nil || status.Version != testbin.Version {
		t.Errorf("ctl status --json reports version %q, want %q (from -X main.version):\n%s", status.Version, testbin.Version, b)
	}

	// The application container: only the control socket's directory.
	var appCmd []string
	if err := json.Unmarshal([]byte(composeValue(t, "command")), &appCmd); err != nil {
		t.Fatalf("%s: the app's command is not a JSON list: %v", composeFile, err)
	}
	if out := step("the app's ctl status", app.command(ctx, nil, append([]string{img.entrypoint[0]}, appCmd...)...), ""); !strings.Contains(out, "streaming from") {
		t.Errorf("the app's ctl status:\n%s", out)
	}

	// docker stop: SIGTERM to the container's PID 1, the daemon.
	pid, err := findDescendant(daemon.Process.Pid, filepath.Base(img.entrypoint[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, daemonOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Errorf("the daemon did not stop within 15 s of SIGTERM (compose's stop_grace_period)\n%s", daemonOut.String())
	}
	for _, name := range []string{"seed.enc", "device.crt", "audit.log"} {
		if _, err := os.Stat(filepath.Join(state, name)); err != nil {
			t.Errorf("the state volume lacks %s: %v", name, err)
		}
	}
}

// findDescendant returns the pid of the first process named comm below
// pid (bwrap forks the sandbox's processes).
func findDescendant(pid int, comm string) (int, error) {
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p, p))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			child, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if name, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", child)); strings.TrimSpace(string(name)) == comm {
				return child, nil
			}
			queue = append(queue, child)
		}
	}
	return 0, errors.New("no " + comm + " process below the sandbox")
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
