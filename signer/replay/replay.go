// Package replay replays hsmd vector files against the signing engine and
// says, line by line, whether it answers as CLN's hsmd did.
//
// A vector file is JSON Lines, one request per line with the client that
// sent it and hsmd's reply (the format of shared/vectors/README.md, plus
// "expect"/"policy" from the policy vectors). Any file in that format
// works, whatever its secret or network.
//
// The common case:
//
//	lines, err := replay.ReadFile("public.jsonl")
//	sum, err := replay.Run(ctx, lines, replay.Options{}, func(r replay.Result) {
//		if !r.Pass {
//			fmt.Print(r.Explain())
//		}
//	})
//	fmt.Printf("%d passed, %d failed\n", sum.Passed, sum.Failed)
//
// Lines are grouped into signer instances, one per (secret, network,
// hsm_versions); each instance is a fresh signer started with its hsmd_init
// (Plan), then its scenarios are replayed in order, each in seq order, on
// the client the line's context names (Instance.Start, Session.Step). A
// line passes when
//
//   - hsmd answered and the signer's reply is the same bytes;
//   - hsmd refused (response null) and the signer refused too, with
//     signer.RefusalError.Fatal consistent with hsmd (fatal on lightningd's
//     connection; not fatal where hsmd kept running);
//   - the line says "expect": "reject" and the signer refused, whatever
//     hsmd answered. With the policy off those lines fail, and say so.
//
// The policy (Options.Policy) is enforce unless set: the engine refuses
// what its policy checks refuse (package signer/policy), so a replay of
// CLN's own vectors, which hold malformed announcements CLN signs on
// purpose, uses PolicyOff. Under PolicyWarn the engine signs and each
// result lists the violations it reported (Result.Warnings).
//
// A differing reply is explained field by field (Diff): both replies are
// decoded with hsmproto and compared by their hsmd_wire.csv field names,
// falling back to the bytes when a reply does not decode. Values of secret
// fields the signer produced (derived secrets, ECDH results, revealed
// per-commitment secrets) are never printed.
package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"gl-signerd/hsmproto"
	"gl-signerd/signer"
	"gl-signerd/signer/policy"
)

// Handler answers raw hsmd requests: *signer.Engine, or a layer around it.
type Handler interface {
	Handle(ctx context.Context, c signer.Client, raw []byte) ([]byte, error)
}

// Policy is the engine's policy mode for the replay (signer/policy).
type Policy = policy.Mode

// The policies a replay runs with.
const (
	// PolicyEnforce refuses what the policy checks refuse: the default.
	PolicyEnforce = policy.ModeEnforce
	// PolicyWarn signs anyway; results list the violations.
	PolicyWarn = policy.ModeWarn
	// PolicyOff answers as CLN's hsmd does: for CLN's own vectors.
	PolicyOff = policy.ModeOff
)

// Options configure a replay. The zero value replays on signer.NewEngine
// with the policy enforced.
type Options struct {
	// NewHandler makes the signer of one instance from its secret. Nil
	// means signer.NewEngine(secret) in the mode Policy names; a handler
	// made here is responsible for its own policy.
	NewHandler func(secret []byte) (Handler, error)
	// Policy is PolicyEnforce, PolicyWarn or PolicyOff ("" means
	// PolicyEnforce).
	Policy Policy
	// EngineOptions, if set, gives each instance's engine more options
	// (e.g. a state store of its own: signer.WithState).
	EngineOptions func() ([]signer.Option, error)
}

func (o Options) policy() Policy {
	if o.Policy == "" {
		return PolicyEnforce
	}
	return o.Policy
}

// Session is one started signer instance.
type Session struct {
	Instance *Instance
	Handler  Handler
	opts     Options
	// warnings collects the violations the engine reports under
	// PolicyWarn while one line is replayed.
	warnings *warningLog
}

// warningLog collects the tags of violations signed under PolicyWarn. It is
// safe for concurrent use; a line's warnings are told apart from another's
// only when lines are not stepped concurrently (warn replays are not).
type warningLog struct {
	mu   sync.Mutex
	tags []string
}

func (w *warningLog) add(tag string) {
	w.mu.Lock()
	w.tags = append(w.tags, tag)
	w.mu.Unlock()
}

// take returns the tags collected since the last take and forgets them.
func (w *warningLog) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	tags := w.tags
	w.tags = nil
	return tags
}

