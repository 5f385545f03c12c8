package main

import (
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFormatTableMatchesKubectl compares formatTable with what kubectl 1.32
// printed for `kubectl get vbc -o wide` against a demo's API server.
func TestFormatTableMatchesKubectl(t *testing.T) {
	var columns []metav1.TableColumnDefinition
	for _, name := range []string{"Name", "Ready", "Reason", "Secret", "Expires", "Renewal", "AccessKey Expires", "Age"} {
		columns = append(columns, metav1.TableColumnDefinition{Name: name})
	}
	row := func(cells ...any) metav1.TableRow { return metav1.TableRow{Cells: cells} }
	table := &metav1.Table{
		ColumnDefinitions: columns,
		Rows: []metav1.TableRow{
			row("billing", "True", "Ready", "billing-voipbin", "<invalid>", "<invalid>", nil, "36s"),
			row("dialer", "True", "Ready", "dialer-voipbin", "<invalid>", "<invalid>", "<invalid>", "36s"),
			row("reports", "True", "Ready", "reports-voipbin", nil, nil, "<invalid>", "36s"),
		},
	}
	want := "" +
		"NAME      READY   REASON   SECRET            EXPIRES     RENEWAL     ACCESSKEY EXPIRES   AGE\n" +
		"billing   True    Ready    billing-voipbin   <invalid>   <invalid>                       36s\n" +
		"dialer    True    Ready    dialer-voipbin    <invalid>   <invalid>   <invalid>           36s\n" +
		"reports   True    Ready    reports-voipbin                           <invalid>           36s\n"
	if got := formatTable(table); got != want {
		t.Errorf("formatTable:\n%s\nwant (kubectl):\n%s", got, want)
	}

	// Narrow and empty columns lay out as kubectl's tabwriter (cli-runtime's
	// settings: minwidth 6, padding 3) lays them out.
	narrow := &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{{Name: "ID"}, {Name: "X"}, {Name: "Status"}, {Name: "Age"}},
		Rows:              []metav1.TableRow{row("a", nil, "Ready", "1s"), row("bb", "y", nil, "10m")},
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 6, 4, 3, ' ', 0)
	_, _ = fmt.Fprintln(w, "ID\tX\tSTATUS\tAGE")
	_, _ = fmt.Fprintln(w, "a\t\tReady\t1s")
	_, _ = fmt.Fprintln(w, "bb\ty\t\t10m")
	_ = w.Flush()
	if got := formatTable(narrow); got != b.String() {
		t.Errorf("formatTable(narrow):\n%s\nwant (tabwriter):\n%s", got, b.String())
	}
}
