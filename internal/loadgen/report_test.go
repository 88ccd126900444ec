package loadgen

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSparseCPURatio(t *testing.T) {
	us := time.Microsecond
	for _, tc := range []struct {
		name   string
		phases []Phase
		want   float64
		phase  string
	}{
		{"the slowest paced phase over saturation", []Phase{
			{Name: "100 req/s", TargetRate: 100, CPUPerRequest: 300 * us},
			{Name: "1000 req/s", TargetRate: 1000, CPUPerRequest: 200 * us},
			{Name: "saturation", TargetRate: 0, CPUPerRequest: 150 * us},
		}, 2, "100 req/s"},
		{"phases in any order", []Phase{
			{Name: "saturation", TargetRate: 0, CPUPerRequest: 100 * us},
			{Name: "1000 req/s", TargetRate: 1000, CPUPerRequest: 120 * us},
			{Name: "50 req/s", TargetRate: 50, CPUPerRequest: 950 * us},
		}, 9.5, "50 req/s"},
		{"the memory phase is not paced", []Phase{
			{Name: "memory", TargetRate: -1, CPUPerRequest: 900 * us},
			{Name: "saturation", TargetRate: 0, CPUPerRequest: 100 * us},
		}, 0, ""},
		{"no saturation figure", []Phase{
			{Name: "100 req/s", TargetRate: 100, CPUPerRequest: 300 * us},
			{Name: "saturation", TargetRate: 0},
		}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Phases: tc.phases}
			got, p := r.SparseCPURatio()
			if got != tc.want || p.Name != tc.phase {
				t.Errorf("SparseCPURatio() = %v, %q; want %v, %q", got, p.Name, tc.want, tc.phase)
			}
			var out bytes.Buffer
			r.Write(&out)
			if line := strings.Contains(out.String(), "sparse ÷ busy"); line != (tc.want > 0) {
				t.Errorf("the report has the sparse ÷ busy line: %v, want %v:\n%s", line, tc.want > 0, out.String())
			}
		})
	}
}
