{{/*
Prefix of every object name: "zeroscale" unless fullnameOverride says
otherwise. Not the release name, so that the names users type
(svc/zeroscale-activator) and the controller's defaults hold for any release.
*/}}
{{- define "zeroscale.fullname" -}}
{{- default "zeroscale" .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "zeroscale.controller.fullname" -}}
{{- printf "%s-controller" (include "zeroscale.fullname" .) -}}
{{- end -}}

{{- define "zeroscale.activator.fullname" -}}
{{- printf "%s-activator" (include "zeroscale.fullname" .) -}}
{{- end -}}

{{- define "zeroscale.triggers.fullname" -}}
{{- printf "%s-triggers" (include "zeroscale.fullname" .) -}}
{{- end -}}

{{- define "zeroscale.triggers.serviceAccountName" -}}
{{- default (include "zeroscale.triggers.fullname" .) .Values.triggers.serviceAccount.name -}}
{{- end -}}

{{- define "zeroscale.controller.serviceAccountName" -}}
{{- default (include "zeroscale.controller.fullname" .) .Values.controller.serviceAccount.name -}}
{{- end -}}

{{- define "zeroscale.activator.serviceAccountName" -}}
{{- default (include "zeroscale.activator.fullname" .) .Values.activator.serviceAccount.name -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "zeroscale.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: zeroscale
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: zeroscale
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "controller"). */}}
{{- define "zeroscale.selectorLabels" -}}
app.kubernetes.io/name: zeroscale
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "zeroscale.componentLabels" -}}
{{ include "zeroscale.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "zeroscale.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "zeroscale.activatorURL" -}}
{{- if .Values.controller.activatorURL -}}
{{- .Values.controller.activatorURL -}}
{{- else -}}
{{- printf "http://%s.%s.svc" (include "zeroscale.activator.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/*
Go-style duration ("30s", "2m", "1h30m") to whole seconds, for the activator's
terminationGracePeriodSeconds. Only h, m and s units (the schema enforces it).
*/}}
{{- define "zeroscale.durationSeconds" -}}
{{- $total := 0 -}}
{{- range $part := regexFindAll "[0-9]+[hms]" . -1 -}}
{{- $n := int (trimSuffix "h" (trimSuffix "m" (trimSuffix "s" $part))) -}}
{{- if hasSuffix "h" $part -}}{{- $total = add $total (mul $n 3600) -}}
{{- else if hasSuffix "m" $part -}}{{- $total = add $total (mul $n 60) -}}
{{- else -}}{{- $total = add $total $n -}}{{- end -}}
{{- end -}}
{{- $total -}}
{{- end -}}
