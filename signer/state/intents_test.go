package state

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConsumedIntentEncoding(t *testing.T) {
	rec := ConsumedIntent{TimestampMs: 1_700_000_000_123, Purpose: [32]byte{1, 2, 3}, Method: "/cln.Node/Pay"}
	b, err := EncodeConsumedIntent(rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeConsumedIntent(b)
	if err != nil || got != rec {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than its fixed part"},
		{"format", append([]byte{9}, b[1:]...), "format 9"},
		{"cut method", b[:len(b)-1], "method is 13 bytes, the record holds 12"},
		{"trailing", append(append([]byte(nil), b...), 0), "method is 13 bytes, the record holds 14"},
	} {
		if _, err := DecodeConsumedIntent(tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.want)
		}
	}
}

func TestIssuedRuneEncoding(t *testing.T) {
	r := IssuedRune{ID: 7, Created: time.Unix(1_700_000_000, 0).UTC(), Rune: "abc-_", Restrictions: "pubkey=04ab&method=pay"}
	b, err := EncodeIssuedRune(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeIssuedRune(7, b)
	if err != nil || got != r {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than its fixed part"},
		{"format", append([]byte{2}, b[1:]...), "format 2"},
		{"cut restrictions", b[:len(b)-1], "restrictions are cut short"},
		{"cut rune", b[:12], "its rune is cut short"},
		{"trailing", append(append([]byte(nil), b...), 0), "1 bytes after its fields"},
	} {
		if _, err := DecodeIssuedRune(7, tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.want)
		}
	}
}

// A consumed intent stays consumed across a restart; a second request
// gets the first one's record back; pruning forgets only old ones.
func TestConsumeIntentSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id := [32]byte{0xaa}
	first := ConsumedIntent{TimestampMs: 5000, Purpose: [32]byte{1}, Method: "/cln.Node/Pay"}
	if _, fresh, err := st.ConsumeIntent(id, first); err != nil || !fresh {
		t.Fatalf("first consume: fresh %v, %v", fresh, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	second := first
	second.Purpose = [32]byte{2}
	got, fresh, err := st.ConsumeIntent(id, second)
	if err != nil || fresh || got != first {
		t.Fatalf("after restart: %+v fresh %v %v; want the first record, not fresh", got, fresh, err)
	}
	if _, fresh, _ := st.ConsumeIntent([32]byte{0xbb}, ConsumedIntent{TimestampMs: 9000}); !fresh {
		t.Fatal("another id was not fresh")
	}
	if n, err := st.PruneIntents(6000); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v; want 1", n, err)
	}
	if n, _ := st.ConsumedIntents(); n != 1 {
		t.Fatalf("%d intents left; want 1", n)
	}
	if _, fresh, _ := st.ConsumeIntent(id, second); !fresh {
		t.Fatal("a pruned intent was still remembered")
	}
}

func TestIssueRunesNumbersAndKeeps(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		r, err := st.IssueRune(func(id uint64) (IssuedRune, error) {
			return IssuedRune{Created: time.Unix(int64(id), 0).UTC(), Rune: "r", Restrictions: "x"}, nil
		})
		if err != nil || r.ID != uint64(i+1) {
			t.Fatalf("rune %d: id %d, %v", i, r.ID, err)
		}
	}
	st.Close()
	st, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rs, err := st.Runes()
	if err != nil || len(rs) != 2 || rs[0].ID != 1 || rs[1].ID != 2 {
		t.Fatalf("runes after restart: %+v, %v", rs, err)
	}
}

// FuzzIntentRecords: the consumed-intent and rune records decode or are
// refused, and what decodes encodes back to the same bytes.
func FuzzIntentRecords(f *testing.F) {
	b, _ := EncodeConsumedIntent(ConsumedIntent{TimestampMs: 1, Method: "/cln.Node/Pay"})
	f.Add(b)
	b, _ = EncodeIssuedRune(IssuedRune{Rune: "r", Restrictions: "x"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := DecodeConsumedIntent(b); err == nil {
			again, err := EncodeConsumedIntent(c)
			if err != nil || string(again) != string(b) {
				t.Fatalf("consumed intent re-encoded as %x, %v", again, err)
			}
		}
		if r, err := DecodeIssuedRune(1, b); err == nil {
			again, err := EncodeIssuedRune(r)
			if err != nil || string(again) != string(b) {
				t.Fatalf("rune record re-encoded as %x, %v", again, err)
			}
		}
	})
}
