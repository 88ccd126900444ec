package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestConfirmWords(t *testing.T) {
	words := strings.Fields("abandon ability able about above absent absorb abstract absurd abuse access accident")
	for _, tc := range []struct {
		name  string
		input string
		err   string
	}{
		{"right first time", "ability\nabsent\naccident\n", ""},
		{"case and spaces do not matter", "  Ability \nABSENT\naccident", ""},
		{"one retry", "ability\nabsorb\nabsent\naccident\n", ""},
		{"three wrong", "ability\nx\ny\nz\n", "word 6 did not match your copy 3 times; nothing was written: run init again for new words, and copy them carefully"},
		{"input ends", "ability\n", "the recovery words were not confirmed (input ended); nothing was written"},
		{"empty", "", "the recovery words were not confirmed (input ended); nothing was written"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := confirmWords(bufio.NewReader(strings.NewReader(tc.input)), &out, words, []int{1, 5, 11})
			if tc.err == "" {
				if err != nil {
					t.Fatalf("confirmWords: %v\n%s", err, out.String())
				}
				return
			}
			if err == nil || err.Error() != tc.err {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			for _, w := range words {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error names word %q", w)
				}
			}
		})
	}
}

func TestPickPositions(t *testing.T) {
	for i := 0; i < 50; i++ {
		p, err := pickPositions(12, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 3 || !(p[0] < p[1] && p[1] < p[2]) || p[0] < 0 || p[2] > 11 {
			t.Fatalf("pickPositions(12, 3) = %v", p)
		}
	}
}

func TestShowWords(t *testing.T) {
	var out bytes.Buffer
	showWords(&out, strings.Fields("a b c d e f g h i j k l"))
	want := "Write down these 12 recovery words, in order. They are the only backup of this\n" +
		"node's funds: gl-signerd does not store them and will not show them again.\n\n" +
		"   1 a            2 b            3 c            4 d\n" +
		"   5 e            6 f            7 g            8 h\n" +
		"   9 i           10 j           11 k           12 l\n\n"
	if out.String() != want {
		t.Errorf("showWords =\n%q\nwant\n%q", out.String(), want)
	}
}
