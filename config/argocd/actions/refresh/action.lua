-- Asks the operator for a new login (and, with spec.accessKey, a new validation)
-- now, as kubectl annotate ... refresh-requested-at="$(date -Is)" does. The
-- operator handles each new value once, and only by success (README, "What
-- triggers a login").
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["credentials.voipbin.net/refresh-requested-at"] = os.date("!%Y-%m-%dT%H:%M:%SZ")
return obj
