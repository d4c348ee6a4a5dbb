// The LTI picker's links (a title's preview, a chip, "clear all filters", what to
// leave out) carry the resources ticked on the page, as its buttons do. Without
// this script they carry those chosen before the page was shown.
(function () {
  "use strict";

  var form = document.getElementById("choose");
  if (!form || !window.URL) {
    return;
  }
  form.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href]") : null;
    if (!link || !form.contains(link)) {
      return;
    }
    var url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin || url.pathname !== window.location.pathname) {
      return;
    }
    url.searchParams.delete("resource");
    var ticked = form.querySelectorAll('input[name="resource"]:checked:not(:disabled)');
    Array.prototype.forEach.call(ticked, function (box) {
      url.searchParams.append("resource", box.value);
    });
    link.href = url.toString();
  });
})();
