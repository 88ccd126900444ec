package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"gl-signerd/internal/audit"
	"gl-signerd/internal/control"
	"gl-signerd/signer"
	"gl-signerd/signer/state"
)

// TestOperatorCommands: approvals, approve, deny and allowlist over the
// control socket, on an engine with a state store; the velocity use in
// status; the operator's decisions in the audit log.
func TestOperatorCommands(t *testing.T) {
	d, path, _ := testDaemon(t)
	if _, err := control.Call(context.Background(), path, "approvals", nil); err == nil || !strings.Contains(err.Error(), "no state store") {
		t.Fatalf("approvals without an engine: %v", err)
	}
	st, err := state.Open(filepath.Join(t.TempDir(), state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	al, err := audit.Open(filepath.Join(t.TempDir(), audit.FileName), audit.Options{SyncInterval: 0})
	if err != nil {
		t.Fatal(err)
	}
	authLog := &authorizationLog{log: zap.NewNop()}
	authLog.audit.Store(al)
	eng, err := signer.NewEngine(bytes.Repeat([]byte{5}, 32), signer.WithState(st), signer.WithNetwork("regtest"),
		signer.WithAuthorization(signer.AuthorizationSettings{AutoApproveBelowMsat: 1000}),
		signer.WithAuthorizationReporter(authLog.report))
	if err != nil {
		t.Fatal(err)
	}
	d.engine = eng

	entry := "payee:034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa"
	var res AllowlistResult
	json.Unmarshal(call(t, path, "allowlist", AllowlistArgs{Op: "add", Entry: entry}), &res)
	if !res.Changed || len(res.Runtime) != 1 || res.Runtime[0] != entry || len(res.Config) != 0 {
		t.Fatalf("allowlist add: %+v", res)
	}
	json.Unmarshal(call(t, path, "allowlist", nil), &res)
	if res.Changed || len(res.Runtime) != 1 {
		t.Fatalf("allowlist list: %+v", res)
	}
	var as []signer.ApprovalInfo
	if err := json.Unmarshal(call(t, path, "approvals", nil), &as); err != nil || len(as) != 0 {
		t.Fatalf("approvals: %+v %v", as, err)
	}
	for _, tc := range []struct {
		cmd  string
		args any
		want string
	}{
		{"approve", ApprovalArgs{ID: 1}, "there is no approval 1"},
		{"deny", map[string]string{"id": "x"}, `takes {"id": N}`},
		{"approve", nil, `takes {"id": N}`},
		{"allowlist", AllowlistArgs{Op: "add", Entry: "payee:zz"}, "is not payee:<node id>"},
		{"allowlist", AllowlistArgs{Op: "remove", Entry: "payee:02"}, "is not on the allowlist"},
		{"allowlist", AllowlistArgs{Op: "flip"}, "is not list, add or remove"},
	} {
		_, err := control.Call(context.Background(), path, tc.cmd, tc.args)
		var re *control.RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Msg, tc.want) {
			t.Errorf("%s %v: %v, want an error saying %q", tc.cmd, tc.args, err, tc.want)
		}
	}
	json.Unmarshal(call(t, path, "allowlist", AllowlistArgs{Op: "remove", Entry: entry}), &res)
	if !res.Changed || len(res.Runtime) != 0 {
		t.Fatalf("allowlist remove: %+v", res)
	}
	var s Status
	json.Unmarshal(call(t, path, "status", nil), &s)
	if s.Velocity == nil || s.Velocity.PaymentsDayMsat != 0 || s.Velocity.PendingApprovals != 0 {
		t.Fatalf("status velocity: %+v", s.Velocity)
	}
	if err := al.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(al.Path())
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e audit.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if e.Summary != entry || e.Time.After(time.Now()) {
			t.Errorf("audit line %q", line)
		}
		events = append(events, e.Event)
	}
	if strings.Join(events, " ") != "allowlist-added allowlist-removed" {
		t.Fatalf("audit events %v", events)
	}
}
