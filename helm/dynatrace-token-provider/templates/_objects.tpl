{{/*
Every object of the chart, each template returning a YAML list (possibly empty).
`dtp.objects` concatenates them in apply order.
*/}}

{{- define "dtp.objects" -}}
{{ include "dtp.objects.serviceAccount" . }}
{{ include "dtp.objects.caBundle" . }}
{{ include "dtp.objects.workloads" . }}
{{ include "dtp.objects.service" . }}
{{ include "dtp.objects.serviceMonitor" . }}
{{ include "dtp.objects.prometheusRule" . }}
{{ include "dtp.objects.networkPolicy" . }}
{{- end }}

{{/* ---- ServiceAccount: no RBAC, no token automount ---------------------------------- */}}
{{- define "dtp.objects.serviceAccount" -}}
{{- if .Values.serviceAccount.create }}
- apiVersion: v1
  kind: ServiceAccount
  metadata:
    name: {{ include "dtp.serviceAccountName" . }}
    {{- include "dtp.namespace" . | nindent 4 }}
    labels:
      {{- include "dtp.labels" . | nindent 6 }}
    {{- with .Values.serviceAccount.annotations }}
    annotations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  automountServiceAccountToken: false
{{- end }}
{{- end }}

{{/* ---- ConfigMap the OpenShift CA injector fills ------------------------------------- */}}
{{- define "dtp.caBundleConfigMap" -}}
{{- if .Values.caBundle.configMapName }}
{{- .Values.caBundle.configMapName }}
{{- else if .Values.caBundle.openshiftInjected }}
{{- printf "%s-trusted-ca" (include "dtp.fullname" .) }}
{{- end }}
{{- end }}

{{- define "dtp.objects.caBundle" -}}
{{- if and .Values.caBundle.openshiftInjected (not .Values.caBundle.configMapName) }}
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: {{ include "dtp.caBundleConfigMap" . }}
    {{- include "dtp.namespace" . | nindent 4 }}
    labels:
      {{- include "dtp.labels" . | nindent 6 }}
      config.openshift.io/inject-trusted-cabundle: "true"
{{- end }}
{{- end }}

{{/* ---- Deployment or CronJob, one per shard ----------------------------------------- */}}
{{- define "dtp.objects.workloads" -}}
{{- $root := . }}
{{- $shards := int .Values.shards }}
{{- range $shard := until $shards }}
{{- $ctx := dict "root" $root "shard" $shard "shards" $shards }}
{{- if eq $root.Values.mode "deployment" }}
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: {{ include "dtp.workloadName" $ctx }}
    {{- include "dtp.namespace" $root | nindent 4 }}
    labels:
      {{- include "dtp.shardLabels" $ctx | nindent 6 }}
  spec:
    replicas: {{ include "dtp.p.replicas" $root }}
    revisionHistoryLimit: 3
    # Recreate: the old pod is gone before the new one starts, so two processes never
    # reconcile the same shard at once.
    strategy:
      type: Recreate
    selector:
      matchLabels:
        {{- include "dtp.shardSelectorLabels" $ctx | nindent 8 }}
    template:
      {{- include "dtp.podTemplate" $ctx | nindent 6 }}
{{- else }}
- apiVersion: batch/v1
  kind: CronJob
  metadata:
    name: {{ include "dtp.workloadName" $ctx }}
    {{- include "dtp.namespace" $root | nindent 4 }}
    labels:
      {{- include "dtp.shardLabels" $ctx | nindent 6 }}
  spec:
    schedule: {{ include "dtp.p.schedule" $root | quote }}
    {{- with $root.Values.cronjob.timeZone }}
    timeZone: {{ . | quote }}
    {{- end }}
    # Forbid: while a run is still going, the next one is skipped; two runs never
    # reconcile the same clusters at once.
    concurrencyPolicy: Forbid
    suspend: {{ $root.Values.cronjob.suspend }}
    startingDeadlineSeconds: {{ int $root.Values.cronjob.startingDeadlineSeconds }}
    successfulJobsHistoryLimit: {{ int $root.Values.cronjob.successfulJobsHistoryLimit }}
    failedJobsHistoryLimit: {{ int $root.Values.cronjob.failedJobsHistoryLimit }}
    jobTemplate:
      metadata:
        labels:
          {{- include "dtp.shardLabels" $ctx | nindent 10 }}
      spec:
        backoffLimit: {{ int $root.Values.cronjob.backoffLimit }}
        activeDeadlineSeconds: {{ int $root.Values.cronjob.activeDeadlineSeconds }}
        template:
          {{- include "dtp.podTemplate" $ctx | nindent 10 }}
{{- end }}
{{- end }}
{{- end }}

