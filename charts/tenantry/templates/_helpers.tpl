{{/* Names, labels, the rendered config file and the secret files. */}}

{{- define "tenantry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tenantry.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tenantry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tenantry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tenantry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tenantry.labels" -}}
helm.sh/chart: {{ include "tenantry.chart" . }}
{{ include "tenantry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tenantry
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "tenantry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tenantry.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tenantry.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The secrets the portal reads, as [config section, config key, values key, file name, required].
Each lands at /var/run/secrets/tenantry/<file name>; the config gets <section>.<key>_file.
*/}}
{{- define "tenantry.secretTable" -}}
- [database, url, databaseUrl, database-url, true]
- [oidc, client_secret, oidcClientSecret, oidc-client-secret, true]
- [ldap, bind_password, ldapBindPassword, ldap-bind-password, true]
- [vault, token, vaultToken, vault-token, true]
- [mysql, admin_password, mysqlAdminPassword, mysql-admin-password, true]
- [smtp, password, smtpPassword, smtp-password, false]
- [issuer, signing_key, issuerSigningKey, issuer-signing-key.pem, true]
{{- end -}}

{{- define "tenantry.secretDir" -}}/var/run/secrets/tenantry{{- end -}}

{{/* The projected volume of every referenced secret key. */}}
{{- define "tenantry.secretVolume" -}}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
{{- range $row := include "tenantry.secretTable" . | fromYamlArray }}
{{- $ref := index $.Values.secrets (index $row 2) }}
{{- if $ref }}
      - secret:
          name: {{ default $.Values.secrets.existingSecret $ref.secret }}
          items:
            - key: {{ $ref.key }}
              path: {{ index $row 3 }}
{{- else if index $row 4 }}
{{- fail (printf "secrets.%s is required: name the key of an existing Secret holding it" (index $row 2)) }}
{{- end }}
{{- end }}
{{- range $i, $ref := .Values.secrets.issuerPreviousKeys }}
      - secret:
          name: {{ default $.Values.secrets.existingSecret $ref.secret }}
          items:
            - key: {{ $ref.key }}
              path: issuer-previous-{{ $i }}.pem
{{- end }}
{{- range .Values.secrets.extra }}
      - secret:
          name: {{ default $.Values.secrets.existingSecret .secret }}
          items:
            - key: {{ .key }}
              path: {{ .path }}
{{- end }}
{{- end -}}

{{/* The config tree with server.listen, server.metrics_listen and every secret's <key>_file filled in. */}}
{{- define "tenantry.configTree" -}}
{{- $config := deepCopy .Values.config -}}
{{- $server := default dict (get $config "server") -}}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.containerPort)) -}}
{{- $_ := set $server "metrics_listen" (printf "0.0.0.0:%d" (int .Values.metricsPort)) -}}
{{- $_ := set $config "server" $server -}}
{{- if .Values.rbac.create -}}
{{- $provisioning := default dict (get $config "provisioning") -}}
{{- $_ := set $provisioning "tenant_host_role" (printf "%s-tenant-host" (include "tenantry.fullname" .)) -}}
{{- $_ := set $config "provisioning" $provisioning -}}
{{- end -}}
{{- range $row := include "tenantry.secretTable" . | fromYamlArray -}}
{{- if index $.Values.secrets (index $row 2) -}}
{{- $section := default dict (get $config (index $row 0)) -}}
{{- $_ := set $section (printf "%s_file" (index $row 1)) (printf "%s/%s" (include "tenantry.secretDir" $) (index $row 3)) -}}
{{- $_ := set $config (index $row 0) $section -}}
{{- end -}}
{{- end -}}
{{- if .Values.secrets.issuerPreviousKeys -}}
{{- $files := list -}}
{{- range $i, $_ := .Values.secrets.issuerPreviousKeys -}}
{{- $files = append $files (printf "%s/issuer-previous-%d.pem" (include "tenantry.secretDir" $) $i) -}}
{{- end -}}
{{- $issuer := default dict (get $config "issuer") -}}
{{- $_ := set $issuer "previous_key_files" $files -}}
{{- $_ := set $config "issuer" $issuer -}}
{{- end -}}
{{- toJson $config -}}
{{- end -}}

