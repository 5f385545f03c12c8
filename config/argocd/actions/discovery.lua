-- Argo CD resource actions of a VoipbinCredential.
local actions = {}
-- refresh: log in again (and re-validate the accesskey) now.
actions["refresh"] = {["disabled"] = obj.spec ~= nil and obj.spec.suspend == true}
return actions
