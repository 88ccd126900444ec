package hsmd_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gl-signerd/hsmproto"
)

// ctl runs `gl-signerd ctl --state-dir DIR --json ARGS…` and decodes its
// answer into v.
func ctl(t *testing.T, stateDir string, v any, args ...string) {
	t.Helper()
	gl := filepath.Join(binaries(t), "gl-signerd")
	out, err := exec.Command(gl, append([]string{"ctl", "--state-dir", stateDir, "--json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("gl-signerd ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			t.Fatalf("gl-signerd ctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// channelUpdate is a channel_update for chain, as channeld asks gossip
// signatures for (hsmd_cupdate_sig_req).
func channelUpdate(t *testing.T, network string) []byte {
	chain, ok := hsmproto.ChainparamsFor(network)
	if !ok {
		t.Fatal(network)
	}
	b := binary.BigEndian.AppendUint16(nil, 258)
	b = append(b, make([]byte, 64)...)
	b = append(b, chain[:]...)
	b = append(b, make([]byte, 8+4)...)
	b = append(b, 1, 0, 0, 34)
	b = append(b, make([]byte, 8+4+4+8)...)
	return (&hsmproto.CupdateSigReq{Cu: b}).Encode()
}

// channeldCaps are the capabilities lightningd gives channeld's hsmd
// connection.
const channeldCaps = 447

// A policy refusal on a subdaemon's connection, with the state directory
// beside hsm_secret (the default): lightningd gets it as CLN's hsmd reports
// a bad client request (hsmstatus_client_bad_request naming the policy's
// tag, the client's connection closed) and the hsmd keeps serving
// lightningd; the audit log and ctl status name the refusal. With --policy
// off the same request is answered.
func TestRefusalOnClientReachesLightningd(t *testing.T) {
	bins := binaries(t)
	peer := mustHex(t, "022d223620a359a47ff7f7ac447c85c46c923da53389221a0054c11c1e3ca31d59")
	const tag = "policy-channel-update-chain"
	for _, mode := range []string{"enforce", "off"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "hsm_secret"), bytes.Repeat([]byte{1}, 32), 0o400)
			p := start(t, filepath.Join(bins, "gl-signerd"), dir, "hsmd", "serve", "--policy", mode)
			if _, err := request(p.master, initRequest(t, "bitcoin", nil)); err != nil {
				t.Fatal(err)
			}
			fd, err := p.newClient(peer, 5, channeldCaps)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fd)
			syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 10})
			reply, err := request(fd, channelUpdate(t, "testnet"))
			answered := err == nil && binary.BigEndian.Uint16(reply) == 103 // cupdate_sig_reply
			var s struct {
				NodeID      string `json:"node_id"`
				LastRefusal *struct {
					Type, Tag string
					DBID      uint64
				} `json:"last_refusal"`
				Requests struct{ Answered, Refused uint64 }
			}
			ctl(t, filepath.Join(dir, "gl-signerd"), &s, "status")
			// lightningd's connection still answers.
			if _, err := request(p.master, []byte{0, 27, 0, 8, 'c', 'o', 'm', 'm', 'a', 'n', 'd', 'o'}); err != nil {
				t.Errorf("lightningd's connection after the client's request: %v", err)
			}
			o := p.run()
			var reports []string
			for _, st := range p.statuses() {
				if st.typ == 1000 {
					reports = append(reports, st.text)
				}
			}
			auditLog, _ := os.ReadFile(filepath.Join(dir, "gl-signerd", "audit.log"))
			refusedLine := bytes.Contains(auditLog, []byte(`"tag":"`+tag+`"`))
			t.Logf("exit %d, reports %q, status %+v", o.exit, reports, s)
			switch mode {
			case "enforce":
				if answered || !isClosed(err) {
					t.Errorf("the refused client's connection: reply %x, %v; want it closed", reply, err)
				}
				if len(reports) != 1 || !strings.HasPrefix(reports[0], tag+": ") {
					t.Errorf("hsmstatus_client_bad_request texts %q; want one starting %q", reports, tag)
				}
				if s.LastRefusal == nil || s.LastRefusal.Tag != tag || s.LastRefusal.DBID != 5 || s.Requests.Refused != 1 {
					t.Errorf("ctl status: %+v", s)
				}
				if !refusedLine {
					t.Errorf("audit.log has no refusal tagged %s:\n%s", tag, auditLog)
				}
			case "off":
				if !answered || len(reports) != 0 || s.Requests.Refused != 0 || s.LastRefusal != nil || refusedLine {
					t.Errorf("off: reply %x (%v), reports %q, status %+v", reply, err, reports, s)
				}
			}
			if o.exit != clnMasterGoneExit || len(o.fails) != 0 {
				t.Errorf("hsmd ended %+v; want exit %d when lightningd closes, no status_fail", o, clnMasterGoneExit)
			}
		})
	}
}

