package state

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sampleOperator() *Operator {
	return &Operator{
		Version: 3, NextApprovalID: 3,
		Approvals: []Approval{
			{ID: 1, Kind: ApprovalPayment, Status: ApprovalApproved, Key: [32]byte{1}, AmountMsat: 5_000, Summary: "a payment", Created: 100, Decided: 160},
			{ID: 2, Kind: ApprovalWithdrawal, Status: ApprovalPending, Key: [32]byte{2}, Summary: "a withdrawal", Created: 200},
		},
		Allowlist: []string{"payee:02ab", "address:bc1q"},
		Spends:    []Spend{{Kind: ApprovalPayment, Key: [32]byte{1}, Amount: 5_000, Time: 170}},
	}
}

// TestOperatorRecordRoundTrip: a record decodes to what was encoded, and
// every way a record can be wrong is refused with the field named.
func TestOperatorRecordRoundTrip(t *testing.T) {
	o := sampleOperator()
	rec, err := EncodeOperator(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeOperator(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, o) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, o)
	}
	empty, _ := EncodeOperator(&Operator{})
	if got, err := DecodeOperator(empty); err != nil || !reflect.DeepEqual(got, &Operator{}) {
		t.Fatalf("empty record: %+v %v", got, err)
	}
	// Offsets: format 0, version 1, next id 9, count 17, first approval 19
	// (id 19, kind 27, status 28, key 29…).
	for _, tc := range []struct {
		name, field string
		mutate      func([]byte) []byte
	}{
		{"another format", "format", func(b []byte) []byte { b[0] = 2; return b }},
		{"truncated", "spends", func(b []byte) []byte { return b[:len(b)-1] }},
		{"trailing bytes", "end", func(b []byte) []byte { return append(b, 0) }},
		{"unknown kind", "approvals[0].kind", func(b []byte) []byte { b[27] = 9; return b }},
		{"unknown status", "approvals[0].status", func(b []byte) []byte { b[28] = 0; return b }},
		{"too many approvals", "approval_count", func(b []byte) []byte { b[17], b[18] = 0xff, 0xff; return b }},
		{"a count the record cannot hold", "approvals", func(b []byte) []byte { b[17], b[18] = 0x03, 0x00; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeOperator(tc.mutate(bytes.Clone(rec)))
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tc.field {
				t.Fatalf("got %v, want a DecodeError on %s", err, tc.field)
			}
		})
	}
	long := &Operator{Approvals: []Approval{{ID: 1, Kind: ApprovalPayment, Status: ApprovalPending, Summary: strings.Repeat("x", maxSummary+1)}}}
	if _, err := EncodeOperator(long); err == nil {
		t.Fatal("a summary over the bound was encoded")
	}
}

// TestOperatorRecordDurable: UpdateOperator commits before it returns, a
// reopened store reads it back, a failed update writes nothing.
func TestOperatorRecordDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := sampleOperator()
	err = st.UpdateOperator(ctx, func(o *Operator) error {
		v := o.Version
		*o = *sampleOperator()
		o.Version = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateOperator(ctx, func(o *Operator) error {
		o.Allowlist = append(o.Allowlist, "payee:03cd")
		return errors.New("no")
	}); err == nil {
		t.Fatal("the update's error was lost")
	}
	commits := st.Stats().Commits
	if err := st.UpdateOperator(ctx, func(*Operator) error { return nil }); err != nil || st.Stats().Commits != commits {
		t.Fatalf("an update that changes nothing was written: %v", err)
	}
	st.Close()
	st, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := st.Operator()
	want.Version = 1
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopening:\n got %+v\nwant %+v", got, want)
	}
	if err := st.UpdateOperator(ctx, func(*Operator) error { return nil }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := st.UpdateOperator(ctx, func(o *Operator) error { o.NextApprovalID++; return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("an update after Close: %v", err)
	}
}

// FuzzDecodeOperator: any bytes decode or are refused with a
// *DecodeError, never a panic; what decodes encodes back to the same
// bytes.
func FuzzDecodeOperator(f *testing.F) {
	rec, _ := EncodeOperator(sampleOperator())
	f.Add(rec)
	empty, _ := EncodeOperator(&Operator{})
	f.Add(empty)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := DecodeOperator(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("not a DecodeError: %v", err)
			}
			return
		}
		again, err := EncodeOperator(o)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, b)
		}
	})
}

// TestOperatorRecordInTheLog: a change committed to the state log and not
// yet checkpointed into bbolt (a crash before Close) is read back.
func TestOperatorRecordInTheLog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.UpdateOperator(context.Background(), func(o *Operator) error {
		o.Allowlist = []string{"payee:02ab"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The files as a crash leaves them, opened elsewhere.
	crashed := t.TempDir()
	for _, p := range []string{path, walPath(path)} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, filepath.Base(p)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	again, err := Open(filepath.Join(crashed, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.Operator().Allowlist; len(got) != 1 || got[0] != "payee:02ab" {
		t.Fatalf("after a crash the run-time allowlist is %v", got)
	}
}
