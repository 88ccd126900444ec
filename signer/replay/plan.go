package replay

import (
	"encoding/hex"
	"fmt"
	"sort"

	"gl-signerd/hsmproto"
)

// Instance is one signer: a (secret, network, hsm_versions) triple, the
// hsmd_init that starts it, and its scenarios in replay order.
type Instance struct {
	Secret   Secret
	Network  string
	Versions [2]uint32
	// Init is the hsmd_init request that starts the signer: the first
	// successful hsmd_init on lightningd's connection among the
	// instance's lines (the vectors put it at seq 0 of the instance's
	// first scenario), or, when the file has none, one made from Network
	// and Versions (InitLine is then nil).
	Init     []byte
	InitLine *Line
	// Scenarios in the order they first appear; each one's lines in seq
	// order.
	Scenarios []*Scenario
}

// Scenario is one coherent story (e.g. a channel's life), replayed in seq
// order on its instance.
type Scenario struct {
	Name  string
	Lines []*Line
}

// Lines returns the instance's lines in replay order.
func (in *Instance) Lines() []*Line {
	var out []*Line
	for _, s := range in.Scenarios {
		out = append(out, s.Lines...)
	}
	return out
}

// String describes the instance without its secret.
func (in *Instance) String() string {
	return fmt.Sprintf("%d-byte secret on %s, hsm_versions [%d, %d]", len(in.Secret), in.Network, in.Versions[0], in.Versions[1])
}

type instanceKey struct {
	secret   string
	network  string
	versions [2]uint32
}

// Plan groups lines into signer instances, in the order each instance and
// scenario first appears, sorting each scenario by seq. A scenario must
// belong to one instance and its seqs must be distinct.
func Plan(lines []*Line) ([]*Instance, error) {
	var out []*Instance
	instances := map[instanceKey]*Instance{}
	scenarios := map[string]*Scenario{}
	owner := map[string]instanceKey{}
	for _, l := range lines {
		k := instanceKey{hex.EncodeToString(l.Secret), l.Network, l.HsmVersions}
		in := instances[k]
		if in == nil {
			in = &Instance{Secret: l.Secret, Network: l.Network, Versions: l.HsmVersions}
			instances[k] = in
			out = append(out, in)
		}
		s := scenarios[l.Scenario]
		if s == nil {
			s = &Scenario{Name: l.Scenario}
			scenarios[l.Scenario] = s
			owner[l.Scenario] = k
			in.Scenarios = append(in.Scenarios, s)
		} else if owner[l.Scenario] != k {
			return nil, fmt.Errorf("%s: scenario %q mixes signer instances (secret, network and hsm_versions must be the same on all its lines)", l.Where(), l.Scenario)
		}
		s.Lines = append(s.Lines, l)
	}
	for _, in := range out {
		for _, s := range in.Scenarios {
			sort.SliceStable(s.Lines, func(i, j int) bool { return s.Lines[i].Seq < s.Lines[j].Seq })
			for i := 1; i < len(s.Lines); i++ {
				if s.Lines[i].Seq == s.Lines[i-1].Seq {
					return nil, fmt.Errorf("%s: scenario %q has seq %d twice (also at %s)", s.Lines[i].Where(), s.Name, s.Lines[i].Seq, s.Lines[i-1].Where())
				}
			}
		}
		if err := in.findInit(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// findInit picks the request that starts the instance.
func (in *Instance) findInit() error {
	for _, l := range in.Lines() {
		if l.Context == nil && l.Response != nil && len(l.Request) >= 2 &&
			uint16(l.Request[0])<<8|uint16(l.Request[1]) == hsmproto.TypeInit {
			in.Init, in.InitLine = l.Request, l
			return nil
		}
	}
	init, err := SynthesizeInit(in.Network, in.Versions)
	if err != nil {
		return fmt.Errorf("%s (%s): no hsmd_init line to start it, and %v", in.Scenarios[0].Lines[0].Where(), in, err)
	}
	in.Init = init
	return nil
}

// SynthesizeInit makes the hsmd_init lightningd sends for network and
// wire versions, for vector files that do not carry one.
func SynthesizeInit(network string, versions [2]uint32) ([]byte, error) {
	m, err := hsmproto.InitFor(network, versions[0], versions[1])
	if err != nil {
		return nil, err
	}
	return hsmproto.Marshal(m)
}
