package signer_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"gl-signerd/internal/sharedfiles"
	"gl-signerd/signer/replay"
)

// sharedVectors locates a vector file under shared/vectors, which lives
// next to the repository (../../shared from this package), and skips the
// test when it is not there.
func sharedVectors(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "vectors", filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		sharedfiles.Missing(t, "%s not found (shared/ is expected next to the repository): %v", p, err)
	}
	return p
}

// replayFile replays a vector file one subtest per line (named
// scenario/seq name), each instance on a fresh engine, in replay order.
// skip, if not nil, says which lines not to replay and why.
func replayFile(t *testing.T, path string, skip func(*replay.Line) string) {
	lines, err := replay.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := replay.Plan(lines)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var passed, failed, skipped int
	for _, in := range plan {
		s, err := in.Start(ctx, replay.Options{Policy: replay.PolicyOff})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range in.Lines() {
			t.Run(l.ID(), func(t *testing.T) {
				if skip != nil {
					if why := skip(l); why != "" {
						skipped++
						t.Skip(why)
					}
				}
				r := s.Step(ctx, l)
				if r.Pass {
					passed++
					return
				}
				failed++
				t.Error(r.Explain())
			})
		}
	}
	t.Logf("%s: %d passed, %d failed, %d skipped", path, passed, failed, skipped)
}

// TestVectors replays every line of shared/vectors/public.jsonl: CLN
// v26.06.6's hsmd replies, byte for byte, and its refusals.
func TestVectors(t *testing.T) {
	replayFile(t, sharedVectors(t, "public.jsonl"), nil)
}

// TestPolicyVectors replays the policy vectors: every "accept" line must
// get hsmd's exact reply. "reject" lines belong to the policy layer and are
// skipped here.
func TestPolicyVectors(t *testing.T) {
	for _, f := range []string{"policy/benign.jsonl", "policy/attacks.jsonl"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			replayFile(t, sharedVectors(t, f), func(l *replay.Line) string {
				if l.Expect == replay.ExpectReject {
					return "reject line (" + l.Policy + "): refusing it is the policy layer's job"
				}
				return ""
			})
		})
	}
}

// TestConcurrentHandle replays every line of public.jsonl (hsmd_init
// aside) from several goroutines at once on each instance's engine: like
// CLN's hsmd, the engine keeps no per-request state, so every line must
// still get hsmd's answer. Run with -race.
func TestConcurrentHandle(t *testing.T) {
	lines, err := replay.ReadFile(sharedVectors(t, "public.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := replay.Plan(lines)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, in := range plan {
		s, err := in.Start(ctx, replay.Options{Policy: replay.PolicyOff})
		if err != nil {
			t.Fatal(err)
		}
		var todo []*replay.Line
		for _, l := range in.Lines() {
			if l.RequestName == nil || *l.RequestName != "hsmd_init" {
				todo = append(todo, l)
			}
		}
		const workers = 4
		errs := make(chan string, len(todo)*workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range todo {
					l := todo[(i+w*len(todo)/workers)%len(todo)]
					if r := s.Step(ctx, l); !r.Pass {
						errs <- r.Explain()
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}
