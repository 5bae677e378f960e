{{/*
Object names are fixed, as in manifests/: there is one provider per cluster, its Lease is
kube-system/keepalived-cloud-provider, and fixed names let a release adopt objects that
`kubectl apply -k manifests/` made.
*/}}

{{/* Labels of every object; the argument is (list $ "component-name"). */}}
{{- define "kcp.labels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ index . 1 }}
app.kubernetes.io/part-of: keepalived-cloud-provider
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* repository:tag or repository@digest; the argument is (list $ .Values.x.image). */}}
{{- define "kcp.image" -}}
{{- $root := index . 0 -}}
{{- $img := index . 1 -}}
{{- if $img.digest -}}
{{ $img.repository }}@{{ $img.digest }}
{{- else -}}
{{ $img.repository }}:{{ $img.tag | default $root.Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/*
The env list: one entry per key of the map that is not null, in key order, as strings
(YAML numbers and booleans included). The argument is (dict "env" MAP "skip" LIST).
*/}}
{{- define "kcp.env" -}}
{{- $out := list }}
{{- range $name, $value := .env }}
{{- if and (not (kindIs "invalid" $value)) (not (has $name $.skip)) }}
{{- $out = append $out (dict "name" $name "value" ($value | toString)) }}
{{- end }}
{{- end }}
{{- with $out }}{{ toYaml . }}{{ end }}
{{- end -}}

{{/* A setting of env, "" when absent or null; the argument is (list MAP "NAME"). */}}
{{- define "kcp.setting" -}}
{{- $v := index (index . 0) (index . 1) -}}
{{- if not (kindIs "invalid" $v) }}{{ $v | toString }}{{ end -}}
{{- end -}}

{{/* The namespace and ConfigMap name of the VIP ConfigMap, with the binaries' defaults. */}}
{{- define "kcp.vipNamespace" -}}
{{ include "kcp.setting" (list . "KEEPALIVED_NAMESPACE") | default "kube-system" }}
{{- end -}}
{{- define "kcp.vipConfigMap" -}}
{{ include "kcp.setting" (list . "KEEPALIVED_CONFIG_MAP") | default "vip-configmap" }}
{{- end -}}
{{/* The IPv6 VIP ConfigMap: as set, else the first's name with -ipv6. */}}
{{- define "kcp.vipConfigMapIPv6" -}}
{{ include "kcp.setting" (list . "KEEPALIVED_CONFIG_MAP_IPV6") | default (printf "%s-ipv6" (include "kcp.vipConfigMap" .)) }}
{{- end -}}

{{/*
The leader-election Lease's namespace: the controller manager's default
(--leader-elect-resource-namespace). The Lease's name is the provider's built-in default.
*/}}
{{- define "kcp.leaseNamespace" -}}kube-system{{- end -}}

{{/* The fields of a dict that are set, so that unset ones stay absent as in the manifests. */}}
{{- define "kcp.optional" -}}
{{- $out := dict }}
{{- range $field, $value := . }}
{{- if $value }}{{ $_ := set $out $field $value }}{{ end }}
{{- end }}
{{- with $out }}{{ toYaml . }}{{ end }}
{{- end -}}