{{/* ---- The pod: dict "root" "shard" "shards" ---------------------------------------- */}}
{{- define "dtp.podTemplate" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $deploy := eq $v.mode "deployment" }}
{{- $kube := eq $v.vault.auth "kubernetes" }}
{{- $ca := include "dtp.caBundleConfigMap" $root }}
metadata:
  labels:
    {{- include "dtp.shardLabels" . | nindent 4 }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $v.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "dtp.serviceAccountName" $root }}
  # dtp never calls the Kubernetes API. Vault Kubernetes auth uses the projected,
  # audience-bound token below, not the API-server token.
  automountServiceAccountToken: false
  {{- if not $deploy }}
  restartPolicy: Never
  {{- end }}
  terminationGracePeriodSeconds: {{ int $v.terminationGracePeriodSeconds }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  containers:
    - name: dtp
      image: {{ include "dtp.p.image" $root | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args:
        - run
      env:
        - name: QONTRACT_CONFIG
          value: {{ printf "%s/%s" (trimSuffix "/" $v.config.mountPath) $v.config.fileName | quote }}
        - name: DRY_RUN
          value: {{ include "dtp.p.dryRun" $root | quote }}
        {{- if $deploy }}
        - name: SLEEP_DURATION_SECS
          value: {{ include "dtp.p.sleepDurationSecs" $root | quote }}
        - name: PROMETHEUS_PORT
          value: {{ int $v.metrics.port | toString | quote }}
        {{- else }}
        - name: RUN_ONCE
          value: "true"
        {{- end }}
        - name: SHARDS
          value: {{ .shards | toString | quote }}
        - name: SHARD_ID
          value: {{ .shard | toString | quote }}
        - name: LOG_FORMAT
          value: {{ include "dtp.p.logFormat" $root | quote }}
        - name: LOG_LEVEL
          value: {{ include "dtp.p.logLevel" $root | quote }}
        - name: DTP_CONCURRENCY
          value: {{ int $v.concurrency | toString | quote }}
        - name: DTP_OCM_CONCURRENCY
          value: {{ int $v.limits.ocm | toString | quote }}
        - name: DTP_DYNATRACE_CONCURRENCY
          value: {{ int $v.limits.dynatrace | toString | quote }}
        - name: DTP_VAULT_CONCURRENCY
          value: {{ int $v.limits.vault | toString | quote }}
        - name: DTP_SHUTDOWN_GRACE
          value: {{ printf "%ds" (max 5 (sub (int $v.terminationGracePeriodSeconds) 15)) | quote }}
        - name: DTP_ORPHAN_GRACE
          value: {{ $v.tokens.orphanGrace | toString | quote }}
        - name: DTP_MAX_DELETIONS
          value: {{ int $v.tokens.maxDeletions | toString | quote }}
        {{- if $v.tokens.collectDeparted }}
        - name: DTP_COLLECT_DEPARTED
          value: "true"
        {{- end }}
        {{- with $v.runnerTimeout }}
        - name: RUNNER_TIMEOUT
          value: {{ . | toString | quote }}
        {{- end }}
        {{- if $kube }}
        - name: KUBE_SA_TOKEN_PATH
          value: {{ printf "%s/%s" (trimSuffix "/" $v.vault.kubernetes.mountPath) $v.vault.kubernetes.fileName | quote }}
        {{- end }}
        {{- if $ca }}
        - name: DTP_CA_BUNDLE
          value: {{ printf "%s/%s" (trimSuffix "/" $v.caBundle.mountPath) $v.caBundle.key | quote }}
        {{- end }}
        {{- if $v.pushgateway.enabled }}
        - name: PUSHGATEWAY_ENABLED
          value: "true"
        - name: PUSHGATEWAY_URL
          value: {{ $v.pushgateway.url | quote }}
        {{- with $v.pushgateway.credentialsSecret }}
        - name: PUSHGATEWAY_USERNAME
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $v.pushgateway.usernameKey }}
        - name: PUSHGATEWAY_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: {{ $v.pushgateway.passwordKey }}
        {{- end }}
        {{- end }}
        {{- with $v.unleash.secretName }}
        - name: UNLEASH_API_URL
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: API_URL
        - name: UNLEASH_CLIENT_ACCESS_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: CLIENT_ACCESS_TOKEN
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if $deploy }}
      ports:
        - name: http
          containerPort: {{ int $v.metrics.port }}
          protocol: TCP
      {{- with $v.deployment.livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.deployment.readinessProbe }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- end }}
      resources:
        {{- include "dtp.p.resources" $root | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: {{ $v.config.mountPath }}
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if $kube }}
        - name: vault-token
          mountPath: {{ $v.vault.kubernetes.mountPath }}
          readOnly: true
        {{- end }}
        {{- if $ca }}
        - name: ca-bundle
          mountPath: {{ $v.caBundle.mountPath }}
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      secret:
        secretName: {{ include "dtp.p.configSecretName" $root | quote }}
    - name: tmp
      emptyDir:
        sizeLimit: {{ $v.tmpSizeLimit }}
    {{- if $kube }}
    - name: vault-token
      projected:
        sources:
          - serviceAccountToken:
              audience: {{ $v.vault.kubernetes.audience | quote }}
              expirationSeconds: {{ int $v.vault.kubernetes.expirationSeconds }}
              path: {{ $v.vault.kubernetes.fileName }}
    {{- end }}
    {{- if $ca }}
    - name: ca-bundle
      configMap:
        name: {{ $ca }}
        items:
          - key: {{ $v.caBundle.key }}
            path: {{ $v.caBundle.key }}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* ---- Metrics Service (Deployment mode) -------------------------------------------- */}}
{{- define "dtp.objects.service" -}}
{{- if and (eq .Values.mode "deployment") .Values.metrics.service.enabled }}
- apiVersion: v1
  kind: Service
  metadata:
    name: {{ include "dtp.fullname" . }}
    {{- include "dtp.namespace" . | nindent 4 }}
    labels:
      {{- include "dtp.labels" . | nindent 6 }}
  spec:
    type: ClusterIP
    # Scraped even before the first run made the pod ready.
    publishNotReadyAddresses: true
    selector:
      {{- include "dtp.selectorLabels" . | nindent 6 }}
    ports:
      - name: http
        port: {{ int .Values.metrics.service.port }}
        targetPort: http
        protocol: TCP
{{- end }}
{{- end }}

