// Command csv2tbl converts CLN's wire CSV files (hsmd/hsmd_wire.csv,
// common/channel_type_wire.csv) into the messages.tbl format read by
// hsmproto/internal/gen. It was used once to produce hsmproto/messages.tbl
// from CLN v26.06.6; for a new CLN version, run it on the new CSV and diff
// the output against messages.tbl to see what changed:
//
//	go run ./hsmproto/internal/csv2tbl hsmd_wire.csv > /tmp/new.tbl
//	diff hsmproto/messages.tbl /tmp/new.tbl
//
// messages.tbl, not the CSV, is the source of truth: it also describes the
// types CLN defines in C (hsm_utxo, basepoints, ...), which the CSV only
// names.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: csv2tbl file.csv... > messages.tbl")
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		err = convert(w, f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
	}
	w.Flush()
}

// convert writes one table definition per CSV msgtype/subtype/tlvtype, with
// the CSV comments that precede a line kept in front of it.
func convert(w io.Writer, r io.Reader) error {
	var comments []string
	flush := func(indent string) {
		for _, c := range comments {
			fmt.Fprintf(w, "%s#%s\n", indent, c)
		}
		comments = nil
	}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		switch {
		case strings.TrimSpace(line) == "":
			continue
		case strings.HasPrefix(line, "#include"):
			continue
		case strings.HasPrefix(line, "#"):
			comments = append(comments, strings.TrimPrefix(line, "#"))
			continue
		}
		col := strings.Split(line, ",")
		switch col[0] {
		case "msgtype":
			fmt.Fprintln(w)
			flush("")
			fmt.Fprintf(w, "msg %s %s\n", col[1], col[2])
		case "subtype":
			fmt.Fprintln(w)
			flush("")
			fmt.Fprintf(w, "subtype %s\n", col[1])
		case "tlvtype":
			flush("")
			fmt.Fprintf(w, "record %s %s %s\n", col[1], col[2], col[3])
		case "msgdata", "subtypedata":
			if len(col) < 5 {
				return fmt.Errorf("line %d: short %s line", n, col[0])
			}
			flush("    ")
			fmt.Fprintf(w, "    %s %s\n", col[2], fieldType(col[3], col[4]))
		case "tlvdata":
			if len(col) < 6 {
				return fmt.Errorf("line %d: short tlvdata line", n)
			}
			flush("    ")
			fmt.Fprintf(w, "    %s %s\n", col[3], fieldType(col[4], col[5]))
		default:
			return fmt.Errorf("line %d: unknown line kind %q", n, col[0])
		}
	}
	return sc.Err()
}

// fieldType renders a CSV type and count column as a table type:
// "u8" + "len" → "u8[len]", "enum side" → "side", "byte" → "u8".
func fieldType(typ, count string) string {
	typ = strings.TrimPrefix(typ, "enum ")
	if typ == "byte" {
		typ = "u8"
	}
	if count != "" {
		return typ + "[" + count + "]"
	}
	return typ
}
