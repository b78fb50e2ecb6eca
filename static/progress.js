// Follows provisioning on the request page: while the request is being built or removed, the
// progress fragment is fetched every two seconds and swapped in, with the status badge.
(function () {
  "use strict";
  const box = document.getElementById("progress");
  if (!box) return;
  const url = box.getAttribute("data-progress-url");
  const badge = document.getElementById("request-status");

  function live() {
    const inner = box.querySelector(".progress");
    return inner && inner.getAttribute("data-live") === "true";
  }

  function apply(html) {
    const parsed = new DOMParser().parseFromString(html, "text/html");
    const next = parsed.body.firstElementChild;
    if (!next) return;
    box.replaceChildren(document.importNode(next, true));
    if (badge) {
      badge.textContent = next.getAttribute("data-status-label");
      badge.className = "status status-" + next.getAttribute("data-status");
    }
  }

  function poll() {
    if (!live()) return;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(apply)
      .catch(function () { /* keep the last view; try again on the next tick */ })
      .finally(function () { if (live()) setTimeout(poll, 2000); });
  }

  setTimeout(poll, 2000);
})();
