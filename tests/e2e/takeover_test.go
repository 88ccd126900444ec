package e2e

// The takeover attempt of issue 11, end to end: the node, hostile, sends
// the running daemon requests crafted so that the node key's signature
// verifies as a Greenlight scheduler challenge signature, and uses what it
// gets to ask the scheduler for a device certificate of the victim's node
// (recover). The scheduler must accept no signature the daemon produced.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"gl-signerd/hsmproto"
	"gl-signerd/internal/glemu"
	"gl-signerd/streamer"
	glpb "gl-signerd/streamer/pb/greenlight"
)

// hostileNode answers scheduler challenges the way a compromised node
// could: by having the daemon sign them through another message.
type hostileNode struct {
	ctx    context.Context
	f      *fixture
	forge  func(challenge []byte) (*glpb.HsmRequest, func([]byte) ([]byte, error), error)
	signed int // replies that carried a signature
}

func (h *hostileNode) NodeID() [33]byte { return h.f.nodeID }

func (h *hostileNode) SignChallenge(challenge []byte) ([]byte, error) {
	req, sigOf, err := h.forge(challenge)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(h.ctx, 20*time.Second)
	defer cancel()
	resp, err := h.f.node.Submit(sctx, req)
	if err != nil {
		return nil, fmt.Errorf("no answer from the signer: %w", err)
	}
	if resp.GetError() != "" {
		return nil, fmt.Errorf("the signer refused: %s", resp.GetError())
	}
	h.signed++
	return sigOf(resp.GetRaw())
}

var errUnlucky = errors.New("this challenge's hash has a NUL byte; ask for another")

// forgeries builds the crafted request for each message.
func takeoverForgeries(channeld *glpb.HsmRequestContext) map[string]func([]byte) (*glpb.HsmRequest, func([]byte) ([]byte, error), error) {
	signed := func(c []byte) []byte { return append([]byte("Lightning Signed Message:"), c...) }
	gossip := func(typ uint16, sigs int, c []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, typ)
		b = append(b, make([]byte, 64*sigs)...)
		return append(b, signed(c)...)
	}
	reply := func(get func(hsmproto.Message) []byte) func([]byte) ([]byte, error) {
		return func(raw []byte) ([]byte, error) {
			m, err := hsmproto.Decode(raw)
			if err != nil {
				return nil, err
			}
			return get(m), nil
		}
	}
	peer := [33]byte(channeld.GetNodeId())
	return map[string]func([]byte) (*glpb.HsmRequest, func([]byte) ([]byte, error), error){
		"node_announcement_sig_req": func(c []byte) (*glpb.HsmRequest, func([]byte) ([]byte, error), error) {
			return &glpb.HsmRequest{Raw: (&hsmproto.NodeAnnouncementSigReq{Announcement: gossip(257, 1, c)}).Encode()},
				reply(func(m hsmproto.Message) []byte { return m.(*hsmproto.NodeAnnouncementSigReply).Signature[:] }), nil
		},
		"cannouncement_sig_req": func(c []byte) (*glpb.HsmRequest, func([]byte) ([]byte, error), error) {
			return &glpb.HsmRequest{Raw: (&hsmproto.CannouncementSigReq{Ca: gossip(256, 4, c)}).Encode(), Context: channeld},
				reply(func(m hsmproto.Message) []byte { return m.(*hsmproto.CannouncementSigReply).NodeSignature[:] }), nil
		},
		"sign_any_cannouncement_req": func(c []byte) (*glpb.HsmRequest, func([]byte) ([]byte, error), error) {
			req := &hsmproto.SignAnyCannouncementReq{Ca: gossip(256, 4, c), Peerid: hsmproto.NodeID(peer), ChannelDBID: channeld.GetDbid()}
			return &glpb.HsmRequest{Raw: req.Encode()},
				reply(func(m hsmproto.Message) []byte { return m.(*hsmproto.SignAnyCannouncementReply).NodeSignature[:] }), nil
		},
		"cupdate_sig_req": func(c []byte) (*glpb.HsmRequest, func([]byte) ([]byte, error), error) {
			return &glpb.HsmRequest{Raw: (&hsmproto.CupdateSigReq{Cu: gossip(258, 1, c)}).Encode(), Context: channeld},
				reply(func(m hsmproto.Message) []byte { return m.(*hsmproto.CupdateSigReply).Cu[2:66] }), nil
		},
		"sign_invoice": func(c []byte) (*glpb.HsmRequest, func([]byte) ([]byte, error), error) {
			// SHA256(hrp) with hrp = SHA256(prefix ‖ challenge) is the
			// challenge's SHA256d; hsmd stops reading the hrp at a NUL.
			hrp := sha256.Sum256(signed(c))
			if bytes.IndexByte(hrp[:], 0) >= 0 {
				return nil, nil, errUnlucky
			}
			return &glpb.HsmRequest{Raw: (&hsmproto.SignInvoice{Hrp: hrp[:]}).Encode()},
				reply(func(m hsmproto.Message) []byte { return m.(*hsmproto.SignInvoiceReply).Sig[:64] }), nil
		},
	}
}

// With the policy enforced (the default) every attempt fails. The same
// attempts with policy.mode = off, CLN's behaviour and the daemon's before
// issue 11, get the victim's node a new device certificate through every
// message but cupdate_sig_req (a 32-byte challenge is too short for CLN's
// channel_update length check): the test sees the attack when it works.
func TestTakeoverThroughForgedChallenge(t *testing.T) {
	f := newFixture(t, glemu.Options{})
	ca, err := os.ReadFile(f.emu.CAPath())
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := os.ReadFile(f.emu.NobodyCertPath())
	key, _ := os.ReadFile(f.emu.NobodyKeyPath())
	tlsConf, err := streamer.ClientTLS(streamer.Credentials{CA: ca, Cert: cert, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	sched, err := streamer.DialScheduler(f.emu.SchedulerURI(), tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A channel of the node's: channeld's context names its peer and dbid.
	peer := [33]byte{0x03, 0x4f, 0x35}
	for i := 3; i < 33; i++ {
		peer[i] = byte(i)
	}
	channeld := &glpb.HsmRequestContext{NodeId: peer[:], Dbid: 7, Capabilities: 447}
	streams := 0
	for _, mode := range []string{"enforce", "off"} {
		t.Run(mode, func(t *testing.T) {
			d := f.start("GL_SIGNERD_POLICY_MODE=" + mode)
			f.attached(d, streams, 30*time.Second)
			streams = f.node.Stats().Streams
			for name, forge := range takeoverForgeries(channeld) {
				t.Run(name, func(t *testing.T) {
					h := &hostileNode{ctx: ctx, f: f, forge: forge}
					var dev *streamer.Device
					for attempt := 0; attempt < 16; attempt++ {
						dev, err = streamer.Recover(ctx, sched, h)
						if !errors.Is(err, errUnlucky) {
							break
						}
					}
					attackWorks := mode == "off" && name != "cupdate_sig_req"
					switch {
					case err == nil && !attackWorks:
						t.Fatalf("the scheduler issued device %q for the victim's node from a signature the daemon made (%d signed replies)", dev.Name, h.signed)
					case err != nil && attackWorks:
						t.Fatalf("with the policy off the forgery should work (CLN's behaviour), but: %v", err)
					case errors.Is(err, errUnlucky):
						t.Fatal("no usable challenge in 16 tries")
					case err != nil:
						t.Logf("recover failed: %v", err)
					}
				})
			}
			if code := d.stop(10 * time.Second); code != 0 {
				t.Fatalf("the daemon exited %d:\n%s", code, d.logTail())
			}
		})
	}
}
