package main

import (
	"errors"
	"fmt"
	"testing"

	"gl-signerd/internal/daemon"
)

// Each kind of daemon error leaves with the code the README's table gives
// it, also when wrapped; a code given with withExitCode wins.
func TestExitCodeOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"plain", errors.New("x"), ExitFailure},
		{"failed", &daemon.Error{Kind: daemon.Failed, Err: errors.New("x")}, ExitFailure},
		{"secret store", &daemon.Error{Kind: daemon.SecretStore, Err: errors.New("x")}, ExitSecretStore},
		{"config", &daemon.Error{Kind: daemon.Config, Err: errors.New("x")}, ExitConfig},
		{"network", &daemon.Error{Kind: daemon.Network, Err: errors.New("x")}, ExitNetwork},
		{"locked", &daemon.Error{Kind: daemon.Locked, Err: errors.New("x")}, ExitLocked},
		{"wrapped", fmt.Errorf("starting: %w", &daemon.Error{Kind: daemon.Network, Err: errors.New("x")}), ExitNetwork},
		{"exit code", withExitCode(ExitUsage, errors.New("x")), ExitUsage},
	} {
		if got := exitCodeOf(tc.err); got != tc.want {
			t.Errorf("%s: exit code %d, want %d", tc.name, got, tc.want)
		}
	}
}
