package e2e

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"gl-signerd/internal/glemu"
	"gl-signerd/internal/sharedfiles"
	"gl-signerd/internal/traffic"
)

// CLN's own answers, every line of every signer instance Greenlight can
// run (wire versions 5..6: a node never forwards hsmd_init, so the daemon
// speaks version 6), replayed through the real daemon: byte for byte
// where CLN answered, an error where it refused. The policy vectors' accept
// lines too (their reject lines are for a validating signer), with the
// policy enforced; CLN's own with it off.
func TestVectorsThroughDaemon(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "..", "shared", "vectors")
	for _, file := range []string{"public.jsonl", filepath.Join("policy", "benign.jsonl"), filepath.Join("policy", "attacks.jsonl")} {
		lines, err := traffic.LoadVectors(filepath.Join(dir, file))
		if errors.Is(err, fs.ErrNotExist) {
			sharedfiles.Missing(t, "%s is absent (the repo is not cloned next to shared/); CLN's answers cannot be replayed", filepath.Join(dir, file))
		}
		if err != nil {
			t.Fatal(err)
		}
		insts, err := traffic.Instances(lines)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range insts {
			name := file + "/" + in.Lines[0].Scenario
			if in.Versions != [2]int{5, 6} {
				t.Logf("%s: skipped: lightningd asked for wire versions %v, which needs hsmd_init to reach the signer", name, in.Versions)
				continue
			}
			t.Run(name, func(t *testing.T) {
				f := newFixtureSeed(t, in.Secret, in.Network, glemu.Options{})
				// CLN's own vectors sign what the policy refuses on
				// purpose; the policy vectors are replayed enforced.
				var env []string
				if file == "public.jsonl" {
					env = append(env, "GL_SIGNERD_POLICY_MODE=off")
				}
				d := f.start(env...)
				f.attached(d, 0, 30*time.Second)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				r, err := traffic.Feed(ctx, f.node, in.Lines)
				if err != nil {
					t.Fatalf("%v\n%s", err, d.logTail())
				}
				for _, m := range r.Mismatches {
					t.Error(m)
				}
				if r.Answered == 0 {
					t.Error("no line was answered")
				}
				t.Logf("%d lines: %d answered as CLN did, %d refused, %d not sent", len(in.Lines), r.Answered, r.Refused, r.Skipped)
				if code := d.stop(10 * time.Second); code != 0 {
					t.Errorf("exit code %d after SIGTERM", code)
				}
			})
		}
	}
}
