{{/*
The pod template of one portal component: (list $ "web"|"worker"|"migrate" args resources).
Only "web" listens, so only it gets a port and probes.
*/}}
{{- define "tenantry.podTemplate" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $args := index . 2 -}}
{{- $resources := index . 3 -}}
{{- $values := $root.Values -}}
metadata:
  labels:
    {{- include "tenantry.selectorLabels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ $component }}
    {{- with $values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A changed config file rolls the pods; secrets are read at start, so rotate them with
    # `kubectl rollout restart`.
    checksum/config: {{ include "tenantry.configToml" $root | sha256sum }}
    {{- with $values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- if eq $component "migrate" }}
  # The migration needs Postgres only: no API credentials, and the chart's ServiceAccount does
  # not exist yet before the first install.
  automountServiceAccountToken: false
  {{- else }}
  serviceAccountName: {{ include "tenantry.serviceAccountName" $root }}
  automountServiceAccountToken: true
  {{- end }}
  {{- with $values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $values.podSecurityContext | nindent 4 }}
  {{- if ne $component "migrate" }}
  terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
  {{- with include "tenantry.affinity" (list $root $component) }}
  affinity:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with $values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- else }}
  restartPolicy: Never
  {{- end }}
  {{- with $values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: tenantry
      image: {{ include "tenantry.image" $root }}
      imagePullPolicy: {{ $values.image.pullPolicy }}
      args:
        {{- toYaml $args | nindent 8 }}
      env:
        {{- include "tenantry.env" $root | nindent 8 }}
      {{- if ne $component "migrate" }}
      ports:
        {{- if eq $component "web" }}
        - name: http
          containerPort: {{ $values.containerPort }}
          protocol: TCP
        {{- end }}
        - name: metrics
          containerPort: {{ $values.metricsPort }}
          protocol: TCP
      {{- end }}
      {{- if eq $component "web" }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        periodSeconds: {{ $values.probes.startup.periodSeconds }}
        timeoutSeconds: {{ $values.probes.startup.timeoutSeconds }}
        failureThreshold: {{ $values.probes.startup.failureThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        initialDelaySeconds: {{ $values.probes.liveness.initialDelaySeconds }}
        periodSeconds: {{ $values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ $values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ $values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        initialDelaySeconds: {{ $values.probes.readiness.initialDelaySeconds }}
        periodSeconds: {{ $values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ $values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ $values.probes.readiness.failureThreshold }}
      {{- end }}
      resources:
        {{- toYaml $resources | nindent 8 }}
      securityContext:
        {{- toYaml $values.securityContext | nindent 8 }}
      volumeMounts:
        {{- include "tenantry.volumeMounts" $root | nindent 8 }}
  volumes:
    {{- $configMap := include "tenantry.fullname" $root }}
    {{- if eq $component "migrate" }}{{ $configMap = printf "%s-migrate" $configMap }}{{ end }}
    {{- include "tenantry.volumes" (list $root $configMap) | nindent 4 }}
{{- end -}}
