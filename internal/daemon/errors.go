package daemon

// Kind says what an error of this package is about, so that the command
// line can turn it into its documented exit code without reading the
// message. An error without a Kind is a plain failure.
type Kind int

const (
	// Failed: the operation failed (a refused request, a broken
	// connection, a file that could not be written).
	Failed Kind = iota
	// SecretStore: the secret store is missing or cannot be used, or a
	// file or directory holding a secret is not ours alone.
	SecretStore
	// Config: the configuration is invalid.
	Config
	// Network: the scheduler or node could not be reached, or refused our
	// identity (including a device certificate that cannot be used).
	Network
	// Locked: another gl-signerd holds the state directory.
	Locked
)

// Error is an error with its Kind; it reads as the error it wraps.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// withKind wraps err (nil stays nil).
func withKind(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}
