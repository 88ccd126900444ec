package main

import (
	"errors"

	"gl-signerd/internal/daemon"
)

// Exit codes, documented in the README. A script can tell what went wrong
// without parsing the message.
const (
	ExitOK          = 0
	ExitFailure     = 1 // the operation failed (bad input, mismatch, refused request)
	ExitUsage       = 2 // the command line was wrong
	ExitSecretStore = 3 // the secret store is missing, unreadable, too open, or the passphrase is wrong; or a file holding a secret is not ours alone
	ExitConfig      = 4 // the configuration is invalid
	ExitNetwork     = 5 // the scheduler or node could not be reached, or refused our identity
	ExitLocked      = 6 // another gl-signerd holds the state directory
)

// exitError carries an exit code with an error that reads as a sentence.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExitCode wraps err so that the process exits with code.
func withExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// exitCodeOf is the exit code for err: the one withExitCode gave it, else
// the one for the Kind of a daemon error, else ExitFailure.
func exitCodeOf(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var de *daemon.Error
	if errors.As(err, &de) {
		switch de.Kind {
		case daemon.SecretStore:
			return ExitSecretStore
		case daemon.Config:
			return ExitConfig
		case daemon.Network:
			return ExitNetwork
		case daemon.Locked:
			return ExitLocked
		}
	}
	return ExitFailure
}
