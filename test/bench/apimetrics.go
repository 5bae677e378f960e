package main

import (
	"bytes"
	"maps"
	"slices"

	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-base/metrics/testutil"

	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

type svcT = corev1.Service

// writes counts the API server's write requests, as its /metrics reports them.
type writes struct {
	total          int            // every write but Events and the API server's own
	byBench        int            // Service creates and deletes: only the bench makes those
	configMaps     int            // creates and updates of ConfigMaps: only the provider makes those
	configMapBytes float64        // their request bodies, refused ones (conflicts) included
	byKind         map[string]int // "verb resource/subresource" → count, for -v
}

func (w writes) minus(o writes) writes {
	d := writes{w.total - o.total, w.byBench - o.byBench, w.configMaps - o.configMaps,
		w.configMapBytes - o.configMapBytes, map[string]int{}}
	for k, v := range w.byKind {
		if v -= o.byKind[k]; v != 0 {
			d.byKind[k] = v
		}
	}
	return d
}

// byProvider is what is left once the bench's own writes are taken out.
func (w writes) byProvider() int { return w.total - w.byBench }

// apiserverWrites reads apiserver_request_total and the ConfigMap request body sizes
// from the API server's /metrics.
func (b *bench) apiserverWrites() (writes, error) {
	raw, err := b.c.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(b.ctx)
	if err != nil {
		return writes{}, err
	}
	// TextToMetricFamilies fails on bad input, where testutil.ParseMetrics would loop.
	families, err := testutil.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return writes{}, err
	}
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{}, slices.Collect(maps.Values(families))...)
	if err != nil {
		return writes{}, err
	}
	w := writes{byKind: map[string]int{}}
	for _, s := range samples {
		switch l := s.Metric; l[testutil.MetricNameLabel] {
		case "apiserver_request_total":
			w.count(l, int(s.Value))
		case "apiserver_request_body_size_bytes_sum":
			if l["resource"] == "configmaps" && (l["verb"] == "create" || l["verb"] == "update") {
				w.configMapBytes += float64(s.Value)
			}
		}
	}
	return w, nil
}

// count adds n requests of one apiserver_request_total series, if they are writes.
func (w *writes) count(l testutil.Metric, n int) {
	verb, resource, sub := string(l["verb"]), string(l["resource"]), string(l["subresource"])
	switch verb {
	case "POST", "PUT", "PATCH", "DELETE", "APPLY":
	default:
		return
	}
	w.byKind[verb+" "+resource+"/"+sub] += n
	switch {
	case resource == "events":
		return
	case resource == "ipaddresses":
		return // the API server's own ClusterIP bookkeeping for the bench's creates
	case resource == "services" && sub == "" && (verb == "POST" || verb == "DELETE"):
		w.byBench += n
	case resource == "configmaps" && sub == "" && (verb == "POST" || verb == "PUT"):
		w.configMaps += n
	}
	w.total += n
}

// configMapBytes is the vip ConfigMap's size now (data and annotations).
func (b *bench) configMapBytes() int {
	cm, err := b.c.CoreV1().ConfigMaps(cmNS).Get(b.ctx, configMap, metav1.GetOptions{})
	if err != nil {
		return 0
	}
	size, _ := vipconfig.Size(cm)
	return size
}