{{- define "dtp.objects.serviceMonitor" -}}
{{- if and (eq .Values.mode "deployment") .Values.metrics.serviceMonitor.enabled }}
- apiVersion: monitoring.coreos.com/v1
  kind: ServiceMonitor
  metadata:
    name: {{ include "dtp.fullname" . }}
    {{- include "dtp.namespace" . | nindent 4 }}
    labels:
      {{- include "dtp.labels" . | nindent 6 }}
      {{- with .Values.metrics.serviceMonitor.labels }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
  spec:
    selector:
      matchLabels:
        {{- include "dtp.selectorLabels" . | nindent 8 }}
    endpoints:
      - port: http
        path: /metrics
        interval: {{ .Values.metrics.serviceMonitor.interval }}
        scrapeTimeout: {{ .Values.metrics.serviceMonitor.scrapeTimeout }}
{{- end }}
{{- end }}

{{/* ---- Alerts --------------------------------------------------------------------------
RunFailing:         the last run exited non-zero (1 some clusters failed, 2 invalid data).
TokensNotDelivered: an organization's clusters failed to get their tokens: in the last
                    deliveryErrorWindow (Deployment), in the last pushed run (CronJob; dtp
                    PUTs its whole group, so pushed counters are the last run's).
Stuck:              no run finished for stuckAfter (dtp_last_run_timestamp_seconds is the end
                    of the last run, or the process start before the first).
NotRunning:         fewer shards report than configured (pod down, crash-looping, not scraped,
                    or never pushed).
*/}}
{{- define "dtp.durationSeconds" -}}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" . -1 }}
{{- $n := regexFind "^[0-9]+" . | int }}
{{- $unit := regexReplaceAll "^[0-9]+" . "" }}
{{- $mult := get (dict "ms" 0 "s" 1 "m" 60 "h" 3600 "d" 86400 "w" 604800 "y" 31536000) $unit }}
{{- $total = add $total (mul $n $mult) }}
{{- end }}
{{- $total }}
{{- end }}

{{- define "dtp.objects.prometheusRule" -}}
{{- if .Values.metrics.prometheusRule.enabled }}
{{- $r := .Values.metrics.prometheusRule }}
{{- $deploy := eq .Values.mode "deployment" }}
{{- $m := list "integration=\"dynatrace-token-provider\"" }}
{{- if and $deploy (not (include "dtp.tmpl" .)) }}
{{- $m = append $m (printf "namespace=%q" .Release.Namespace) }}
{{- end }}
{{- if not $deploy }}
{{- $m = prepend $m (printf "job=%q" $r.pushgatewayJob) }}
{{- end }}
{{- with $r.extraSelector }}
{{- $m = append $m . }}
{{- end }}
{{- $sel := join ", " $m }}
{{- $shards := int .Values.shards }}
{{- $stuckSecs := include "dtp.durationSeconds" $r.stuckAfter }}
{{- $running := or (not $deploy) (include "dtp.tmpl" .) (gt (int .Values.deployment.replicas) 0) }}
{{- $runbook := $r.runbookUrl }}
- apiVersion: monitoring.coreos.com/v1
  kind: PrometheusRule
  metadata:
    name: {{ include "dtp.fullname" . }}
    {{- include "dtp.namespace" . | nindent 4 }}
    labels:
      {{- include "dtp.labels" . | nindent 6 }}
      {{- with $r.labels }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
  spec:
    groups:
      - name: dynatrace-token-provider
        rules:
          - alert: DynatraceTokenProviderRunFailing
            expr: {{ printf "max by (namespace, shard_id) (qontract_reconcile_last_run_status{%s}) != 0" $sel | quote }}
            for: {{ $r.runFailingFor }}
            labels:
              severity: {{ $r.severity.runFailing }}
              {{- with $r.alertLabels }}
              {{- toYaml . | nindent 14 }}
              {{- end }}
            annotations:
              summary: dtp runs are failing
              description: {{ printf "The last run of dynatrace-token-provider (shard {{ $labels.shard_id }}) exited with {{ $value }} for %s. 1: some OCM environments, tenants or clusters failed (see \"Reconcile exceptions:\" in the log); 2: invalid config.toml or app-interface data." $r.runFailingFor | quote }}
              {{- with $runbook }}
              runbook_url: {{ printf "%s#dynatracetokenproviderrunfailing" . | quote }}
              {{- end }}
          - alert: DynatraceTokenProviderTokensNotDelivered
            {{- if $deploy }}
            {{- $e := printf "dtp_organization_reconcile_errors_total{%s}" $sel }}
            {{- /* increase() misses a series' first sample: also alert on series that appeared with errors within the window */}}
            expr: {{ printf "sum by (namespace, ocm_env, org_id) (increase(%s[%s])) > 0 or sum by (namespace, ocm_env, org_id) (%s unless %s offset %s) > 0" $e $r.deliveryErrorWindow $e $e $r.deliveryErrorWindow | quote }}
            {{- else }}
            expr: {{ printf "max by (shard_id, ocm_env, org_id) (dtp_organization_reconcile_errors_total{%s}) > 0" $sel | quote }}
            {{- end }}
            labels:
              severity: {{ $r.severity.tokensNotDelivered }}
              {{- with $r.alertLabels }}
              {{- toYaml . | nindent 14 }}
              {{- end }}
            annotations:
              summary: dtp could not deliver Dynatrace tokens to some clusters
              description: {{ printf "Clusters of organization {{ $labels.org_id }} in OCM environment {{ $labels.ocm_env }} failed to reconcile %s: their Dynatrace tokens may be missing or stale. The failing clusters are listed under \"Reconcile exceptions:\" in dtp's log." (ternary (printf "in the last %s" $r.deliveryErrorWindow) "in the last run" $deploy) | quote }}
              {{- with $runbook }}
              runbook_url: {{ printf "%s#dynatracetokenprovidertokensnotdelivered" . | quote }}
              {{- end }}
          {{- if $running }}
          - alert: DynatraceTokenProviderStuck
            expr: {{ printf "time() - max by (%s) (dtp_last_run_timestamp_seconds{%s}) > %s" (ternary "namespace, pod" "shard_id" $deploy) $sel $stuckSecs | quote }}
            for: 5m
            labels:
              severity: {{ $r.severity.stuck }}
              {{- with $r.alertLabels }}
              {{- toYaml . | nindent 14 }}
              {{- end }}
            annotations:
              summary: {{ printf "dtp has not finished a run for %s" $r.stuckAfter | quote }}
              description: {{ printf "No run of dynatrace-token-provider (%s) finished in the last %s. A run may hang (check RUNNER_TIMEOUT and the log), or the loop stopped." (ternary "pod {{ $labels.pod }}" "shard {{ $labels.shard_id }}" $deploy) $r.stuckAfter | quote }}
              {{- with $runbook }}
              runbook_url: {{ printf "%s#dynatracetokenproviderstuck" . | quote }}
              {{- end }}
          - alert: DynatraceTokenProviderNotRunning
            {{- $series := ternary "qontract_reconcile_execution_counter_total" "qontract_reconcile_last_run_status" $deploy }}
            expr: {{ printf "(count(count by (shard_id) (%s{%s})) or vector(0)) < %d" $series $sel $shards | quote }}
            for: 15m
            labels:
              severity: {{ $r.severity.notRunning }}
              {{- with $r.alertLabels }}
              {{- toYaml . | nindent 14 }}
              {{- end }}
            annotations:
              summary: {{ printf "fewer than %d dtp shard(s) report metrics" $shards | quote }}
              description: {{ printf "Only {{ $value }} of %d dynatrace-token-provider shard(s) report metrics: a pod is down, crash-looping or not scraped (or, for a CronJob, has never pushed)." $shards | quote }}
              {{- with $runbook }}
              runbook_url: {{ printf "%s#dynatracetokenprovidernotrunning" . | quote }}
              {{- end }}
          {{- end }}
{{- end }}
{{- end }}

{{/* ---- NetworkPolicy ---------------------------------------------------------------- */}}
{{- define "dtp.objects.networkPolicy" -}}
{{- if .Values.networkPolicy.enabled }}
{{- $np := .Values.networkPolicy }}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    name: {{ include "dtp.fullname" . }}
    {{- include "dtp.namespace" . | nindent 4 }}
    labels:
      {{- include "dtp.labels" . | nindent 6 }}
  spec:
    podSelector:
      matchLabels:
        {{- include "dtp.selectorLabels" . | nindent 8 }}
    policyTypes:
      - Ingress
      - Egress
    {{- if eq .Values.mode "deployment" }}
    ingress:
      - ports:
          - port: http
            protocol: TCP
        {{- with $np.ingress.from }}
        from:
          {{- toYaml . | nindent 10 }}
        {{- end }}
    {{- else }}
    ingress: []
    {{- end }}
    egress:
      # DNS: the cluster resolver (OpenShift's DNS pods listen on 5353).
      - ports:
          - port: 53
            protocol: UDP
          - port: 53
            protocol: TCP
          - port: 5353
            protocol: UDP
          - port: 5353
            protocol: TCP
      # HTTPS: Vault, OCM and its SSO, Dynatrace, qontract-server, Pushgateway.
      - ports:
          {{- range $np.egress.ports }}
          - port: {{ int . }}
            protocol: TCP
          {{- end }}
        {{- with $np.egress.to }}
        to:
          {{- toYaml . | nindent 10 }}
        {{- end }}
      {{- with $np.egress.extraRules }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
{{- end }}
{{- end }}
