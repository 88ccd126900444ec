package config

import (
	"encoding/pem"
	"fmt"
	"os"
	"strings"
)

func pemDecodes(s string) bool {
	block, _ := pem.Decode([]byte(strings.TrimSpace(s)))
	return block != nil
}

// ReadPEM returns the PEM bytes of a TLS setting: the text itself if it is
// PEM text, else the content of the file it names. key names the setting
// in errors ("tls.ca_cert").
func ReadPEM(key, value string) ([]byte, error) {
	if value == "" {
		return nil, fmt.Errorf("config: %s is not set", key)
	}
	if IsPEM(value) {
		return []byte(value), nil
	}
	b, err := os.ReadFile(value)
	if err != nil {
		return nil, fmt.Errorf("config: %s: cannot read the PEM file: %w", key, err)
	}
	if !pemDecodes(string(b)) {
		return nil, fmt.Errorf("config: %s: %s holds no PEM block", key, value)
	}
	return b, nil
}
