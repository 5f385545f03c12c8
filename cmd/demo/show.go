package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/voipbin/credential-operator/api/v1alpha1"
)

// tableAccept asks the API server for the server-side table kubectl prints:
// the CRD's printer columns, computed by the API server itself.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io"

// printTable prints what `kubectl get vbc -o wide` prints: it fetches the
// same Table from the API server (the CRD's printer columns, computed by the
// API server) and lays it out as kubectl does.
func printTable(ctx context.Context, out console, cfg *rest.Config) error {
	table, err := getTable(ctx, cfg)
	if err != nil {
		return fmt.Errorf("getting the VoipbinCredential table: %w", err)
	}
	text := formatTable(table)
	out.printf("%s", text)
	if strings.Contains(text, "<invalid>") {
		// The API server formats a date column as an age, and an age in the
		// future is "<invalid>"; the times are spelled out below the table.
		out.println("(kubectl prints <invalid> for a date column that lies in the future; the times are below.)")
	}
	return nil
}

// Column layout of kubectl's table printer (cli-runtime's tabwriter settings).
const (
	kubectlMinWidth = 6
	kubectlPadding  = 3
)

// formatTable lays out a Table as `kubectl get -o wide` does: upper-case
// headers, every column (the wide ones included), each column as wide as its
// widest cell plus three spaces (at least six), the last one unpadded, and an
// empty cell where the value is missing.
func formatTable(table *metav1.Table) string {
	lines := make([][]string, 0, len(table.Rows)+1)
	headers := make([]string, 0, len(table.ColumnDefinitions))
	for _, col := range table.ColumnDefinitions {
		headers = append(headers, strings.ToUpper(col.Name))
	}
	lines = append(lines, headers)
	for _, row := range table.Rows {
		cells := make([]string, 0, len(row.Cells))
		for _, cell := range row.Cells {
			text := ""
			if cell != nil {
				text = fmt.Sprint(cell)
			}
			cells = append(cells, text)
		}
		lines = append(lines, cells)
	}
	var widths []int
	for _, cells := range lines {
		for i, cell := range cells {
			if i == len(widths) {
				widths = append(widths, kubectlMinWidth)
			}
			widths[i] = max(widths[i], len(cell)+kubectlPadding)
		}
	}
	var b strings.Builder
	for _, cells := range lines {
		for i, cell := range cells {
			if i == len(cells)-1 {
				b.WriteString(cell)
				break
			}
			b.WriteString(cell + strings.Repeat(" ", widths[i]-len(cell)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func getTable(ctx context.Context, cfg *rest.Config) (*metav1.Table, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("%s/apis/%s/%s/namespaces/%s/voipbincredentials",
		strings.TrimSuffix(cfg.Host, "/"), v1alpha1.GroupVersion.Group, v1alpha1.GroupVersion.Version, demoNamespace)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", tableAccept)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the API server answered %s", resp.Status)
	}
	table := &metav1.Table{}
	if err := json.NewDecoder(resp.Body).Decode(table); err != nil {
		return nil, err
	}
	return table, nil
}

// printSecrets prints each managed Secret's keys (never a value) and what the
// VoipbinCredential's status says about the credentials in it.
func printSecrets(ctx context.Context, out console, c client.Client, credentials []v1alpha1.VoipbinCredential) error {
	out.println("Managed Secrets (keys only; values are never printed):")
	now := time.Now()
	for i := range credentials {
		vbc := &credentials[i]
		secret := &corev1.Secret{}
		key := client.ObjectKey{Namespace: vbc.Namespace, Name: vbc.Spec.SecretName}
		if err := c.Get(ctx, key, secret); err != nil {
			return fmt.Errorf("reading Secret %s: %w", key.Name, err)
		}
		keys := make([]string, 0, len(secret.Data))
		for k := range secret.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out.printf("  %s (VoipbinCredential %s, type %s)\n", secret.Name, vbc.Name, secret.Type)
		out.printf("    keys:       %s\n", strings.Join(keys, ", "))
		if t := vbc.Status.Token; t != nil && t.ExpiresAt != nil {
			out.printf("    token:      expires %s, renewal %s\n", when(t.ExpiresAt, now), when(t.RenewalTime, now))
		}
		if a := vbc.Status.AccessKey; a != nil {
			out.printf("    accesskey:  %s... (%q), expires %s\n", a.Prefix, a.Name, when(a.ExpiresAt, now))
		}
	}
	return nil
}

// when formats t as RFC 3339 UTC with the time left, as kubectl would word it.
func when(t *metav1.Time, now time.Time) string {
	if t == nil {
		return "<unknown>"
	}
	stamp := t.UTC().Format(time.RFC3339)
	if d := t.Sub(now); d >= 0 {
		return fmt.Sprintf("%s (in %s)", stamp, duration.HumanDuration(d))
	}
	return fmt.Sprintf("%s (%s ago)", stamp, duration.HumanDuration(now.Sub(t.Time)))
}

// printNotReady says why each VoipbinCredential that is not Ready is not.
func printNotReady(out console, credentials []v1alpha1.VoipbinCredential) {
	for i := range credentials {
		vbc := &credentials[i]
		if isReady(vbc) {
			continue
		}
		cond := meta.FindStatusCondition(vbc.Status.Conditions, v1alpha1.ConditionReady)
		if cond == nil {
			out.printf("%s: no Ready condition yet\n", vbc.Name)
			continue
		}
		out.printf("%s: Ready=%s %s: %s\n", vbc.Name, cond.Status, cond.Reason, cond.Message)
	}
}

// isReady reports whether the operator has seen the current spec and found
// every requested credential usable.
func isReady(vbc *v1alpha1.VoipbinCredential) bool {
	cond := meta.FindStatusCondition(vbc.Status.Conditions, v1alpha1.ConditionReady)
	return cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == vbc.Generation
}
