package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"gl-signerd/internal/traffic"
	"gl-signerd/signer"
)

// step is one recorded request and the answer it must get.
type step struct {
	req  traffic.Request
	want []byte
}

// script is one channel's whole lifecycle, as its subdaemons and
// lightningd sent it.
type script []step

// scriptKey is a context value: the script a recording worker appends to.
type scriptKey struct{}

// recordScripts runs lifecycles against e in process, on every CPU, until
// at least n requests are recorded. The generator checks every answer as
// it goes (signatures by the right keys, transactions through the script
// engine), so the recorded answers are known good.
func recordScripts(ctx context.Context, e *signer.Engine, initMsg []byte, n int) ([]script, error) {
	answer := traffic.EngineSender(e)
	send := func(ctx context.Context, r traffic.Request) ([]byte, error) {
		reply, err := answer(ctx, r)
		if err == nil {
			sc := ctx.Value(scriptKey{}).(*script)
			*sc = append(*sc, step{req: r, want: reply})
		}
		return reply, err
	}
	g, err := traffic.New(initMsg, send, traffic.Options{Seed: 7, Network: "regtest"})
	if err != nil {
		return nil, err
	}
	var boot script
	if err := g.Boot(context.WithValue(ctx, scriptKey{}, &boot)); err != nil {
		return nil, err
	}
	var (
		mu       sync.Mutex
		scripts  []script
		recorded atomic.Int64
		firstErr error
		wg       sync.WaitGroup
	)
	for i := range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; recorded.Load() < int64(n) && ctx.Err() == nil; j++ {
				var sc script
				if _, err := g.RunLifecycle(context.WithValue(ctx, scriptKey{}, &sc), lifecycle(i, j)); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("bench: recording the scripts: %w", err)
					}
					mu.Unlock()
					return
				}
				recorded.Add(int64(len(sc)))
				mu.Lock()
				scripts = append(scripts, sc)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(scripts) == 0 {
		return nil, fmt.Errorf("bench: no lifecycle recorded for %d requests", n)
	}
	return scripts, nil
}

// replayScripts is the body of replaying workers: each takes the next
// script and sends its requests one at a time through send,
// checking that every answer is byte-equal to the recorded one.
// lightningd's own requests go one at a time across workers, as on its
// hsmd connection.
func replayScripts(scripts []script, send traffic.Sender) func(ctx context.Context, i, j int) error {
	var next atomic.Int64
	var master sync.Mutex
	return func(ctx context.Context, _, _ int) error {
		// A script is never replayed twice: it declares and forgets its
		// channel's dbid, and a validating signer refuses a forgotten
		// dbid declared again.
		k := int(next.Add(1) - 1)
		if k >= len(scripts) {
			return fmt.Errorf("bench: the %d recorded lifecycles ran out (each is replayed once): record more with --script-requests", len(scripts))
		}
		sc := scripts[k]
		for _, st := range sc {
			if err := replayStep(ctx, st, send, &master); err != nil {
				return err
			}
		}
		return nil
	}
}

func replayStep(ctx context.Context, st step, send traffic.Sender, master *sync.Mutex) error {
	if st.req.Client == signer.MasterClient {
		master.Lock()
		defer master.Unlock()
	}
	got, err := send(ctx, st.req)
	if err != nil {
		return fmt.Errorf("bench: %s: %w", st.req.Name, err)
	}
	if !bytes.Equal(got, st.want) {
		return fmt.Errorf("bench: %s: the daemon answered %x, the engine %x", st.req.Name, got, st.want)
	}
	return nil
}
