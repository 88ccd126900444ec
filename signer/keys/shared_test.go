package keys

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"gl-signerd/internal/sharedfiles"
)

// sharedPath locates a file under shared/, which lives next to the repo
// (/work/main/../shared), and skips the test when it is not there.
func sharedPath(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		sharedfiles.Missing(t, "%s not found (shared/ is expected next to the repository): %v", p, err)
	}
	return p
}

// hsmdVector is one line of shared/vectors/public.jsonl.
type hsmdVector struct {
	Name        string `json:"name"`
	Scenario    string `json:"scenario"`
	Seq         int    `json:"seq"`
	Secret      string `json:"secret"`
	Network     string `json:"network"`
	Client      string `json:"client"`
	HsmVersions []int  `json:"hsm_versions"`
	Context     *struct {
		PeerID       string `json:"peer_id"`
		DBID         uint64 `json:"dbid"`
		Capabilities uint64 `json:"capabilities"`
	} `json:"context"`
	RequestName string  `json:"request_name"`
	Request     string  `json:"request"`
	Response    *string `json:"response"`
	Error       *string `json:"error"`
}

func (v hsmdVector) req(t testing.TB) []byte  { return unhex(t, v.Request) }
func (v hsmdVector) resp(t testing.TB) []byte { return unhex(t, *v.Response) }

var (
	vectorsOnce sync.Once
	vectorsAll  []hsmdVector
	vectorsErr  error
)

// hsmdVectors returns the successful vectors of one request type.
func hsmdVectors(t testing.TB, requestName string) []hsmdVector {
	t.Helper()
	p := sharedPath(t, "vectors/public.jsonl")
	vectorsOnce.Do(func() {
		f, err := os.Open(p)
		if err != nil {
			vectorsErr = err
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var v hsmdVector
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				vectorsErr = err
				return
			}
			vectorsAll = append(vectorsAll, v)
		}
		vectorsErr = sc.Err()
	})
	if vectorsErr != nil {
		t.Fatalf("reading %s: %v", p, vectorsErr)
	}
	var out []hsmdVector
	for _, v := range vectorsAll {
		if v.RequestName == requestName && v.Response != nil {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no successful %s vectors in %s", requestName, p)
	}
	return out
}

var (
	ringsMu sync.Mutex
	rings   = map[string]*Ring{}
)

// ringFor returns a (shared) Ring for a vector's secret.
func ringFor(t testing.TB, secretHex string) *Ring {
	t.Helper()
	ringsMu.Lock()
	defer ringsMu.Unlock()
	if r, ok := rings[secretHex]; ok {
		return r
	}
	r, err := New(unhex(t, secretHex))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rings[secretHex] = r
	return r
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func unhex32(t testing.TB, s string) [32]byte {
	t.Helper()
	b := unhex(t, s)
	if len(b) != 32 {
		t.Fatalf("want 32 bytes, got %d: %s", len(b), s)
	}
	return [32]byte(b)
}

func unhex33(t testing.TB, s string) [33]byte {
	t.Helper()
	b := unhex(t, s)
	if len(b) != 33 {
		t.Fatalf("want 33 bytes, got %d: %s", len(b), s)
	}
	return [33]byte(b)
}

// wireReader slices a message by hand, without the codec.
type wireReader struct {
	t   testing.TB
	b   []byte
	off int
}

func (r *wireReader) take(n int) []byte {
	r.t.Helper()
	if r.off+n > len(r.b) {
		r.t.Fatalf("message too short: want %d bytes at offset %d of %d", n, r.off, len(r.b))
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *wireReader) u16() uint16 {
	b := r.take(2)
	return uint16(b[0])<<8 | uint16(b[1])
}

func (r *wireReader) u32() uint32 {
	b := r.take(4)
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (r *wireReader) u64() uint64 {
	return uint64(r.u32())<<32 | uint64(r.u32())
}

func (r *wireReader) rest() []byte { return r.take(len(r.b) - r.off) }
