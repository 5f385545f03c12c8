{{/* The chart name, or nameOverride. */}}
{{- define "vco.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: fullnameOverride, or the release name, plus the
chart name when the release name does not contain it. With the release named
voipbin-credential-operator, objects get the names of the kustomize installer.
*/}}
{{- define "vco.fullname" -}}
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

{{/* The labels of every object. */}}
{{- define "vco.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "vco.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that select the manager's pods. */}}
{{- define "vco.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: {{ include "vco.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The manager's name: its Deployment, ServiceAccount (by default) and pods. */}}
{{- define "vco.managerName" -}}
{{- printf "%s-controller-manager" (include "vco.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vco.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vco.managerName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The metrics Service; Prometheus' job label is this name. */}}
{{- define "vco.metricsServiceName" -}}
{{- printf "%s-controller-manager-metrics-service" (include "vco.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The image: repository, then the digest if set, else the tag (default appVersion). */}}
{{- define "vco.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if eq $tag "latest" }}
{{- fail "image.tag latest is not allowed: pin a release (the default is the chart's appVersion)" }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The Secret holding the metrics serving certificate, or "" when the manager makes its own. */}}
{{- define "vco.metricsTLSSecret" -}}
{{- if .Values.metrics.tls.existingSecret }}
{{- .Values.metrics.tls.existingSecret }}
{{- else if .Values.metrics.tls.certManager.enabled }}
{{- printf "%s-metrics-cert" (include "vco.fullname" .) }}
{{- end }}
{{- end }}

{{/*
The API timeout in whole seconds: apiTimeout ("20s", "1m"), or the manager's
default of 15s. Used to check terminationGracePeriodSeconds.
*/}}
{{- define "vco.apiTimeoutSeconds" -}}
{{- $t := toString (default "15s" .Values.apiTimeout) }}
{{- if regexMatch "^[0-9]+s$" $t }}
{{- trimSuffix "s" $t }}
{{- else if regexMatch "^[0-9]+m$" $t }}
{{- mul (trimSuffix "m" $t | int) 60 }}
{{- else }}
{{- fail (printf "apiTimeout %q: use whole seconds or minutes, such as 20s or 1m" $t) }}
{{- end }}
{{- end }}

{{/* The manager's rules, as controller-gen generates them (files/manager-role.yaml). */}}
{{- define "vco.rolloutRestartRules" -}}
- apiGroups:
  - apps
  resources:
  - daemonsets
  - deployments
  - statefulsets
  verbs:
  - get
  - patch
{{- end }}

{{- define "vco.managerRules" -}}
{{- (.Files.Get "files/manager-role.yaml" | fromYaml).rules | toYaml }}
{{- end }}
