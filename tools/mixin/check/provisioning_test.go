package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type datasourcesFile struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name      string         `yaml:"name"`
		Type      string         `yaml:"type"`
		UID       string         `yaml:"uid"`
		Access    string         `yaml:"access"`
		URL       string         `yaml:"url"`
		IsDefault bool           `yaml:"isDefault"`
		Editable  bool           `yaml:"editable"`
		JSONData  map[string]any `yaml:"jsonData"`
	} `yaml:"datasources"`
}

type providersFile struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name                  string `yaml:"name"`
		OrgID                 int    `yaml:"orgId"`
		Folder                string `yaml:"folder"`
		FolderUID             string `yaml:"folderUid"`
		Type                  string `yaml:"type"`
		DisableDeletion       bool   `yaml:"disableDeletion"`
		AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
		UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
		Options               struct {
			Path                      string `yaml:"path"`
			FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

func strictYAML(t *testing.T, path string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// TestProvisioning: the compose stack's Grafana provisioning files parse
// (strictly: an unknown key is an error), provision one default Prometheus
// and a file provider whose path is where the comments say the
// repository's dashboards/ directory is mounted.
func TestProvisioning(t *testing.T) {
	dir := filepath.Join(root, "dashboards", "provisioning")
	var ds datasourcesFile
	dsText := strictYAML(t, filepath.Join(dir, "datasources", "lbpilot.yml"), &ds)
	if ds.APIVersion != 1 {
		t.Errorf("datasources apiVersion %d", ds.APIVersion)
	}
	defaults := 0
	for _, d := range ds.Datasources {
		if d.IsDefault {
			defaults++
			if d.Type != "prometheus" || d.Access != "proxy" || !strings.HasPrefix(d.URL, "http://") || d.UID == "" {
				t.Errorf("default datasource %+v: want a proxied Prometheus with a uid", d)
			}
			if ti, _ := d.JSONData["timeInterval"].(string); ti == "" {
				t.Error("the Prometheus datasource sets no timeInterval ($__rate_interval's floor)")
			}
		}
	}
	if defaults != 1 {
		t.Errorf("%d default datasources, want 1", defaults)
	}
	var pf providersFile
	strictYAML(t, filepath.Join(dir, "dashboards", "lbpilot.yml"), &pf)
	if pf.APIVersion != 1 || len(pf.Providers) != 1 {
		t.Fatalf("providers: %+v", pf)
	}
	p := pf.Providers[0]
	if p.Type != "file" || p.Options.Path == "" || p.Options.FoldersFromFilesStructure || p.Folder == "" {
		t.Errorf("provider %+v: want a file provider with a path and a folder", p)
	}
	mount := "./dashboards:" + p.Options.Path
	if !strings.Contains(string(dsText), mount) {
		t.Errorf("the mount described in datasources/lbpilot.yml does not use the provider path %s", p.Options.Path)
	}
	if !strings.Contains(string(dsText), "./dashboards/provisioning:/etc/grafana/provisioning") {
		t.Error("datasources/lbpilot.yml does not describe the provisioning mount")
	}
	// The strict decode can fail.
	var x providersFile
	dec := yaml.NewDecoder(strings.NewReader("apiVersion: 1\nproviders:\n  - name: x\n    optionz: {}\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&x); err == nil {
		t.Error("an unknown provider key was accepted")
	}
}
