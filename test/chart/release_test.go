package chart

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/voipbin/credential-operator/test/manifests"
)

// TestRelease runs what make release runs, for a version other than VERSION's,
// into a temporary folder, and checks each file: the installer and the chart run
// the image of that version, the CRD file holds the CRD, SHA256SUMS matches.
func TestRelease(t *testing.T) {
	const version = "v9.8.7"
	out := filepath.Join(t.TempDir(), "dist")
	kustomize, err := manifests.Tool("kustomize")
	if err != nil {
		t.Fatal(err)
	}
	helm, err := manifests.Tool("helm")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUSTOMIZE", kustomize)
	t.Setenv("HELM", helm)
	if combined, err := runScript(manifests.Path("hack/release.sh"), version, "example.com/vco", out); err != nil {
		t.Fatalf("hack/release.sh: %v\n%s", err, combined)
	}
	chartFile := "voipbin-credential-operator-9.8.7.tgz"

	// SHA256SUMS lists each file with its hash.
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		hash, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		listed[name] = hash
	}
	for _, name := range []string{"install.yaml", "crds.yaml", chartFile} {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("the release lacks %s: %v", name, err)
		}
		sum := sha256.Sum256(data)
		if listed[name] != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256SUMS has %q for %s, want %x", listed[name], name, sum)
		}
	}
	if len(listed) != 3 {
		t.Errorf("SHA256SUMS lists %v", listed)
	}

	// The installer runs example.com/vco:v9.8.7.
	data, err := os.ReadFile(filepath.Join(out, "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifests.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := convertNamed(objs, "Deployment", managerName, &dep); err != nil {
		t.Fatal(err)
	}
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != "example.com/vco:"+version {
		t.Errorf("install.yaml runs %s, want example.com/vco:%s", got, version)
	}

	// crds.yaml is the CRD and nothing else.
	data, err = os.ReadFile(filepath.Join(out, "crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if objs, err = manifests.Decode(data); err != nil || len(objs) != 1 || objs[0].GetName() != "voipbincredentials.credentials.voipbin.net" {
		t.Errorf("crds.yaml holds %d objects (%v), want the CRD", len(objs), err)
	}

	// The packaged chart has the release's version and appVersion, and renders the
	// same tag by default (with the repository set to the release's).
	chartYAML := fileInTarGz(t, filepath.Join(out, chartFile), "voipbin-credential-operator/Chart.yaml")
	var chart struct{ Version, AppVersion string }
	if err := yaml.Unmarshal(chartYAML, &chart); err != nil {
		t.Fatal(err)
	}
	if chart.Version != "9.8.7" || chart.AppVersion != version {
		t.Errorf("the packaged chart has version %q, appVersion %q", chart.Version, chart.AppVersion)
	}
	rendered, err := manifests.Run("helm", "template", manifests.Release, filepath.Join(out, chartFile), "--set", "image.repository=example.com/vco")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rendered), "image: example.com/vco:"+version+"\n") {
		t.Errorf("the packaged chart does not run example.com/vco:%s by default", version)
	}

	// A version that is not v<semver> is refused.
	if combined, err := runScript(manifests.Path("hack/release.sh"), "1.2", "example.com/vco", out); err == nil {
		t.Errorf("hack/release.sh accepted the version 1.2:\n%s", combined)
	}
}

func fileInTarGz(t *testing.T, archive, name string) []byte {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("%s has no %s", archive, name)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}

// TestDockerfileCrossBuilds reads the Dockerfile (docker cannot run here): the
// builder stage runs on the build platform and compiles for the target platform,
// the final stage is the target platform's, and make docker-buildx builds
// linux/amd64 and linux/arm64 from it.
func TestDockerfileCrossBuilds(t *testing.T) {
	data, err := os.ReadFile(manifests.Path("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := regexp.MustCompile(`(?m)^FROM\s+(.*)$`).FindAllStringSubmatch(string(data), -1)
	if len(stages) != 2 {
		t.Fatalf("the Dockerfile has %d stages, want a builder and the image", len(stages))
	}
	if builder := stages[0][1]; !strings.HasPrefix(builder, "--platform=$BUILDPLATFORM ") || !strings.HasSuffix(builder, " AS builder") {
		t.Errorf("the builder stage is FROM %s; want FROM --platform=$BUILDPLATFORM ... AS builder", builder)
	}
	if final := stages[1][1]; strings.Contains(final, "--platform") {
		t.Errorf("the final stage is FROM %s: it must be the target platform's", final)
	}
	builder := string(data)[:strings.Index(string(data), stages[1][0])]
	for _, want := range []string{"ARG TARGETOS", "ARG TARGETARCH", "GOOS=${TARGETOS", "GOARCH=${TARGETARCH}", "CGO_ENABLED=0"} {
		if !strings.Contains(builder, want) {
			t.Errorf("the builder stage lacks %s", want)
		}
	}

	makefile, err := os.ReadFile(manifests.Path("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	platforms := regexp.MustCompile(`(?m)^PLATFORMS \?= (.*)$`).FindStringSubmatch(string(makefile))
	if platforms == nil || !strings.Contains(platforms[1], "linux/amd64") || !strings.Contains(platforms[1], "linux/arm64") {
		t.Errorf("PLATFORMS is %v, want linux/amd64 and linux/arm64", platforms)
	}
	recipe := regexp.MustCompile(`(?m)^docker-buildx:.*\n((?:\t.*\n)+)`).FindStringSubmatch(string(makefile))
	if recipe == nil || !strings.Contains(recipe[1], "buildx build") || !strings.Contains(recipe[1], "--platform=$(PLATFORMS)") {
		t.Errorf("no docker-buildx target building --platform=$(PLATFORMS): %v", recipe)
	}
}
