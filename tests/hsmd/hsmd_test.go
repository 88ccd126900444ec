package hsmd_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Every reply of `gl-signerd hsmd serve --policy off` over the real
// protocol equals CLN's hsmd's in the public vectors (hsmdbench -check),
// with the state store and audit log on (the default: ./gl-signerd beside
// hsm_secret) and with --no-state.
func TestVectorsThroughHsmdbench(t *testing.T) {
	vectors := needShared(t, "vectors", "public.jsonl")
	benchSrc := needShared(t, "tools", "hsmdbench")
	bins := binaries(t)
	bench := filepath.Join(t.TempDir(), "hsmdbench")
	build := exec.Command("go", "build", "-o", bench, ".")
	build.Dir = benchSrc
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building hsmdbench: %v\n%s", err, out)
	}
	for _, args := range []string{"--policy off", "--policy off --no-state"} {
		t.Run(args, func(t *testing.T) {
			cmd := exec.Command(bench, "-hsmd", filepath.Join(bins, "gl-signerd-hsmd"), "-args", args,
				"-vectors", vectors, "-check", "-rounds", "1", "-warmup", "0")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("hsmdbench -check failed: %v\n%s", err, out)
			}
			for _, want := range []string{" 0 mismatches; init replies 4 compared, 0 mismatches", "errors:           0"} {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("hsmdbench output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// clnHsmd returns CLN's own hsmd (-O2 build), or skips (fails under CI)
// when shared/ is absent.
func clnHsmd(t *testing.T) string {
	return needShared(t, "tools", "cln-hsmd", "lightning_hsmd-O2")
}

// hsmdPair is CLN's hsmd and ours, to be given the same inputs.
func hsmdPair(t *testing.T) map[string][]string {
	return map[string][]string{
		"cln":        {clnHsmd(t)},
		"gl-signerd": {filepath.Join(binaries(t), "gl-signerd"), "hsmd", "serve", "--policy", "off"},
	}
}

// outcome is what lightningd sees of one start of an hsmd.
type outcome struct {
	reply  string // hex of the reply to the last request, "" for none
	exit   int
	fails  []string // status_fail reasons and texts
	broken []string // BROKEN log lines
}

// The same hsm_secret file, in each of CLN's layouts, gives the same
// hsmd_init reply (node id, xpub, bolt12 key, secret type, BIP86 base) or
// the same failure from both binaries.
func TestSecretsLikeCLN(t *testing.T) {
	pair := hsmdPair(t)
	str := func(s string) *string { return &s }
	const mnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	plain := bytes.Repeat([]byte{7}, 32)
	// A 73-byte encrypted hsm_secret made with libsodium following CLN's
	// common/hsm_secret.c (secretstore's fixture; passphrase below).
	encrypted := mustHex(t, "4c0c089351a2ccf4489b2a3f614fefb4ed2fc6cdac1c1e95c5c2c13bee5110048d4af04bc5982b138f3b2bd05c48d3f876e748fc334447fef7892f867e8341362c79a86e025c8c22c8")
	const encPass = "gl-signerd fixture passphrase"
	// The BIP39 seed of mnemonic with passphrase "TREZOR" (BIP39's
	// published vectors); the file starts with its SHA-256.
	trezorSeed := mustHex(t, "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04")
	seedHash := sha256.Sum256(trezorSeed)
	withPass := append(seedHash[:], mnemonic...)
	cases := []struct {
		name    string
		file    []byte
		pass    *string
		network string
	}{
		{"plain", plain, nil, "bitcoin"},
		{"plain with an unneeded passphrase", plain, str("ignored"), "regtest"},
		{"encrypted", encrypted, str(encPass), "bitcoin"},
		{"encrypted, wrong passphrase", encrypted, str("not it"), "bitcoin"},
		{"encrypted, no passphrase", encrypted, nil, "bitcoin"},
		{"mnemonic", append(make([]byte, 32), mnemonic...), nil, "bitcoin"},
		{"mnemonic, unneeded passphrase", append(make([]byte, 32), mnemonic...), str("x"), "bitcoin"},
		{"mnemonic, bad checksum", append(make([]byte, 32), strings.Replace(mnemonic, "about", "abandon", 1)...), nil, "bitcoin"},
		{"mnemonic with passphrase", withPass, str("TREZOR"), "regtest"},
		{"mnemonic with passphrase, wrong one", withPass, str("TREZOR?"), "bitcoin"},
		{"mnemonic with passphrase, none given", withPass, nil, "bitcoin"},
		{"31 bytes", plain[:31], nil, "bitcoin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]outcome{}
			for name, argv := range pair {
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "hsm_secret"), tc.file, 0o400); err != nil {
					t.Fatal(err)
				}
				p := start(t, argv[0], dir, argv[1:]...)
				got[name] = p.run(initRequest(t, tc.network, tc.pass))
			}
			t.Logf("CLN: %+v\ngl-signerd: %+v", got["cln"], got["gl-signerd"])
			if !sameOutcome(got["cln"], got["gl-signerd"]) {
				t.Errorf("CLN's hsmd: %+v\ngl-signerd: %+v", got["cln"], got["gl-signerd"])
			}
		})
	}
}

// run sends requests on the master, the last one's reply (if any) kept;
// then, unless the process died, closes the master connection.
func (p *proc) run(reqs ...[]byte) outcome {
	var o outcome
	for _, r := range reqs {
		reply, err := request(p.master, r)
		o.reply = ""
		if err == nil {
			o.reply = string(hexOf(reply))
		}
	}
	syscall.Close(p.master)
	p.master = -1
	o.exit = p.wait()
	for _, s := range p.statuses() {
		switch {
		case s.typ == 0xFFF2:
			o.fails = append(o.fails, string(rune('0'+s.level))+" "+s.text)
		case s.typ == 0xFFF0 && s.level == 6:
			o.broken = append(o.broken, s.text)
		}
	}
	return o
}

func hexOf(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

// sameOutcome compares what lightningd would act on: the reply bytes, the
// exit status and the status_fail reasons and texts, except the bytes of a
// bad hsmd_init, which CLN shows and gl-signerd does not (they may hold the
// passphrase).
func sameOutcome(a, b outcome) bool {
	if a.reply != b.reply || a.exit != b.exit || len(a.fails) != len(b.fails) {
		return false
	}
	for i := range a.fails {
		const badInit = "0 Error parsing 11: "
		if strings.HasPrefix(a.fails[i], badInit) && strings.HasPrefix(b.fails[i], badInit) {
			continue
		}
		if a.fails[i] != b.fails[i] {
			return false
		}
	}
	return true
}

// Faults on lightningd's side, given to both binaries: each must exit with
// CLN's status, say the same status_fail reason, and reply the same.
func TestMasterFaultsLikeCLN(t *testing.T) {
	pair := hsmdPair(t)
	secret := bytes.Repeat([]byte{1}, 32)
	init := initRequest(t, "bitcoin", nil)
	cases := []struct {
		name string
		reqs [][]byte
	}{
		{"lightningd closes the master connection", [][]byte{init}},
		{"a request lightningd may not send (a reply type)", [][]byte{init, {0, 109}}},
		{"an unknown message type", [][]byte{init, {0x12, 0x34}}},
		{"a message shorter than its type", [][]byte{init, {7}}},
		{"hsmd_init that does not parse", [][]byte{init[:20]}},
		{"versions hsmd does not speak", [][]byte{append(init[:len(init)-8:len(init)-8], 0, 0, 0, 1, 0, 0, 0, 3)}},
		{"derive_secret that does not parse", [][]byte{init, {0, 27, 0, 9, 1}}},
		{"a client's request on the master", [][]byte{init, append([]byte{0, 18}, make([]byte, 8)...)}},
		{"client_hsmfd with an invalid node id", [][]byte{init, append(append([]byte{0, 9}, make([]byte, 33)...), make([]byte, 16)...)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]outcome{}
			for name, argv := range pair {
				dir := t.TempDir()
				os.WriteFile(filepath.Join(dir, "hsm_secret"), secret, 0o400)
				got[name] = start(t, argv[0], dir, argv[1:]...).run(tc.reqs...)
			}
			t.Logf("CLN: %+v\ngl-signerd: %+v", got["cln"], got["gl-signerd"])
			if !sameOutcome(got["cln"], got["gl-signerd"]) {
				t.Errorf("CLN's hsmd: %+v\ngl-signerd: %+v", got["cln"], got["gl-signerd"])
			}
		})
	}
}

// Faults on a client connection, given to both binaries: the client's
// connection closes, lightningd hears hsmstatus_client_bad_request with
// the same description, and the master still answers.
func TestClientFaultsLikeCLN(t *testing.T) {
	pair := hsmdPair(t)
	secret := bytes.Repeat([]byte{1}, 32)
	peer := mustHex(t, "022d223620a359a47ff7f7ac447c85c46c923da53389221a0054c11c1e3ca31d59")
	deriveSecret := []byte{0, 27, 0, 3, 'a', 'b', 'c'}
	cases := []struct {
		name string
		caps uint64
		req  []byte
		// frame sends req raw, without the length prefix of a frame
		frame bool
	}{
		{"a request the client may not make", 8, []byte{0, 7, 0, 0}, false},
		{"a request that does not parse", 8, []byte{0, 18, 0}, false},
		{"a reply type", 8, []byte{0, 118}, false},
		{"a frame longer than any message", 8, []byte{0xff, 0xff, 0xff, 0xff}, true},
		{"a frame cut short, then the client closes", 8, []byte{0, 0, 0, 9, 0, 18}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			type result struct {
				closed   bool
				reports  []string
				masterOK string
			}
			got := map[string]result{}
			for name, argv := range pair {
				dir := t.TempDir()
				os.WriteFile(filepath.Join(dir, "hsm_secret"), secret, 0o400)
				p := start(t, argv[0], dir, argv[1:]...)
				if _, err := request(p.master, initRequest(t, "bitcoin", nil)); err != nil {
					t.Fatalf("%s: hsmd_init: %v", name, err)
				}
				fd, err := p.newClient(peer, 5, tc.caps)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				var r result
				if tc.frame {
					fdFile{fd}.Write(tc.req)
					if tc.req[0] == 0 {
						syscall.Shutdown(fd, syscall.SHUT_WR)
					}
				} else {
					writeFrame(fdFile{fd}, tc.req)
				}
				syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5})
				_, err = readFrame(fdFile{fd})
				r.closed = err != nil && !isTimeout(err)
				syscall.Close(fd)
				reply, err := request(p.master, deriveSecret)
				if err == nil {
					r.masterOK = string(hexOf(reply))
				}
				p.run()
				for _, s := range p.statuses() {
					if s.typ == 1000 {
						r.reports = append(r.reports, s.text)
					}
				}
				got[name] = r
			}
			c, g := got["cln"], got["gl-signerd"]
			t.Logf("CLN: %+v\ngl-signerd: %+v", c, g)
			if !c.closed || !g.closed || c.masterOK == "" || c.masterOK != g.masterOK || strings.Join(c.reports, "|") != strings.Join(g.reports, "|") {
				t.Errorf("CLN's hsmd: %+v\ngl-signerd: %+v", c, g)
			}
		})
	}
}

