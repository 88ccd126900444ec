package main

import "testing"

// A child's error, wrapped by the demo, does not repeat the "gl-signerd: "
// prefix that main prints once.
func TestChildMessageDropsPrefix(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"gl-signerd: wrong passphrase\n", "wrong passphrase"},
		{"gl-signerd: line 2: bad\ngl-signerd: 1 of 2 messages could not be decoded\n", "line 2: bad\n1 of 2 messages could not be decoded"},
		{"log line without a prefix\n", "log line without a prefix"},
	} {
		if got := childMessage(tc.in); got != tc.want {
			t.Errorf("childMessage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
