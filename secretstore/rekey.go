package secretstore

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"

	"gl-signerd/internal/atomicfile"
)

// ChangePassphrase re-encrypts the store at path under newPass. oldPass must
// open it (ErrWrongPassphrase otherwise); the seed and its network do not
// change, and the new file gets a fresh salt and nonce and the cost that
// opts (default DefaultKDFParams) give.
//
// The change is atomic (internal/atomicfile): the re-encrypted store is
// written to a temporary file beside the old one and synced, then renamed
// over it, and the directory is synced. Until that rename the old store is
// untouched and opens with the old passphrase; after an error nothing else
// is left in the directory.
func ChangePassphrase(path string, oldPass, newPass []byte, opts ...Option) error {
	if len(newPass) == 0 {
		return ErrEmptyPassphrase
	}
	if bytes.Equal(oldPass, newPass) {
		return errors.New("the new passphrase is the same as the old one; nothing was changed")
	}
	o := options{kdf: DefaultKDFParams()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.kdf.check(); err != nil {
		return fmt.Errorf("secretstore: %s", err)
	}
	seed, err := Open(path, oldPass)
	if err != nil {
		return err
	}
	defer seed.Wipe()
	data, err := seal(seed, newPass, o.kdf, rand.Reader, argon2Key)
	if err != nil {
		return err
	}
	err = atomicfile.Write(path, data, atomicfile.Options{BeforeRename: testHookBeforeReplace})
	var unsynced *atomicfile.DirSyncError
	switch {
	case errors.As(err, &unsynced):
		return fmt.Errorf("the secret store %s is re-encrypted, but syncing its directory failed (a crash now may bring back the old passphrase): %w", path, unsynced.Err)
	case err != nil:
		return fmt.Errorf("cannot put the re-encrypted secret store in place (the old one is unchanged): %w", err)
	}
	return nil
}

// testHookBeforeReplace, when set by a test, runs once the re-encrypted
// store is written and synced beside the old one, before it replaces it;
// its error aborts the change there, as a crash would.
var testHookBeforeReplace func(tmp string) error
