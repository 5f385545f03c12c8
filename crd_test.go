package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/voipbin/credential-operator/test/harness"
)

// undocumentedFields appends to missing the path of every field (property) under
// schema that has no description, walking properties, items and additionalProperties.
//
// The schema of an array's items or of a map's values is not a field of its own:
// controller-gen gives a []string or map[string]string no description there (the doc
// comment belongs to the field holding it), so only the properties found beneath are
// checked. The root's metadata is skipped: controller-gen leaves it as a bare
// {type: object} in every CRD, and the API server documents ObjectMeta itself.
func undocumentedFields(path string, schema map[string]any, missing *[]string) {
	properties, _ := schema["properties"].(map[string]any)
	names := make([]string, 0, len(properties))
	for name := range properties {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		field, _ := properties[name].(map[string]any)
		if path == "" && name == "metadata" {
			continue
		}
		if desc, _ := field["description"].(string); strings.TrimSpace(desc) == "" {
			*missing = append(*missing, path+"."+name)
		}
		undocumentedFields(path+"."+name, field, missing)
	}
	if items, ok := schema["items"].(map[string]any); ok {
		undocumentedFields(path+"[]", items, missing)
	}
	if values, ok := schema["additionalProperties"].(map[string]any); ok {
		undocumentedFields(path+"{}", values, missing)
	}
}

// TestCRDDescriptions checks that every field of every CRD in config/crd/bases has a
// description (what kubectl explain prints), and the kind itself too.
func TestCRDDescriptions(t *testing.T) {
	t.Run("control: the walk finds undocumented fields at every depth", func(t *testing.T) {
		schema := map[string]any{"properties": map[string]any{
			"metadata": map[string]any{"type": "object"},
			"spec": map[string]any{"description": "d", "properties": map[string]any{
				"plain": map[string]any{"type": "string"},
				"list": map[string]any{"description": "d", "items": map[string]any{"properties": map[string]any{
					"inItem": map[string]any{"description": " "},
				}}},
				"map": map[string]any{"description": "d", "additionalProperties": map[string]any{"properties": map[string]any{
					"inValue": map[string]any{},
				}}},
				"metadata": map[string]any{"type": "object"}, // only the root's is exempt
			}},
		}}
		var missing []string
		undocumentedFields("", schema, &missing)
		want := []string{".spec.list[].inItem", ".spec.map{}.inValue", ".spec.metadata", ".spec.plain"}
		if !slices.Equal(missing, want) {
			t.Errorf("undocumented = %v, want %v", missing, want)
		}
	})

	files, err := filepath.Glob(filepath.Join(harness.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRD in config/crd/bases (%v)", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, crd := range decodeObjects(t, data) {
			versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
			if len(versions) == 0 {
				t.Fatalf("%s: no versions", filepath.Base(file))
			}
			for _, v := range versions {
				version, _ := v.(map[string]any)
				schema, ok, _ := unstructured.NestedMap(version, "schema", "openAPIV3Schema")
				if !ok {
					t.Errorf("%s %v: no openAPIV3Schema", crd.GetName(), version["name"])
					continue
				}
				if desc, _ := schema["description"].(string); strings.TrimSpace(desc) == "" {
					t.Errorf("%s %v: the kind has no description", crd.GetName(), version["name"])
				}
				var missing []string
				undocumentedFields("", schema, &missing)
				for _, path := range missing {
					t.Errorf("%s %v: %s has no description", crd.GetName(), version["name"], path)
				}
				// The walk went deep: a CRD with spec and status has more than a
				// handful of fields (a guard against walking nothing).
				if fields := countFields(schema); fields < 20 {
					t.Errorf("%s %v: only %d fields walked", crd.GetName(), version["name"], fields)
				}
			}
		}
	}
}

// countFields counts the properties under schema, at every depth.
func countFields(schema map[string]any) int {
	n := 0
	properties, _ := schema["properties"].(map[string]any)
	for _, p := range properties {
		field, _ := p.(map[string]any)
		n += 1 + countFields(field)
	}
	if items, ok := schema["items"].(map[string]any); ok {
		n += countFields(items)
	}
	if values, ok := schema["additionalProperties"].(map[string]any); ok {
		n += countFields(values)
	}
	return n
}
