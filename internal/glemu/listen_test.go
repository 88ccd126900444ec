package glemu

import (
	"context"
	"net"
	"strings"
	"testing"
)

func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "", want: "127.0.0.1:0"},
		{in: "127.0.0.1:2601", want: "127.0.0.1:2601"},
		{in: "localhost:2601", want: "127.0.0.1:2601"},
		{in: "[::1]:0", want: "[::1]:0"},
		{in: "0.0.0.0:2601", err: "serves loopback only"},
		{in: "192.0.2.1:2601", err: "serves loopback only"},
		{in: "greenlight.example:2601", err: "serves loopback only"},
		{in: "2601", err: "write it as HOST:PORT"},
	} {
		got, err := ListenAddr(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ListenAddr(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ListenAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// Options.Listen puts the scheduler on the address asked for.
func TestStartListen(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	e, err := Start(context.Background(), Options{Listen: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got, want := e.SchedulerURI(), "https://"+addr; got != want {
		t.Fatalf("SchedulerURI() = %q, want %q", got, want)
	}
	if _, err := Start(context.Background(), Options{Listen: "0.0.0.0:0"}); err == nil {
		t.Fatal("Start with a non-loopback address succeeded")
	}
}