func isTimeout(err error) bool { return err == syscall.EAGAIN || err == syscall.EWOULDBLOCK }

// SIGTERM stops `hsmd serve` cleanly: exit status 0, the status socket's
// last word an INFO line; in-flight clients see their connection close.
func TestSIGTERM(t *testing.T) {
	bins := binaries(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hsm_secret"), bytes.Repeat([]byte{1}, 32), 0o400)
	p := start(t, filepath.Join(bins, "gl-signerd-hsmd"), dir, "--policy", "off")
	if _, err := request(p.master, initRequest(t, "bitcoin", nil)); err != nil {
		t.Fatal(err)
	}
	fd, err := p.newClient(mustHex(t, "022d223620a359a47ff7f7ac447c85c46c923da53389221a0054c11c1e3ca31d59"), 3, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 || p.signal != "" {
		t.Fatalf("exit status %d (signal %q) after SIGTERM, want 0; stderr: %s", code, p.signal, p.stderr.String())
	}
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5})
	if _, err := readFrame(fdFile{fd}); err == nil || isTimeout(err) {
		t.Errorf("client connection after SIGTERM: %v, want it closed", err)
	}
	st := p.statuses()
	if len(st) == 0 || st[0].typ != 0xFFF6 || st[len(st)-1].typ != 0xFFF0 || !strings.Contains(st[len(st)-1].text, "stopping") {
		t.Errorf("status messages %+v: want status_version first and a stopping line last", st)
	}
}

