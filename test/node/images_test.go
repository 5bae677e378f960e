package node

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/munnerz/keepalived-cloud-provider/test/controlplane"
)

// imageSpec is what an image must be: read from a Dockerfile, or from hack/images.sh.
type imageSpec struct {
	Entrypoint []string
	User       string
	// Packages are the Debian packages installed on top of the base (agent only).
	Packages []string
	// Suite is the Debian release of the base (agent only).
	Suite string
	// Labels are the constant labels (those with build arguments are left out).
	Labels map[string]string
}

// TestImageScriptMatchesDockerfiles keeps hack/images.sh in step with the Dockerfiles
// (entrypoint, user, packages, Debian release, labels) and its image references with the
// ones the manifests pin. It needs no root; the real-node test checks the archives too.
func TestImageScriptMatchesDockerfiles(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script, err := scriptSpecs(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dockerfile string }{
		{"keepalived-cloud-provider", "Dockerfile"},
		{"keepalived-vip-agent", "Dockerfile.agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := dockerfileSpec(filepath.Join(root, tc.dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			got := script.specs[tc.name]
			t.Logf("%s: %+v\nhack/images.sh: %+v", tc.dockerfile, want, got)
			if diff := compareSpecs(want, got); diff != "" {
				t.Errorf("hack/images.sh and %s differ:\n%s", tc.dockerfile, diff)
			}
			ref, err := manifestImage(root, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if script.refs[tc.name] != ref {
				t.Errorf("hack/images.sh tags %s as %q, the manifests run %q", tc.name, script.refs[tc.name], ref)
			}
		})
	}
}

func compareSpecs(want, got imageSpec) string {
	var diffs []string
	if !slices.Equal(want.Entrypoint, got.Entrypoint) {
		diffs = append(diffs, fmt.Sprintf("entrypoint: Dockerfile %q, script %q", want.Entrypoint, got.Entrypoint))
	}
	if want.User != got.User {
		diffs = append(diffs, fmt.Sprintf("user: Dockerfile %q, script %q", want.User, got.User))
	}
	w, g := slices.Sorted(slices.Values(want.Packages)), slices.Sorted(slices.Values(got.Packages))
	if !slices.Equal(w, g) {
		diffs = append(diffs, fmt.Sprintf("packages: Dockerfile %q, script %q", w, g))
	}
	if want.Suite != got.Suite {
		diffs = append(diffs, fmt.Sprintf("Debian release: Dockerfile %q, script %q", want.Suite, got.Suite))
	}
	for k, v := range want.Labels {
		if got.Labels[k] != v {
			diffs = append(diffs, fmt.Sprintf("label %s: Dockerfile %q, script %q", k, v, got.Labels[k]))
		}
	}
	return strings.Join(diffs, "\n")
}

var (
	entrypointLine = regexp.MustCompile(`(?m)^ENTRYPOINT\s+(\[.*\])\s*$`)
	userLine       = regexp.MustCompile(`(?m)^USER\s+(\S+)\s*$`)
	fromLine       = regexp.MustCompile(`(?m)^FROM\s+(?:--platform=\S+\s+)?(\S+)`)
	aptInstall     = regexp.MustCompile(`apt-get install\s+((?:-\S+\s+)*)([a-z0-9][a-z0-9.+\- ]*[a-z0-9])`)
	labelPair      = regexp.MustCompile(`([a-z][a-z0-9.\-]*)="([^"$]*)"`)
)

// dockerfileSpec reads the final stage of a Dockerfile.
func dockerfileSpec(path string) (imageSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return imageSpec{}, err
	}
	// Join continued lines, then keep the last stage.
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	froms := fromLine.FindAllStringSubmatchIndex(text, -1)
	if len(froms) == 0 {
		return imageSpec{}, fmt.Errorf("%s: no FROM", path)
	}
	last := froms[len(froms)-1]
	base, stage := text[last[2]:last[3]], text[last[0]:]
	var spec imageSpec
	m := entrypointLine.FindAllStringSubmatch(stage, -1)
	if len(m) != 1 {
		return spec, fmt.Errorf("%s: want one ENTRYPOINT in the last stage, found %d", path, len(m))
	}
	if err := json.Unmarshal([]byte(m[0][1]), &spec.Entrypoint); err != nil {
		return spec, fmt.Errorf("%s: ENTRYPOINT: %w", path, err)
	}
	if u := userLine.FindAllStringSubmatch(stage, -1); len(u) > 0 {
		spec.User = u[len(u)-1][1]
	} else if strings.HasSuffix(base, ":nonroot") {
		spec.User = "65532" // distroless's nonroot tag; the Dockerfile says so with USER anyway
	}
	if strings.HasPrefix(base, "debian:") {
		spec.Suite = strings.TrimSuffix(strings.TrimPrefix(base, "debian:"), "-slim")
	}
	for _, a := range aptInstall.FindAllStringSubmatch(stage, -1) {
		spec.Packages = append(spec.Packages, strings.Fields(a[2])...)
	}
	spec.Labels = map[string]string{}
	for _, l := range regexp.MustCompile(`(?m)^LABEL\s+(.*)$`).FindAllStringSubmatch(stage, -1) {
		for _, p := range labelPair.FindAllStringSubmatch(l[1], -1) {
			spec.Labels[p[1]] = p[2]
		}
	}
	return spec, nil
}

