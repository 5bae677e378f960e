package main

import (
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/munnerz/keepalived-cloud-provider/pkg/vipconfig"
)

type svcT = corev1.Service

// writes counts the API server's write requests, as its /metrics reports them.
type writes struct {
	total      int            // every write but Events and the API server's own
	byBench    int            // Service creates and deletes: only the bench makes those
	configMaps int            // creates and updates of ConfigMaps: only the provider makes those
	byKind     map[string]int // "verb resource/subresource" → count, for -v
}

func (w writes) minus(o writes) writes {
	d := writes{w.total - o.total, w.byBench - o.byBench, w.configMaps - o.configMaps, map[string]int{}}
	for k, v := range w.byKind {
		if v -= o.byKind[k]; v != 0 {
			d.byKind[k] = v
		}
	}
	return d
}

// byProvider is what is left once the bench's own writes are taken out.
func (w writes) byProvider() int { return w.total - w.byBench }

var sample = regexp.MustCompile(`^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$`)
var label = regexp.MustCompile(`(\w+)="([^"]*)"`)

// apiserverWrites reads apiserver_request_total from the API server's /metrics.
func (b *bench) apiserverWrites() (writes, error) {
	raw, err := b.c.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(b.ctx)
	if err != nil {
		return writes{}, err
	}
	w := writes{byKind: map[string]int{}}
	for _, line := range strings.Split(string(raw), "\n") {
		m := sample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		l := map[string]string{}
		for _, kv := range label.FindAllStringSubmatch(m[1], -1) {
			l[kv[1]] = kv[2]
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		n := int(v)
		switch l["verb"] {
		case "POST", "PUT", "PATCH", "DELETE", "APPLY":
		default:
			continue
		}
		w.byKind[l["verb"]+" "+l["resource"]+"/"+l["subresource"]] += n
		switch {
		case l["resource"] == "events":
			continue
		case l["resource"] == "ipaddresses":
			continue // the API server's own ClusterIP bookkeeping for the bench's creates
		case l["resource"] == "services" && l["subresource"] == "" && (l["verb"] == "POST" || l["verb"] == "DELETE"):
			w.byBench += n
		case l["resource"] == "configmaps" && l["subresource"] == "" && (l["verb"] == "POST" || l["verb"] == "PUT"):
			w.configMaps += n
		}
		w.total += n
	}
	return w, nil
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

// configMapBytesWritten estimates the bytes the provider's ConfigMap writes stored:
// the ConfigMap grows or shrinks steadily during a burst, so each write stored about
// the mean of its size before and after.
func (b *bench) configMapBytesWritten(n, before int) int {
	return n * (before + b.configMapBytes()) / 2
}