// `--version` alone, as lightningd's test_subdaemons runs it, prints the
// CLN version and nothing else, for both ways of installing.
func TestVersion(t *testing.T) {
	bins := binaries(t)
	for _, argv := range [][]string{
		{filepath.Join(bins, "gl-signerd-hsmd"), "--version"},
		{filepath.Join(bins, "gl-signerd"), "hsmd", "serve", "--version"},
	} {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil || string(out) != "v26.06.6\n" {
			t.Errorf("%v: %q, %v; want \"v26.06.6\\n\"", argv, out, err)
		}
	}
	cmd := exec.Command(filepath.Join(bins, "gl-signerd-hsmd"), "--version")
	cmd.Env = append(os.Environ(), "GL_SIGNERD_CLN_VERSION=v99.1")
	if out, err := cmd.Output(); err != nil || string(out) != "v99.1\n" {
		t.Errorf("with GL_SIGNERD_CLN_VERSION: %q, %v", out, err)
	}
}

// With a gl-signerd state directory, `hsmd serve` signs with its secret
// store: a store imported from an hsm_secret answers hsmd_init exactly as
// CLN's hsmd does on that hsm_secret; the store's passphrase comes from
// --passphrase-file or else from lightningd's hsm passphrase; a wrong one
// and another network fail as CLN reports a bad hsm_secret.
func TestStateDir(t *testing.T) {
	bins := binaries(t)
	gl := filepath.Join(bins, "gl-signerd")
	work := t.TempDir()
	hsmSecret := filepath.Join(work, "hsm_secret")
	os.WriteFile(hsmSecret, bytes.Repeat([]byte{0x42}, 32), 0o400)
	state := filepath.Join(work, "state")
	passFile := filepath.Join(work, "pass")
	os.WriteFile(passFile, []byte("store passphrase"), 0o600)
	initCmd := exec.Command(gl, "init", "--state-dir", state, "--passphrase-file", passFile,
		"--import-hsm-secret", hsmSecret, "--network", "regtest")
	initCmd.Env = append(os.Environ(), "HOME="+work)
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("gl-signerd init: %v\n%s", err, out)
	}
	// What CLN's hsmd (or, without shared/, the drop-in reading the same
	// hsm_secret) answers.
	ref := []string{filepath.Join(bins, "gl-signerd-hsmd")}
	if _, err := os.Stat(filepath.Join(sharedDir, "tools", "cln-hsmd", "lightning_hsmd-O2")); err == nil {
		ref = []string{clnHsmd(t)}
	}
	want := start(t, ref[0], work).run(initRequest(t, "regtest", nil))
	if want.exit != clnMasterGoneExit || !strings.HasPrefix(want.reply, "0072") {
		t.Fatalf("reference: %+v", want)
	}
	str := func(s string) *string { return &s }
	cases := []struct {
		name    string
		args    []string
		network string
		pass    *string
		reply   string // "ref": the reference reply; else the reply's prefix
		exit    int
	}{
		{"passphrase file", []string{"--passphrase-file", passFile}, "regtest", nil, "ref", clnMasterGoneExit},
		{"lightningd's hsm passphrase", nil, "regtest", str("store passphrase"), "ref", clnMasterGoneExit},
		{"wrong passphrase", nil, "regtest", str("not it"), "007300000003", 0},
		{"no passphrase anywhere", nil, "regtest", nil, "007300000001", 242},
		{"another network", []string{"--passphrase-file", passFile}, "bitcoin", nil, "007300000007", 242},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir() // no hsm_secret here: the store must be used
			args := append([]string{"hsmd", "serve", "--policy", "off", "--state-dir", state}, tc.args...)
			got := start(t, gl, dir, args...).run(initRequest(t, tc.network, tc.pass))
			if tc.reply == "ref" && got.reply != want.reply || tc.reply != "ref" && !strings.HasPrefix(got.reply, tc.reply) || got.exit != tc.exit {
				t.Errorf("got %+v\nwant reply %s, exit %d", got, tc.reply, tc.exit)
			}
			if _, err := os.Stat(filepath.Join(dir, "hsm_secret")); err == nil {
				t.Error("an hsm_secret was created although a state directory was given")
			}
		})
	}
}