type scriptValues struct {
	specs map[string]imageSpec
	refs  map[string]string
}

var shellAssign = regexp.MustCompile(`(?m)^([A-Z_]+)=(?:'([^']*)'|"([^"]*)"|(\S*))\s*$`)

// scriptSpecs reads the settings at the top of hack/images.sh.
func scriptSpecs(root string) (scriptValues, error) {
	data, err := os.ReadFile(filepath.Join(root, "hack", "images.sh"))
	if err != nil {
		return scriptValues{}, err
	}
	vars := map[string]string{}
	for _, m := range shellAssign.FindAllStringSubmatch(string(data), -1) {
		vars[m[1]] = m[2] + m[3] + m[4]
	}
	for _, m := range regexp.MustCompile(`(?m)^([A-Z_]+)=\$\{[A-Z_]+:-([^}]*)\}`).FindAllStringSubmatch(string(data), -1) {
		vars[m[1]] = m[2]
	}
	var errs []error
	entrypoint := func(name string) []string {
		var ep []string
		if err := json.Unmarshal([]byte(vars[name]), &ep); err != nil {
			errs = append(errs, fmt.Errorf("hack/images.sh: %s=%q: %w", name, vars[name], err))
		}
		return ep
	}
	labels := map[string]string{}
	if m := regexp.MustCompile(`(?s)\nLABELS=\((.*?)\n\)`).FindStringSubmatch(string(data)); m != nil {
		for _, l := range regexp.MustCompile(`"([^"=]+)=([^"]*)"`).FindAllStringSubmatch(m[1], -1) {
			labels[l[1]] = l[2]
		}
	} else {
		errs = append(errs, errors.New("hack/images.sh: no LABELS=( ... )"))
	}
	v := scriptValues{
		specs: map[string]imageSpec{
			"keepalived-cloud-provider": {Entrypoint: entrypoint("PROVIDER_ENTRYPOINT"), User: vars["PROVIDER_USER"], Labels: labels},
			"keepalived-vip-agent": {Entrypoint: entrypoint("AGENT_ENTRYPOINT"), User: vars["AGENT_USER"],
				Packages: strings.Fields(vars["AGENT_PACKAGES"]), Suite: vars["DEBIAN_SUITE"], Labels: map[string]string{}},
		},
		refs: map[string]string{"keepalived-cloud-provider": vars["PROVIDER_IMAGE"], "keepalived-vip-agent": vars["AGENT_IMAGE"]},
	}
	return v, errors.Join(errs...)
}

// manifestImage is the reference the shipped kustomize base runs: the image of the
// workload, with the kustomization's newTag.
func manifestImage(root, name string) (string, error) {
	dir, workload := filepath.Join(root, "manifests"), "deployment.yaml"
	if name == "keepalived-vip-agent" {
		dir, workload = filepath.Join(dir, "agent"), "daemonset.yaml"
	}
	w, err := os.ReadFile(filepath.Join(dir, workload))
	if err != nil {
		return "", err
	}
	k, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return "", err
	}
	img := regexp.MustCompile(`(?m)^\s+image:\s*(\S+)`).FindSubmatch(w)
	if img == nil {
		return "", fmt.Errorf("%s/%s: no image", dir, workload)
	}
	ref := string(img[1])
	repo, _, _ := strings.Cut(ref, ":")
	if m := regexp.MustCompile(`(?m)-\s*name:\s*` + regexp.QuoteMeta(repo) + `\s*\n\s*newTag:\s*"?([^"\s]+)`).FindSubmatch(k); m != nil {
		ref = repo + ":" + string(m[1])
	}
	return ref, nil
}

// ociImage is what an archive of hack/mkoci.sh holds.
type ociImage struct {
	Ref    string
	Config struct {
		User       string
		Entrypoint []string
		Env        []string
		Labels     map[string]string
	}
	// Files maps each path (without "./") of every layer to its header.
	Files map[string]*tar.Header
	// DpkgStatus is var/lib/dpkg/status, if a layer has it.
	DpkgStatus string
}

