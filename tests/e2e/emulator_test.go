package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gl-signerd/internal/glemu"
)

// `gl-signerd emulator` used by hand: its printed exports are all a second
// terminal needs for init, register, run and ctl, exactly as against
// Greenlight; SIGINT stops it with exit 0.
func TestEmulatorByHand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gldir := filepath.Join(dir, "greenlight")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	emu := exec.CommandContext(ctx, sharedBin, "emulator", "--dir", gldir)
	emu.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	emu.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := emu.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	emuLog, err := os.Create(filepath.Join(dir, "emulator.log"))
	if err != nil {
		t.Fatal(err)
	}
	emu.Stderr = emuLog
	if err := emu.Start(); err != nil {
		t.Fatal(err)
	}
	emuDone := make(chan error, 1)
	go func() { emuDone <- emu.Wait() }()
	t.Cleanup(func() {
		emu.Process.Kill()
		<-emuDone
	})

	// The exports, read as a user copies them: every "export K='V'" line
	// up to the hint that follows them.
	exports := map[string]string{}
	exportLine := regexp.MustCompile(`^export ([A-Z_]+)='([^']*)'$`)
	sc := bufio.NewScanner(stdout)
	var printed []string
	for sc.Scan() {
		line := sc.Text()
		printed = append(printed, line)
		if m := exportLine.FindStringSubmatch(line); m != nil {
			exports[m[1]] = m[2]
		}
		if strings.HasPrefix(line, "# then:") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	for _, k := range []string{glemu.EnvSchedulerURI, glemu.EnvCACert, glemu.EnvNobodyCert, glemu.EnvNobodyKey, "STATE_DIRECTORY"} {
		if exports[k] == "" {
			t.Fatalf("the emulator printed no export of %s:\n%s", k, strings.Join(printed, "\n"))
		}
	}
	// The same lines are in DIR/env, for `. DIR/env`.
	envFile, err := os.ReadFile(filepath.Join(gldir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range exports {
		if !strings.Contains(string(envFile), "export "+k+"='"+v+"'\n") {
			t.Errorf("%s/env lacks the export of %s:\n%s", gldir, k, envFile)
		}
	}

	// The second terminal: a clean environment plus the exports, and no
	// flag pointing anywhere (the state directory comes from the exports).
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(dir, "home")}
	for k, v := range exports {
		env = append(env, k+"="+v)
	}
	pass := filepath.Join(dir, "passphrase")
	if err := os.WriteFile(pass, []byte("emulator by hand, a passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, sharedBin, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gl-signerd %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("init", "--network", "regtest", "--no-confirm", "--passphrase-file", pass)
	m := regexp.MustCompile(`node id: ([0-9a-f]{66})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("init printed no node id:\n%s", out)
	}
	nodeID := m[1]
	if out := run("register", "--passphrase-file", pass); !strings.Contains(out, "registered node "+nodeID) {
		t.Fatalf("register:\n%s", out)
	}

	daemon := exec.CommandContext(ctx, sharedBin, "run", "--passphrase-file", pass)
	daemon.Env = env
	daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runLog, err := os.Create(filepath.Join(dir, "run.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon.Stdout, daemon.Stderr = runLog, runLog
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- daemon.Wait() }()
	t.Cleanup(func() {
		daemon.Process.Kill()
		<-daemonDone
	})

	// ctl status until the daemon streams from the emulator's node.
	var status struct {
		NodeID     string `json:"node_id"`
		Connection struct {
			State string `json:"state"`
		} `json:"connection"`
	}
	var last string
	for deadline := time.Now().Add(2 * time.Minute); ; {
		cmd := exec.CommandContext(ctx, sharedBin, "ctl", "status", "--json")
		cmd.Env = env
		b, err := cmd.Output()
		last = string(b)
		if err == nil && json.Unmarshal(b, &status) == nil && status.Connection.State == "streaming" {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(runLog.Name())
			t.Fatalf("ctl status never showed the daemon streaming; last answer %q (%v)\nrun's log:\n%s", last, err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status.NodeID != nodeID {
		t.Errorf("ctl status: node id %s, init printed %s", status.NodeID, nodeID)
	}

	run("ctl", "shutdown")
	select {
	case err := <-daemonDone:
		daemonDone <- err
		if err != nil {
			t.Errorf("run after ctl shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("run did not stop within 30 s of ctl shutdown")
	}

	emu.Process.Signal(os.Interrupt)
	select {
	case err := <-emuDone:
		emuDone <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Errorf("the emulator after SIGINT: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the emulator did not stop within 30 s of SIGINT")
	}
	if _, err := os.Stat(filepath.Join(gldir, "ca.pem")); err != nil {
		t.Errorf("--dir was not kept: %v", err)
	}
}