// clnMasterGoneExit is CLN's hsmd's exit status when lightningd closes
// its connection.
const clnMasterGoneExit = 2

// --policy through the real protocol: derive_secret for a label the node
// has no use for (policy-derive-secret-label), on lightningd's own
// connection, is answered with off (as CLN's hsmd does), answered and
// logged UNUSUAL with warn, and refused with enforce the way CLN's hsmd
// refuses a master request: BROKEN with the policy's tag, status_fail,
// exit 242.
func TestPolicyModes(t *testing.T) {
	bins := binaries(t)
	req := []byte{0, 27, 0, 5, 'o', 't', 'h', 'e', 'r'}
	for _, mode := range []string{"off", "warn", "enforce"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "hsm_secret"), bytes.Repeat([]byte{1}, 32), 0o400)
			p := start(t, filepath.Join(bins, "gl-signerd"), dir, "hsmd", "serve", "--policy", mode)
			o := p.run(initRequest(t, "regtest", nil), req)
			var unusual []string
			for _, s := range p.statuses() {
				if s.typ == 0xFFF0 && s.level == 5 {
					unusual = append(unusual, s.text)
				}
			}
			answered := strings.HasPrefix(o.reply, "007f") // derive_secret_reply
			const tag = "policy-derive-secret-label"
			switch mode {
			case "off":
				if !answered || o.exit != clnMasterGoneExit || len(unusual) != 0 {
					t.Errorf("off: %+v, unusual %q", o, unusual)
				}
			case "warn":
				if !answered || o.exit != clnMasterGoneExit || len(unusual) != 1 || !strings.Contains(unusual[0], tag) {
					t.Errorf("warn: %+v, unusual %q", o, unusual)
				}
			case "enforce":
				if answered || o.exit != 242 || len(o.fails) != 1 || len(o.broken) != 1 || !strings.HasPrefix(o.broken[0], tag) {
					t.Errorf("enforce: %+v", o)
				}
			}
		})
	}
}
