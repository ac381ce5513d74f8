{{/*
Rules that involve more than one value. values.schema.json checks each value on its own
(types, enums, ranges, unknown keys); these fail the render with a message that says what to
change.
*/}}
{{- define "dtp.validate" -}}
{{- $v := .Values }}
{{- $cron := eq $v.mode "cronjob" }}
{{- if and $cron $v.metrics.serviceMonitor.enabled }}
{{- fail "metrics.serviceMonitor.enabled needs mode: deployment. A CronJob pod runs once and serves no /metrics; use pushgateway.enabled to get its run metrics." }}
{{- end }}
{{- if and $cron $v.metrics.prometheusRule.enabled (not $v.pushgateway.enabled) }}
{{- fail "metrics.prometheusRule.enabled with mode: cronjob needs pushgateway.enabled: the alerts read the run status that each run pushes to the Pushgateway." }}
{{- end }}
{{- if and $v.pushgateway.enabled (not $cron) }}
{{- fail "pushgateway.enabled needs mode: cronjob. In mode: deployment, Prometheus scrapes /metrics (metrics.serviceMonitor)." }}
{{- end }}
{{- if and $v.pushgateway.enabled (not $v.pushgateway.url) }}
{{- fail "pushgateway.enabled needs pushgateway.url (e.g. https://pushgateway.example.com)." }}
{{- end }}
{{- if and $v.metrics.serviceMonitor.enabled (not $v.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor selects that Service." }}
{{- end }}
{{- if and $cron (gt (len (include "dtp.workloadName" (dict "root" . "shard" (sub (int $v.shards) 1) "shards" (int $v.shards)))) 52) }}
{{- fail (printf "the CronJob name %q is longer than 52 characters (Kubernetes appends 11 to name its Jobs); set fullnameOverride to a shorter name." (include "dtp.workloadName" (dict "root" . "shard" (sub (int $v.shards) 1) "shards" (int $v.shards)))) }}
{{- end }}
{{- if include "dtp.tmpl" . }}
{{- $req := $v.resources.requests | default dict }}
{{- $lim := $v.resources.limits | default dict }}
{{- if or (not $req.cpu) (not $req.memory) (not $lim.memory) }}
{{- fail "openshiftTemplate.enabled needs resources.requests.cpu, resources.requests.memory and resources.limits.memory: they become the CPU_REQUEST, MEMORY_REQUEST and MEMORY_LIMIT parameters." }}
{{- end }}
{{- end }}
{{- end }}
