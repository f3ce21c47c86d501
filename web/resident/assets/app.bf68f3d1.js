// The resident app's placeholder script: shows that scripts load from 'self' under the
// gateway's Content-Security-Policy, and that the gateway answers its API next door.
"use strict";
(function () {
  var out = document.getElementById("status");
  if (!out) return;
  fetch("/healthz")
    .then(function (r) { return r.json(); })
    .then(function (j) { out.textContent = "gateway: " + j.status; })
    .catch(function () { out.textContent = "gateway: unreachable"; });
})();
