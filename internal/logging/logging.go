// Package logging builds gl-signerd's zap logger from the log.level and
// log.format settings: human-readable console lines on a terminal, one JSON
// object per line otherwise (journald, Docker, files). When systemd connected
// the output to the journal (JOURNAL_STREAM names it), each line starts with
// its syslog priority (<3> error, <4> warn, <6> info, <7> debug), which
// journald strips and keeps as the entry's level.
//
// What the daemon logs never includes a secret: no seed, key, passphrase,
// mnemonic word, request payload or signature. Configuration is logged only
// in its redacted form (config.Config.Flat).
package logging

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("auto", "console", "json"). With "auto", w gets
// console output if it is a terminal. Lines get a syslog priority prefix
// when w is the journal stream that $JOURNAL_STREAM names.
func New(w io.Writer, level, format string) (*zap.Logger, error) {
	return newLogger(w, level, format, isJournalStream(w, os.Getenv("JOURNAL_STREAM")))
}

func newLogger(w io.Writer, level, format string, journal bool) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	switch format {
	case "auto":
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "console"
		}
	case "console", "json":
	default:
		return nil, fmt.Errorf("log format %q is not one of auto, console, json", format)
	}
	var enc zapcore.Encoder
	if format == "console" {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02 15:04:05.000")
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey = "time"
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		ec.EncodeDuration = zapcore.StringDurationEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	if journal {
		enc = priorityEncoder{enc}
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core, zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(w)))), nil
}

// priorityEncoder starts every line of an entry with the syslog priority of
// its level, the prefix journald reads on a stream (sd-daemon(3)).
type priorityEncoder struct{ zapcore.Encoder }

var prefixedPool = buffer.NewPool()

func (e priorityEncoder) Clone() zapcore.Encoder { return priorityEncoder{e.Encoder.Clone()} }

func (e priorityEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	line, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	defer line.Free()
	prefix := syslogPriority(ent.Level)
	out := prefixedPool.Get()
	b := line.Bytes()
	for len(b) > 0 {
		// A console entry with a stack trace spans lines; each one is its
		// own journal entry and keeps the level.
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b) - 1
		}
		out.AppendString(prefix)
		out.Write(b[:i+1])
		b = b[i+1:]
	}
	return out, nil
}

// syslogPriority is the "<N>" prefix for a level: 3 err, 4 warning, 6 info,
// 7 debug, 2 crit for panics and fatal errors.
func syslogPriority(l zapcore.Level) string {
	switch {
	case l <= zapcore.DebugLevel:
		return "<7>"
	case l == zapcore.InfoLevel:
		return "<6>"
	case l == zapcore.WarnLevel:
		return "<4>"
	case l == zapcore.ErrorLevel:
		return "<3>"
	}
	return "<2>"
}