// Start makes a fresh signer for the instance and sends it the instance's
// hsmd_init on lightningd's connection.
func (in *Instance) Start(ctx context.Context, opts Options) (*Session, error) {
	var h Handler
	var err error
	warnings := new(warningLog)
	if opts.NewHandler != nil {
		h, err = opts.NewHandler(in.Secret)
	} else {
		eopts := []signer.Option{signer.WithPolicyMode(opts.policy()),
			signer.WithPolicyReporter(func(_ signer.Client, _ uint16, v *policy.Violation) {
				warnings.add(v.Tag)
			})}
		if opts.EngineOptions != nil {
			more, err := opts.EngineOptions()
			if err != nil {
				return nil, fmt.Errorf("starting the signer (%s): %w", in, err)
			}
			eopts = append(eopts, more...)
		}
		h, err = signer.NewEngine(in.Secret, eopts...)
	}
	if err != nil {
		return nil, fmt.Errorf("starting the signer (%s): %w", in, err)
	}
	if _, err := h.Handle(ctx, signer.MasterClient, in.Init); err != nil {
		where := "a made-up hsmd_init"
		if in.InitLine != nil {
			where = "the hsmd_init of " + in.InitLine.Where()
		}
		return nil, fmt.Errorf("starting the signer (%s): %s was refused: %w", in, where, err)
	}
	warnings.take()
	return &Session{Instance: in, Handler: h, opts: opts, warnings: warnings}, nil
}

// Result is the outcome of one line.
type Result struct {
	Line *Line
	Pass bool
	// Reply is the signer's reply, nil if it refused; Err its refusal
	// (usually a *signer.RefusalError) or other error.
	Reply []byte
	Err   error
	// Problem says why the line failed ("" when it passed).
	Problem string
	// Diff lists the differing fields when the reply differs from hsmd's
	// (nil when the replies could not be decoded; Explain then shows the
	// bytes).
	Diff []FieldDiff
	// NeedsPolicy is set on a reject line the signer answered: with the
	// policy off, or for a rule the policy does not check yet (not for a
	// violation it signed under PolicyWarn).
	NeedsPolicy bool
	// Warnings are the tags of the violations the engine signed anyway
	// (PolicyWarn).
	Warnings []string
}

// Step replays one line on the session's signer.
func (s *Session) Step(ctx context.Context, l *Line) Result {
	s.warnings.take()
	reply, err := s.Handler.Handle(ctx, l.SignerClient(), l.Request)
	r := Result{Line: l, Reply: reply, Err: err, Warnings: s.warnings.take()}
	var re *signer.RefusalError
	isRefusal := errors.As(err, &re)
	switch {
	case l.Expect == ExpectReject:
		if err != nil {
			// A policy vector names the rule: the refusal must carry
			// exactly that tag.
			if tag := refusalTag(err); l.Policy != "" && tag != l.Policy {
				r.Problem = fmt.Sprintf("must be refused with tag %s, but was refused with tag %s: %v", l.Policy, orDash(tag), err)
				return r
			}
			r.Pass = true
			return r
		}
		r.Problem = fmt.Sprintf("must be refused (expect: reject, %s), but the signer answered with %s",
			orDash(l.Policy), messageName(reply))
		switch {
		case s.opts.policy() == PolicyOff:
			r.NeedsPolicy = true
			r.Problem += "; the policy is off"
		case len(r.Warnings) > 0:
			r.Problem += "; the policy only warns (" + strings.Join(r.Warnings, ", ") + ")"
		default:
			r.NeedsPolicy = true
			r.Problem += "; the policy does not check this yet"
		}
	case l.Response == nil:
		hsmdErr := "refused"
		if l.Error != nil {
			hsmdErr = *l.Error
		}
		switch {
		case err == nil:
			r.Problem = fmt.Sprintf("CLN's hsmd refused this (%s), but the signer answered with %s", hsmdErr, messageName(reply))
		case !isRefusal:
			r.Problem = fmt.Sprintf("CLN's hsmd refused this (%s); the signer failed with an error that is not a *signer.RefusalError: %v", hsmdErr, err)
		case l.Context == nil && !re.Fatal:
			r.Problem = fmt.Sprintf("refused, but not as fatal: on lightningd's connection CLN's hsmd exits (%s); signer said: %v", hsmdErr, err)
		case l.HsmdExited != nil && !*l.HsmdExited && re.Fatal:
			r.Problem = fmt.Sprintf("refused as fatal, but CLN's hsmd only closed the client's connection (%s); signer said: %v", hsmdErr, err)
		default:
			r.Pass = true
		}
	default:
		want := []byte(*l.Response)
		switch {
		case err != nil:
			r.Problem = fmt.Sprintf("CLN's hsmd answered with %s, but the signer refused: %v", messageName(want), err)
		case string(reply) == string(want):
			r.Pass = true
		default:
			r.Problem = "the reply differs from CLN's hsmd"
			r.Diff, _ = Diff(reply, want)
		}
	}
	return r
}

