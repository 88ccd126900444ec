package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"gl-signerd/hsmproto"
)

// hsmdCmd groups the commands that work on hsmd wire messages; other
// subcommands about the hsmd protocol can attach to it.
var hsmdCmd = &cobra.Command{
	Use:   "hsmd",
	Short: "Work with Core Lightning hsmd wire messages",
	Args:  noArgs,
}

func init() {
	decode := &cobra.Command{
		Use:   "decode HEX | -",
		Short: "Decode hsmd messages and print them as JSON",
		Long: `Decode an hsmd message (u16 type then payload, in hex, as in Greenlight's
HsmRequest.raw or the vectors' request/response) and print it as JSON:
{"type": N, "name": "hsmd_...", "fields": {...}}, every field under its name
in CLN ` + hsmproto.CLNVersion + `'s hsmd_wire.csv. Byte fields are hex, amounts numbers,
transactions and PSBTs are shown field by field with their hex.

With "-", read one hex message per line from standard input (blank lines and
lines starting with # are skipped) and print one JSON object per line.

A message that does not decode is reported with the field and byte offset
where it fails, and the exit code is 1.`,
		Example: `  gl-signerd hsmd decode 00120000000000000001
  jq -r .request vectors.jsonl | gl-signerd hsmd decode -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("%s takes one argument: a message in hex, or - to read one per line from standard input", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "-" {
				return decodeLines(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			out, err := decodeHex(args[0], true)
			if err != nil {
				return withExitCode(ExitFailure, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out)
			return err
		},
	}
	hsmdCmd.AddCommand(decode)
	rootCmd.AddCommand(hsmdCmd)
}

// decodedMessage is what hsmd decode prints for one message.
type decodedMessage struct {
	Type   uint16           `json:"type"`
	Name   string           `json:"name"`
	Fields hsmproto.Message `json:"fields"`
	// Trailing holds the bytes after the last field, which CLN ignores.
	Trailing string `json:"trailing,omitempty"`
}

// decodeHex decodes one hex message into its JSON form.
func decodeHex(s string, indent bool) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "0x")
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not a hex message (%v); give the message bytes in hex, type first, e.g. 00120000000000000001", err)
	}
	m, n, err := hsmproto.DecodePrefix(raw)
	if err != nil {
		return nil, decodeErrorText(err)
	}
	d := decodedMessage{Type: m.MsgType(), Name: m.MsgName(), Fields: m, Trailing: hex.EncodeToString(raw[n:])}
	if indent {
		return json.MarshalIndent(d, "", "  ")
	}
	return json.Marshal(d)
}

// decodeLines decodes one hex message per input line, printing one JSON
// line each; failures go to stderr and make the command fail at the end.
func decodeLines(in io.Reader, out, errOut io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, 2*hsmproto.MaxFrameSize+64)
	failed, total := 0, 0
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		total++
		j, err := decodeHex(text, false)
		if err != nil {
			failed++
			fmt.Fprintf(errOut, "gl-signerd: line %d: %v\n", line, err)
			continue
		}
		if _, err := fmt.Fprintf(out, "%s\n", j); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return withExitCode(ExitFailure, fmt.Errorf("reading standard input: %w", err))
	}
	if failed > 0 {
		return withExitCode(ExitFailure, fmt.Errorf("%d of %d messages could not be decoded", failed, total))
	}
	return nil
}

// decodeErrorText names the message in a decoding error as the JSON output
// does ("hsmd_ecdh_req", not hsmproto's shorter "ecdh_req").
func decodeErrorText(err error) error {
	var de *hsmproto.DecodeError
	if !errors.As(err, &de) {
		return err
	}
	name := de.Message
	if name == "" {
		name = "hsmd message"
	}
	return fmt.Errorf("%s: field %s at byte %d: %w", name, de.Field, de.Offset, de.Err)
}
