package traffic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"gl-signerd/internal/glemu"
	glpb "gl-signerd/streamer/pb/greenlight"
)

// The vector feeder replays CLN's recorded hsmd answers (shared/vectors,
// outside this repository) through an emulated node, for tests. The
// generator above needs none of it.

// Vector is one line of a vectors JSONL file (shared/vectors/README.md,
// "Line format"; the policy files add Expect and Policy).
type Vector struct {
	Name        string `json:"name"`
	Scenario    string `json:"scenario"`
	Seq         int    `json:"seq"`
	Secret      string `json:"secret"`
	Network     string `json:"network"`
	HsmVersions [2]int `json:"hsm_versions"`
	Client      string `json:"client"`
	Context     *struct {
		PeerID       string `json:"peer_id"`
		DBID         uint64 `json:"dbid"`
		Capabilities uint64 `json:"capabilities"`
	} `json:"context"`
	RequestName *string `json:"request_name"`
	Request     string  `json:"request"`
	Response    *string `json:"response"`
	Error       *string `json:"error"`
	Expect      string  `json:"expect"`
	Policy      string  `json:"policy"`
}

// Label names the line in messages.
func (v Vector) Label() string { return fmt.Sprintf("%s #%d (%s)", v.Scenario, v.Seq, v.Name) }

// LoadVectors reads a JSONL file. A missing file is an error for which
// os.IsNotExist (errors.Is(err, fs.ErrNotExist)) holds, so callers can skip.
func LoadVectors(path string) ([]Vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Vector
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var v Vector
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// Instance is the lines of one signer instance (secret, network, wire
// versions), in file order.
type Instance struct {
	Secret   []byte
	Network  string
	Versions [2]int
	Lines    []Vector
}

// Instances groups lines by signer instance, in order of first appearance.
func Instances(lines []Vector) ([]*Instance, error) {
	var out []*Instance
	idx := map[string]*Instance{}
	for _, v := range lines {
		k := fmt.Sprintf("%s/%s/%v", v.Secret, v.Network, v.HsmVersions)
		in := idx[k]
		if in == nil {
			s, err := hex.DecodeString(v.Secret)
			if err != nil {
				return nil, fmt.Errorf("%s: secret: %w", v.Label(), err)
			}
			in = &Instance{Secret: s, Network: v.Network, Versions: v.HsmVersions}
			idx[k] = in
			out = append(out, in)
		}
		in.Lines = append(in.Lines, v)
	}
	return out, nil
}

// FeedResult counts what Feed saw.
type FeedResult struct {
	Answered   int      // answered byte for byte as CLN did
	Refused    int      // refused where CLN refused (or where the daemon must)
	Skipped    int      // not sent (see Feed)
	Mismatches []string // everything else, one line each
}

// Feed submits each line's request through node, on the client its
// context names, in order, and compares the answer with CLN's: the same
// bytes when CLN answered, an error when CLN refused. Not sent: hsmd_init
// (a Greenlight node answers it from its registration; the signer never
// sees it) and policy lines marked "reject" (CLN signed them; a
// validating signer must not, which is another test). hsmd_sign_message
// from lightningd must be refused: the daemon signs messages only when
// asked locally.
func Feed(ctx context.Context, node *glemu.Node, lines []Vector) (FeedResult, error) {
	var r FeedResult
	for _, v := range lines {
		raw, err := hex.DecodeString(v.Request)
		if err != nil {
			return r, fmt.Errorf("%s: request: %w", v.Label(), err)
		}
		name := ""
		if v.RequestName != nil {
			name = *v.RequestName
		}
		if name == "hsmd_init" || v.Expect == "reject" || len(raw) < 2 {
			r.Skipped++
			continue
		}
		var rc *glpb.HsmRequestContext
		if v.Context != nil {
			p, err := hex.DecodeString(v.Context.PeerID)
			if err != nil {
				return r, fmt.Errorf("%s: context: %w", v.Label(), err)
			}
			rc = &glpb.HsmRequestContext{NodeId: p, Dbid: v.Context.DBID, Capabilities: v.Context.Capabilities}
		}
		resp, err := node.Submit(ctx, &glpb.HsmRequest{Raw: raw, Context: rc})
		if err != nil {
			return r, fmt.Errorf("%s: %w", v.Label(), err)
		}
		switch {
		case name == "hsmd_sign_message" && v.Context == nil:
			if resp.GetError() == "" {
				r.Mismatches = append(r.Mismatches, v.Label()+": hsmd_sign_message from the node was answered")
				continue
			}
			r.Refused++
		case v.Response != nil:
			want, _ := hex.DecodeString(*v.Response)
			if resp.GetError() != "" || !bytes.Equal(resp.GetRaw(), want) {
				r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s: got %x (error %q), CLN answered %x", v.Label(), resp.GetRaw(), resp.GetError(), want))
				continue
			}
			r.Answered++
		default:
			if resp.GetError() == "" {
				r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s: answered %x; CLN refused it", v.Label(), resp.GetRaw()))
				continue
			}
			r.Refused++
		}
	}
	return r, nil
}
