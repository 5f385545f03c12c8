package main

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/voipbin/credential-operator/test/harness"
)

// releaseBuild is how the Dockerfile builds the manager: its go build command's
// environment assignments, whether it passes -trimpath, and its -ldflags.
type releaseBuild struct {
	env      map[string]string
	trimpath bool
	ldflags  string
}

// dockerfileBuild reads the go build command of the Dockerfile's builder stage.
func dockerfileBuild(t *testing.T) releaseBuild {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.ReplaceAll(string(data), "\\\n", " ")
	var run string
	for _, line := range strings.Split(joined, "\n") {
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build") {
			if run != "" {
				t.Fatal("the Dockerfile has more than one go build")
			}
			run = line
		}
	}
	if run == "" {
		t.Fatal("no RUN ... go build in the Dockerfile")
	}
	before, after, _ := strings.Cut(strings.TrimPrefix(run, "RUN "), "go build")
	b := releaseBuild{env: map[string]string{}, trimpath: regexp.MustCompile(`(^|\s)-trimpath(\s|$)`).MatchString(after)}
	for _, word := range strings.Fields(before) {
		if k, v, ok := strings.Cut(word, "="); ok {
			b.env[k] = v
		}
	}
	m := regexp.MustCompile(`-ldflags\s+"([^"]*)"`).FindStringSubmatch(after)
	if m == nil {
		t.Fatalf("no -ldflags \"...\" in the Dockerfile's go build: %s", run)
	}
	b.ldflags = m[1]
	return b
}

// makefileBuild reads the LDFLAGS variable and the go build line of the Makefile's
// build target.
func makefileBuild(t *testing.T) (ldflags, command string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=\s*(.+)$`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatal("no LDFLAGS in the Makefile")
	}
	recipe := regexp.MustCompile(`(?m)^build:.*\n((?:\t.*\n)+)`).FindStringSubmatch(string(data))
	if recipe == nil {
		t.Fatal("no build target in the Makefile")
	}
	for _, line := range strings.Split(recipe[1], "\n") {
		if strings.Contains(line, "go build") {
			return strings.TrimSpace(m[1]), strings.TrimSpace(line)
		}
	}
	t.Fatalf("the Makefile's build target runs no go build:\n%s", recipe[1])
	return "", ""
}

// dynamicLinking lists what makes the ELF file at path depend on a dynamic loader or
// shared libraries: a PT_INTERP or PT_DYNAMIC program header, DT_NEEDED entries.
func dynamicLinking(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var found []string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			found = append(found, p.Type.String())
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return nil, err
	}
	for _, lib := range libs {
		found = append(found, "DT_NEEDED "+lib)
	}
	return found, nil
}

// TestStaticBinary builds the manager exactly as the Dockerfile does and checks that
// the result is statically linked, built with CGO off and -trimpath, and prints the
// stamped version; and that make build uses the same flags.
func TestStaticBinary(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image is linux; the ELF checks need a linux build host")
	}
	const stamped = "v9.8.7-static-test"
	docker := dockerfileBuild(t)
	if docker.env["CGO_ENABLED"] != "0" {
		t.Errorf("the Dockerfile builds with CGO_ENABLED=%q, want 0", docker.env["CGO_ENABLED"])
	}
	if !docker.trimpath {
		t.Error("the Dockerfile builds without -trimpath")
	}
	if !strings.Contains(docker.ldflags, "${VERSION}") {
		t.Errorf("the Dockerfile's -ldflags %q do not stamp ${VERSION}", docker.ldflags)
	}

	t.Run("make build uses the Dockerfile's flags", func(t *testing.T) {
		ldflags, command := makefileBuild(t)
		if !regexp.MustCompile(`(^|\s)CGO_ENABLED=0\s`).MatchString(command) {
			t.Errorf("make build does not set CGO_ENABLED=0: %s", command)
		}
		if !regexp.MustCompile(`\s-trimpath(\s|$)`).MatchString(command) {
			t.Errorf("make build does not pass -trimpath: %s", command)
		}
		if !strings.Contains(command, `-ldflags "$(LDFLAGS)"`) {
			t.Errorf("make build does not pass -ldflags \"$(LDFLAGS)\": %s", command)
		}
		if got, want := strings.ReplaceAll(ldflags, "$(VERSION)", stamped),
			strings.ReplaceAll(docker.ldflags, "${VERSION}", stamped); got != want {
			t.Errorf("make build's LDFLAGS\n  %s\ndiffer from the Dockerfile's\n  %s", got, want)
		}
	})

	bin := filepath.Join(t.TempDir(), "manager")
	args := []string{"build"}
	if docker.trimpath {
		args = append(args, "-trimpath")
	}
	args = append(args, "-ldflags", strings.ReplaceAll(docker.ldflags, "${VERSION}", stamped), "-o", bin, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = harness.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+docker.env["CGO_ENABLED"], "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	dynamic, err := dynamicLinking(bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(dynamic) > 0 {
		t.Errorf("the manager is dynamically linked: %v", dynamic)
	}

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}

	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != stamped {
		t.Errorf("--version printed %q, want the stamped %q", got, stamped)
	}

	// Control: the check does see dynamic linking, in a cgo program.
	t.Run("control: a cgo binary is reported dynamic", func(t *testing.T) {
		if _, err := exec.LookPath("gcc"); err != nil {
			t.Skip("no C compiler for the cgo control")
		}
		dir := t.TempDir()
		for name, content := range map[string]string{
			"go.mod":  "module cgocontrol\n\ngo 1.26\n",
			"main.go": "package main\n\n// #include <stdio.h>\nimport \"C\"\n\nfunc main() { C.puts(C.CString(\"hi\")) }\n",
		} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		control := filepath.Join(dir, "control")
		cmd := exec.Command("go", "build", "-o", control, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "CC=gcc")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the cgo control: %v\n%s", err, out)
		}
		dynamic, err := dynamicLinking(control)
		if err != nil {
			t.Fatal(err)
		}
		if len(dynamic) == 0 {
			t.Error("a cgo binary was reported statically linked: the check sees nothing")
		}
	})
}
