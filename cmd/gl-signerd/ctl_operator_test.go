package main

import (
	"strings"
	"testing"
	"time"

	"gl-signerd/internal/daemon"
	"gl-signerd/signer"
)

// The operator's output as a person reads it: approvals with their
// deadlines, the velocity limits' use in ctl status.
func TestPrintOperator(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	until := now.Add(40 * time.Minute)
	decided := now.Add(-time.Minute)
	var sb strings.Builder
	printApprovals(&sb, []signer.ApprovalInfo{
		{ID: 3, Kind: "payment", Status: "pending", Summary: "a payment of 5000 msat to 02ab", Created: now.Add(-20 * time.Minute), Until: &until},
		{ID: 4, Kind: "withdrawal", Status: "denied", Summary: "a withdrawal of 10 sat to script 0014", Created: now.Add(-time.Hour), Decided: &decided},
	}, now)
	for _, want := range []string{
		"ID  KIND        STATUS   ASKED       UNTIL     WHAT\n",
		"3   payment     pending  20m0s ago   in 40m0s  a payment of 5000 msat to 02ab\n",
		"4   withdrawal  denied   1h0m0s ago  -         a withdrawal of 10 sat to script 0014\n",
	} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("approvals lack %q:\n%s", want, sb.String())
		}
	}
	sb.Reset()
	printApprovals(&sb, nil, now)
	if sb.String() != "no approvals\n" {
		t.Errorf("no approvals: %q", sb.String())
	}
	sb.Reset()
	printVelocityStatus(&sb, &daemon.VelocityInfo{PaymentsHourMsat: 5, PaymentsDayMsat: 7, PaymentsDayLimit: 100, WithdrawalsDaySat: 3, PendingApprovals: 2})
	for _, want := range []string{
		"payments:     5 msat in the last hour (no limit), 7 msat in the last day (limit 100)\n",
		"withdrawals:  0 sat in the last hour (no limit), 3 sat in the last day (no limit)\n",
		"approvals:    2 pending (gl-signerd ctl approvals)\n",
	} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, sb.String())
		}
	}
}
