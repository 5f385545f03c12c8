-- Argo CD health of a VoipbinCredential (credentials.voipbin.net/v1alpha1), from
-- the conditions the operator writes (README, "Conditions and what to do about
-- them"):
--   Progressing  before the operator's first reconcile of this generation, and
--                while the first credential is being obtained (Reconciling=True);
--   Healthy      Ready=True: the Secret holds every requested credential, usable now;
--   Degraded     a human must act (Stalled=True: InvalidCredentials,
--                SecretConflict, ...), or a credential that was stored is no longer
--                usable (Ready=False: an expired token the operator cannot renew);
--   Suspended    spec.suspend is true.
-- The message names the reason and repeats the operator's message.
local hs = {}

local function condition(conditions, type)
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end

local status = obj.status
if status == nil or status.conditions == nil or status.observedGeneration == nil or status.observedGeneration == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator's first reconcile"
  return hs
end
if obj.metadata.generation ~= nil and status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile generation " .. obj.metadata.generation
  return hs
end

local ready = condition(status.conditions, "Ready")
local stalled = condition(status.conditions, "Stalled")
local reconciling = condition(status.conditions, "Reconciling")

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  if ready ~= nil and ready.status == "True" then
    hs.message = hs.message .. " (the stored credential is still usable: fix this before it expires)"
  end
  return hs
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  if ready ~= nil and ready.status == "True" then
    hs.message = "Suspended: no API calls; the stored credential is still usable"
  else
    hs.message = "Suspended: no API calls; the stored credential has expired"
  end
  return hs
end

if ready == nil or ready.status == "Unknown" then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report Ready"
  if ready ~= nil then
    hs.message = describe(ready)
  end
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

-- Ready=False. Before any credential was stored, a failure the operator retries by
-- itself is still progress toward the first one; after, pods hold an unusable one.
local stored = (status.token ~= nil and status.token.expiresAt ~= nil)
  or (status.accessKey ~= nil and status.accessKey.lastValidatedTime ~= nil)
if reconciling ~= nil and reconciling.status == "True" and not stored then
  hs.status = "Progressing"
  hs.message = "Obtaining the first credential: " .. describe(reconciling)
  return hs
end
hs.status = "Degraded"
hs.message = describe(ready)
if status.token ~= nil and status.token.expiresAt ~= nil then
  hs.message = hs.message .. " (stored token expires at " .. status.token.expiresAt .. ")"
end
return hs
