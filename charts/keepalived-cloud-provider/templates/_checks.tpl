{{/*
Combinations the schema cannot express, which the binaries would refuse at start (a crash
loop): refused here at install time instead, naming the values.
*/}}
{{- define "kcp.checks" -}}
{{- $p := .Values.provider.env -}}
{{- $cidr := include "kcp.setting" (list $p "KEEPALIVED_SERVICE_CIDR") -}}
{{- $file := include "kcp.setting" (list $p "KEEPALIVED_POOLS_FILE") -}}
{{- if and .Values.provider.poolsFile $file -}}
{{- fail "give provider.poolsFile or provider.env.KEEPALIVED_POOLS_FILE, not both" -}}
{{- end -}}
{{- if not (or $cidr $file .Values.provider.poolsFile) -}}
{{- fail "provider.env.KEEPALIVED_SERVICE_CIDR is empty: give it, or provider.poolsFile" -}}
{{- end -}}
{{- if .Values.agent.enabled -}}
{{- $a := .Values.agent.env -}}
{{- range $key, $helper := dict "KEEPALIVED_NAMESPACE" "kcp.vipNamespace" "KEEPALIVED_CONFIG_MAP" "kcp.vipConfigMap" "KEEPALIVED_CONFIG_MAP_IPV6" "kcp.vipConfigMapIPv6" -}}
{{- $want := include $helper $p -}}
{{- $got := include $helper $a -}}
{{- if ne $want $got -}}
{{- fail (printf "agent.env.%s (%q) must equal provider.env.%s (%q): the agent reads the provider's ConfigMap" $key $got $key $want) -}}
{{- end -}}
{{- end -}}
{{- if and (include "kcp.setting" (list $a "KEEPALIVED_PEERS")) (include "kcp.setting" (list $a "KEEPALIVED_PEER_NODE_SELECTOR")) -}}
{{- fail "agent.env.KEEPALIVED_PEERS and agent.env.KEEPALIVED_PEER_NODE_SELECTOR both give the peers: set the selector to null" -}}
{{- end -}}
{{- $base := include "kcp.setting" (list $a "KEEPALIVED_VIRTUAL_ROUTER_ID_BASE") | default "50" | atoi -}}
{{- $shared := include "kcp.setting" (list $a "KEEPALIVED_VRRP_INSTANCES") | default "4" | atoi -}}
{{- $local := include "kcp.setting" (list $a "KEEPALIVED_LOCAL_VRRP_INSTANCES") | default "16" | atoi -}}
{{- $last := sub (add $base $shared $local) 1 -}}
{{- if gt $last 255 -}}
{{- fail (printf "agent.env: KEEPALIVED_VIRTUAL_ROUTER_ID_BASE=%d with KEEPALIVED_VRRP_INSTANCES=%d and KEEPALIVED_LOCAL_VRRP_INSTANCES=%d would use virtual router IDs up to %d; the highest is 255" $base $shared $local $last) -}}
{{- end -}}
{{- end -}}
{{- end -}}
