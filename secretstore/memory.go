package secretstore

import "runtime"

// Wipe overwrites b with zeros. Go gives no guarantee that no other copy of
// the bytes exists (the runtime may have copied them), so this is hygiene,
// not a promise.
func Wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
	runtime.KeepAlive(b)
}
