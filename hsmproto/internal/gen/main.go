// Command gen generates hsmproto/messages_gen.go from hsmproto/messages.tbl
// (see the grammar at the top of that file). It runs from `go generate`:
//
//	//go:generate go run ./internal/gen -in messages.tbl -out messages_gen.go
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
)

func main() {
	in := flag.String("in", "messages.tbl", "message table to read")
	out := flag.String("out", "messages_gen.go", "Go file to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	t, err := parseTable(bytes.NewReader(src))
	if err != nil {
		return err
	}
	code, err := generate(t, in)
	if err != nil {
		return err
	}
	return os.WriteFile(out, code, 0o644)
}