// Explain describes a result for a person: one line for a pass, the line's
// identity, its problem and the field diff (or the bytes) for a failure.
func (r Result) Explain() string {
	l := r.Line
	var b strings.Builder
	status := "ok  "
	if !r.Pass {
		status = "FAIL"
	}
	fmt.Fprintf(&b, "%s %s [%s] (%s)\n", status, l.ID(), orDash(l.Client), l.Where())
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "     warning: signed despite %s\n", w)
	}
	if r.Pass {
		if l.Expect == ExpectReject {
			if l.Policy != "" {
				fmt.Fprintf(&b, "     refused with %s, the tag the vector expects\n", l.Policy)
			} else {
				fmt.Fprintf(&b, "     refused, as the vector expects (%v)\n", r.Err)
			}
		}
		return b.String()
	}
	fmt.Fprintf(&b, "     %s\n", r.Problem)
	if l.Response != nil && r.Err == nil && l.Expect != ExpectReject {
		if r.Diff != nil {
			for _, d := range r.Diff {
				fmt.Fprintf(&b, "       %s\n", d)
			}
		} else {
			b.WriteString(hexDiff(r.Reply, *l.Response))
		}
	}
	return b.String()
}

// Summary counts the results of a replay.
type Summary struct {
	Passed, Failed int
	// Warned counts the lines signed despite a violation (PolicyWarn).
	Warned int
	// NeedPolicy counts the failures that are reject lines answered with
	// the policy off.
	NeedPolicy int
	// Rejects counts the "expect": "reject" lines, RejectsRefused those
	// refused as the vector expects (with its tag, when it names one).
	Rejects, RejectsRefused int
}

func (s *Summary) add(r Result) {
	if len(r.Warnings) > 0 {
		s.Warned++
	}
	if r.Line != nil && r.Line.Expect == ExpectReject {
		s.Rejects++
		if r.Pass {
			s.RejectsRefused++
		}
	}
	if r.Pass {
		s.Passed++
		return
	}
	s.Failed++
	if r.NeedsPolicy {
		s.NeedPolicy++
	}
}

// Run plans the lines (Plan), starts each instance and replays its lines in
// order, calling each (if not nil) with every result. It returns an error
// only when the lines cannot be replayed at all (inconsistent scenarios,
// a signer that will not start, a cancelled context).
func Run(ctx context.Context, lines []*Line, opts Options, each func(Result)) (Summary, error) {
	var sum Summary
	if _, err := policy.ParseMode(string(opts.policy())); err != nil {
		return sum, err
	}
	plan, err := Plan(lines)
	if err != nil {
		return sum, err
	}
	for _, in := range plan {
		s, err := in.Start(ctx, opts)
		if err != nil {
			return sum, err
		}
		for _, l := range in.Lines() {
			if err := ctx.Err(); err != nil {
				return sum, err
			}
			r := s.Step(ctx, l)
			sum.add(r)
			if each != nil {
				each(r)
			}
		}
	}
	return sum, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// messageName names a raw message by its type.
func messageName(raw []byte) string {
	if len(raw) < 2 {
		return fmt.Sprintf("a %d-byte message", len(raw))
	}
	t := uint16(raw[0])<<8 | uint16(raw[1])
	if n := hsmproto.MessageName(t); n != "" {
		return n
	}
	return fmt.Sprintf("message type %d", t)
}

// refusalTag is the policy tag of a refusal, "" for none.
func refusalTag(err error) string {
	var re *signer.RefusalError
	if errors.As(err, &re) {
		return re.Tag
	}
	return ""
}
