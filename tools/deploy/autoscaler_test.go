package deploy

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// strictJSON decodes b into v, refusing unknown fields and trailing data.
func strictJSON(t *testing.T, what string, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s: %v\n%s", what, err, b)
	}
}

// yamlToJSON converts a YAML document to JSON, the way kubectl reads
// manifests.
func yamlToJSON(t *testing.T, block string) []byte {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(block), &v); err != nil {
		t.Fatalf("YAML: %v\n%s", err, block)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("to JSON: %v", err)
	}
	return b
}

// The fields of KEDA's ScaledObject (keda.sh/v1alpha1) and its prometheus
// trigger that the docs use, from KEDA's reference (keda.sh/docs/2.x:
// "ScaledObject specification", "Prometheus" scaler). Not KEDA's own
// types: a mistyped or misplaced key fails, an unknown valid one too.
type kedaScaledObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int `json:"pollingInterval"`
		CooldownPeriod  *int `json:"cooldownPeriod"`
		MinReplicaCount *int `json:"minReplicaCount"`
		MaxReplicaCount *int `json:"maxReplicaCount"`
		Triggers        []struct {
			Type     string `json:"type"`
			Metadata struct {
				ServerAddress string `json:"serverAddress"`
				Query         string `json:"query"`
				Threshold     string `json:"threshold"`
				Namespace     string `json:"namespace"`
			} `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// prometheus-adapter's config file (its docs/config.md): the external
// rules the docs use.
type adapterConfig struct {
	ExternalRules []struct {
		SeriesQuery   string `json:"seriesQuery"`
		SeriesFilters []any  `json:"seriesFilters"`
		Resources     struct {
			Overrides  map[string]any `json:"overrides"`
			Template   string         `json:"template"`
			Namespaced *bool          `json:"namespaced"`
		} `json:"resources"`
		Name struct {
			Matches string `json:"matches"`
			As      string `json:"as"`
		} `json:"name"`
		MetricsQuery string `json:"metricsQuery"`
	} `json:"externalRules"`
}

// checkAutoscaler checks one of docs/scaling.md's autoscaler examples.
func checkAutoscaler(t *testing.T, first, block string) {
	t.Helper()
	b := yamlToJSON(t, block)
	switch {
	case strings.Contains(first, "kubernetes manifest"):
		var hpa autoscalingv2.HorizontalPodAutoscaler
		strictJSON(t, "HPA example", b, &hpa)
		if hpa.Kind != "HorizontalPodAutoscaler" || hpa.APIVersion != "autoscaling/v2" || len(hpa.Spec.Metrics) != 1 {
			t.Fatalf("HPA example: %+v", hpa)
		}
		m := hpa.Spec.Metrics[0]
		if m.Type != autoscalingv2.ExternalMetricSourceType || m.External == nil ||
			m.External.Target.Type != autoscalingv2.AverageValueMetricType || m.External.Target.AverageValue.String() != "700m" {
			t.Errorf("HPA example's metric: %+v", m)
		}
	case strings.Contains(first, "keda scaledobject"):
		var so kedaScaledObject
		strictJSON(t, "KEDA example", b, &so)
		if so.APIVersion != "keda.sh/v1alpha1" || so.Kind != "ScaledObject" || len(so.Spec.Triggers) != 1 ||
			so.Spec.Triggers[0].Type != "prometheus" || so.Spec.Triggers[0].Metadata.Threshold != "0.7" ||
			!strings.Contains(so.Spec.Triggers[0].Metadata.Query, "cluster:lbpilot_agent_utilization_sum:max") {
			t.Errorf("KEDA example: %+v", so)
		}
	case strings.Contains(first, "prometheus-adapter config"):
		var ac adapterConfig
		strictJSON(t, "prometheus-adapter example", b, &ac)
		if len(ac.ExternalRules) != 1 || !strings.Contains(ac.ExternalRules[0].MetricsQuery, "<<.LabelMatchers>>") {
			t.Errorf("prometheus-adapter example: %+v", ac)
		}
	}
}

// The AWS target-tracking configuration (PutScalingPolicy's
// TargetTrackingConfiguration, from the EC2 Auto Scaling API reference).
type awsTargetTracking struct {
	TargetValue                   *float64 `json:"TargetValue"`
	CustomizedMetricSpecification *struct {
		MetricName string `json:"MetricName"`
		Namespace  string `json:"Namespace"`
		Dimensions []struct {
			Name  string `json:"Name"`
			Value string `json:"Value"`
		} `json:"Dimensions"`
		Statistic string `json:"Statistic"`
		Unit      string `json:"Unit"`
	} `json:"CustomizedMetricSpecification"`
	DisableScaleIn *bool `json:"DisableScaleIn"`
}

func TestScalingAWSExample(t *testing.T) {
	doc := readmeSection(t, "Scaling out")
	parts := strings.Split(doc, "```json\n")
	if len(parts) != 2 {
		t.Fatalf("want one json block in docs/scaling.md, found %d", len(parts)-1)
	}
	block := parts[1][:strings.Index(parts[1], "```")]
	var tt awsTargetTracking
	strictJSON(t, "AWS example", []byte(block), &tt)
	c := tt.CustomizedMetricSpecification
	if tt.TargetValue == nil || *tt.TargetValue != 70 || c == nil || c.Namespace != "lbpilot" ||
		len(c.Dimensions) != 1 || c.Dimensions[0].Name != "cluster" {
		t.Fatalf("AWS example: %+v", tt)
	}
	switch c.Statistic {
	case "Average", "Minimum", "Maximum", "SampleCount", "Sum":
	default:
		t.Errorf("AWS example: statistic %q", c.Statistic)
	}
}
