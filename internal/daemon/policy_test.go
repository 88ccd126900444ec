package daemon

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"gl-signerd/config"
	"gl-signerd/hsmproto"
	"gl-signerd/secretstore"
	"gl-signerd/signer"
)

// policy.mode reaches the engine; warn and off are logged loudly at start,
// and under warn every violation signed anyway is logged with its tag.
func TestPolicyOptions(t *testing.T) {
	forged := append(append([]byte{1, 1}, make([]byte, 64)...), "Lightning Signed Message:0123456789abcdef0123456789abcdef"...)
	req := (&hsmproto.NodeAnnouncementSigReq{Announcement: forged}).Encode()
	for _, tc := range []struct {
		mode     string
		startLog string // a warning at start, "" for none
		signed   bool
	}{
		{"enforce", "", false},
		{"warn", "policy.mode is warn", true},
		{"off", "policy.mode is off", true},
		{"enforce+warn-list", "policy.warn", true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			cfg := config.Default(t.TempDir())
			cfg.Policy.Mode = tc.mode
			if mode, ok := strings.CutSuffix(tc.mode, "+warn-list"); ok {
				cfg.Policy.Mode, cfg.Policy.Warn = mode, []string{"policy-node-announcement-*"}
			}
			opts, err := policyOptions(cfg, zap.New(core))
			if err != nil {
				t.Fatal(err)
			}
			start := logs.TakeAll()
			switch {
			case tc.startLog == "" && len(start) != 0:
				t.Errorf("logged at start: %v", start)
			case tc.startLog != "" && (len(start) != 1 || start[0].Level != zapcore.WarnLevel || !strings.Contains(start[0].Message, tc.startLog)):
				t.Errorf("logged at start: %v; want one warning %q", start, tc.startLog)
			}
			seed := &secretstore.Seed{Type: secretstore.TypeGreenlight, Network: "regtest", Secret: bytes.Repeat([]byte{1}, 32)}
			eng, err := NewEngine(seed, opts...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = eng.Handle(context.Background(), signer.MasterClient, req)
			var re *signer.RefusalError
			if tc.signed != (err == nil) || (err != nil && (!errors.As(err, &re) || re.Tag != "policy-node-announcement-format")) {
				t.Fatalf("node_announcement forging a challenge: %v", err)
			}
			after := logs.TakeAll()
			if tc.mode != "enforce" && tc.mode != "off" {
				if len(after) != 1 || after[0].ContextMap()["tag"] != "policy-node-announcement-format" {
					t.Errorf("violation logged as %v", after)
				}
			} else if len(after) != 0 {
				t.Errorf("logged %v", after)
			}
		})
	}
	cfg := config.Default(t.TempDir())
	cfg.Policy.Warn = []string{"policy-no-such-tag"}
	if _, err := policyOptions(cfg, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "policy-no-such-tag") {
		t.Errorf("policy.warn with an unknown tag: %v", err)
	}
	cfg = config.Default(t.TempDir())
	cfg.Policy.Mode = "strict"
	var de *Error
	if _, err := policyOptions(cfg, zap.NewNop()); !errors.As(err, &de) || de.Kind != Config {
		t.Errorf("policy.mode strict: %v", err)
	}
}