// readArchive reads an OCI image archive: its one image's reference, configuration and files.
func readArchive(path string) (*ociImage, error) {
	blobs := map[string][]byte{}
	var index []byte
	var layerNames []string
	img := &ociImage{Files: map[string]*tar.Header{}}
	// Blobs other than layers are small; layers are read in a second pass.
	if err := walkTar(path, func(h *tar.Header, r io.Reader) error {
		switch {
		case h.Name == "index.json":
			b, err := io.ReadAll(r)
			index = b
			return err
		case strings.HasPrefix(h.Name, "blobs/sha256/") && h.Size < 1<<20:
			b, err := io.ReadAll(r)
			blobs["sha256:"+strings.TrimPrefix(h.Name, "blobs/sha256/")] = b
			return err
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var idx struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(index, &idx); err != nil {
		return nil, fmt.Errorf("%s: index.json: %w", path, err)
	}
	if len(idx.Manifests) != 1 {
		return nil, fmt.Errorf("%s: index.json: want one manifest, found %d", path, len(idx.Manifests))
	}
	img.Ref = idx.Manifests[0].Annotations["io.containerd.image.name"]
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(blobs[idx.Manifests[0].Digest], &manifest); err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", path, err)
	}
	var config struct{ Config json.RawMessage }
	if err := json.Unmarshal(blobs[manifest.Config.Digest], &config); err != nil {
		return nil, fmt.Errorf("%s: config: %w", path, err)
	}
	if err := json.Unmarshal(config.Config, &img.Config); err != nil {
		return nil, fmt.Errorf("%s: config: %w", path, err)
	}
	for _, l := range manifest.Layers {
		layerNames = append(layerNames, "blobs/sha256/"+strings.TrimPrefix(l.Digest, "sha256:"))
	}
	err := walkTar(path, func(h *tar.Header, r io.Reader) error {
		if !slices.Contains(layerNames, h.Name) {
			return nil
		}
		return walkTarReader(r, func(fh *tar.Header, fr io.Reader) error {
			name := strings.TrimPrefix(filepathClean(fh.Name), "/")
			img.Files[name] = fh
			if name == "var/lib/dpkg/status" {
				b, err := io.ReadAll(fr)
				img.DpkgStatus = string(b)
				return err
			}
			return nil
		})
	})
	return img, err
}

func filepathClean(name string) string { return filepath.Clean("/" + name) }

func walkTar(path string, fn func(*tar.Header, io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	return walkTarReader(f, fn)
}

func walkTarReader(r io.Reader, fn func(*tar.Header, io.Reader) error) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}

// installedPackages lists the packages dpkg's status file says are installed.
func installedPackages(status string) []string {
	var pkgs []string
	for _, para := range strings.Split(status, "\n\n") {
		var name string
		installed := false
		for _, line := range strings.Split(para, "\n") {
			if v, ok := strings.CutPrefix(line, "Package: "); ok {
				name = v
			}
			if line == "Status: install ok installed" {
				installed = true
			}
		}
		if name != "" && installed {
			pkgs = append(pkgs, name)
		}
	}
	return pkgs
}

// checkArchive compares an archive of hack/images.sh with its Dockerfile: reference,
// entrypoint (and that it is an executable in the image), user, packages, and for the
// provider the CA certificates and the nonroot user in /etc/passwd.
func checkArchive(t *testing.T, root, name, dockerfile, archive string) *ociImage {
	t.Helper()
	want, err := dockerfileSpec(filepath.Join(root, dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := manifestImage(root, name)
	if err != nil {
		t.Fatal(err)
	}
	img, err := readArchive(archive)
	if err != nil {
		t.Fatal(err)
	}
	got := imageSpec{Entrypoint: img.Config.Entrypoint, User: img.Config.User, Labels: img.Config.Labels, Suite: want.Suite}
	if want.Packages != nil {
		installed := installedPackages(img.DpkgStatus)
		for _, p := range want.Packages {
			if slices.Contains(installed, p) {
				got.Packages = append(got.Packages, p)
			}
		}
	}
	if diff := compareSpecs(want, got); diff != "" {
		t.Errorf("%s and %s differ:\n%s", archive, dockerfile, diff)
	}
	if img.Ref != ref {
		t.Errorf("%s is %q; the manifests run %q", archive, img.Ref, ref)
	}
	for _, exe := range want.Entrypoint[:1] {
		if h := img.Files[strings.TrimPrefix(exe, "/")]; h == nil || h.Mode&0o111 == 0 {
			t.Errorf("%s: the entrypoint %s is not an executable file in the image", archive, exe)
		}
	}
	if len(want.Entrypoint) > 1 && strings.HasPrefix(want.Entrypoint[len(want.Entrypoint)-1], "/") {
		if h := img.Files[strings.TrimPrefix(want.Entrypoint[len(want.Entrypoint)-1], "/")]; h == nil || h.Mode&0o111 == 0 {
			t.Errorf("%s: %s is not an executable file in the image", archive, want.Entrypoint[len(want.Entrypoint)-1])
		}
	}
	if name == "keepalived-cloud-provider" {
		if h := img.Files["etc/ssl/certs/ca-certificates.crt"]; h == nil || h.Size == 0 {
			t.Errorf("%s has no CA certificates", archive)
		}
		if h := img.Files["etc/passwd"]; h == nil {
			t.Errorf("%s has no /etc/passwd", archive)
		}
	}
	return img
}