{{/*
config.toml from the config tree. Helm's toToml writes every number as a float (65536.0), which
the portal's typed config rightly refuses for integer keys, so the TOML is written here: tables
as [dotted.headers], whole numbers as integers, strings JSON-quoted (a JSON string is a valid
TOML basic string), nulls left out.
*/}}
{{- define "tenantry.configToml" -}}
# Rendered by the tenantry Helm chart from .Values.config; edit the values, not this file.
{{ include "tenantry.tomlTable" (list "" (include "tenantry.configTree" . | fromJson)) | trim }}
{{- end -}}

{{- define "tenantry.tomlKey" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}{{ . }}{{- else -}}{{ toJson . }}{{- end -}}
{{- end -}}

{{- define "tenantry.tomlValue" -}}
{{- if kindIs "string" . -}}
{{ toJson . | replace "\\u003c" "<" | replace "\\u003e" ">" | replace "\\u0026" "&" }}
{{- else if kindIs "bool" . -}}
{{ . }}
{{- else if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) -}}
{{- if eq (float64 .) (floor .) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else if kindIs "slice" . -}}
[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ include "tenantry.tomlValue" $v }}{{ end }}]
{{- else -}}
{{ fail (printf "config: a %s cannot be written as a TOML value" (kindOf .)) }}
{{- end -}}
{{- end -}}

{{- define "tenantry.tomlTable" -}}
{{- $path := index . 0 -}}
{{- $table := index . 1 -}}
{{- range $key, $value := $table -}}
{{- if and (not (kindIs "map" $value)) (not (kindIs "invalid" $value)) }}
{{ include "tenantry.tomlKey" $key }} = {{ include "tenantry.tomlValue" $value }}
{{- end -}}
{{- end -}}
{{- range $key, $value := $table -}}
{{- if kindIs "map" $value -}}
{{- $sub := include "tenantry.tomlKey" $key -}}
{{- if $path -}}{{- $sub = printf "%s.%s" $path $sub -}}{{- end }}

[{{ $sub }}]
{{- include "tenantry.tomlTable" (list $sub $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The pod's volumes and the container's mounts, shared by the Deployments and the hook Job. */}}
{{- define "tenantry.volumes" -}}
{{- $configMap := index . 1 -}}
{{- with index . 0 -}}
- name: config
  configMap:
    name: {{ $configMap }}
{{ include "tenantry.secretVolume" . }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.trustedCA }}
{{- if .configMap }}
- name: trusted-ca
  configMap:
    name: {{ .configMap }}
{{- else if .secret }}
- name: trusted-ca
  secret:
    secretName: {{ .secret }}
{{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "tenantry.volumeMounts" -}}
- name: config
  mountPath: /etc/tenantry/config.toml
  subPath: config.toml
  readOnly: true
- name: secrets
  mountPath: {{ include "tenantry.secretDir" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if or .Values.trustedCA.configMap .Values.trustedCA.secret }}
- name: trusted-ca
  mountPath: /etc/tenantry/ca
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "tenantry.env" -}}
- name: TENANTRY_CONFIG
  value: /etc/tenantry/config.toml
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Soft or hard anti-affinity over nodes for one component, unless `affinity` is given. */}}
{{- define "tenantry.affinity" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- if $root.Values.affinity -}}
{{ toYaml $root.Values.affinity }}
{{- else if eq $root.Values.podAntiAffinity "hard" -}}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "tenantry.selectorLabels" $root | nindent 10 }}
          app.kubernetes.io/component: {{ $component }}
{{- else if eq $root.Values.podAntiAffinity "soft" -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "tenantry.selectorLabels" $root | nindent 12 }}
            app.kubernetes.io/component: {{ $component }}
{{- end -}}
{{- end -}}
