// Suggests AD groups while someone types into a field marked data-group-picker.
// The suggestions come from the portal's directory search; the field stays free text.
(function () {
  "use strict";
  const list = document.getElementById("group-suggestions");
  if (!list) return;
  let timer = null;
  let controller = null;

  function fill(groups) {
    list.replaceChildren(...groups.map(function (g) {
      const option = document.createElement("option");
      option.value = g.name;
      if (g.description) option.label = g.name + " — " + g.description;
      return option;
    }));
  }

  function search(prefix) {
    if (controller) controller.abort();
    controller = new AbortController();
    fetch("/api/groups?prefix=" + encodeURIComponent(prefix), {
      headers: { "Accept": "application/json" },
      credentials: "same-origin",
      signal: controller.signal,
    })
      .then(function (r) { return r.ok ? r.json() : { groups: [] }; })
      .then(function (body) { fill(body.groups || []); })
      .catch(function () { /* a failed suggestion is not an error for the form */ });
  }

  document.querySelectorAll("[data-group-picker]").forEach(function (input) {
    input.addEventListener("input", function () {
      clearTimeout(timer);
      const prefix = input.value.trim();
      // Only what can be a group name (the server's rule): anything else has no suggestions,
      // and asking would only earn a 400 in the console.
      if (prefix.length < 2 || prefix.length > 64 || !/^[A-Za-z0-9 ._-]+$/.test(prefix)) {
        list.replaceChildren();
        return;
      }
      timer = setTimeout(function () { search(prefix); }, 200);
    });
  });
})();
