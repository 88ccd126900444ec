package main

// The CLI test harness: transcripts in testdata/script/*.txtar run the
// gl-signerd command as a user would (github.com/rogpeppe/go-internal/testscript).
//
// Besides testscript's built-in commands, transcripts may use
//
//	exitcode N command [args...]
//
// which runs command and checks that it exits with code N (see exitcodes.go);
// its stdout and stderr are then checked with stdout/stderr as after exec, and
//
//	unhex IN OUT
//
// which writes the bytes spelled in hex in file IN (spaces and newlines
// ignored) to file OUT, for binary fixtures.

import (
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"gl-signerd/internal/sharedfiles"
)

func TestMain(m *testing.M) {
	os.Exit(testscript.RunMain(m, map[string]func() int{
		"gl-signerd": func() int { return run(os.Args[1:]) },
	}))
}

func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"unhex":    cmdUnhex,
		},
		Setup: func(env *testscript.Env) error {
			// A predictable environment: no systemd variables, no
			// gl-signerd settings from the developer's shell.
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("STATE_DIRECTORY", "")
			env.Setenv("CREDENTIALS_DIRECTORY", "")
			return nil
		},
	})
}

func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exitcode")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %q is not a number", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with code %d, want %d", args[1], got, want)
	}
}

func cmdUnhex(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: unhex IN OUT")
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(ts.ReadFile(args[0])), ""))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o600))
}

// TestScriptVectors runs the transcripts of testdata/vectors, which replay
// files of ../shared/vectors ($SHARED) with files of the repository
// ($REPO).
func TestScriptVectors(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(repo, "..", "shared")
	if _, err := os.Stat(filepath.Join(shared, "vectors", "policy", "benign.jsonl")); err != nil {
		sharedfiles.Missing(t, "%s is absent (the repo is not cloned next to shared/): %v", shared, err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/vectors",
		RequireExplicitExec: true,
		Cmds:                map[string]func(ts *testscript.TestScript, neg bool, args []string){"exitcode": cmdExitCode},
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("REPO", repo)
			env.Setenv("SHARED", shared)
			return nil
		},
	})
}