func isClosed(err error) bool { return err != nil && !isTimeout(err) }

// The channel state outlives the process: a channel lightningd announced
// (hsmd_new_channel) is in ctl channels after hsmd serve restarts on the
// same directory; ctl status answers while serving, with the node id
// hsmd_init gave lightningd.
func TestStateSurvivesRestart(t *testing.T) {
	gl := filepath.Join(binaries(t), "gl-signerd")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hsm_secret"), bytes.Repeat([]byte{3}, 32), 0o400)
	stateDir := filepath.Join(dir, "gl-signerd")
	peer := mustHex(t, "022d223620a359a47ff7f7ac447c85c46c923da53389221a0054c11c1e3ca31d59")
	newChannel := append(append([]byte{0, 30}, peer...), 0, 0, 0, 0, 0, 0, 0, 42)

	type channel struct {
		Peer string
		DBID uint64
	}
	for i, step := range []string{"first start", "restart"} {
		p := start(t, gl, dir, "hsmd", "serve")
		initReply, err := request(p.master, initRequest(t, "regtest", nil))
		if err != nil {
			t.Fatalf("%s: hsmd_init: %v", step, err)
		}
		var s struct {
			NodeID   string `json:"node_id"`
			Network  string
			StateDir string `json:"state_dir"`
			State    *struct{ Path string }
		}
		ctl(t, stateDir, &s, "status")
		// hsmd_init_reply_v4: type, u32 version, u16 len + capabilities, node id.
		nCaps := int(binary.BigEndian.Uint16(initReply[6:]))
		wantID := hex.EncodeToString(initReply[8+4*nCaps : 8+4*nCaps+33])
		if s.NodeID != wantID || s.Network != "regtest" || s.StateDir != stateDir || s.State == nil {
			t.Errorf("%s: ctl status %+v; want node %s on regtest, state in %s", step, s, wantID, stateDir)
		}
		var chans []channel
		ctl(t, stateDir, &chans, "channels")
		if i == 0 {
			if len(chans) != 0 {
				t.Fatalf("a new state directory lists channels %+v", chans)
			}
			if reply, err := request(p.master, newChannel); err != nil || binary.BigEndian.Uint16(reply) != 130 {
				t.Fatalf("hsmd_new_channel: %x, %v", reply, err)
			}
		} else if len(chans) != 1 || chans[0].DBID != 42 || chans[0].Peer != hex.EncodeToString(peer) {
			t.Errorf("after a restart, ctl channels lists %+v; want the channel of dbid 42", chans)
		}
		if o := p.run(); o.exit != clnMasterGoneExit {
			t.Fatalf("%s: %+v", step, o)
		}
	}
}

// ctl pause holds the requests that sign until ctl resume (CLN's protocol
// has no refusal: a refused channeld request would close its connection,
// a refused request of lightningd's would stop the node); public ones are
// answered meanwhile.
func TestPauseHoldsSigning(t *testing.T) {
	gl := filepath.Join(binaries(t), "gl-signerd")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hsm_secret"), bytes.Repeat([]byte{4}, 32), 0o400)
	stateDir := filepath.Join(dir, "gl-signerd")
	peer := mustHex(t, "022d223620a359a47ff7f7ac447c85c46c923da53389221a0054c11c1e3ca31d59")
	p := start(t, gl, dir, "hsmd", "serve")
	if _, err := request(p.master, initRequest(t, "bitcoin", nil)); err != nil {
		t.Fatal(err)
	}
	fd, err := p.newClient(peer, 5, channeldCaps)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	ctl(t, stateDir, nil, "pause", "--reason", "looking")

	// Public: hsmd_get_channel_basepoints on lightningd's connection.
	basepoints := append(append([]byte{0, 10}, peer...), 0, 0, 0, 0, 0, 0, 0, 5)
	if reply, err := request(p.master, basepoints); err != nil || binary.BigEndian.Uint16(reply) != 110 {
		t.Fatalf("a public request while paused: %x, %v", reply, err)
	}
	// Signing: held.
	got := make(chan []byte, 1)
	var requestErr error
	go func() {
		r, err := request(fd, channelUpdate(t, "bitcoin"))
		requestErr = err
		got <- r
	}()
	select {
	case r := <-got:
		t.Fatalf("answered while paused: %x (%v)", r, requestErr)
	case <-time.After(time.Second):
	}
	ctl(t, stateDir, nil, "resume")
	select {
	case r := <-got:
		if len(r) < 2 || binary.BigEndian.Uint16(r) != 103 {
			t.Fatalf("after resume: %x (%v); want cupdate_sig_reply", r, requestErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still held after resume")
	}
	p.run()
	// The status socket said nothing BROKEN: nothing was refused.
	for _, st := range p.statuses() {
		if st.typ == 1000 || st.typ == 0xFFF0 && st.level == 6 {
			t.Errorf("status: %+v", st)
		}
	}
}
