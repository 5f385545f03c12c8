package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
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

// What kubectl explain prints.
var _ = Describe("The CRDs of config/crd/bases", func() {
	It("control: the walk finds undocumented fields at every depth", func() {
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
		Expect(missing).To(Equal([]string{".spec.list[].inItem", ".spec.map{}.inValue", ".spec.metadata", ".spec.plain"}))
	})

	It("describe every field of every version, and the kind", func() {
		files, err := filepath.Glob(filepath.Join(harness.RepoRoot(), "config", "crd", "bases", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty(), "no CRD in config/crd/bases")
		for _, file := range files {
			data, err := os.ReadFile(file)
			Expect(err).NotTo(HaveOccurred())
			for _, crd := range decodeObjects(data) {
				versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
				Expect(versions).NotTo(BeEmpty(), "%s: versions", filepath.Base(file))
				for _, v := range versions {
					version, _ := v.(map[string]any)
					at := fmt.Sprint(crd.GetName(), " ", version["name"])
					schema, ok, _ := unstructured.NestedMap(version, "schema", "openAPIV3Schema")
					Expect(ok).To(BeTrue(), "%s: no openAPIV3Schema", at)
					desc, _ := schema["description"].(string)
					Expect(strings.TrimSpace(desc)).NotTo(BeEmpty(), "%s: the kind's description", at)
					var missing []string
					undocumentedFields("", schema, &missing)
					Expect(missing).To(BeEmpty(), "%s: fields without a description", at)
					// The walk went deep: a CRD with spec and status has more than
					// a handful of fields (a guard against walking nothing).
					Expect(countFields(schema)).To(BeNumerically(">=", 20), "%s: fields walked", at)
				}
			}
		}
	})
})
