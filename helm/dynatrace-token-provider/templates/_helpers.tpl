{{/*
Names, labels and the values that become OpenShift Template parameters.

Every object is defined once, as a YAML list, by a `dtp.objects.*` template (_objects.tpl).
manifests.yaml prints them as plain manifests; openshift-template.yaml wraps them in an
OpenShift Template. In Template mode (`openshiftTemplate.enabled`) the `dtp.p.*` helpers
return `${PARAM}` placeholders instead of values.
*/}}

{{- define "dtp.tmpl" -}}
{{- if .Values.openshiftTemplate.enabled }}true{{ end }}
{{- end }}

{{- define "dtp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dtp.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the workload of one shard: dict "root" "shard" "shards". */}}
{{- define "dtp.workloadName" -}}
{{- $full := include "dtp.fullname" .root }}
{{- if gt (int .shards) 1 }}
{{- printf "%s-%d" $full (int .shard) }}
{{- else }}
{{- $full }}
{{- end }}
{{- end }}

{{- define "dtp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dtp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "dtp.namespace" -}}
{{- if not (include "dtp.tmpl" .) }}
namespace: {{ .Release.Namespace }}
{{- end }}
{{- end }}

{{- define "dtp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dtp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dtp.labels" -}}
{{ include "dtp.selectorLabels" . }}
app.kubernetes.io/component: reconciler
app.kubernetes.io/part-of: qontract-reconcile
{{- if not (include "dtp.tmpl" .) }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels of one shard's workload and pods: dict "root" "shard" "shards". */}}
{{- define "dtp.shardSelectorLabels" -}}
{{ include "dtp.selectorLabels" .root }}
shard-id: {{ .shard | quote }}
{{- end }}

{{- define "dtp.shardLabels" -}}
{{ include "dtp.labels" .root }}
shard-id: {{ .shard | quote }}
{{- end }}

{{/* ---- Values that are Template parameters in Template mode -------------------------- */}}

{{- define "dtp.p.image" -}}
{{- if include "dtp.tmpl" . }}
{{- "${IMAGE}:${IMAGE_TAG}${IMAGE_DIGEST}" }}
{{- else }}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if and .Values.image.digest .Values.image.tag }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dtp.p.dryRun" -}}
{{- if include "dtp.tmpl" . }}${DRY_RUN}{{ else }}{{ .Values.dryRun | toString }}{{ end }}
{{- end }}

{{- define "dtp.p.sleepDurationSecs" -}}
{{- if include "dtp.tmpl" . }}${SLEEP_DURATION_SECS}{{ else }}{{ int .Values.deployment.sleepDurationSecs }}{{ end }}
{{- end }}

{{- define "dtp.p.schedule" -}}
{{- if include "dtp.tmpl" . }}${CRON_SCHEDULE}{{ else }}{{ .Values.cronjob.schedule }}{{ end }}
{{- end }}

{{- define "dtp.p.configSecretName" -}}
{{- if include "dtp.tmpl" . }}${CONFIG_SECRET_NAME}{{ else }}{{ .Values.config.secretName }}{{ end }}
{{- end }}

{{- define "dtp.p.logLevel" -}}
{{- if include "dtp.tmpl" . }}${LOG_LEVEL}{{ else }}{{ .Values.log.level }}{{ end }}
{{- end }}

{{- define "dtp.p.logFormat" -}}
{{- if include "dtp.tmpl" . }}${LOG_FORMAT}{{ else }}{{ .Values.log.format }}{{ end }}
{{- end }}

{{/* replicas is an integer: the Template uses the typed form ${{REPLICAS}}. */}}
{{- define "dtp.p.replicas" -}}
{{- if include "dtp.tmpl" . }}${{"{{"}}REPLICAS{{"}}"}}{{ else }}{{ int .Values.deployment.replicas }}{{ end }}
{{- end }}

{{- define "dtp.p.resources" -}}
{{- if include "dtp.tmpl" . }}
requests:
  cpu: ${CPU_REQUEST}
  memory: ${MEMORY_REQUEST}
limits:
  memory: ${MEMORY_LIMIT}
{{- else }}
{{- toYaml .Values.resources }}
{{- end }}
{{- end }}

{{/*
The Template's parameters, with the chart's values as defaults. Only the placeholders the
objects use are declared (scripts/helm.py checks both directions).
*/}}
{{- define "dtp.templateParameters" -}}
- name: IMAGE
  displayName: Image repository
  description: Repository of the dtp image.
  value: {{ .Values.image.repository | quote }}
- name: IMAGE_TAG
  displayName: Image tag
  description: Tag of the dtp image (a release or commit tag).
  value: {{ default .Chart.AppVersion .Values.image.tag | quote }}
- name: IMAGE_DIGEST
  displayName: Image digest
  description: "Empty, or @sha256:<64 hex> (with the @) to pull the tag by digest: the image becomes ${IMAGE}:${IMAGE_TAG}@sha256:…"
  value: {{ if .Values.image.digest }}{{ printf "@%s" .Values.image.digest | quote }}{{ else }}""{{ end }}
- name: DRY_RUN
  displayName: Dry run
  description: "DRY_RUN: true prints the plan and writes nothing; false creates and delivers tokens. --dry-run/--no-dry-run are accepted too."
  value: {{ .Values.dryRun | toString | quote }}
{{- if eq .Values.mode "deployment" }}
- name: REPLICAS
  displayName: Replicas per shard
  description: 1, or 0 to pause dtp. Never more than 1.
  value: {{ int .Values.deployment.replicas | toString | quote }}
- name: SLEEP_DURATION_SECS
  displayName: Loop interval (seconds)
  description: Pause between two runs of the loop.
  value: {{ int .Values.deployment.sleepDurationSecs | toString | quote }}
{{- else }}
- name: CRON_SCHEDULE
  displayName: Cron schedule
  description: When the CronJob runs dtp once.
  value: {{ .Values.cronjob.schedule | quote }}
{{- end }}
- name: CONFIG_SECRET_NAME
  displayName: config.toml Secret
  description: Secret holding qontract-reconcile's config.toml (key {{ .Values.config.fileName }}).
  value: {{ .Values.config.secretName | quote }}
- name: LOG_LEVEL
  displayName: Log level
  description: error, warn, info, debug, trace, or tracing directives.
  value: {{ .Values.log.level | quote }}
- name: LOG_FORMAT
  displayName: Log format
  description: json or text.
  value: {{ .Values.log.format | quote }}
- name: CPU_REQUEST
  displayName: CPU request
  value: {{ .Values.resources.requests.cpu | toString | quote }}
- name: MEMORY_REQUEST
  displayName: Memory request
  value: {{ .Values.resources.requests.memory | toString | quote }}
- name: MEMORY_LIMIT
  displayName: Memory limit
  value: {{ .Values.resources.limits.memory | toString | quote }}
{{- end }}

{{/* Prints a list of objects (from a dtp.objects.* template) as YAML documents. */}}
{{- define "dtp.emit" -}}
{{- range $obj := . }}
{{- if not (kindIs "map" $obj) }}
{{- fail (printf "internal chart error: an object did not parse as YAML: %v" $obj) }}
{{- end }}
---
{{ toYaml $obj }}
{{- end }}
{{- end }}
