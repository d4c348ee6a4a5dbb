// Kejian's progressive JavaScript: every page works without it.
// - forms with data-confirm ask before they are sent (revoking a role);
// - kejian.fetch() calls our API with the page's session and its CSRF token, for
//   page scripts that write (favourites, uploads): a session alone may only read.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function kejianFetch(url, options) {
    options = options || {};
    var headers = new Headers(options.headers || {});
    var method = (options.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") {
      headers.set("X-CSRFToken", csrfToken());
    }
    if (!headers.has("Accept")) {
      headers.set("Accept", "application/json");
    }
    options.headers = headers;
    options.credentials = "same-origin";
    return fetch(url, options);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  window.kejian = { fetch: kejianFetch, csrfToken: csrfToken };
})();
